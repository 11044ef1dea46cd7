"""The TUI through Textual's Pilot: a fake trainer for each pane, one real tiny training."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from conftest import gallery_lines, settle, static_text
from textual.widgets import DataTable, Input, ProgressBar, RichLog, Select, Static, TabbedContent

from cifar_tui.app import CifarApp
from cifar_tui.evaluation import detect_overfitting, evaluate_probs
from cifar_tui.events import BatchProgress, EpochEnd, Failed, Finished, Started
from cifar_tui.panes.train import TrainPane
from cifar_tui.runs import RunStore

SIZE = (100, 32)


def text_of(app: CifarApp, selector: str) -> str:
    return static_text(app.query_one(selector, Static))


def region_text(app, widget) -> str:
    """The text the screen shows where ``widget`` is, its line breaks undone: what a person
    reads there (the frame as drawn, whatever overlaps or clips the widget)."""
    strips = app.screen._compositor.render_strips()
    region = widget.region
    lines = [strip.crop(region.x, region.right).text for strip in strips[region.y:region.bottom]]
    return " ".join(" ".join(lines).split())


async def wait_for(pilot, condition, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


class FakeTrainer:
    """Emits a believable event stream and writes a real run (history, metrics, predictions).

    The events are events.py's own, built by field name, in the order the real trainer sends
    them (``test_the_fake_trainer_speaks_the_real_trainers_protocol`` holds it to that).
    ``hist`` makes val accuracy fall in the last epoch while train accuracy rises.
    """

    STEPS, TRAIN_SIZE, VAL_SIZE = 4, 48, 12

    def __init__(self, tiny, epochs: int = 3, block: bool = False) -> None:
        self.tiny, self.epochs, self.block = tiny, epochs, block
        self.calls: list[dict] = []
        self.started = threading.Event()
        self.progress_sent = 0

    def __call__(self, *, data, store: RunStore, listener, stop, config=None, run=None):
        self.calls.append({"config": config, "run": run})
        if run is None:
            run = store.create(config.to_dict())
        run.update_state(status="running")
        listener(Started(run_id=run.id, config=run.config, initial_epoch=0, epochs=self.epochs,
                         steps=self.STEPS, train_size=self.TRAIN_SIZE, val_size=self.VAL_SIZE,
                         params=1234))
        self.started.set()
        history: list[dict] = []
        for epoch in range(1, self.epochs + 1):
            for step in range(1, self.STEPS + 1):
                if stop.wait(0.3) if self.block else stop.is_set():
                    run.update_state(status="stopped")
                    listener(Finished(run_id=run.id, status="stopped", epochs_done=epoch - 1,
                                      best_val_accuracy=None))
                    return run
                listener(BatchProgress(run_id=run.id, epoch=epoch, epochs=self.epochs,
                                       step=step, steps=self.STEPS, loss=1.0, accuracy=0.5,
                                       images_per_sec=900.0, eta_s=1.0))
                self.progress_sent += 1
            history.append(self.row(epoch))
            run.write_history(history)
            run.update_state(epochs_done=epoch)
            listener(EpochEnd(run_id=run.id, epoch=epoch, epochs=self.epochs,
                              metrics=history[-1], history=list(history),
                              overfitting=detect_overfitting(history), best=epoch == 2))
        ev = self.evaluate(run, data.y_test)
        run.update_state(status="finished")
        listener(Finished(run_id=run.id, status="finished", epochs_done=self.epochs,
                          best_val_accuracy=0.5, evaluation=ev, seconds=3.0))
        return run

    @staticmethod
    def row(epoch: int) -> dict:
        """History's row of ``epoch``: val loss rises every epoch while train loss falls (an
        overfitting trend by epoch 3), val accuracy peaks at epoch 2."""
        val = [0.3, 0.5, 0.45][epoch - 1] if epoch <= 3 else 0.45
        return {"epoch": epoch, "accuracy": 0.3 + 0.2 * epoch, "loss": 2 - epoch / 3,
                "val_accuracy": val, "val_loss": 1.9 + epoch / 10, "seconds": 1.0,
                "images_per_sec": 900.0, "learning_rate": 0.01}

    @staticmethod
    def evaluate(run, labels: np.ndarray):  # noqa: ANN001, ANN205 - a Run; an Evaluation
        """Every third test image wrong (cat->frog etc.), stored in the run as the real
        evaluation stores it."""
        probs = np.full((len(labels), 10), 0.02, dtype=np.float32)
        pred = labels.copy()
        pred[::3] = (pred[::3] + 3) % 10
        probs[np.arange(len(labels)), pred] = 0.82
        ev = evaluate_probs(probs, labels)
        run.save_predictions(probs, labels)
        run.write_metrics(ev.to_dict())
        return ev


def inline_sweeper(trainer, tiny):
    """A study's worker in the test's process (the app's own starts detached processes): the
    real sweep engine and storage, each trial trained by ``trainer``."""

    def sweeper(root, name):
        from cifar_tui.sweep import work

        def train(**kwargs):
            kwargs.pop("callbacks")  # no pruning in a grid study
            return trainer(data=tiny, **kwargs)

        work(root, name, trainer=train, say=lambda text: None)
        return "one worker in this process"

    return sweeper


def make_app(tmp_path, tiny, trainer=None) -> CifarApp:
    trainer = trainer or FakeTrainer(tiny)
    return CifarApp(runs_root=tmp_path / "runs", loader=lambda source, stop=None: tiny,
                    trainer=trainer, sweeper=inline_sweeper(trainer, tiny))


@pytest.mark.parametrize(("name", "shown"), [
    ("shapes", "cifar-tui · shapes"),
    ("CIFAR-100", "cifar-tui · CIFAR-100"),
    ("leaves\x1b[31m of my garden, all 40 kinds", "cifar-tui · leaves\\x1b[31m of my ga…"),
])
async def test_the_header_names_the_loaded_data_set(tmp_path, name, shown):
    """The header said "CIFAR-10 classifiers with Keras" whatever the data (issue 33): it names
    the data set loaded, as text (a folder's name), short enough to leave the run beside it."""
    from cifar_tui.data import Dataset

    y = np.repeat(np.arange(3), 4)
    x = np.zeros((len(y), 32, 32, 3), np.uint8)
    ds = Dataset(x, y, x, y, source="generated", class_names=("a", "b", "c"), name=name)
    app = make_app(tmp_path, ds, FakeTrainer(ds))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        header = region_text(app, app.query_one("Header"))
    assert f"{shown} — image classifiers with Keras" in header and "\x1b" not in app.title


async def test_data_pane_shapes_counts_toggle_and_gallery(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause()
        summary = text_of(app, "#data-summary")
        assert "(60, 32, 32, 3)" in summary and "(60, 10)" in summary
        assert "(20, 32, 32, 3)" in summary
        counts = text_of(app, "#data-counts")
        assert "airplane" in counts and "truck" in counts
        assert "[0, 1]" in text_of(app, "#data-normalization")
        await pilot.press("n")
        assert app.normalize is False
        assert "uint8 in [0, 255]" in text_of(app, "#data-normalization")
        gallery = "\n".join(gallery_lines(app.query_one("#gallery")))
        assert "\u2580" in gallery and "automobile" in gallery
        await pilot.press("n")
        assert app.normalize is True
        await pilot.press("f")  # the gallery fills the screen, and back
        assert app.screen.maximized is app.query_one("#gallery-box")
        await pilot.press("f")
        assert app.screen.maximized is None


def notices(app: CifarApp) -> list[tuple[str, str]]:
    """From now on, what the app tells the user: (message, severity) of each notification."""
    told: list[tuple[str, str]] = []
    notify = app.notify

    def recorded(message: str, **kwargs) -> None:  # noqa: ANN003 - as App.notify's
        told.append((message, kwargs.get("severity", "information")))
        notify(message, **kwargs)

    app.notify = recorded  # type: ignore[method-assign]
    return told


async def test_data_load_error_is_shown_and_training_without_data_is_refused(tmp_path, tiny):
    def broken(source, stop=None):
        from cifar_tui.data import DataError

        raise DataError("x.tar.gz: the archive is corrupt or truncated")

    trainer = FakeTrainer(tiny)
    app = CifarApp(runs_root=tmp_path / "runs", loader=broken, trainer=trainer)
    told = notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "corrupt" in text_of(app, "#data-summary"))
        await pilot.press("2")  # the Model form describes a config: only the data is missing
        await wait_for(pilot, lambda: app.config is not None)
        await pilot.press("s")  # training without data is refused, not crashed
        await pilot.pause()
        assert ("The data is not loaded yet (see the Data pane)", "warning") in told
        assert not app.training and app.train_event is None and not trainer.calls
        assert not list(app.store.list())
        assert "Press s to train" in text_of(app, "#train-status")  # the Train pane unmoved


async def test_a_first_data_load_shows_how_many_images_are_decoded(tmp_path, arrays,
                                                                    monkeypatch):
    """Issue 34 item 16: 20-22 s of "Loading CIFAR-10..." with no progress. The real loader
    decodes a generated image tree here and the Data pane counts the files as they are read."""
    from conftest import image_members, write_tree

    import cifar_tui.data as data_mod

    monkeypatch.setattr(data_mod._Stop, "PROGRESS_EVERY", 10)
    tree = write_tree(tmp_path / "imgs", image_members(arrays))
    counts: list[int] = []
    release = threading.Event()

    def load(source, stop=None):
        def files_read(n: int) -> None:  # the app's own, then hold the load at 40 files
            counts.append(n)
            seen(n)
            if n >= 40:
                release.wait(10)
        seen = stop.files_read
        stop.files_read = files_read
        return data_mod.load_cifar10(source, stop=stop, use_cache=False)

    app = CifarApp(data_source=str(tree), runs_root=tmp_path / "runs", loader=load)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: counts and counts[-1] >= 40)
        await pilot.pause(0.2)
        # any data set: the count of files read, not CIFAR-10's 60,000 as a total
        assert "40 files decoded" in text_of(app, "#data-summary")
        release.set()
        await settle(pilot)
        assert app.dataset is not None and "(60, 32, 32, 3)" in text_of(app, "#data-summary")
    assert counts == list(range(10, 10 * len(counts) + 1, 10))


async def test_quit_during_the_first_data_load_stops_the_load(tmp_path):
    """q while CIFAR-10 is still decoding: the load stops at its next file, so the process
    can end at once (it waited for all 60,000 images before)."""
    import threading
    import time

    from cifar_tui.data import LoadCancelled

    started, seen = threading.Event(), {}

    def slow(source, stop=None):
        started.set()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:  # a long decode that checks for a stop per file
            if stop is not None and stop.is_set():
                seen["stopped_after"] = time.monotonic() - t0
                raise LoadCancelled("stopped on request")
            time.sleep(0.01)
        seen["stopped_after"] = None
        raise AssertionError("the load ran to its end")

    app = CifarApp(runs_root=tmp_path / "runs", loader=slow)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, started.is_set)
        await pilot.press("q")
    for _ in range(300):
        if seen:
            break
        time.sleep(0.01)
    assert seen.get("stopped_after") is not None, "q left the load running"
    assert app.data_error is None  # a stop on leaving is not reported as a load error


