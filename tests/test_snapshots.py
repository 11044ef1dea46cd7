"""What a person sees at 80x24, pane by pane (pytest-textual-snapshot; --snapshot-update to
accept a deliberate change after looking at the SVG report)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from cifar_tui.app import CifarApp
from cifar_tui.evaluation import evaluate_probs
from cifar_tui.runs import Run

SIZE = (80, 24)


def fixed_run(root, tiny) -> Run:
    """A finished run with a fixed id, so the screens are the same on every machine."""
    path = root / "20260101-000000-cnn-dropout"
    path.mkdir(parents=True)
    run = Run(path)
    run.write_config({"arch": "cnn-dropout", "batch_size": 32, "epochs": 4,
                      "optimizer": "sgd", "learning_rate": 0.01, "normalize": True})
    history = [{"epoch": e, "accuracy": 0.3 + 0.12 * e, "val_accuracy": v, "loss": 2 - 0.3 * e,
                "val_loss": 2.1 - 0.2 * e, "seconds": 44.0, "images_per_sec": 1000.0,
                "learning_rate": 0.01} for e, v in zip(range(1, 5), (0.35, 0.48, 0.55, 0.52))]
    run.write_history(history)
    run.update_state(status="finished", epochs_done=4, created="2026-01-01 00:00:00",
                     best_val_accuracy=0.55)
    labels = tiny.y_test
    probs = np.full((len(labels), 10), 0.02, dtype=np.float32)
    pred = labels.copy()
    pred[::3] = (pred[::3] + 2) % 10
    probs[np.arange(len(labels)), pred] = 0.82
    run.save_predictions(probs, labels)
    # evaluated with the best-val weights, of epoch 3
    run.write_metrics({**evaluate_probs(probs, labels).to_dict(), "weights_epoch": 3,
                       "weights": "best val", "epochs_done": 4})
    return run


@pytest.fixture(autouse=True)
def _truecolour(monkeypatch) -> None:
    """Frames drawn in truecolour whatever TERM the tests run under: with 16 colours (TERM=xterm
    or unset, as Rich reads them) the images are drawn dithered (render.HalfBlockImage)."""
    from textual import constants

    monkeypatch.setattr(constants, "COLOR_SYSTEM", "truecolor")  # read when an app is made


@pytest.fixture
def app(tmp_path, tiny) -> CifarApp:
    fixed_run(tmp_path / "runs", tiny)
    return CifarApp(runs_root=tmp_path / "runs", loader=lambda source, stop=None: tiny)


def steady_cursors(app) -> None:
    """A focused Input's cursor blinks every 0.5 s: shown steadily, the frame is the same
    whenever it is taken."""
    from textual.widgets import Input

    for box in app.query(Input):
        box.cursor_blink = False


def go(*keys: str, wait_text: str | None = None):
    async def run_before(pilot) -> None:
        app = pilot.app
        while app.dataset is None:
            await pilot.pause(0.05)
        await pilot.press(*keys)
        if wait_text:
            from conftest import static_text
            from textual.widgets import Static

            for _ in range(600):
                if wait_text in static_text(app.query_one("#param-table", Static)):
                    break
                await asyncio.sleep(0.05)
        # Builds started by the keys end before the frame is taken, on a loaded machine too.
        await asyncio.wait_for(app.workers.wait_for_complete(), 60)
        steady_cursors(app)
        await pilot.pause(0.2)

    return run_before


def test_data_pane(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=go("1"))


def test_data_pane_raw_pixels(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=go("1", "n"))


@pytest.mark.parametrize("keys", [("minus",), ("plus",), ("plus", "f", "pagedown", "down")],
                         ids=["8x8", "32x32", "32x32-full-screen-scrolled"])
def test_data_pane_gallery_zoomed(snap_compare, app, keys):
    """Issue 34 item 15: the gallery draws only the rows on screen now; these frames were
    taken before, when it drew itself whole as Rich tables, and must not change."""
    assert snap_compare(app, terminal_size=SIZE, run_before=go("1", *keys))


def test_model_pane(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=go("2", wait_text="890,410"))


def test_results_pane(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=go("4"))


def test_predict_pane(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=go("5", "m"))


def test_runs_pane(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=go("6"))


def test_keys_panel(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=go("6", "question_mark"))


def test_too_small_screen(snap_compare, app):
    assert snap_compare(app, terminal_size=(60, 20), run_before=go("6"))


def test_results_heatmap_without_colour(snap_compare, tmp_path, tiny, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")  # the app reads it when made
    fixed_run(tmp_path / "runs", tiny)
    app = CifarApp(runs_root=tmp_path / "runs", loader=lambda source, stop=None: tiny)
    assert snap_compare(app, terminal_size=SIZE, run_before=go("4"))


def test_model_form_with_a_field_focused(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE,
                        run_before=go("2", "tab", "tab", "tab", "tab", wait_text="890,410"))


def test_model_form_error_state(snap_compare, app):
    keys = ("2", *["tab"] * 5, "ctrl+u", "6", "4")  # learning rate 64
    assert snap_compare(app, terminal_size=SIZE, run_before=go(*keys))


class FixedMonitor:
    """The system monitor with fixed figures: the real one reads this machine's CPU and memory
    each second, which differ from run to run."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def sample(self):
        from cifar_tui.sysmon import SystemSample

        return SystemSample(pid=1, cpu_percent=150.0, cores=2, rss=3 * 2**29,
                            memory_percent=12.0)


