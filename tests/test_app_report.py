"""The write-up keys of the TUI through Pilot: report, SVG screenshot, Model views, HParams
table, and a confused pair's images in Predict."""

from __future__ import annotations

import numpy as np
import pytest
from test_app import SIZE, FakeTrainer, make_app, text_of, wait_for
from textual.widgets import DataTable

from cifar_tui import CLASSES
from cifar_tui.evaluation import worst_of_pair


async def _train(app, pilot, runs: int = 1) -> None:
    await wait_for(pilot, lambda: app.dataset is not None)
    for n in range(1, runs + 1):
        await pilot.press("s")
        await wait_for(pilot, lambda n=n: len(app.store.list()) == n and not app.training
                       and app.current_run is not None and app.current_run.metrics)


async def test_svg_screenshot_key(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.press("f12")
        shots = list((tmp_path / "runs" / "screenshots").glob("cifar-tui-results-*.svg"))
        assert len(shots) == 1 and shots[0].read_text().lstrip().startswith("<svg")
        assert any(str(shots[0]) in str(n.message) for n in app._notifications)


@pytest.mark.slow
async def test_report_key_for_current_and_selected_runs(tmp_path, tiny):
    app = make_app(tmp_path, tiny, FakeTrainer(tiny, epochs=2))
    async with app.run_test(size=SIZE) as pilot:
        await _train(app, pilot, runs=2)
        run = app.current_run
        await pilot.press("4", "w")
        page = tmp_path / "runs" / "reports" / run.id / "report.html"
        await wait_for(pilot, page.exists, timeout=120)
        await wait_for(pilot, lambda: any("Report written" in (n.title or "")
                                          for n in app._notifications))
        assert (page.parent / "figures" / run.id / "predictions.png").exists()
        # Runs pane: the selected runs, overlaid in one report
        await pilot.press("6")
        app.query_one(DataTable).focus()
        await pilot.press("space", "down", "space", "w")
        reports = tmp_path / "runs" / "reports"
        await wait_for(pilot, lambda: any(reports.glob("compare-*/report.md")), timeout=120)
        md = next(reports.glob("compare-*/report.md")).read_text()
        assert all(f"## Run {r.id}" in md for r in app.store.list())


async def test_model_views_table_summary_code(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: "(3*3*32+1)*64" in text_of(app, "#param-table"))
        await pilot.press("v")
        await wait_for(pilot, lambda: "Total params: 890,410" in text_of(app, "#param-table"))
        assert "conv1 (Conv2D)" in text_of(app, "#param-table")
        await pilot.press("v")
        await wait_for(pilot, lambda: "keras.Sequential([" in text_of(app, "#param-table"))
        assert "model.fit(" in text_of(app, "#param-table")
        await pilot.press("v")
        await wait_for(pilot, lambda: "(3*3*32+1)*64" in text_of(app, "#param-table"))


async def test_model_code_view_follows_the_loaded_data(tmp_path):
    """`v` in Model exports the loaded data's head, input size, classes and source, as `code RUN`
    does, not CIFAR-10's (issue 33: it always wrote Dense(10) and a 32x32 input)."""
    from test_app import FakeTrainer

    from cifar_tui.data import Dataset

    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(3), 12)
    x = rng.integers(0, 256, (len(y), 24, 24, 3), dtype=np.uint8)
    source = str(tmp_path / "shapes.tar.gz")
    ds = Dataset(x, y, x[:6], y[:6], source=source, class_names=("circle", "square", "tri"),
                 name="shapes")
    app = make_app(tmp_path, ds, FakeTrainer(ds))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: "(512+1)*3" in text_of(app, "#param-table"))
        await pilot.press("v", "v")
        await wait_for(pilot, lambda: "model.fit(" in text_of(app, "#param-table"))
        code = text_of(app, "#param-table")
    assert 'layers.Dense(3, activation="softmax"' in code and "Dense(10," not in code
    assert "keras.Input(shape=(24, 24, 3)" in code
    assert "'circle'" in code and f"DATA = {source!r}" in code
    assert code.lstrip().startswith('"""shapes cnn')


