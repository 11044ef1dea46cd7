"""What one refresh of the Runs table costs with N runs on disk: run-file reads and UI time.

    nice flock /tmp/cpu.lock python bench/runs_refresh.py [--runs 20 500] [--repeat 3]

Makes N finished-looking runs in a temporary store (one written with the store's own writers:
config, 10 epochs of history, state, a metrics.json from ``evaluate_probs`` and a 10,000-image
predictions.npz, as a real CIFAR-10 run has; the others copied from it; every 10th one stopped
after 4 epochs with no evaluation), starts the app headless at 80x24 on it with a tiny
generated data set, opens the Runs pane and then measures, for each N:

- ``refresh``: the Reload key (``u``), from the key press until every worker is done and the
  app is idle again: the run files opened (by file name, every thread; an audit hook on
  ``open``, which ``open``, ``os.open`` and ``np.load`` all raise), the opens made on the UI
  thread, and the UI thread's CPU time (``time.thread_time`` of the thread that runs the event
  loop, which is this one under Textual's ``run_test``). The median of ``--repeat`` refreshes.
- ``idle 6 s``: nothing pressed for 6 s (the pane's and app's polls of live runs): the same
  counts over that window.

The same script runs on any version of the app: it presses keys and counts opens, and needs no
hook into the pane's code.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
from conftest import settle  # noqa: E402  (the tests' wait for the app's workers)

from cifar_tui import CLASSES  # noqa: E402
from cifar_tui.config import TrainConfig  # noqa: E402
from cifar_tui.data import Dataset  # noqa: E402
from cifar_tui.evaluation import evaluate_probs  # noqa: E402
from cifar_tui.runs import RunStore  # noqa: E402

EPOCHS = 10
TEST_IMAGES = 10_000


def template_run(store: RunStore) -> Path:
    """One finished run written by the store's own writers."""
    config = TrainConfig(arch="cnn", epochs=EPOCHS).resolved().to_dict()
    config["dataset"] = {"name": "CIFAR-10", "classes": list(CLASSES), "image_size": 32}
    run = store.create(config)
    history = [{"epoch": e, "accuracy": 0.3 + 0.05 * e, "loss": 2.0 - 0.1 * e,
                "val_accuracy": 0.3 + 0.04 * e - (0.02 if e == EPOCHS else 0.0),
                "val_loss": 1.9 - 0.08 * e, "learning_rate": 0.001, "seconds": 30.0 + e,
                "images_per_sec": 1500.0, "compile_seconds": 2.0 if e == 1 else 0.0}
               for e in range(1, EPOCHS + 1)]
    run.write_history(history)
    run.update_state(status="finished", epochs_done=EPOCHS, pid=1, host="bench",
                     checkpoint=f"checkpoint-{EPOCHS:04d}.keras",
                     model=f"model-{EPOCHS - 1:04d}.keras", best_val_accuracy=0.66,
                     train_seconds=350.0, wall_seconds=380.0, train_images=45000,
                     val_images=5000)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), TEST_IMAGES // 10)
    probs = rng.dirichlet(np.ones(10), size=TEST_IMAGES).astype(np.float32)
    probs[np.arange(TEST_IMAGES), labels] += 1.0
    probs /= probs.sum(axis=1, keepdims=True)
    ev = evaluate_probs(probs, labels)
    run.save_predictions(probs, labels)
    run.write_metrics({**ev.to_dict(), "weights_epoch": EPOCHS - 1, "weights": "best val",
                       "epochs_done": EPOCHS})
    return run.path


def make_store(root: Path, n: int) -> None:
    store = RunStore(root)
    template = template_run(store)
    for i in range(1, n):
        dest = root / f"20260101-{i:06d}-cnn"
        shutil.copytree(template, dest)
        if i % 10 == 0:  # a stopped run: 4 epochs, no evaluation
            run = store.get(dest)
            run.update_state(status="stopped", epochs_done=4)
            (dest / "metrics.json").unlink()
            (dest / "predictions.npz").unlink()


class Opens:
    """Counts the opens of files under ``root`` (an audit hook cannot be removed: it is
    switched on and off)."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.on = False
        self.by_name: collections.Counter = collections.Counter()
        self.ui = 0
        self.ui_thread = threading.get_ident()
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple) -> None:
        if not self.on or event != "open":
            return
        path = args[0]
        if isinstance(path, bytes):
            path = path.decode(errors="replace")
        if not isinstance(path, str) and hasattr(path, "__fspath__"):
            path = str(path)
        if isinstance(path, str) and path.startswith(self.root):
            name = Path(path).name
            if name.startswith(".tmp-"):
                name = ".tmp-*"
            self.by_name[name] += 1
            if threading.get_ident() == self.ui_thread:
                self.ui += 1

    def start(self) -> None:
        self.by_name.clear()
        self.ui = 0
        self.on = True

    def stop(self) -> dict:
        self.on = False
        return {"opens": sum(self.by_name.values()), "ui_opens": self.ui,
                "by_name": dict(self.by_name.most_common())}


def tiny_data() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8)
    y = np.repeat(np.arange(10), 4)
    return Dataset(x, y, x[:20], y[:20], source="generated")


async def measure(root: Path, n: int, repeat: int) -> dict:
    from cifar_tui.app import CifarApp

    data = tiny_data()
    opens = Opens(root)
    app = CifarApp(runs_root=root, loader=lambda source, stop=None, **kw: data)
    out: dict = {"runs": n}
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        table = app.query_one("#runs-table")
        out["rows"] = table.row_count
        refreshes = []
        for _ in range(repeat):
            opens.start()
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            await pilot.press("u")
            await settle(pilot)
            cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
            refreshes.append({**opens.stop(), "ui_cpu_ms": cpu * 1e3, "wall_ms": wall * 1e3})
            await asyncio.sleep(0.2)
        mid = sorted(refreshes, key=lambda r: r["ui_cpu_ms"])[len(refreshes) // 2]
        out["refresh"] = mid
        out["refresh_ui_cpu_ms_all"] = [round(r["ui_cpu_ms"], 1) for r in refreshes]
        opens.start()
        cpu0 = time.thread_time()
        await pilot.pause(6.0)
        out["idle6"] = {**opens.stop(), "ui_cpu_ms": (time.thread_time() - cpu0) * 1e3}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, nargs="+", default=[20, 500])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for n in args.runs:
        with tempfile.TemporaryDirectory(prefix="runs-refresh-") as tmp:
            root = Path(tmp) / "runs"
            t0 = time.perf_counter()
            make_store(root, n)
            made = time.perf_counter() - t0
            r = asyncio.run(measure(root, n, args.repeat))
        ref, idle6 = r["refresh"], r["idle6"]
        print(f"{n} runs ({r['rows']} rows; made in {made:.1f} s)")
        print(f"  refresh (u): {ref['opens']} run-file opens ({ref['ui_opens']} on the UI "
              f"thread), UI thread {ref['ui_cpu_ms']:.0f} ms CPU (all: "
              f"{r['refresh_ui_cpu_ms_all']}), {ref['wall_ms']:.0f} ms wall")
        print(f"    by file: {ref['by_name']}")
        print(f"  idle 6 s: {idle6['opens']} run-file opens ({idle6['ui_opens']} on the UI "
              f"thread), UI thread {idle6['ui_cpu_ms']:.0f} ms CPU")
        print(f"    by file: {idle6['by_name']}")


if __name__ == "__main__":
    main()
