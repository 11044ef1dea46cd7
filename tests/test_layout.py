"""What must be on screen at 80x24, the size people have over SSH."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import gallery_lines, static_text
from test_app import FakeTrainer, make_app, region_text, settle
from test_snapshots import fixed_run
from textual.widgets import DataTable, Input, Static
from textual.widgets._footer import FooterKey

SIZE = (80, 24)


def visible_keys(app) -> list[str]:
    """The footer keys whose whole label lies inside the screen."""
    width = app.size.width
    return [k.description for k in app.query(FooterKey)
            if k.region.width and k.region.right <= width]


async def test_footer_shows_start_stop_quit_on_every_pane_and_how_to_leave_a_field(tmp_path,
                                                                                  tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        for key in "123456":
            await pilot.press(key)
            await pilot.pause()
            assert {"Start", "Stop", "Quit"} <= set(visible_keys(app)), key
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("tab")
        await pilot.pause()
        assert "Leave field" in visible_keys(app)
        await pilot.press("escape")
        await pilot.pause()
        assert "Leave field" not in visible_keys(app)


def footer_hints(app) -> tuple[list[str], list[str]]:
    """The footer's key hints ("key Description") wholly left of the palette key, and those
    cut off by the right edge or hidden under the palette key. Keys the footer does not need
    for this pane are not displayed (it keeps them for the next pane) and are not counted."""
    keys = [k for k in app.query(FooterKey) if "-command-palette" not in k.classes and k.display]
    palette = [k for k in app.query(FooterKey) if "-command-palette" in k.classes]
    right = palette[0].region.x if palette else app.size.width
    whole, cut = [], []
    for k in keys:
        hint = f"{k.key_display} {k.description}"
        (whole if k.region.width and k.region.right <= right else cut).append(hint)
    return whole, cut


# Each pane's main keys; the rest are in the Keys panel (?) and the command palette.
PANE_HINTS = {
    "1": ["n [0,1]", "f Full gallery", "+/- Zoom"],
    "2": ["p Params", "f Full table", "v View"],
    "3": ["l Acc/loss", "v Plot/log"],
    "4": ["c Counts/row %", "e Evaluate", "n Pair"],
    "5": ["\u2192 Next", "\u2190 Prev", "m Mistake", "o Open file"],
    "6": ["space Select", "R Resume", "b Batches"],
    "7": ["] Next study"],
}
APP_HINTS = ["s Start", "x Stop", "q Quit", "? Keys"]


async def test_every_panes_footer_shows_its_key_hints_in_full_at_80x24(tmp_path, tiny):
    fixed_run(tmp_path / "runs", tiny)
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        while app.dataset is None:
            await pilot.pause(0.05)
        for key, hints in PANE_HINTS.items():
            await pilot.press(key)
            await pilot.pause()
            whole, cut = footer_hints(app)
            assert not cut, (key, cut)  # nothing shown half or under the palette key
            assert whole[:4] == APP_HINTS and set(hints) <= set(whole), (key, whole)
        await pilot.press("2", "tab")  # a field has focus: its keys, the app's, esc
        await pilot.pause()
        whole, cut = footer_hints(app)
        assert not cut and whole[:4] == APP_HINTS and "esc Leave field" in whole, whole
        assert "p Params" not in whole  # p types into the field
        await pilot.press("escape", "6", "question_mark")  # the Keys panel: hidden keys too
        await pilot.pause()
        from cifar_tui.keys_screen import KeysScreen

        assert isinstance(app.screen, KeysScreen)
        listed = " ".join(region_text(app, w) for w in app.screen.query(".keys-list"))
        assert "HParams" in listed and "Report" in listed and "SVG" in listed
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, KeysScreen)


async def test_the_keys_panel_fits_80x24_and_scrolls_itself_not_the_pane(tmp_path, tiny):
    """Issue 34 item 12: ? showed a 30-column strip ("Quit the app and return to the command
    prompt" took 4 lines), the last keys were below the fold, and PageDown scrolled the pane
    behind it. Every key of the Runs pane and of the app is on screen, one line each."""
    import shutil

    from cifar_tui.keys_screen import KeysScreen

    run = fixed_run(tmp_path / "runs", tiny)
    for i in range(1, 30):  # a Runs table longer than the screen, for PageDown to act on
        shutil.copytree(run.path, run.path.with_name(f"20260101-0000{i:02d}-cnn"))
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("6", "question_mark")
        await pilot.pause()
        table = app.query_one("#runs-table", DataTable)
        columns = [region_text(app, w) for w in app.screen.query(".keys-list")]
        pane_keys = [b.description for b in app.query_one("RunsPane").BINDINGS]
        assert all(d in columns[0] for d in pane_keys), columns[0]
        for d in ("Start", "Stop", "Quit", "Keys", "SVG", "Data", "Runs"):
            assert d in columns[1], columns[1]
        lists = app.screen.query(".keys-list")
        assert all(w.region.bottom <= SIZE[1] - 1 for w in lists)  # nothing below the fold
        assert all(w.region.width >= 30 for w in lists)
        row, scroll = table.cursor_row, table.scroll_y
        await pilot.press("pagedown", "down", "end")
        assert (table.cursor_row, table.scroll_y) == (row, scroll)  # the pane did not move
        await pilot.press("escape")
        assert not isinstance(app.screen, KeysScreen) and app.focused is table


async def test_footer_changes_its_keys_in_place_on_a_pane_switch(tmp_path, tiny):
    """Textual's footer removed and re-mounted every key on each focus change (twice a pane
    switch, each a frame with the screen laid out again: most of a switch's time). Ours keeps
    its key widgets: once every pane has been shown, switching mounts none, and each pane still
    gets its own keys."""
    fixed_run(tmp_path / "runs", tiny)
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        while app.dataset is None:
            await pilot.pause(0.05)
        for key in PANE_HINTS:
            await pilot.press(key)
            await pilot.pause()
        widgets = set(app.query(FooterKey))
        for key, hints in PANE_HINTS.items():
            await pilot.press(key)
            await pilot.pause()
            assert set(app.query(FooterKey)) == widgets, key
            whole, cut = footer_hints(app)
            assert not cut and whole[:4] == APP_HINTS and set(hints) <= set(whole), (key, whole)
            assert len(whole) == 4 + len(hints), (key, whole)  # no key of another pane left


async def test_predict_file_box_is_in_view_at_80x24(tmp_path, tiny):
    fixed_run(tmp_path / "runs", tiny)
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5", "o")
        await pilot.pause()
        box = app.query_one("#pred-path", Input)
        assert app.focused is box
        assert box.region.height >= 1 and box.region.bottom <= SIZE[1] - 1  # above the footer
        await pilot.press(*"x.png")  # typed into the box, not pane keys
        assert box.value == "x.png"
        await pilot.press("escape")
        await pilot.pause()
        assert not box.display and app.focused is app.query_one("PredictPane")


def widest_run(root, copies: int = 1) -> None:
    """A run whose essential cells are as wide as they get: the longest arch and state, a
    two-digit epoch count, a best val on 12,500 images (a val split of 0.25), a test accuracy
    on 10,000 images from the weights of epoch 10."""
    from cifar_tui.runs import Run

    for i in range(copies):
        _widest_run(Run(root / f"20260101-00000{i + 1}-cnn-dropout-bn"))


def _widest_run(run) -> None:
    from cifar_tui.evaluation import evaluate_probs

    run.path.mkdir(parents=True)
    run.write_config({"arch": "cnn-dropout-bn", "batch_size": 128, "epochs": 12,
                      "optimizer": "nesterov", "learning_rate": 0.0125})
    run.write_history([{"epoch": e, "accuracy": 0.5, "val_accuracy": 0.4 + e / 100,
                        "loss": 1.0, "val_loss": 1.1, "seconds": 1234.0,
                        "images_per_sec": 40.0} for e in range(1, 13)])
    run.update_state(status="early-stopped", epochs_done=12, best_val_accuracy=0.5,
                     created="2026-01-01 00:00:01",  # older than the run the test trains
                     train_images=37_500, val_images=12_500)
    labels = np.arange(10_000) % 10
    probs = np.eye(10, dtype=np.float32)[labels]
    probs[:20] = np.roll(probs[:20], 1, axis=1)  # 99.8%: 100.0% would mean a broken model
    run.write_metrics({**evaluate_probs(probs, labels).to_dict(), "weights_epoch": 10,
                       "weights": "best val", "epochs_done": 12})


async def test_runs_table_essentials_fit_80_columns_newest_first(tmp_path, tiny):
    fixed_run(tmp_path / "runs", tiny)
    widest_run(tmp_path / "runs", copies=8)  # more rows than fit: a scrollbar takes its column
    trainer = FakeTrainer(tiny, epochs=1)
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("6")
        await pilot.pause()
        table = app.query_one(DataTable)
        first = [str(c).strip() for c in table.get_row_at(0)]
        assert first[2] == "cnn" and first[3] == "finished"  # the new run on top
        labels = [str(c.label).strip() for c in table.columns.values()]
        right = 0
        for label, column in zip(labels, table.columns.values()):
            right += column.get_render_width(table)
            if label == "s/ep":
                break
        assert table.show_vertical_scrollbar
        # run .. s/epoch in view without scrolling, the widest cells included
        assert right <= table.scrollable_content_region.width
        assert str(table.get_row_at(1)[6]).strip() == "99.8%/10k e10"
        assert str(table.get_row_at(1)[5]).strip() == "52.0%/12.5k"  # best val, on how many
        assert labels[:9] == ["", "run", "arch", "state", "epoch", "best val", "test acc",
                              "s/ep", "img/s"]  # the batch-size comparison is about time
        assert str(table.get_row_at(1)[8]).strip() == "40"  # the median of its epochs
        assert first[6].endswith("/20")  # the test accuracy says on how many images
        assert table.region.height >= 6  # fills the height rather than a fixed few rows


async def test_the_runs_table_grows_with_the_terminal(tmp_path, tiny):
    """Issue 12: the Runs list was a fixed 8 rows even at 120x40. With 14 runs, a taller
    terminal shows more of them on screen, and 120x40 shows more than 8."""
    from cifar_tui.runs import Run

    for i in range(14):
        run = Run(tmp_path / "runs" / f"20260101-0000{i:02d}-cnn")
        run.path.mkdir(parents=True)
        run.write_config({"arch": "cnn", "batch_size": 32, "epochs": 2})
        run.update_state(status="stopped", epochs_done=1, created=f"2026-01-01 00:00:{i:02d}")
    shown = {}
    for size in ((80, 24), (120, 40)):
        app = make_app(tmp_path, tiny)
        async with app.run_test(size=size) as pilot:
            await pilot.press("6")
            await pilot.pause()
            table = app.query_one("#runs-table", DataTable)
            assert table.row_count == 14
            text = region_text(app, table)
            shown[size] = sum(f"0000{i:02d}" in text for i in range(14))
    assert shown[(80, 24)] >= 4, shown
    assert shown[(120, 40)] > 8 and shown[(120, 40)] >= shown[(80, 24)] + 5, shown


async def test_the_overfitting_warning_says_training_goes_on_at_80x24(tmp_path, tiny):
    """Issue 12: the overfitting warning was easily taken for early stopping. In the Train pane
    at 80x24 it is on screen in full and says it is a warning and that training goes on."""
    trainer = FakeTrainer(tiny, epochs=3)  # its val loss rises while train loss falls
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("3")
        await pilot.pause()
        warning = app.query_one("#overfit-warning", Static)
        assert warning.region.bottom <= SIZE[1] - 1  # above the footer, not scrolled away
        text = region_text(app, warning)
        assert text.startswith("! Overfitting trend:"), text
        assert text.endswith("(a warning: training goes on)"), text
        status = region_text(app, app.query_one("#train-status"))
        assert status.startswith("finished after 3 epochs"), status  # it did go on


@pytest.mark.parametrize("height", [24, 22])
async def test_the_live_plot_takes_most_of_the_train_pane_with_each_epochs_figures(
        tmp_path, tiny, height):
    """Issue 34 item 3: the train/val plot was 3-4 rows tall at 80x24 (a rise from 0.09 to 0.25
    drew as flat rows) and the per-epoch figures were only in the log. The plot takes most of
    the pane, the figures of each epoch beside it; v swaps it for the log and back."""
    trainer = FakeTrainer(tiny, epochs=3)
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=(80, height)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        pane_rows = height - 4  # title, tab bar and its underline, footer
        plot = app.query_one("#train-plot")
        # all but the result (2 rows), the bar and the overfitting warning (2 rows)
        assert plot.region.height >= pane_rows - 5, plot.region
        assert plot.region.width >= 55
        figures = region_text(app, app.query_one("#train-epochs"))
        assert "ep train val" in figures
        for epoch, (acc, val) in enumerate([(0.5, 0.3), (0.7, 0.5), (0.9, 0.45)], start=1):
            assert f"{epoch} {acc:.3f} {val:.3f}" in figures, figures
        await pilot.press("v")
        log = app.query_one("#train-log")
        assert not plot.region and log.region.height >= pane_rows - 5
        assert "epoch 3/3" in region_text(app, log)
        await pilot.press("v", "l")
        assert plot.region.height >= pane_rows - 5
        assert "ep train val" in region_text(app, app.query_one("#train-epochs"))
        assert "loss" in region_text(app, app.query_one("#train-epochs"))


async def test_full_screen_gallery_shows_recognisable_16_pixel_images_at_80x24(tmp_path):
    """Issue 34 item 15: at the default size (8x8 thumbnails) the images could not be
    recognised. The default is 16x16, four to a line full screen at 80 columns; - gives the
    8x8 ones, all 8 of a class on one line."""
    from conftest import make_arrays

    from cifar_tui.app import CifarApp
    from cifar_tui.data import Cifar10

    data = Cifar10(*make_arrays(per_class=8), source="generated")
    app = CifarApp(runs_root=tmp_path / "runs", loader=lambda source, stop=None: data)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        lines = gallery_lines(app.query_one("#gallery"))
        row = lines[lines.index("airplane") + 1]
        assert row.count("\u2580" * 16) == 4 and row.count("\u2580" * 17) == 0, row
        assert len(row.rstrip()) <= SIZE[0]
        assert lines[lines.index("airplane") + 8].count("\u2580" * 16) == 4  # 8 rows high
        await pilot.press("minus")
        await pilot.pause()
        lines = gallery_lines(app.query_one("#gallery"))
        row = lines[lines.index("airplane") + 1]
        assert row.count("\u2580" * 8) == 8  # eight 8-pixel-wide images on one line


async def test_a_zoom_or_scroll_draws_only_the_gallery_lines_on_screen(tmp_path, monkeypatch):
    """Issue 34 item 15: each zoom step drew the whole gallery, ~650 lines at full size (and
    twice: once to measure it), 1.5-2.6 s on the real data. Now a zoom, a scroll or full screen
    draws at most the lines on screen, each with at most 8 images side by side."""
    from conftest import make_arrays

    from cifar_tui.app import CifarApp
    from cifar_tui.data import Cifar10
    from cifar_tui.render import HalfBlockImage

    drawn: list[int] = []
    row = HalfBlockImage.row

    def counted(self, y, color_system):
        drawn.append(y)
        return row(self, y, color_system)

    monkeypatch.setattr(HalfBlockImage, "row", counted)
    data = Cifar10(*make_arrays(per_class=8), source="generated")
    app = CifarApp(runs_root=tmp_path / "runs", loader=lambda source, stop=None: data)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        gallery = app.query_one("#gallery")
        # the gallery's lines at each step: 32x32 images one or two a line, then 16x16, 8x8
        for key, lines in (("plus", 1290), ("f", 650), ("pagedown", 650), ("minus", 170),
                           ("minus", 50), ("f", 90)):
            drawn.clear()
            await pilot.press(key)
            await pilot.pause()
            assert gallery.line_count == lines
            assert 0 < len(drawn) <= SIZE[1] * 8, (key, len(drawn))
        assert "\u2580" in region_text(app, gallery)


async def test_too_small_a_terminal_is_told_plainly_and_only_q_acts(tmp_path, tiny):
    trainer = FakeTrainer(tiny)
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        note = static_text(app.query_one("#too-small", Static))
        assert "60x20" in note and "at least 80x22" in note and "only q acts" in note
        assert not app.query_one("TabbedContent").display or \
            app.query_one("TabbedContent").region.height == 0
        # Keys behind the message acted unseen (6 opened Runs, s would train); the footer
        # showed a stray "^p palette" cut short.
        await pilot.press("6", "s", "2", "tab", "question_mark")
        await settle(pilot)
        assert app.query_one("TabbedContent").active == "data" and not trainer.calls
        assert not app.screen.query("HelpPanel")
        assert not app.query_one("AppFirstFooter").region.height
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert app.query_one("TabbedContent").region.height > 0
        assert app.query_one("ContentTabs").region.y == 1  # the tab bar stays under the title
        # the pane's own keys are in the footer again, without a pane key pressed first
        assert footer_hints(app)[0] == APP_HINTS + PANE_HINTS["1"]
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0  # q quits from the too-small screen


@pytest.mark.parametrize("height", [23, 22])
async def test_80x23_and_80x22_are_laid_out_like_80x24(tmp_path, tiny, height):
    """An 80x24 terminal with tmux's or screen's status line is 80x23: it was refused."""
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=(80, height)) as pilot:
        await settle(pilot)
        assert not app.screen.has_class("-too-small")
        for key in "123456":
            await pilot.press(key)
            await pilot.pause()
            whole, cut = footer_hints(app)
            assert whole == APP_HINTS + PANE_HINTS[key] and not cut, key


def test_xterm_gets_256_colours_unless_told_otherwise():
    from cifar_tui.app import colour_system

    assert colour_system({"TERM": "xterm"}) == "256"
    assert colour_system({"TERM": "xterm", "COLORTERM": "truecolor"}) is None
    assert colour_system({"TERM": "xterm", "TEXTUAL_COLOR_SYSTEM": "standard"}) is None
    assert colour_system({"TERM": "linux"}) is None  # the console: 16 colours, dithered


def test_sixteen_colour_images_are_dithered_not_flattened():
    import numpy as np

    from cifar_tui.render import dither16

    ramp = np.repeat(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], 32, axis=0)
    sky = np.concatenate([ramp // 3, ramp // 2, ramp], axis=2)  # a dark-to-light blue sky
    flat = dither16(sky, spread=0)  # nearest colour: what Rich's downgrade does
    dithered = dither16(sky)
    # Columns of the ramp keep a distinct mix of colours: the gradient survives.
    def levels(idx):
        return len({tuple(np.bincount(col, minlength=16)) for col in idx.T})
    assert levels(dithered) > 2 * levels(flat)


def _sky() -> np.ndarray:
    """A dark-to-light blue sky: a gradient that 16 flat colours turn into three bands."""
    ramp = np.repeat(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], 32, axis=0)
    return np.concatenate([ramp // 3, ramp // 2, ramp], axis=2)


def _gradient_levels(idx: np.ndarray) -> int:
    """How many distinct colour mixes the columns of a left-to-right gradient have."""
    return len({tuple(np.bincount(col, minlength=16)) for col in idx.T})


def _pixel_colours(ansi: str) -> np.ndarray:
    """The 16-colour number of each pixel of half-block lines written as ANSI text: a cell's
    foreground is its upper pixel, its background the lower one."""
    from rich.text import Text

    rows = []
    for line in Text.from_ansi(ansi).split("\n"):
        if not line.plain:
            continue
        top, bottom = [-1] * len(line.plain), [-1] * len(line.plain)
        for span in line.spans:
            for x in range(span.start, span.end):
                top[x], bottom[x] = span.style.color.number, span.style.bgcolor.number
        rows += [top, bottom]
    return np.array(rows)


def test_half_block_images_reach_a_16_colour_console_dithered():
    """The CLI's path (a Rich console with 16 colours): the image drawn is the dithered one,
    pixel for pixel, not Rich's nearest-colour downgrade that left the sky three flat bands."""
    from rich.console import Console

    from cifar_tui.render import HalfBlockImage, dither16

    grey = np.repeat(_sky()[..., 2:], 3, axis=2)
    for image in (_sky(), grey):
        out = io.StringIO()
        Console(file=out, color_system="standard", force_terminal=True, width=80).print(
            HalfBlockImage(image))
        shown = _pixel_colours(out.getvalue())
        assert shown.shape == (32, 32)
        assert (shown == dither16(image)).all()
        assert _gradient_levels(shown) > 2 * _gradient_levels(dither16(image, spread=0))


async def test_half_block_images_reach_a_16_colour_terminal_dithered_through_textual(
        monkeypatch):
    """The TUI's path: Textual renders with its console's colour system, maps ANSI colour
    numbers through its theme's RGB (ANSIToTruecolor) and downgrades to the terminal's 16
    colours as it writes. What it writes for the image is the dithered image, every one of
    the 16 colours mapped back to itself."""
    from textual import constants
    from textual.app import App

    from cifar_tui.render import HalfBlockImage, dither16

    monkeypatch.setattr(constants, "COLOR_SYSTEM", "standard")  # TEXTUAL_COLOR_SYSTEM, TERM
    image = _sky()
    image[:8, :8] = [255, 0, 0]  # a red and a green corner: hues the theme's mapping merged
    image[-8:, -8:] = [0, 200, 0]

    class OneImage(App):
        CSS = "Static { width: auto; height: auto; }"

        def compose(self):  # noqa: ANN202
            yield Static(HalfBlockImage(image))

    app = OneImage()
    assert app.console.color_system == "standard"
    async with app.run_test(size=(40, 20)) as pilot:
        await pilot.pause()
        strips = app.screen._compositor.render_strips()
        ansi = "\n".join(strip.crop(0, 32).render(app.console) for strip in strips[:16])
    shown = _pixel_colours(ansi)
    assert (shown == dither16(image)).all()


@pytest.mark.parametrize("env, textual_setting, shown", [
    ({"TERM": "xterm"}, "auto", "256"),  # what most terminals that say xterm really have
    ({"TERM": "screen"}, "auto", "256"),
    ({"TERM": "xterm", "COLORTERM": "truecolor"}, "auto", "truecolor"),
    ({"TERM": "xterm", "TEXTUAL_COLOR_SYSTEM": "standard"}, "standard", "standard"),
    ({"TERM": "xterm", "NO_COLOR": "1"}, "auto", "standard"),  # Textual's monochrome instead
    ({"TERM": "linux"}, "auto", "standard"),  # the console: 16 colours, images dithered
], ids=["xterm", "screen", "colorterm", "textual-color-system", "no-color", "linux"])
def test_run_app_gives_the_app_the_colour_system_the_terminal_has(tmp_path, monkeypatch, env,
                                                                   textual_setting, shown):
    """run_app, not only colour_system(): the app it starts draws with 256 colours where
    TERM=xterm under-reports the terminal, and keeps what the user or the terminal said."""
    import signal

    from textual import constants

    from cifar_tui import app as app_module

    for name in ("TERM", "COLORTERM", "NO_COLOR", "TEXTUAL_COLOR_SYSTEM", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # Textual reads TEXTUAL_COLOR_SYSTEM once, when imported, as it would at start-up.
    monkeypatch.setattr(constants, "COLOR_SYSTEM", textual_setting)
    monkeypatch.setattr("cifar_tui.quiet.quiet_tensorflow", lambda: None)
    monkeypatch.setattr("cifar_tui.quiet.divert_stderr", lambda log: None)  # fd 2 stays
    monkeypatch.setattr(signal, "signal", lambda signum, handler: None)
    seen = {}

    def run(self):  # what the app would draw with, instead of taking over the terminal
        seen.update(system=self.console.color_system, no_color=self.no_color)

    monkeypatch.setattr(app_module.CifarApp, "run", run)
    assert app_module.run_app(runs=str(tmp_path / "runs")) == 0
    assert seen == {"system": shown, "no_color": "NO_COLOR" in env}


def test_heatmap_numbers_stay_readable_without_colour():
    from cifar_tui.render import ERR_HEAT, HEAT, _text_on

    # dark cells get white text, light cells black, so a greyscale screen keeps the contrast
    assert _text_on(HEAT[0]) == "white" and _text_on(HEAT[-1]) == "black"
    assert _text_on(ERR_HEAT[2]) == "white" and _text_on(ERR_HEAT[-1]) == "black"


async def test_no_stale_content_after_a_restart_or_on_a_run_without_predictions(tmp_path, tiny):
    from cifar_tui.messages import OpenRun

    run = fixed_run(tmp_path / "runs", tiny)
    bare = tmp_path / "runs" / "20260101-000001-cnn"
    bare.mkdir()
    (bare / "config.json").write_text('{"arch": "cnn", "epochs": 2}')
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.post_message(OpenRun(run))
        await pilot.press("3")
        await pilot.pause()
        # After a restart the Train pane shows the last run, not an empty plot.
        assert run.id in static_text(app.query_one("#train-status", Static))
        assert app.query_one("TrainPane").history
        await pilot.press("5", "m")
        assert static_text(app.query_one("#pred-bars", Static))
        from cifar_tui.runs import Run

        app.post_message(OpenRun(Run(bare)))
        await pilot.pause()
        assert "no test predictions" in static_text(app.query_one("#pred-header", Static))
        assert static_text(app.query_one("#pred-bars", Static)).strip() == ""


async def test_plot_legends_sit_beside_the_curves_not_over_them(tmp_path, tiny):
    import re

    fixed_run(tmp_path / "runs", tiny)
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await pilot.pause()
        plot = app.query_one("#runs-plot")
        canvas = re.sub(r"\x1b\[[0-9;]*m", "", plot.plt.build())
        assert "b32 val" not in canvas and "b32 train" not in canvas  # no legend box inside
        assert "cnn-dropout b32" in static_text(app.query_one("#runs-legend", Static))


async def test_results_scroll_without_tabbing_into_them(tmp_path, tiny):
    from textual.containers import VerticalScroll

    fixed_run(tmp_path / "runs", tiny)
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        body = app.query_one("ResultsPane").query_one(VerticalScroll)
        assert body.max_scroll_y > 0 and body.scroll_y == 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert body.scroll_y > 0


async def test_end_in_the_runs_table_goes_to_the_last_row_not_sideways(tmp_path, tiny):
    from cifar_tui.runs import Run

    fixed_run(tmp_path / "runs", tiny)
    for i in range(1, 4):
        run = Run(tmp_path / "runs" / f"20260101-00000{i}-cnn")
        run.path.mkdir()
        run.write_config({"arch": "cnn", "batch_size": 32, "epochs": 2})
        run.update_state(status="stopped", epochs_done=1, created=f"2026-01-01 00:00:0{i}")
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await pilot.pause()
        table = app.query_one("#runs-table", DataTable)
        assert table.row_count == 4 and table.max_scroll_x > 0  # it could scroll sideways
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_row == 3 and table.scroll_x == 0
        await pilot.press("home")
        await pilot.pause()
        assert table.cursor_row == 0 and table.scroll_x == 0


async def test_a_pane_switch_restyles_the_panes_not_every_widget_in_them(tmp_path, tiny):
    """Focus moves from pane to pane on each switch; Textual restyles the whole subtree of a
    widget that gains or loses focus, which for the Model form was every field twice per
    switch (bench/pane_switch.py measures the time). No style depends on a pane's focus."""
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        restyled = spy_on_restyles(app)
        await pilot.press("1")
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        assert app.focused is app.query_one("ModelPane")  # its keys work at once, as before
        form = app.query_one("#model-form")
        assert not [n for n in restyled if form in n.ancestors_with_self]
        assert not [n for n in restyled if app.query_one("#gallery") is n]


def test_animations_are_off_unless_asked_for(tmp_path, tiny, monkeypatch):
    """The tab underline's 0.3 s slide kept every pane switch going (and each frame is a redraw
    sent over SSH); TEXTUAL_ANIMATIONS still turns animations on."""
    monkeypatch.delenv("TEXTUAL_ANIMATIONS", raising=False)
    assert make_app(tmp_path, tiny).animation_level == "none"
    from textual import constants

    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "full")
    assert make_app(tmp_path, tiny).animation_level == constants.TEXTUAL_ANIMATIONS


async def test_a_live_rows_cells_grow_their_column_rather_than_being_cut(tmp_path, tiny):
    """A running run's row is redrawn in place every 2 s; its cells kept the width of the
    column as first laid out, so its best val, "-" at first, showed "30.0%/10" for
    "30.0%/100" once the count joined it."""
    from cifar_tui.config import TrainConfig
    from cifar_tui.runs import RunStore

    run = RunStore(tmp_path / "runs").create(TrainConfig.for_arch("cnn").to_dict())
    run.update_state(status="running", val_images=100)
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await app.workers.wait_for_complete()  # the app reads the runs in a worker
        await pilot.pause()
        table = app.query_one(DataTable)
        assert str(table.get_row_at(0)[5]).strip() == "-"
        run.write_history([{"epoch": 1, "accuracy": 0.3, "loss": 2.0, "val_accuracy": 0.3,
                            "val_loss": 2.0, "seconds": 4.0, "images_per_sec": 200.0}])
        run.update_state(epochs_done=1)
        app.read_runs()  # what the app does every 2 s
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "30.0%/100" in region_text(app, table)


async def test_full_screen_restyles_the_screen_and_the_view_not_every_widget(tmp_path, tiny):
    """The gallery's f took 0.3 s more than its drawing: Textual's maximize restyled every
    widget of the screen (the Model form's too). Now only the screen and the view maximized
    or restored; the view still fills the screen, and comes back."""
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("1")
        await pilot.pause()
        restyled = spy_on_restyles(app)
        box = app.query_one("#gallery-box")
        for maximized in (True, False):
            restyled.clear()
            await pilot.press("f")
            await pilot.pause()
            assert (app.screen.maximized is box) is maximized
            assert box.region.width == (SIZE[0] if maximized else box.region.width)
            assert box.region.height >= (SIZE[1] - 2 if maximized else 0)
            form = app.query_one("#model-form")
            assert not [n for n in restyled if form in n.ancestors_with_self]
            assert len(restyled) < 10, restyled


def spy_on_restyles(app) -> list:  # noqa: ANN001
    """The nodes the app's stylesheet restyles from now on (appended as they are)."""
    restyled: list = []
    update_nodes = app.stylesheet.update_nodes

    def spy(nodes, animate=False):  # noqa: ANN001, ANN202
        nodes = list(nodes)
        restyled.extend(nodes)
        return update_nodes(nodes, animate=animate)

    app.stylesheet.update_nodes = spy
    return restyled
