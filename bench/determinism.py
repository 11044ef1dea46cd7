"""Seeded runs on a CPU: the same numbers twice, and what TensorFlow's op determinism costs.

    nice flock /tmp/cpu.lock python bench/determinism.py --data ../shared/data/cifar10-jpg.tar.gz

Trains the same config and seed twice with deterministic ops (what the app does) and twice
without (seeding alone), each in a fresh process (determinism is process-wide, it cannot be
turned off again), and prints each run's per-epoch val loss and seconds per epoch.

    ... --arch fast --jit on --modes on    # XLA: the app leaves op determinism off for it

With ``--jit on`` the app turns op determinism off (Keras refuses XLA under it): two runs then
say whether XLA's compiled step repeats its numbers by itself.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = """
import json, sys
import cifar_tui.backend as backend
if sys.argv[1] == "off":
    backend.deterministic_ops = lambda on=True: None  # seeding alone: the app before issue 34
from cifar_tui.config import TrainConfig
from cifar_tui.data import load_cifar10
from cifar_tui.runs import RunStore
from cifar_tui.trainer import train
config = TrainConfig.for_arch(sys.argv[2], epochs=int(sys.argv[3]), subset=int(sys.argv[4]),
                              patience=0, seed=0, jit_compile=sys.argv[7])
run = train(config, data=load_cifar10(sys.argv[5]), store=RunStore(sys.argv[6]), evaluate=False)
print(json.dumps([[h["val_loss"], h["seconds"]] for h in run.history()]))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--arch", default="cnn")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--subset", type=int, default=300, help="train images per class")
    ap.add_argument("--jit", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--modes", default="on,off", help="on: what the app does; off: seeding alone")
    args = ap.parse_args()
    runs = tempfile.mkdtemp()
    for mode in args.modes.split(","):
        results = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", CHILD, mode, args.arch, str(args.epochs),
                                  str(args.subset), args.data, runs, args.jit], check=True,
                                 capture_output=True, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
        same = [a[0] == b[0] for a, b in zip(*results)]
        print({"on": "as the app does (deterministic ops, but off for a run with XLA):",
               "off": "seeding alone:"}[mode])
        for i, r in enumerate(results, 1):
            print(f"  run {i}: val loss " + " ".join(f"{v:.6f}" for v, _ in r)
                  + "   s/epoch " + " ".join(f"{s:.1f}" for _, s in r))
        print(f"  same val loss each epoch: {same}")


if __name__ == "__main__":
    main()
