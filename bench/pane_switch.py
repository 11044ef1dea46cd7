"""Pane-switch latency at 80x24, idle and while a (fake) training streams events to the app.

    flock /tmp/cpu.lock python bench/pane_switch.py [--data PATH] [--switches 120]
                                                     [--progress-hz 2]

The fake trainer posts what the real one does (BatchProgress twice a second, as RunCallback's
``throttle_s=0.5``; ``--progress-hz 30`` for a harder test; an EpochEnd with the growing history
every 2 s), so the cost measured is the UI's, not TensorFlow's. Measuring starts once the Model
pane's parameter table is built: that imports Keras in a thread, a one-off that a real training
has done before its first batch. Headless at 80x24; the gallery is shown full-size (zoomed in
twice) as in the issue's worst case. Prints p50 / p95 / max in milliseconds of three measures of
each switch:

- ``switch``: from the key press to the last screen update of the switch: the new pane, its
  footer and anything the pane redraws on being shown. Each update is also turned into the
  terminal's escape sequences as a real terminal driver does (headless Textual skips that
  step), so its cost is counted. A training event that arrives once the new pane is on screen
  starts the live view's next redraw, not part of the switch: updates after it are left out.
  One that arrives earlier delays the switch, and counts.
- ``settled``: as ``switch``, up to the last update before the app is idle again, with the
  training's redraws that land in that time (it errs high: at 2 events a second, one lands in
  about a third of the windows).
- ``pilot``: from the key press until Pilot's ``press`` + ``pause`` return (the older figure):
  this adds Pilot's own waiting: at least three ``wait_for_idle`` polls of 20 ms each, and a
  callback queued on every widget of the screen (twice) whose processing it waits for.

The target is p95 < 200 ms while training.
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

from cifar_tui.app import PANES, CifarApp  # noqa: E402
from cifar_tui.data import Cifar10, load_cifar10  # noqa: E402
from cifar_tui.events import BatchProgress, EpochEnd, Finished, Started  # noqa: E402


class StreamingTrainer:
    """Emits events like a real training until stopped; writes a real run."""

    def __init__(self, progress_hz: float = 2.0) -> None:
        self.started = threading.Event()
        self.progress_hz = progress_hz
        self.sent: list[float] = []  # when each event was posted (perf_counter)

    def __call__(self, *, data, store, listener, stop, config=None, run=None):  # noqa: ANN001, ANN204
        post = listener

        def listener(event) -> None:  # noqa: ANN001
            self.sent.append(time.perf_counter())
            post(event)

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


KEYS = "1234561352461"  # every pane, from every other pane but one


def switch_keys(n: int) -> str:
    """The first ``n`` keys of KEYS repeated, leaving out a key for the pane already shown
    (KEYS ends where it starts)."""
    keys = ""
    while len(keys) < n:
        for key in KEYS:
            if not keys or key != keys[-1]:
                keys += key
    return keys[:n]


def record_frames(app: CifarApp) -> list[float]:
    """Times (perf_counter) at which ``app`` writes a screen update, each rendered to the
    terminal's escape sequences first as Textual's real drivers do (the headless one skips it)."""
    from textual._compositor import CompositorUpdate

    frames: list[float] = []
    display = app._display

    def timed_display(screen, renderable) -> None:  # noqa: ANN001
        display(screen, renderable)
        if isinstance(renderable, CompositorUpdate):
            renderable.render_segments(app.console)
            frames.append(time.perf_counter())

    app._display = timed_display
    return frames


def switch_end(t: float, shown: float, frames: list[float], sent: list[float]) -> float:
    """When a switch pressed at ``t`` was over: its last screen update, leaving out those
    after a training event that came once the new pane was on screen (at ``shown``)."""
    first = min((f for f in frames if f >= shown), default=max(frames, default=t))
    cut = min((e for e in sent if e > first), default=float("inf"))
    return max((f for f in frames if f < cut), default=t)


async def measure(data: Cifar10, switches: int, training: bool,
                  progress_hz: float = 2.0) -> dict[str, list[float]]:
    trainer = StreamingTrainer(progress_hz)
    times: dict[str, list[float]] = {"switch": [], "settled": [], "pilot": []}
    with tempfile.TemporaryDirectory() as root:
        app = CifarApp(runs_root=root, loader=lambda source, stop=None: data, trainer=trainer)
        switched = [0.0]
        action_tab = app.action_tab

        def timed_action_tab(tab: str) -> None:
            action_tab(tab)
            switched[0] = time.perf_counter()  # the next update shows the new pane

        app.action_tab = timed_action_tab
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
            frames = record_frames(app)
            for i in range(switches):
                key = switch_keys(switches)[i]
                await pilot.pause(0.3)  # the previous switch's late work is over
                frames.clear()
                t = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()
                times["pilot"].append((time.perf_counter() - t) * 1000)
                times["settled"].append((max(frames, default=t) - t) * 1000)
                end = switch_end(t, switched[0], frames, trainer.sent)
                times["switch"].append((end - t) * 1000)
                if app.query_one("TabbedContent").active != PANES[int(key) - 1]:
                    raise RuntimeError(f"key {key} did not switch to {PANES[int(key) - 1]}")
            if training:
                await pilot.press("x")
                await app.workers.wait_for_complete()
    return times


def summary(name: str, times: list[float]) -> None:
    qs = statistics.quantiles(times, n=20, method="inclusive")  # within the data, as max
    print(f"{name:<22} n={len(times):<4} p50 {statistics.median(times):6.1f} ms   "
          f"p95 {qs[18]:6.1f} ms   max {max(times):6.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="CIFAR-10 source (default: generated images)")
    ap.add_argument("--switches", type=int, default=120)
    ap.add_argument("--progress-hz", type=float, default=2.0,
                    help="training progress events per second (the real trainer: 2)")
    ap.add_argument("--by-pane", action="store_true",
                    help="also print each switch's frame time, by the pane switched to")
    args = ap.parse_args()
    if args.data:
        data = load_cifar10(args.data)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from conftest import make_arrays

        data = Cifar10(*make_arrays(per_class=50, test_per_class=10), source="generated")
    for name, training in (("idle", False), ("while training", True)):
        times = asyncio.run(measure(data, args.switches, training, args.progress_hz))
        for measure_name, ms in times.items():
            summary(f"{name}, {measure_name}", ms)
        if args.by_pane:
            keys = switch_keys(args.switches)
            for key, pane in enumerate(PANES, start=1):
                ms = [f"{t:.0f}" for k, t in zip(keys, times["switch"]) if k == str(key)]
                print(f"    {pane:<8} switch ms: {' '.join(ms)}")


if __name__ == "__main__":
    main()