async def test_model_pane_param_table_and_spec_errors(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: "890,410" in text_of(app, "#param-table"))
        assert "(3*3*32+1)*64" in text_of(app, "#param-table")
        await pilot.press("tab")  # straight into the form's first field
        assert app.focused is app.query_one("#arch", Select)
        await pilot.press("enter")  # open the list, go from cnn down to fast, pick it
        for _ in range(4):
            await pilot.pause()
            await pilot.press("down")
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "1,973,945" in text_of(app, "#param-table"))
        assert "ScaledBias" in text_of(app, "#param-table")
        await pilot.press("escape")
        assert app.focused is app.query_one("ModelPane")
        await pilot.press("f")
        assert app.screen.maximized is app.query_one("#param-box")
        await pilot.press("f")
        assert app.screen.maximized is None
        app.query_one("#arch", Select).value = "dense"
        await wait_for(pilot, lambda: "9,050,378" in text_of(app, "#param-table"))
        app.query_one("#arch", Select).value = "custom"
        await pilot.pause()
        app.query_one("#f-spec", Input).value = "C32-FC10"
        await wait_for(pilot, lambda: "needs a flat input" in text_of(app, "#param-table"))
        app.query_one("#f-batch_size", Input).value = "abc"
        await pilot.pause()
        assert app.config is None
        assert "batch size: 'abc' is not a whole number" in app.config_error
        assert "not a whole number" in text_of(app, "#err-batch_size")


