"""Time to first frame of the TUI, measured from a fresh interpreter.

    python bench/startup.py [--repeat 5]

Each repeat starts a new Python process that imports cifar_tui.app, runs the app headless
(Textual's run_test) and records the time when the first frame has been drawn (the first
``call_after_refresh`` after mount). The process's own start (interpreter boot) is included by
timing from the parent.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CHILD = r"""
import asyncio, sys, time
t0 = float(sys.argv[1])
from cifar_tui.app import CifarApp
from cifar_tui.data import Cifar10
import numpy as np
z = np.zeros((10, 32, 32, 3), np.uint8); y = np.arange(10)
app = CifarApp(runs_root="/tmp/cifar-tui-startup-runs",
               loader=lambda s, stop=None: Cifar10(z, y, z, y, "x"))
first = []
async def main():
    async with app.run_test(size=(80, 24)) as pilot:
        app.call_after_refresh(lambda: first.append(time.time()))
        while not first:
            await pilot.pause(0.005)
asyncio.run(main())
print(f"{first[0] - t0:.4f}")
import sys as _s; print("tensorflow imported:", "tensorflow" in _s.modules)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    times = []
    for _ in range(args.repeat):
        out = subprocess.run([sys.executable, "-c", CHILD, repr(time.time())],
                             capture_output=True, text=True, check=True).stdout.split("\n")
        times.append(float(out[0]))
        tf_line = out[1]
    print(f"time to first frame over {args.repeat} runs: median {statistics.median(times):.3f} s"
          f", min {min(times):.3f} s, max {max(times):.3f} s ({tf_line})")


if __name__ == "__main__":
    main()
