"""Pane-switch latency at 80x24, idle and while a (fake) training streams events to the app.

    flock /tmp/cpu.lock python bench/pane_switch.py [--data PATH] [--switches 120]
                                                     [--progress-hz 2]

The fake trainer posts what the real one does (BatchProgress twice a second, as RunCallback's
``throttle_s=0.5``; ``--progress-hz 30`` for a harder test; an EpochEnd with the growing history
every 2 s), so the cost measured is the UI's, not TensorFlow's. Measuring starts once the Model
pane's parameter table is built: that imports Keras in a thread, a one-off that a real training
has done before its first batch. Each switch is timed from the key press to the app being idle
again with the new pane drawn (Pilot's ``pause``), headless at 80x24; the gallery is shown
full-size (zoomed in twice) as in the issue's worst case. Prints p50 / p95 / max in
milliseconds. The target is p95 < 200 ms while training.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cifar_tui.app import CifarApp  # noqa: E402
from cifar_tui.data import Cifar10, load_cifar10  # noqa: E402
from cifar_tui.events import BatchProgress, EpochEnd, Finished, Started  # noqa: E402


class StreamingTrainer:
    """Emits events like a real training until stopped; writes a real run."""

    def __init__(self, progress_hz: float = 2.0) -> None:
        self.started = threading.Event()
        self.progress_hz = progress_hz

    def __call__(self, *, data, store, listener, stop, config=None, run=None):  # noqa: ANN001, ANN204
        run = run or store.create(config.to_dict())
        run.update_state(status="running")
        steps, epoch, history = 200, 1, []
        listener(Started(run.id, run.config, 0, 1000, steps, 45000, 5000, 1_250_858))
        self.started.set()
        t_epoch = time.perf_counter()
        step = 0
        while not stop.wait(1 / self.progress_hz):
            step += 1
            listener(BatchProgress(run.id, epoch, 1000, step, steps, 1.2, 0.55, 1500.0, 3.0))
            if time.perf_counter() - t_epoch > 2.0:
                history.append({"epoch": epoch, "accuracy": 0.5 + epoch / 1000, "loss": 1.2,
                                "val_accuracy": 0.5, "val_loss": 1.3, "seconds": 2.0,
                                "images_per_sec": 1500.0, "learning_rate": 0.01})
                run.write_history(history)
                listener(EpochEnd(run.id, epoch, 1000, history[-1], list(history), None, False))
                epoch, step, t_epoch = epoch + 1, 0, time.perf_counter()
        run.update_state(status="stopped")
        listener(Finished(run.id, "stopped", epoch - 1, 0.5))
        return run


async def measure(data: Cifar10, switches: int, training: bool,
                  progress_hz: float = 2.0) -> list[float]:
    trainer = StreamingTrainer(progress_hz)
    with tempfile.TemporaryDirectory() as root:
        app = CifarApp(runs_root=root, loader=lambda source, stop=None: data, trainer=trainer)
        async with app.run_test(size=(80, 24)) as pilot:
            while app.dataset is None:
                await pilot.pause(0.05)
            await pilot.press("+", "+")  # the gallery at full size: the slowest pane to draw
            await pilot.press("2")
            model = app.query_one("ModelPane")
            while not model._views:  # the parameter table: Keras imported, the model built
                await pilot.pause(0.1)
            await pilot.pause(0.5)
            if training:
                await pilot.press("s")
                while not trainer.started.is_set():
                    await pilot.pause(0.05)
            times = []
            keys = "1234561352461"
            for i in range(switches):
                t = time.perf_counter()
                await pilot.press(keys[i % len(keys)])
                await pilot.pause()
                times.append((time.perf_counter() - t) * 1000)
            if training:
                await pilot.press("x")
                await app.workers.wait_for_complete()
    return times


def summary(name: str, times: list[float]) -> None:
    qs = statistics.quantiles(times, n=20, method="inclusive")  # within the data, as max
    print(f"{name:<18} n={len(times):<4} p50 {statistics.median(times):6.1f} ms   "
          f"p95 {qs[18]:6.1f} ms   max {max(times):6.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="CIFAR-10 source (default: generated images)")
    ap.add_argument("--switches", type=int, default=120)
    ap.add_argument("--progress-hz", type=float, default=2.0,
                    help="training progress events per second (the real trainer: 2)")
    args = ap.parse_args()
    if args.data:
        data = load_cifar10(args.data)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from conftest import make_arrays

        data = Cifar10(*make_arrays(per_class=50, test_per_class=10), source="generated")
    summary("idle", asyncio.run(measure(data, args.switches, training=False)))
    summary("while training", asyncio.run(measure(data, args.switches, training=True,
                                                  progress_hz=args.progress_hz)))


if __name__ == "__main__":
    main()