async def test_train_results_predict_runs_with_fake_trainer(tmp_path, tiny):
    trainer = FakeTrainer(tiny)
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        config = trainer.calls[0]["config"]
        assert (config.arch, config.batch_size, config.patience, config.val_split) == (
            "cnn", 32, 2, 0.1)
        # Train pane: finished line and the overfitting warning from epoch 3.
        assert "test accuracy" in text_of(app, "#train-status")
        assert "Overfitting" in text_of(app, "#overfit-warning")
        # Results pane: accuracy header, heatmap, most confused pairs.
        await pilot.press("4")
        assert "test accuracy" in text_of(app, "#results-header")
        heat = text_of(app, "#heatmap")
        assert "Confusion matrix" in heat and "counts" in heat
        await pilot.press("c")
        assert "row %" in text_of(app, "#heatmap")
        assert "\u2192" in text_of(app, "#confused")
        # Predict pane: next/previous and jump to a mistake.
        await pilot.press("5")
        assert "test image 1/20" in text_of(app, "#pred-header")
        await pilot.press("right")
        assert "test image 2/20" in text_of(app, "#pred-header")
        await pilot.press("m")
        assert "test image 4/20" in text_of(app, "#pred-header")  # index 3: every third wrong
        assert "predicted" in text_of(app, "#pred-caption")
        assert "%" in text_of(app, "#pred-bars")
        # Runs pane lists the run.
        await pilot.press("6")
        table = app.query_one(DataTable)
        assert table.row_count == 1
        assert "finished" in str(table.get_row_at(0))


