"""What each trick of the `fast` preset is worth: the full recipe, then one trick off at a time.

    python bench/fast_ablation.py --data ../shared/data/cifar10-jpg.tar.gz [--epochs 10]
        [--per-class N] [--only full,no-tta]

Prints test accuracy, best validation accuracy, training seconds and images/s per variant.
A full run is about 30 minutes on 2 CPU cores: meant for a GPU box (or --per-class for a smoke run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cifar_tui.config import TrainConfig  # noqa: E402
from cifar_tui.data import load_cifar10, subset  # noqa: E402

VARIANTS = {
    "full": {},
    "no-tta": {"tta": False},
    "no-ema": {"ema": False},
    "no-label-smoothing": {"label_smoothing": 0.0},
    "no-flip": {"augment_flip": False},
    "no-translate": {"augment_crop": False},
    "constant-lr": {"schedule": "constant", "learning_rate": 0.3},
    "plain-sgd-momentum": {"optimizer": "momentum", "momentum": 0.9, "learning_rate": 0.2},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--per-class", type=int, default=None)
    ap.add_argument("--only", default=",".join(VARIANTS))
    args = ap.parse_args()

    from cifar_tui.runs import RunStore
    from cifar_tui.training import train

    data = subset(load_cifar10(args.data), args.per_class)
    base = TrainConfig.for_arch("fast", epochs=args.epochs)
    print(f"fast preset, {len(data.y_train)} train+val images, {args.epochs} epochs")
    print(f"{'variant':<22}{'test acc':>9}{'best val':>9}{'train s':>9}{'img/s':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            cfg = replace(base, **VARIANTS[name])
            t = time.perf_counter()
            run = train(cfg, data=data, store=RunStore(tmp))
            hist = run.history()
            seconds = sum(h["seconds"] for h in hist)
            rate = sum(h["images_per_sec"] for h in hist) / len(hist)
            print(f"{name:<22}{run.metrics['accuracy']:>9.4f}"
                  f"{max(h.get('val_accuracy', 0) for h in hist):>9.4f}{seconds:>9.0f}"
                  f"{rate:>7.0f}   ({time.perf_counter() - t:.0f} s wall)", flush=True)


if __name__ == "__main__":
    main()
