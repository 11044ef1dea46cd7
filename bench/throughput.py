"""Training speed: cifar-tui headless vs through the TUI vs a plain notebook-style model.fit.

    python bench/throughput.py --data ../shared/data/cifar10-jpg.tar.gz [--per-class 1000]
        [--archs cnn,cnn-dropout] [--epochs 2] [--skip-tui] [--skip-notebook]
        [--batch-size 32,64,128] [--notebook-policy mixed_bfloat16]

Each measurement trains ``--epochs`` epochs on ``--per-class`` images per class (90% train,
10% validation) and takes the mean images/s of the training batches after the first epoch (which
includes graph tracing); headless, TUI and notebook runs alternate ``--repeat`` times and the
medians are compared. The notebook baseline times model.fit on float arrays the same way, in
``--notebook-policy`` (a notebook that sets ``mixed_bfloat16`` itself, say); cifar-tui's runs
take their own precision (bfloat16 on a CPU that has it). ``--batch-size`` may list several.
Run nothing else CPU-heavy meanwhile: run-to-run noise on this 2-core machine is about 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cifar_tui.config import TrainConfig  # noqa: E402
from cifar_tui.data import load_cifar10, subset  # noqa: E402


def headless(cfg: TrainConfig, data, root: Path) -> float:
    from cifar_tui.runs import RunStore
    from cifar_tui.trainer import train

    run = train(cfg, data=data, store=RunStore(root), evaluate=False)
    return mean_rate(run)


def through_tui(cfg: TrainConfig, data, root: Path,
                keys: bool = True) -> tuple[float, list[float], float]:
    """Train via the app's own start_training (worker thread, messages, live plot).

    Every 0.5 s a key press ("l": switch the live plot) is posted; its latency runs from the
    posting to the first screen refresh after the action ran. Also returns the UI thread's CPU
    time as a share of one core over the training (a steadier overhead figure than images/s).
    """
    from textual import events

    from cifar_tui.app import CifarApp

    app = CifarApp(runs_root=root, loader=lambda source, stop=None: data)
    latencies: list[float] = []

    async def drive() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            while app.dataset is None:
                await pilot.pause(0.05)
            app.start_training(cfg)
            await pilot.pause(0.5)
            pane = app.query_one("TrainPane")
            action, stamps = pane.action_toggle_metric, []

            def timed_action() -> None:
                action()
                app.call_after_refresh(lambda: stamps.append(time.perf_counter()))

            pane.action_toggle_metric = timed_action
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            while app.training:
                if not keys:
                    await asyncio.sleep(0.5)
                    continue
                stamps.clear()
                t = time.perf_counter()
                app.post_message(events.Key("l", "l"))
                while not stamps and time.perf_counter() - t < 10:
                    await asyncio.sleep(0.001)
                if stamps:
                    latencies.append(stamps[0] - t)
                await asyncio.sleep(0.5)
            ui_share.append((time.thread_time() - cpu0) / (time.perf_counter() - wall0))

    ui_share: list[float] = []
    asyncio.run(drive())
    return mean_rate(app.current_run), latencies, ui_share[0]


def mean_rate(run) -> float:  # noqa: ANN001
    """Mean images/s over the epochs after the first (which includes tracing)."""
    rates = [h["images_per_sec"] for h in run.history()[1:]]
    return sum(rates) / len(rates)


def notebook(arch: str, data, epochs: int, batch_size: int, policy: str = "float32") -> float:
    """The course notebook: float arrays, one-hot labels, model.fit(validation_split=0.1), in
    Keras's dtype ``policy``."""
    import keras

    keras.mixed_precision.set_global_policy(policy)
    try:
        return _notebook(arch, data, epochs, batch_size)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _notebook(arch: str, data, epochs: int, batch_size: int) -> float:  # noqa: ANN001
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
        def __init__(self) -> None:
            super().__init__()
            self.train_s: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):  # noqa: ANN001
            self.t0 = time.perf_counter()

        def on_test_begin(self, logs=None):  # noqa: ANN001
            self.train_s.append(time.perf_counter() - self.t0)

    timer = Timer()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, validation_split=0.1, verbose=0,
              callbacks=[timer])
    rates = [n_train / s for s in timer.train_s[1:]]
    return sum(rates) / len(rates)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--per-class", type=int, default=1000)
    ap.add_argument("--archs", default="dense,cnn,cnn-dropout,cnn-dropout-bn")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--batch-size", default="32", help="one or several, e.g. 32,64,128")
    ap.add_argument("--notebook-policy", default="float32",
                    help="the notebook's Keras dtype policy, e.g. mixed_bfloat16")
    ap.add_argument("--skip-tui", action="store_true")
    ap.add_argument("--keys", action=argparse.BooleanOptionalAction, default=True,
                    help="press a key every 0.5 s during TUI training (latency figures)")
    ap.add_argument("--skip-notebook", action="store_true")
    args = ap.parse_args()

    data = subset(load_cifar10(args.data), args.per_class, 100)
    print(f"{len(data.y_train)} images ({args.per_class}/class), {args.epochs} epochs x "
          f"{args.repeat}; notebook in {args.notebook_policy}; images/s after the first epoch")
    print(f"{'arch':<16}{'batch':>6}{'headless':>10}{'TUI':>10}{'TUI/head':>10}{'notebook':>10}"
          f"{'head/nb':>9}{'key p95 ms':>12}{'UI CPU':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs.split(","):
            for batch in (int(b) for b in args.batch_size.split(",")):
                cfg = TrainConfig.for_arch(arch, epochs=args.epochs, batch_size=batch,
                                           patience=0)
                heads, tuis, nbs, lat, ui = [], [], [], [], []
                for _ in range(args.repeat):  # interleaved, so drift hits all alike
                    heads.append(headless(cfg, data, Path(tmp) / "h"))
                    if not args.skip_tui:
                        rate, lats, share = through_tui(cfg, data, Path(tmp) / "t", args.keys)
                        tuis.append(rate)
                        lat += lats
                        ui.append(share)
                    if not args.skip_notebook:
                        nbs.append(notebook(arch, data, args.epochs, batch,
                                            args.notebook_policy))
                head = statistics.median(heads)
                tui = statistics.median(tuis) if tuis else float("nan")
                nb = statistics.median(nbs) if nbs else float("nan")
                lat.sort()
                p95 = lat[int(0.95 * (len(lat) - 1))] * 1000 if lat else float("nan")
                share = statistics.mean(ui) if ui else float("nan")
                print(f"{arch:<16}{batch:>6}{head:>10.0f}{tui:>10.0f}{tui / head:>10.3f}"
                      f"{nb:>10.0f}{head / nb:>9.2f}{p95:>12.1f}{share:>10.1%}", flush=True)
                print(f"{'':<16}{'':>6}  each run: headless {' '.join(f'{r:.0f}' for r in heads)}"
                      f"; notebook {' '.join(f'{r:.0f}' for r in nbs)}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