async def test_b_is_a_grid_study_of_the_same_three_configs_the_queue_trained(tmp_path, tiny):
    """Issue 32: b was a home-made queue of three runs (the Model form's config with batch
    32, 64, 128); it is a grid study now, whose three trials are runs of those configs."""
    from dataclasses import replace

    trainer = FakeTrainer(tiny, epochs=2)
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        base = app._form_config()
        queue = [replace(base, batch_size=b).to_dict() for b in (32, 64, 128)]  # the old queue
        await pilot.press("6")
        await pilot.press("b")
        await settle(pilot)  # the study's three trials
        configs = sorted((r.config for r in app.store.list()), key=lambda c: c["batch_size"])
        assert configs == queue
        assert all(r.state["study"] == app.current_study for r in app.store.list())
        assert app.query_one(TabbedContent).active == "study"
        await wait_for(pilot, lambda: "3/3 done" in text_of(app, "#study-head"))
        await pilot.press("6")
        runs = app.query_one("RunsPane")
        table = app.query_one("#runs-table", DataTable)
        # the workers are not this app's trainings: the pane finds their runs in the store
        await wait_for(pilot, lambda: table.row_count == 3)
        table.focus()
        for _ in range(3):
            await pilot.press("space")
            await pilot.press("down")
        assert len(runs.selected) == 3
        legend = text_of(app, "#runs-legend")  # the overlay: one curve set per run
        assert all(f"cnn b{b}" in legend for b in (32, 64, 128))


async def test_the_overlay_legend_tells_two_runs_of_one_setting_apart(tmp_path, tiny):
    """Issue 34 item 15: the legend showed "cnn b32" twice for two different runs."""
    import shutil

    from test_snapshots import fixed_run

    run = fixed_run(tmp_path / "runs", tiny)
    shutil.copytree(run.path, run.path.with_name("20260102-000000-cnn-dropout"))
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("6", "space", "down", "space")
        legend = text_of(app, "#runs-legend")
        assert "cnn-dropout b32 0102-000000" in legend, legend
        assert "cnn-dropout b32 0101-000000" in legend, legend


async def test_the_runs_pane_shows_a_finished_studys_runs(tmp_path, tiny):
    """Issue 34 item 7: after a queue (now a grid study) ended the cursor stayed on an old row,
    the new runs above the visible area. New runs come first and the cursor goes to the newest."""
    import shutil

    from test_snapshots import fixed_run

    old = fixed_run(tmp_path / "runs", tiny)
    for i in range(1, 25):  # more runs than the table shows at 80x24
        shutil.copytree(old.path, old.path.with_name(f"20250101-0000{i:02d}-cnn"))
    app = make_app(tmp_path, tiny, FakeTrainer(tiny, epochs=1))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("6", "end")
        table = app.query_one("#runs-table", DataTable)
        assert table.cursor_row == 24 and table.scroll_y > 0
        await pilot.press("b")
        await settle(pilot)
        await pilot.press("6")
        await wait_for(pilot, lambda: table.row_count == 28)
        await pilot.pause()
        newest = app.store.newest_first()[:3]
        keys = [row.key.value for row in table.ordered_rows]
        assert keys[:3] == [r.id for r in newest]
        # a grid study's trials: any order
        assert sorted(r.config["batch_size"] for r in newest) == [32, 64, 128]
        assert table.cursor_row == 0 and table.scroll_y == 0  # the newest, in view
        await pilot.press("down")  # and from there the cursor goes where it is moved
        app.runs_version += 1
        await settle(pilot)
        assert table.cursor_row == 1


