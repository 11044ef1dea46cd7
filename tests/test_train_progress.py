"""The Train pane's progress bar once a run has ended: it shows how the run ended (epochs done of
the run, coloured by how), not the step of the last progress message it happened to get."""

from __future__ import annotations

import threading

import pytest
from test_app import make_app, region_text, settle, text_of, wait_for
from textual.widgets import ProgressBar

from cifar_tui.events import BatchProgress, EpochEnd, Failed, Finished, Started

EPOCHS, STEPS = 4, 10


def scripted(end: str, done: int):  # noqa: ANN201 - a trainer for CifarApp
    """A trainer whose last progress message is mid-epoch (7/10 steps), as a real one's is
    when progress is throttled or the run stops, then ends with ``end`` after ``done`` epochs."""

    def trainer(*, data, store, listener, stop, config=None, run=None):  # noqa: ANN001, ANN202
        run = run or store.create(config.to_dict())
        run.update_state(status="running")
        listener(Started(run.id, run.config, 0, EPOCHS, STEPS, 40, 10, 1234))
        history = []
        for epoch in range(1, done + 1):
            listener(BatchProgress(run.id, epoch, EPOCHS, 3, STEPS, 1.0, 0.5, 900.0, 1.0))
            history.append({"epoch": epoch, "accuracy": 0.5, "loss": 1.0, "val_accuracy": 0.5,
                            "val_loss": 1.0, "seconds": 1.0, "images_per_sec": 900.0})
            run.write_history(history)
            run.update_state(epochs_done=epoch)
            listener(EpochEnd(run.id, epoch, EPOCHS, history[-1], list(history), None, True))
        if done < EPOCHS:
            listener(BatchProgress(run.id, done + 1, EPOCHS, 7, STEPS, 1.0, 0.5, 900.0, 1.0))
        if end == "failed":
            run.update_state(status="failed", error="the disk is full")
            listener(Failed(run.id, "the disk is full"))
            raise OSError("the disk is full")
        run.update_state(status=end)
        listener(Finished(run.id, end, done, 0.5, None, 3.0))
        return run

    return trainer


@pytest.mark.parametrize(("end", "done", "percentage"), [
    ("finished", EPOCHS, 1.0),        # complete: full
    ("early-stopped", 2, 1.0),        # complete too, by early stopping
    ("stopped", 2, 0.5),              # 2 of 4 epochs: half, not the last step's 70%
    ("failed", 2, 0.5),
])
async def test_the_bar_shows_how_the_run_ended(tmp_path, tiny, end, done, percentage):
    app = make_app(tmp_path, tiny, scripted(end, done))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        bar = app.query_one("#train-progress", ProgressBar)
        assert bar.percentage == pytest.approx(percentage)
        colour = "finished" if end in ("finished", "early-stopped") else end
        assert bar.has_class(f"-{colour}")
        assert [c for c in ("-finished", "-stopped", "-failed") if bar.has_class(c)] == [
            f"-{colour}"]
        app.query_one("TrainPane")._queued(app.config)  # a new training: the epoch's bar again
        assert bar.total is None and not any(bar.has_class(c) for c in
                                             ("-finished", "-stopped", "-failed"))


async def test_an_unknown_length_bar_is_drawn_once_with_animations_off(tmp_path, tiny,
                                                                        monkeypatch):
    """Before a training's first batch the bar has no length. With animations off it is a
    still bar, which Textual redrew 15 times a second all the same (each redraw goes down the
    line over SSH); with animations on it moves, and is redrawn."""
    from textual.widgets._progress_bar import Bar

    monkeypatch.delenv("TEXTUAL_ANIMATIONS", raising=False)
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await pilot.pause()
        progress = app.query_one("#train-progress", ProgressBar)
        bar = progress.query_one(Bar)
        assert progress.percentage is None and bar.is_on_screen
        assert bar.auto_refresh is None
        app.animation_level = "full"
        progress.update(total=10)
        progress.update(total=None)  # unknown again: now it moves
        await pilot.pause()
        assert bar.auto_refresh == pytest.approx(1 / 15)


@pytest.mark.parametrize(("status", "done", "epochs", "percentage", "colour"), [
    ("finished", EPOCHS, EPOCHS, 1.0, "finished"),
    ("early-stopped", 2, EPOCHS, 1.0, "finished"),
    ("stopped", 1, EPOCHS, 0.25, "stopped"),
    ("failed", 2, EPOCHS, 0.5, "failed"),
    ("stopped", 1, "four", 1.0, "stopped"),  # a damaged config: how far it got is unknown
])
async def test_the_last_run_shown_at_start_has_the_bar_of_how_it_ended(
        tmp_path, tiny, status, done, epochs, percentage, colour):
    """While nothing trains, the Train pane shows the newest run: its bar says how that run
    ended, as for a run trained in this session (it was an empty bar reading "--%")."""
    from cifar_tui.runs import RunStore

    run = RunStore(tmp_path / "runs").create({"arch": "dense", "epochs": epochs})
    run.update_state(status=status, epochs_done=done)
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await pilot.pause()
        bar = app.query_one("#train-progress", ProgressBar)
        assert bar.percentage == pytest.approx(percentage)
        assert [c for c in ("-finished", "-stopped", "-failed") if bar.has_class(c)] == [
            f"-{colour}"]
        assert str(bar.query_one("#percentage").render()) == f"{percentage:.0%}"


async def test_the_status_says_compiling_until_the_first_step_and_the_end_says_how_long(
        tmp_path, tiny):
    """A first epoch of a graph backend starts with seconds to minutes of compiling: the pane
    says so while it happens, then how much of the run's time it took."""
    first_step = threading.Event()

    def trainer(*, data, store, listener, stop, config=None, run=None):  # noqa: ANN001, ANN202
        run = run or store.create(config.to_dict())
        run.update_state(status="running")
        listener(Started(run.id, run.config, 0, 1, STEPS, 40, 10, 1234, compiles=True))
        first_step.wait(30)
        listener(BatchProgress(run.id, 1, 1, 1, STEPS, 1.0, 0.5, 900.0, 1.0))
        row = {"epoch": 1, "accuracy": 0.5, "loss": 1.0, "seconds": 12.0,
               "images_per_sec": 900.0, "compile_seconds": 7.3}
        run.write_history([row])
        run.update_state(epochs_done=1, status="finished")
        listener(EpochEnd(run.id, 1, 1, row, [row], None, True))
        listener(Finished(run.id, "finished", 1, None, None, 12.0, compile_seconds=7.3))
        return run

    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: "compiling..." in text_of(app, "#train-status"))
        assert f"step 0/{STEPS} compiling..." in region_text(app, app.query_one("#train-status"))
        first_step.set()
        await settle(pilot)
        assert "compiling..." not in text_of(app, "#train-status")
        assert text_of(app, "#train-status").startswith(
            "finished after 1 epoch (12 s, 7.3 s compiling)")
