"""The cost of watching a live run from another process.

    flock /tmp/cpu.lock python bench/live_viewer.py --data ../shared/data/cifar10-jpg.tar.gz \
        [--per-class 500] [--arch cnn] [--epochs 3] [--repeat 2] [--viewer watch|tui]

Trains the same run headless (``cifar-tui train``) with and without a viewer process following
it, alternating ``--repeat`` times, and prints the training's images/s (mean over the epochs
after the first, which includes graph tracing) and the viewer's CPU use while it watched:
``watch`` is ``cifar-tui watch RUN`` (polls every second), ``tui`` is the TUI on a
pseudo-terminal (started before the training) with the run open in its Train view. Run nothing
else CPU-heavy meanwhile: run-to-run noise on the 2-core machine is 10-15 %.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
       "PYTHONUNBUFFERED": "1"}
sys.path.insert(0, str(ROOT))

from cifar_tui.runs import RunStore  # noqa: E402


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cifar_tui", *args]


class Viewer:
    """A ``watch`` process, or a TUI on a pty. The TUI starts (and loads its data) before the
    training, as a person's would be open already, so its start-up does not land in the
    training's measured epochs; it opens the run once the run exists."""

    def __init__(self, kind: str, runs: Path, args: argparse.Namespace) -> None:
        self.kind, self.runs, self.app, self.proc = kind, runs, None, None
        if kind == "tui":
            sys.path.insert(0, str(ROOT / "tests"))
            from test_live_tui import PtyApp  # the tests' pty driver

            self.app = PtyApp(["--runs", str(runs), "--data", args.data, "--subset",
                               str(args.per_class)])
            end = time.monotonic() + 60
            while b"Runs" not in self.app.output and time.monotonic() < end:
                time.sleep(0.2)
            time.sleep(args.settle)  # data loaded, first frames drawn
            self.app.send("6")  # Runs pane

    def open(self, run_id: str) -> int:
        """Follow the run; return the viewer's pid."""
        if self.kind == "watch":
            self.proc = subprocess.Popen(cli("--runs", str(self.runs), "watch", run_id),
                                         env=ENV, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            return self.proc.pid
        time.sleep(3.0)  # the Runs pane picks up new run folders every 2 s
        self.app.send("\r")  # open the (only) run: the Train view follows it
        return self.app.pid

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        if self.app is not None:
            self.app.kill()


def one(kind: str | None, args: argparse.Namespace) -> tuple[float, float | None]:
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        viewer = Viewer(kind, runs, args) if kind is not None else None
        trainer = subprocess.Popen(
            cli("--runs", str(runs), "--data", args.data, "--subset", str(args.per_class),
                "train", args.arch, "--epochs", str(args.epochs), "--no-eval"),
            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        viewer_cpu = None
        try:
            if viewer is not None:
                end = time.monotonic() + 120
                while not RunStore(runs).list() and time.monotonic() < end:
                    time.sleep(0.1)
                pid = viewer.open(RunStore(runs).list()[0].id)
                time.sleep(2.0)  # leave the attach itself out of the viewer's CPU use
                proc = psutil.Process(pid)
                t0, c0 = time.monotonic(), sum(proc.cpu_times()[:2])
            trainer.wait()
            if viewer is not None:
                c1, t1 = sum(proc.cpu_times()[:2]), time.monotonic()
                viewer_cpu = 100 * (c1 - c0) / (t1 - t0)
        finally:
            if viewer is not None:
                viewer.close()
        if trainer.returncode != 0:
            raise SystemExit(f"training failed: {trainer.stderr.read()[-2000:]}")
        hist = RunStore(runs).list()[0].history()
        rates = [h["images_per_sec"] for h in hist[1:]] or [h["images_per_sec"] for h in hist]
        return statistics.mean(rates), viewer_cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--per-class", type=int, default=500)
    ap.add_argument("--arch", default="cnn")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--viewer", choices=("watch", "tui"), default="watch")
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds for the TUI viewer to load its data before the training")
    args = ap.parse_args()
    alone, watched, cpu = [], [], []
    for i in range(args.repeat):
        rate, _ = one(None, args)
        alone.append(rate)
        rate, viewer_cpu = one(args.viewer, args)
        watched.append(rate)
        cpu.append(viewer_cpu)
        print(f"round {i + 1}: alone {alone[-1]:.0f} img/s, with {args.viewer} viewer "
              f"{watched[-1]:.0f} img/s, viewer CPU {viewer_cpu:.1f}% of one core", flush=True)
    a, w = statistics.median(alone), statistics.median(watched)
    print(f"{args.arch}, {args.per_class}/class, {args.epochs} epochs, {os.cpu_count()} cores: "
          f"training {a:.0f} img/s alone, {w:.0f} img/s watched ({w / a:.3f}x); "
          f"{args.viewer} viewer CPU median {statistics.median(cpu):.1f}% of one core")


if __name__ == "__main__":
    main()