async def test_the_train_pane_points_to_a_live_run_rather_than_training_it_again(tmp_path,
                                                                                 tiny):
    """Issue 34 item 11: on reopening, "Last run ...: running, 5 epochs. Press s to train the
    model set up in the Model pane" invited a second training of a run being trained."""
    from test_live import _fake_live_run

    run = _fake_live_run(tmp_path)  # trained by a live process (this one stands in for it)
    run.update_state(epochs_done=2)
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        status = text_of(app, "#train-status")
        assert f"Run {run.id} is running" in status and "Runs (6) with enter" in status
        assert "Press s" not in status


async def test_g_is_a_grid_study_of_the_three_presets_with_their_own_model_options(tmp_path,
                                                                                   tiny):
    from dataclasses import replace

    from cifar_tui.config import MODEL_OPTIONS

    app = make_app(tmp_path, tiny, FakeTrainer(tiny, epochs=1))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        base = app._form_config()
        queue = sorted((replace(base, arch=a, **dict.fromkeys(MODEL_OPTIONS)).to_dict()
                        for a in ("cnn", "cnn-dropout", "cnn-dropout-bn")),
                       key=lambda c: c["arch"])
        await pilot.press("6", "g")
        await settle(pilot)
        assert sorted((r.config for r in app.store.list()), key=lambda c: c["arch"]) == queue


async def test_the_title_names_the_run_that_is_training_not_the_one_before(tmp_path, tiny):
    """Issue 12: while a second run trained, the title bar named the previous (finished) run.
    The second run is held just after it has started: the title names it."""
    trainer = FakeTrainer(tiny, epochs=1)
    started: list[str] = []
    second_started, release = threading.Event(), threading.Event()

    def held(*, listener, **kwargs):
        def relay(event):
            listener(event)
            if isinstance(event, Started):
                started.append(event.run_id)
                if len(started) == 2:
                    second_started.set()
                    release.wait(30)
        return trainer(listener=relay, **kwargs)

    app = make_app(tmp_path, tiny, held)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("s")
            await settle(pilot)
            first = started[0]
            assert app.sub_title == f"run {first}"
            await pilot.press("s")
            await wait_for(pilot, second_started.is_set)
            await pilot.pause()
            second = started[1]
            assert first != second and app.training
            assert app.sub_title == f"training {second}"
            header = region_text(app, app.query_one("Header"))
            assert f"training {second}" in header and f"run {first}" not in header
            release.set()
            await settle(pilot)
    finally:
        release.set()


async def start_slow_training(app: CifarApp, pilot, trainer: FakeTrainer) -> None:
    await settle(pilot)
    await pilot.press("s")
    await wait_for(pilot, lambda: trainer.started.is_set())


async def test_stop_key_stops_and_resume(tmp_path, tiny):
    trainer = FakeTrainer(tiny, epochs=3, block=True)
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=SIZE) as pilot:
        await start_slow_training(app, pilot, trainer)
        await pilot.press("x")
        await settle(pilot)
        assert app.query_one("TrainPane").status == "stopped"
        await pilot.press("6")
        trainer.block = False
        await pilot.press("R")
        await settle(pilot)
        assert len(trainer.calls) == 2
        assert trainer.calls[1]["run"] is not None


async def test_quit_during_training_stops_cleanly(tmp_path, tiny):
    trainer = FakeTrainer(tiny, epochs=3, block=True)
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=SIZE) as pilot:
        await start_slow_training(app, pilot, trainer)
        await pilot.press("q")  # asks: stop now, keep training in the background, or stay
        await pilot.pause(0.2)
        await pilot.press("escape")
        await pilot.pause(0.5)
        assert app.training and not app.stop_event.is_set()
        await pilot.press("q")
        await pilot.pause(0.2)
        await pilot.press("s")
        await pilot.pause(0.5)
    assert app.stop_event.is_set()
    assert RunStore(tmp_path / "runs").list()[0].state["status"] == "stopped"


async def test_no_toast_covers_the_quit_dialog_at_80x24(tmp_path, tiny):
    """Issue 34 item 14: "Report written ..." hid the quit dialog's Background button."""
    trainer = FakeTrainer(tiny, epochs=3, block=True)
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await start_slow_training(app, pilot, trainer)
        for _ in range(3):
            app.notify("/a/long/path/runs/reports/20260101-000000-cnn/report.html\n"
                       "/a/long/path/runs/reports/20260101-000000-cnn/report.md",
                       title="Report written", timeout=20)
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause(0.3)
        dialog = app.screen
        assert type(dialog).__name__ == "QuitDialog"
        toasts = [t.region for t in app.screen.query("Toast")]
        assert all(t.region for t in app.screen_stack[0].query("Toast"))  # they were shown
        for button in dialog.query("Button"):
            assert button.region.bottom <= 23
            assert not any(button.region.overlaps(t) for t in toasts), button.id
        await pilot.press("escape")


