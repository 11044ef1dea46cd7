"""Time-to-accuracy of finished runs, read from a run store (train them first).

    python bench/time_to_accuracy.py [--runs runs] [--thresholds 0.5,0.6,0.7]

For each run: cumulative training seconds until validation accuracy first reached each
threshold ("-" if never), epochs, best validation and test accuracy, the epochs' seconds
(training and validation), the sessions' wall seconds (loading, building and the test
evaluation too) and mean images/s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cifar_tui.runs import RunStore  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default=None)
    ap.add_argument("--thresholds", default="0.5,0.6,0.7,0.8,0.9")
    args = ap.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    header = f"{'run':<36}{'epochs':>7}" + "".join(f"{f'{t:.0%} s':>9}" for t in thresholds)
    print(header + f"{'best val':>10}{'test':>8}{'train s':>9}{'wall s':>8}{'img/s':>8}")
    for run in RunStore(args.runs).list():
        hist = run.history()
        if not hist:
            continue
        elapsed, reached = 0.0, {}
        for h in hist:
            elapsed += h.get("seconds", 0.0)
            for t in thresholds:
                if t not in reached and h.get("val_accuracy", 0.0) >= t:
                    reached[t] = elapsed
        cells = "".join(f"{reached[t]:>9.0f}" if t in reached else f"{'-':>9}"
                        for t in thresholds)
        best = max(h.get("val_accuracy", 0.0) for h in hist)
        test = run.metrics.get("accuracy")
        rate = sum(h.get("images_per_sec", 0.0) for h in hist) / len(hist)
        test_s = f"{test:.4f}" if test is not None else "-"
        wall = run.train_seconds
        wall_s = f"{wall:.0f}" if wall is not None else "-"
        print(f"{run.id:<36}{len(hist):>7}{cells}{best:>10.4f}{test_s:>8}{elapsed:>9.0f}"
              f"{wall_s:>8}{rate:>8.0f}")


if __name__ == "__main__":
    main()