@pytest.mark.slow
async def test_parameter_table_and_keras_summary_fit_80_columns_full_screen(tmp_path, tiny):
    """The dense-bn table was 85 columns wide: full-screen (f) at 80 columns its trainable column
    was still cut off, and Keras's summary (laid out 100 wide) too. resnet9's is the widest."""
    from textual.widgets import Select

    app = make_app(tmp_path, tiny)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: "(3*3*32+1)*64" in text_of(app, "#param-table"))
        box = app.query_one("#param-box")
        for arch, row in (("dense-bn", "bn1 (BatchNorm)"), ("resnet9", "layer1_bn (BatchNorm)")):
            app.query_one("#arch", Select).value = arch
            await wait_for(pilot, lambda row=row: row in text_of(app, "#param-table"))
            await pilot.press("f")
            assert app.screen.maximized is box
            await pilot.pause()
            assert "trainable" in text_of(app, "#param-table")
            assert box.max_scroll_x == 0, (arch, box.virtual_size, box.size)
            await pilot.press("v")  # Keras's own model.summary()
            await wait_for(pilot, lambda: "Total params" in text_of(app, "#param-table"))
            await pilot.pause()
            assert box.max_scroll_x == 0, (arch, "summary", box.virtual_size, box.size)
            await pilot.press("v", "v")  # the code, then the table again
            await pilot.press("f")
            assert app.screen.maximized is None


async def test_hparams_table_sorted_from_the_keyboard(tmp_path, tiny):
    app = make_app(tmp_path, tiny, FakeTrainer(tiny, epochs=2))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.dataset is not None)
        await pilot.press("6", "b")  # three runs: batch 32, 64, 128
        await wait_for(pilot, lambda: len(app.store.list()) == 3 and all(
            r.status == "finished" for r in app.store.list()))
        await pilot.press("6")
        table = app.query_one(DataTable)
        table.focus()
        await pilot.press("h")
        labels = [str(c.label).strip() for c in table.columns.values()]
        assert labels[1:] == ["run", "batch_size", "best_val", "test_acc", "s_per_epoch",
                              "images_per_sec"]
        await pilot.press("o")  # sorts by the first result column, largest first
        labels = [str(c.label).strip() for c in table.columns.values()]
        assert labels[3] == "best_val \u2193"
        await pilot.press("o", "o", "o", "o", "o")  # around to batch_size
        assert [str(c.label).strip() for c in table.columns.values()][2] == "batch_size \u2193"
        assert [table.get_row_at(i)[2].strip() for i in range(3)] == ["128", "64", "32"]
        await pilot.press("O")
        assert [table.get_row_at(i)[2].strip() for i in range(3)] == ["32", "64", "128"]
        await pilot.press("h")
        assert "epoch" in [str(c.label).strip() for c in table.columns.values()]  # the run list


async def test_confused_pair_opens_its_images_worst_first(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await _train(app, pilot)
        await pilot.press("4", "n")
        pairs = app.current_run.metrics["confused_pairs"]
        assert "\u25b6 " + pairs[0]["true"] in text_of(app, "#confused")
        await pilot.press("n")
        assert "\u25b6 " + pairs[1]["true"] in text_of(app, "#confused")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.query_one("TabbedContent").active == "predict")
        t, p = CLASSES.index(pairs[1]["true"]), CLASSES.index(pairs[1]["predicted"])
        probs, labels = app.current_run.predictions()
        worst = worst_of_pair(probs, labels, t, p)
        pane = app.query_one("PredictPane")
        header = text_of(app, "#pred-header")
        assert f"{CLASSES[t]} \u2192 {CLASSES[p]}: 1/{len(worst)}, worst first" in header
        assert pane.index == worst[0]
        assert f"true {CLASSES[t]}" in text_of(app, "#pred-caption")
        if len(worst) > 1:
            await pilot.press("right")
            assert pane.index == worst[1]
        await pilot.press("a")
        assert "test image" in text_of(app, "#pred-header")
        assert np.all(labels[worst] == t)


async def test_a_new_run_opens_without_the_last_runs_pair_or_scroll(tmp_path, tiny):
    """Issue 34 item 13: Predict opened a new run with the previous run's pair filter ("deer ->
    horse: 1/96, worst first") and Results kept its scroll, the new matrix's header off-screen."""
    from textual.containers import VerticalScroll

    app = make_app(tmp_path, tiny)
    async with app.run_test(size=(80, 24)) as pilot:
        await _train(app, pilot)
        await pilot.press("4", "n", "enter")
        await wait_for(pilot, lambda: app.query_one("TabbedContent").active == "predict")
        assert "worst first" in text_of(app, "#pred-header")
        await pilot.press("4", "pagedown", "pagedown")
        scroll = app.query_one("ResultsPane").query_one(VerticalScroll)
        await pilot.pause()
        assert scroll.scroll_y > 0
        await pilot.press("s")  # a new run becomes the current one
        await wait_for(pilot, lambda: len(app.store.list()) == 2 and not app.training
                       and app.current_run.metrics)
        await pilot.press("4")
        await pilot.pause()
        assert scroll.scroll_y == 0
        await pilot.press("5")
        await pilot.pause()
        header = text_of(app, "#pred-header")
        assert "worst first" not in header and "test image" in header, header
