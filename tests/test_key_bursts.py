"""Keys that reach the app in one read (tmux send-keys, a laggy SSH link sending several keys in
one packet) act in order, as if typed one by one, on every pane: each test feeds the bytes of one
read through Textual's own input parser."""

from __future__ import annotations

from functools import partial

from test_app import FakeTrainer, make_app, settle, wait_for
from test_model_form import open_form, read_in_one_go
from textual.widgets import DataTable, TabbedContent

from cifar_tui.panes.data import DataPane
from cifar_tui.panes.predict import PredictPane
from cifar_tui.panes.results import ResultsPane
from cifar_tui.panes.train import TrainPane

SIZE = (80, 24)
TAB, CTRL_U, ESC, DOWN, RIGHT, ENTER = "\t", "\x15", "\x1b", "\x1b[B", "\x1b[C", "\r"


async def test_a_burst_from_train_sets_a_field_then_trains_from_the_train_pane(tmp_path, tiny):
    """``2 Tab Tab C-u 0 . 2 5 Escape 3 s``: the keys went to the pane focused when they were
    read, the field then took focus, and the app dropped the digits: the app ended on Model with
    dropout unchanged and nothing trained."""
    trainer = FakeTrainer(tiny, epochs=1)
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_form(pilot)  # the form is mounted after the first frame
        await pilot.press("3")
        await read_in_one_go(pilot, f"2{TAB}{TAB}{CTRL_U}0.25{ESC}3s")
        await wait_for(pilot, lambda: trainer.calls)
        assert app.query_one(TabbedContent).active == "train"
        assert trainer.calls[0]["config"].dropout == 0.25
        await settle(pilot)


async def test_a_burst_on_the_model_pane_types_every_digit(tmp_path, tiny):
    """``Tab Tab 1 2 3 4 5 6 7 8 9`` focused dropout and lost every digit."""
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_form(pilot)
        await read_in_one_go(pilot, f"{TAB}{TAB}{CTRL_U}0.123456789")
        assert app.focused.id == "f-dropout" and app.focused.value == "0.123456789"
        assert app.config.dropout == 0.123456789


async def test_a_burst_on_the_data_train_results_and_predict_panes(tmp_path, tiny):
    """A pane's digit and its keys in one read: the keys are that pane's, not the pane left."""
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")  # a finished run for Results and Predict
        await settle(pilot)
        burst = partial(read_in_one_go, pilot)
        await burst("2" "1n-+-")
        data = app.query_one(DataPane)
        assert app.normalize is False and data.zoom == 0
        await burst("1" "3l")
        assert app.query_one(TrainPane).metric == "loss"
        await burst("3" "4c")
        assert app.query_one(ResultsPane).normalized is True
        await burst("4" "5" + RIGHT * 3)
        await pilot.pause()
        assert app.query_one(PredictPane).index == 3


async def test_a_burst_on_the_runs_pane_moves_the_cursor_and_opens_the_run(tmp_path, tiny):
    """``6 Down Down Enter`` showed Runs but lost the cursor moves and Enter."""
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(3):
            await pilot.press("s")
            await settle(pilot)
        await pilot.press("1")
        await read_in_one_go(pilot, f"6{DOWN}{DOWN}{ENTER}")
        table = app.query_one("#runs-table", DataTable)
        assert app.query_one(TabbedContent).active == "runs" and table.cursor_row == 2
        row_key = table.coordinate_to_cell_key((2, 0)).row_key
        assert app.current_run.id == row_key.value