def test_train_pane_while_training(snap_compare, tmp_path, tiny, monkeypatch):
    """Two epochs done, the third half way: a fixed event stream, then it waits to be stopped.
    Every figure in the frame comes from the events or the fixed monitor, and the frame is
    taken once all of them are drawn."""
    import threading

    import cifar_tui.sysmon

    monkeypatch.setattr(cifar_tui.sysmon, "SystemMonitor", FixedMonitor)

    from cifar_tui.events import BatchProgress, EpochEnd, Started

    drawn = threading.Event()

    def trainer(*, data, store, listener, stop, config=None, run=None):
        path = store.root / "20260101-000000-cnn"
        path.mkdir(parents=True)
        run = Run(path)
        run.write_config(config.to_dict())
        listener(Started(run.id, run.config, 0, 3, 4, 54, 6, 1_250_858))
        history = []
        for epoch, (acc, val) in enumerate([(0.32, 0.30), (0.45, 0.41)], start=1):
            history.append({"epoch": epoch, "accuracy": acc, "val_accuracy": val,
                            "loss": 2 - acc, "val_loss": 2.1 - val, "seconds": 4.0,
                            "images_per_sec": 850.0})
            listener(EpochEnd(run.id, epoch, 3, history[-1], list(history), None, epoch == 2))
        listener(BatchProgress(run.id, 3, 3, 2, 4, 1.41, 0.52, 850.0, 2.0))
        drawn.set()
        # Until the frame is taken and the app closes (it sets load_stop on unmount): the
        # thread would otherwise hold the test's event loop open for the whole wait.
        for _ in range(600):
            if stop.wait(0.05) or app.load_stop.is_set():
                break
        return run

    app = CifarApp(runs_root=tmp_path / "runs", loader=lambda source, stop=None: tiny,
                   trainer=trainer)

    async def run_before(pilot) -> None:
        while app.dataset is None:
            await pilot.pause(0.05)
        await pilot.press("s")
        pane = app.query_one("TrainPane")
        # the events posted, the pane on the last one, and the monitor's sample shown
        while not drawn.is_set() or pane.status != "running" or app.system is None or \
                type(getattr(app.train_event, "event", None)).__name__ != "BatchProgress":
            await pilot.pause(0.05)
        await pilot.pause(0.3)

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    finally:
        app.stop_event.set()


