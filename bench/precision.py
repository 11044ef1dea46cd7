"""Training speed in float32 against 16-bit compute (bfloat16 on a CPU, float16 on a GPU), each
preset trained headless by cifar-tui's own trainer on the same images.

    python bench/precision.py --data ../shared/data/cifar10-jpg.tar.gz [--per-class 500]
        [--archs dense,cnn] [--batches 32,128] [--epochs 3]

For each preset and batch size it trains ``--epochs`` epochs with ``--mixed-precision off`` and
then ``on``, and prints the mean images/s of the epochs after the first (which includes
tracing), the ratio, and the test accuracy of each (a sanity check at this size, not a result).
XLA is each run's own choice (``--jit auto``). Run nothing else CPU-heavy meanwhile.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cifar_tui.config import TrainConfig  # noqa: E402
from cifar_tui.data import load_cifar10, subset  # noqa: E402


def rate_and_accuracy(cfg: TrainConfig, data, root: Path) -> tuple[float, float, str]:
    from cifar_tui.runs import RunStore
    from cifar_tui.trainer import train

    run = train(cfg, data=data, store=RunStore(root))
    rates = [h["images_per_sec"] for h in run.history()[1:]]
    return sum(rates) / len(rates), run.metrics["accuracy"], run.state["hardware"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--per-class", type=int, default=500)
    ap.add_argument("--archs", default="dense,cnn")
    ap.add_argument("--batches", default="32,128")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    if args.epochs < 2:
        ap.error("--epochs must be at least 2: the first epoch's rate includes tracing")

    data = subset(load_cifar10(args.data), args.per_class, 100)
    print(f"{len(data.y_train)} training images (10 % held out), {len(data.y_test)} test, "
          f"{args.epochs} epochs; images/s after the first epoch")
    print(f"{'preset':<14}{'batch':>6}{'float32':>10}{'16-bit':>10}{'ratio':>7}"
          f"{'acc f32':>9}{'acc 16':>8}  compute")
    for arch in args.archs.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            results = []
            for mixed in ("off", "on"):
                cfg = TrainConfig.for_arch(arch, batch_size=batch, epochs=args.epochs,
                                           patience=0, mixed_precision=mixed)
                with tempfile.TemporaryDirectory() as root:
                    results.append(rate_and_accuracy(cfg, data, Path(root)))
            (r32, a32, _), (r16, a16, hw) = results
            compute = hw.rsplit("; ", 1)[-1] if hw.endswith(" compute") else "float32?"
            print(f"{arch:<14}{batch:>6}{r32:>10.0f}{r16:>10.0f}{r16 / r32:>6.2f}x"
                  f"{a32:>9.3f}{a16:>8.3f}  {compute}", flush=True)


if __name__ == "__main__":
    main()