async def test_quit_stop_now_says_it_is_stopping_until_the_training_has_stopped(tmp_path,
                                                                                 tiny):
    """Issue 12: after q -> Stop now the screen went blank for seconds with nothing said. The
    trainer here takes its time to end after it saw the stop: meanwhile the app is still there,
    the dialog gone, and the screen says the training is stopping; then the app ends."""
    trainer = FakeTrainer(tiny, epochs=3, block=True)
    stopped, release = threading.Event(), threading.Event()

    def slow_to_stop(**kwargs):
        run = trainer(**kwargs)  # returns once it has seen the stop
        stopped.set()
        release.wait(30)  # saving, releasing the GPU...: the time the screen was blank
        return run

    app = make_app(tmp_path, tiny, slow_to_stop)
    said: list[str] = []
    exit_app = app.exit
    app.exit = lambda *args, message=None, **kwargs: (said.append(str(message)),
                                                       exit_app(*args, message=message, **kwargs))
    try:
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await start_slow_training(app, pilot, trainer)
            await pilot.press("q")
            await pilot.pause(0.2)
            await pilot.press("s")  # Stop now
            await wait_for(pilot, stopped.is_set, timeout=10)
            await pilot.pause(0.2)
            assert not app._exit and not app.query("QuitDialog")  # still here, dialog gone
            toasts = [" ".join(region_text(app, toast).replace("\u258c", " ").split())
                      for toast in app.screen.query("Toast")]  # without the toast's edge
            assert any("Stopping after this batch; finished epochs are kept" in text
                       for text in toasts), toasts
            release.set()
            for _ in range(200):  # the app leaves once the training has ended
                if app._exit:
                    break
                await asyncio.sleep(0.05)
            assert app._exit
    finally:
        release.set()
    run = RunStore(tmp_path / "runs").list()[0]
    assert run.state["status"] == "stopped"
    # what happened is said on leaving, as Background says where the run goes on (item 15)
    assert f"run {run.id} stopped after {run.epochs_done} epoch" in said[-1]
    assert f"cifar-tui train --resume {run.id}" in said[-1]


def test_after_the_screen_closes_the_terminal_says_the_training_is_stopping(tmp_path,
                                                                          monkeypatch, capsys):
    """q -> Stop now closes the screen once the trainer has stopped; where the trainer thread
    outlives the screen (an error, a hangup race) run_app says why the prompt is not back yet
    rather than leaving a blank terminal."""
    import signal

    from cifar_tui import app as app_module

    monkeypatch.setattr("cifar_tui.quiet.quiet_tensorflow", lambda: None)
    monkeypatch.setattr("cifar_tui.quiet.divert_stderr", lambda log: None)  # fd 2 stays
    monkeypatch.setattr(signal, "signal", lambda signum, handler: None)

    def run(self):  # the screen has closed while the trainer thread still ends its batch
        self.training_done.clear()
        threading.Timer(0.2, self.training_done.set).start()

    monkeypatch.setattr(CifarApp, "run", run)
    assert app_module.run_app(runs=str(tmp_path / "runs")) == 0
    assert "stopping the training after this batch (finished epochs are kept)" in \
        capsys.readouterr().out


async def test_quit_to_background_hands_the_run_to_a_detached_process(tmp_path, tiny,
                                                                      monkeypatch):
    handed: list = []
    monkeypatch.setattr("cifar_tui.live.start_detached",
                        lambda run: handed.append(run) or (4321, run.path / "train.log"))
    trainer = FakeTrainer(tiny, epochs=3, block=True)
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=SIZE) as pilot:
        await start_slow_training(app, pilot, trainer)
        await pilot.press("q")
        await pilot.pause(0.2)
        await pilot.press("b")
        await wait_for(pilot, lambda: bool(handed), timeout=10)
    run = RunStore(tmp_path / "runs").list()[0]
    assert [r.id for r in handed] == [run.id] and run.state["status"] == "stopped"