# -- other data sets: 3 classes (a person's own folder) and 100 (CIFAR-100) ------------------


def k_class_data(k: int):
    """A generated data set of ``k`` classes: flat class colours with noise, 6 train and 2 test
    images a class, named as a person's folders might be."""
    from cifar_tui.data import Dataset

    names = ("circle", "square", "triangle") if k == 3 else tuple(
        f"{('maple', 'otter', 'tulip', 'rocket', 'lobster')[i % 5]}_{i:02d}" for i in range(k))
    rng = np.random.default_rng(k)
    palette = rng.integers(30, 226, size=(k, 3))

    def split(n: int):
        y = np.repeat(np.arange(k), n)
        noise = rng.integers(-25, 26, size=(len(y), 32, 32, 3))
        return np.clip(palette[y][:, None, None, :] + noise, 0, 255).astype(np.uint8), y

    x_tr, y_tr = split(6)
    x_te, y_te = split(2)
    return Dataset(x_tr, y_tr, x_te, y_te, source="generated", class_names=names,
                   name="shapes" if k == 3 else "CIFAR-100")


def k_class_run(root, ds) -> Run:
    """A finished run on ``ds``, its data set recorded, one test image in three mistaken."""
    k = ds.num_classes
    path = root / f"20260101-000000-cnn-{k}"
    path.mkdir(parents=True)
    run = Run(path)
    run.write_config({"arch": "cnn", "batch_size": 32, "epochs": 2, "optimizer": "sgd",
                      "learning_rate": 0.01, "normalize": True, "dataset": ds.spec()})
    run.write_history([{"epoch": e, "accuracy": 0.4 + 0.1 * e, "val_accuracy": 0.3 + 0.1 * e,
                        "loss": 1.5 - 0.2 * e, "val_loss": 1.6 - 0.2 * e, "seconds": 5.0,
                        "images_per_sec": 500.0, "learning_rate": 0.01} for e in (1, 2)])
    run.update_state(status="finished", epochs_done=2, created="2026-01-01 00:00:00",
                     best_val_accuracy=0.5)
    labels = ds.y_test
    pred = labels.copy()
    pred[::3] = (pred[::3] + 1 + (np.arange(len(pred[::3])) % 3)) % k
    probs = np.full((len(labels), k), 0.3 / k, dtype=np.float32)
    probs[np.arange(len(labels)), pred] += 0.5
    probs[np.arange(len(labels)), (pred + 1) % k] += 0.2
    run.save_predictions(probs, labels)
    run.write_metrics({**evaluate_probs(probs, labels, ds.class_names).to_dict(),
                       "weights_epoch": 2, "weights": "last", "epochs_done": 2})
    return run


@pytest.fixture(params=[3, 100], ids=["3-classes", "100-classes"])
def k_app(request, tmp_path) -> CifarApp:
    ds = k_class_data(request.param)
    k_class_run(tmp_path / "runs", ds)
    return CifarApp(runs_root=tmp_path / "runs", loader=lambda source, stop=None: ds)


def test_data_pane_k_classes(snap_compare, k_app):
    assert snap_compare(k_app, terminal_size=SIZE, run_before=go("1"))


def test_data_pane_100_classes_next_page(snap_compare, tmp_path):
    ds = k_class_data(100)
    k_class_run(tmp_path / "runs", ds)
    app = CifarApp(runs_root=tmp_path / "runs", loader=lambda source, stop=None: ds)
    assert snap_compare(app, terminal_size=SIZE, run_before=go("1", "right_square_bracket"))


def test_results_pane_k_classes(snap_compare, k_app):
    assert snap_compare(k_app, terminal_size=SIZE, run_before=go("4"))


def test_predict_pane_k_classes(snap_compare, k_app):
    assert snap_compare(k_app, terminal_size=SIZE, run_before=go("5", "m"))
