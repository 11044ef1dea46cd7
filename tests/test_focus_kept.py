"""Issue 34 item 1: a run starting never changes the pane or takes the focus. A grid study's
trials (b, g) start in workers of their own while the person types into a Model field or reads
Results: every key keeps going where it went. Only b itself may open the Study view, and only
while the person is still where they pressed it."""

from __future__ import annotations

import threading

from test_app import FakeTrainer, inline_sweeper, settle, wait_for
from test_model_form import open_form
from textual.widgets import TabbedContent

from cifar_tui.app import CifarApp

SIZE = (80, 24)


def detached_sweeper(trainer, tiny, created: threading.Event, go: threading.Event):
    """A study's workers as the app's detached ones behave: creating the study and starting
    them returns once ``created`` is set (Optuna's import, the workers' start: seconds); the
    trials train in a thread of their own, once ``go`` is set, as another process would."""
    inline = inline_sweeper(trainer, tiny)

    def sweeper(root, name):
        def trials() -> None:
            go.wait(60)
            inline(root, name)

        threading.Thread(target=trials, daemon=True).start()
        created.wait(60)
        return "one worker in a thread"

    return sweeper


def make(tmp_path, tiny, created, go) -> tuple[CifarApp, FakeTrainer]:
    trainer = FakeTrainer(tiny, epochs=1, block=True)  # 1.2 s a trial: live while we type
    app = CifarApp(runs_root=tmp_path / "runs", loader=lambda source, stop=None: tiny,
                   trainer=trainer, sweeper=detached_sweeper(trainer, tiny, created, go))
    return app, trainer


def trials_over(app: CifarApp, trainer: FakeTrainer) -> bool:
    runs = app.store.list()
    return len(trainer.calls) == 3 and len(runs) == 3 and all(
        r.status == "finished" for r in runs)


async def test_trials_starting_never_take_a_model_field_nor_the_pane(tmp_path, tiny):
    """``6 b``, then ``2``, Tab into dropout and type a digit every 0.2 s while the study is
    created and its three trials start and end: the app stays on Model, the field keeps the focus
    and every digit. (With the old queue a starting run took the app to Train; b's study opened
    the Study view whenever its creation ended, seconds after b, wherever the person was.)"""
    created, go = threading.Event(), threading.Event()
    app, trainer = make(tmp_path, tiny, created, go)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_form(pilot)
        await pilot.press("6", "b")  # the study is being created
        await pilot.press("2", "tab", "tab", "ctrl+u", "0", "full_stop")
        field = app.focused
        assert field is not None and field.id == "f-dropout"
        tabs = app.query_one(TabbedContent)
        typed = "0."
        created.set()
        await wait_for(pilot, lambda: app.current_study)  # the app knows the study now
        go.set()
        extra = 0
        while extra < 12:  # until the trials are over, then 2.4 s more (Runs polls every 2 s)
            await pilot.press("1")
            typed += "1"
            await pilot.pause(0.2)
            assert tabs.active == "model" and app.focused is field, (tabs.active, app.focused)
            assert field.value == typed
            extra += trials_over(app, trainer)
            assert len(typed) < 200, "the trials never ended"
        assert app.config.dropout == float(typed)


async def test_trials_starting_leave_results_where_it_is(tmp_path, tiny):
    """b opens the Study view (asked for), then ``4``: the trials that start afterwards leave
    Results shown and focused, and its keys still act."""
    created, go = threading.Event(), threading.Event()
    created.set()
    app, trainer = make(tmp_path, tiny, created, go)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_form(pilot)
        await pilot.press("6", "b")
        await wait_for(pilot, lambda: app.current_study)
        tabs = app.query_one(TabbedContent)
        assert tabs.active == "study"  # b asked for it
        await pilot.press("4")
        await pilot.pause()
        results = app.query_one("ResultsPane")
        assert tabs.active == "results" and app.focused is results
        go.set()
        normalized = results.normalized
        extra = 0
        while extra < 6:
            await pilot.pause(0.4)
            assert tabs.active == "results" and app.focused is results
            extra += trials_over(app, trainer)
        await pilot.press("c")  # Results' own key still reaches it
        assert results.normalized is not normalized