async def test_failure_is_reported(tmp_path, tiny):
    def failing(*, listener, config, store, **kw):
        run = store.create(config.to_dict())
        run.update_state(status="failed", error="disk is full")  # as train() records it
        listener(Failed(run.id, "disk is full"))
        raise OSError("disk is full")

    app = make_app(tmp_path, tiny, failing)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert "Training failed: disk is full" in text_of(app, "#train-status")
        # The app's failure branch ran: it said so and the Runs pane shows the failed run.
        assert any(n.title == "Training failed" and n.message == "disk is full"
                   for n in app._notifications)
        await pilot.press("6")
        assert "failed" in str(app.query_one(DataTable).get_row_at(0))


@pytest.mark.parametrize("reported, error, shown", [
    (False, ImportError("No module named 'tensorflow'"),
     "unexpected error (ImportError: No module named 'tensorflow'); the traceback is in"),
    (True, OSError(28, "No space left on device"), "[Errno 28] No space left on device"),
], ids=["before-started", "after-started"])
async def test_a_training_that_dies_unreported_is_shown_failed(tmp_path, tiny, reported, error,
                                                              shown):
    """The trainer raises before its first epoch without reporting a failure (TensorFlow
    missing, a bug: its traceback is logged; or, after Started, the disk full while it records
    the failure): the app's worker failure branch shows the error in the Train pane and as a
    notification, marks the training failed (red bar, status), and a new training can
    start."""
    calls: list = []

    def broken(*, listener, config, store, **kw):
        calls.append(config)
        if reported:
            listener(Started("r1", config.to_dict(), 0, 3, 4, 48, 12, 1234))
        raise error

    app = make_app(tmp_path, tiny, broken)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        pane = app.query_one(TrainPane)
        assert text_of(app, "#train-status").startswith(f"Training failed: {shown}")
        log = " ".join(" ".join(line.text for line in pane.query_one(RichLog).lines).split())
        assert f"failed: {shown}" in log  # the log wraps long lines
        assert any(n.title == "Training failed" and n.message.startswith(shown)
                   and n.severity == "error" for n in app._notifications)
        assert (app.train_status, pane.status, app.training) == ("failed", "failed", False)
        assert pane.query_one(ProgressBar).has_class("-failed")
        await pilot.press("s")  # not stuck "starting": a second try runs the trainer again
        await settle(pilot)
        assert len(calls) == 2


async def test_command_palette_lists_actions(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Start training", "Stop training", "Compare batch sizes 32/64/128",
                       "Evaluate current run", "Predict: open image file", "Go to runs"):
            assert wanted in titles
        await pilot.press("ctrl+p")  # and a command really runs from the palette
        await pilot.pause()
        await pilot.press(*"Go to runs")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "runs"


def protocol(events: list) -> list[str]:
    """An event stream's shape: the event kinds in order, a run of BatchProgress as one."""
    kinds: list[str] = []
    for event in events:
        kind = type(event).__name__
        if not (kind == "BatchProgress" and kinds and kinds[-1] == kind):
            kinds.append(kind)
    return kinds


def test_the_fake_trainer_speaks_the_real_trainers_protocol(tmp_path, tiny):
    """The fake trainer the pane tests use sends what the real one sends, in the same order,
    with the same history columns, and leaves the run files the panes read."""
    from conftest import small_run_config

    from cifar_tui.trainer import train

    cfg = small_run_config(epochs=2, val_split=0.2)
    real: list = []
    fake: list = []
    real_run = train(cfg, data=tiny, store=RunStore(tmp_path / "real"), listener=real.append)
    fake_run = FakeTrainer(tiny, epochs=2)(data=tiny, store=RunStore(tmp_path / "fake"),
                                            listener=fake.append, stop=threading.Event(),
                                            config=cfg)
    assert protocol(fake) == protocol(real) == [
        "Started", "BatchProgress", "EpochEnd", "BatchProgress", "EpochEnd", "Finished"]
    optional = {"compile_seconds"}  # only where compiling was measured
    ends = [[e for e in events if isinstance(e, EpochEnd)] for events in (fake, real)]
    for mine, theirs in zip(*ends, strict=True):
        assert set(mine.metrics) == set(theirs.metrics) - optional
        assert [set(r) for r in mine.history] == [set(r) - optional for r in theirs.history]
    assert (fake[-1].status, real[-1].status) == ("finished", "finished")
    assert fake[-1].evaluation is not None and real[-1].evaluation is not None
    assert (fake_run.status, fake_run.epochs_done) == (real_run.status, real_run.epochs_done)
    assert set(fake_run.metrics) <= set(real_run.metrics)
    assert fake_run.predictions() is not None and real_run.predictions() is not None


