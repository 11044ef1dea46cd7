"""Training speed: cifar-tui headless vs through the TUI vs a plain notebook-style model.fit.

    python bench/throughput.py --data ../shared/data/cifar10-jpg.tar.gz [--per-class 1000]
        [--archs cnn,cnn-dropout] [--epochs 2] [--skip-tui] [--skip-notebook]

Each measurement trains ``--epochs`` epochs on ``--per-class`` images per class (90% train,
10% validation) and reports the images/s of the last epoch's training batches (the first epoch
includes graph tracing). Run nothing else CPU-heavy meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cifar_tui.config import TrainConfig  # noqa: E402
from cifar_tui.data import load_cifar10, subset  # noqa: E402


def headless(cfg: TrainConfig, data, root: Path) -> float:
    from cifar_tui.runs import RunStore
    from cifar_tui.training import train

    run = train(cfg, data=data, store=RunStore(root), evaluate=False)
    return run.history()[-1]["images_per_sec"]


def through_tui(cfg: TrainConfig, data, root: Path) -> tuple[float, list[float]]:
    """Train via the app's own start_training (worker thread, messages, live plot)."""
    from cifar_tui.app import CifarApp

    app = CifarApp(runs_root=root, loader=lambda source: data)
    latencies: list[float] = []

    async def drive() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            while app.dataset is None:
                await pilot.pause(0.05)
            app.start_training(cfg)
            await pilot.pause(0.5)
            keys = ["l", "1", "3", "l", "6", "3"]
            i = 0
            while app.training:
                t = time.perf_counter()
                await pilot.press(keys[i % len(keys)])
                await pilot.pause()
                latencies.append(time.perf_counter() - t)
                i += 1
                await pilot.pause(0.5)

    asyncio.run(drive())
    return app.current_run.history()[-1]["images_per_sec"], latencies


def notebook(arch: str, data, epochs: int, batch_size: int) -> float:
    """The course notebook: float arrays, one-hot labels, model.fit(validation_split=0.1)."""
    import keras
    import numpy as np

    from cifar_tui.models import build_model

    x = data.x_train.astype("float32") / 255.0
    y = keras.utils.to_categorical(data.y_train, 10)
    order = np.random.default_rng(0).permutation(len(x))  # validation_split takes the tail
    x, y = x[order], y[order]
    model = build_model(arch)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    n_train = int(len(x) * 0.9)

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_test_begin(self, logs=None):
            self.train_s = time.perf_counter() - self.t0

    timer = Timer()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, validation_split=0.1, verbose=0,
              callbacks=[timer])
    return n_train / timer.train_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--per-class", type=int, default=1000)
    ap.add_argument("--archs", default="dense,cnn,cnn-dropout,cnn-dropout-bn")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--skip-tui", action="store_true")
    ap.add_argument("--skip-notebook", action="store_true")
    args = ap.parse_args()

    data = subset(load_cifar10(args.data), args.per_class, 100)
    print(f"{len(data.y_train)} images ({args.per_class}/class), batch {args.batch_size}, "
          f"{args.epochs} epochs; images/s of the last epoch's training batches")
    print(f"{'arch':<16}{'headless':>10}{'TUI':>10}{'TUI/head':>10}{'notebook':>10}"
          f"{'head/nb':>9}{'key p95 ms':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs.split(","):
            cfg = TrainConfig.for_arch(arch, epochs=args.epochs, batch_size=args.batch_size,
                                       patience=0)
            head = headless(cfg, data, Path(tmp) / "h")
            tui, lat, nb = float("nan"), [], float("nan")
            if not args.skip_tui:
                tui, lat = through_tui(cfg, data, Path(tmp) / "t")
            if not args.skip_notebook:
                nb = notebook(arch, data, args.epochs, args.batch_size)
            p95 = sorted(lat)[int(0.95 * (len(lat) - 1))] * 1000 if lat else float("nan")
            print(f"{arch:<16}{head:>10.0f}{tui:>10.0f}{tui / head:>10.3f}{nb:>10.0f}"
                  f"{head / nb:>9.2f}{p95:>12.1f}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