async def test_real_tiny_training_through_the_ui(tmp_path, tiny):
    app = CifarApp(runs_root=tmp_path / "runs", loader=lambda source, stop=None: tiny)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        app.query_one("#arch", Select).value = "custom"
        await pilot.pause()
        app.query_one("#f-spec", Input).value = "C8-P-F-FC16"
        app.query_one("#f-epochs", Input).value = "2"
        app.query_one("#f-batch_size", Input).value = "16"
        app.query_one("#arch", Select).focus()
        await pilot.press("escape", "s")
        await settle(pilot)
        run = app.current_run
        assert run.status == "finished" and run.epochs_done == 2
        assert run.metrics["n"] == 20
        await pilot.press("4")
        assert "test accuracy" in text_of(app, "#results-header")
        await pilot.press("5")
        await pilot.press("o")
        box = app.query_one("#pred-path", Input)
        assert box.display
        from conftest import png_bytes

        photo = tmp_path / "cat.png"
        photo.write_bytes(png_bytes(np.full((64, 80, 3), 120, np.uint8)))
        box.value = str(photo)
        await pilot.press("enter")
        await settle(pilot)
        assert "resized to 32x32" in text_of(app, "#pred-header")
        # e in Results: the app's worker evaluates it again (under the run lock), and Results
        # shows the new evaluation
        (run.path / "metrics.json").unlink()
        await pilot.press("4", "e")
        await settle(pilot)
        assert "test accuracy" in text_of(app, "#results-header") and run.metrics["n"] == 20
        assert not run.lock_held()


async def test_model_form_shows_only_the_fields_an_arch_takes(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        app.query_one("#arch", Select).value = "transfer"
        await pilot.pause()
        assert app.query_one("#row-weights").display and not app.query_one("#row-spec").display
        app.query_one("#f-weights", Input).value = "none"
        await pilot.pause()
        cfg = app.config
        assert (cfg.arch, cfg.optimizer, cfg.weights) == ("transfer", "adam", "none")
        assert cfg.model_options()["weights"] == "none"  # one spelling, to the builder
        app.query_one("#arch", Select).value = "cnn-dropout-bn"
        await pilot.pause()
        assert app.query_one("#row-batch_norm").display
        cfg = app.config
        assert (cfg.dropout, cfg.batch_norm, cfg.spec) == (0.25, True, None)
        await pilot.press("1", "n", "2")  # the Data pane's scaling toggle reaches training
        assert app._form_config().normalize is False


async def test_start_key_belongs_to_the_field_until_esc(tmp_path, tiny):
    trainer = FakeTrainer(tiny, epochs=1)
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await pilot.pause()
        app.query_one("#arch", Select).value = "dense"
        app.query_one("#arch", Select).focus()
        await pilot.press("s")
        await pilot.pause()
        assert not trainer.calls and not app.training
        await pilot.press("escape", "s")
        await settle(pilot)
        assert len(trainer.calls) == 1
        assert trainer.calls[0]["config"].arch == "dense"
        app.query_one("#f-epochs", Input).focus()
        await pilot.press("escape")  # leave the field: the pane has focus again
        assert app.focused is app.query_one("ModelPane")


async def test_leaving_a_pane_leaves_its_full_screen_view(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: "890,410" in text_of(app, "#param-table"))
        await pilot.press("f")
        await pilot.pause()
        assert app.screen.maximized is app.query_one("#param-box")
        await pilot.press("4")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "results"
        assert app.screen.maximized is None


def test_a_users_photo_is_not_drawn_as_known_right_or_wrong():
    """Issue 34 item 15: a user photo's prediction was drawn green, as if known correct."""
    from rich.console import Console

    from cifar_tui.panes.predict import PredictPane
    from cifar_tui.render import probability_bars

    p = np.full(10, 0.02, dtype=np.float32)
    p[3] = 0.82

    def styles(renderable) -> str:
        console = Console(record=True, width=80, color_system="truecolor", file=__import__("io")
                          .StringIO())
        console.print(renderable)
        return console.export_html(inline_styles=True)

    photo = PredictPane._caption(None, 3, p)
    assert "true class unknown" in photo.plain
    assert all("green" not in str(span.style) and "red" not in str(span.style)
               for span in photo.spans)
    assert "green" in str(PredictPane._caption(3, 3, p).spans[0].style)  # a test image: right
    bars = styles(probability_bars(p))
    assert "#800000" not in bars and "#008000" not in bars  # ANSI red and green: no verdict
    assert "#800000" in styles(probability_bars(p, true_label=1))  # known and wrong: red
