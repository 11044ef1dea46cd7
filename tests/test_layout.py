"""What must be on screen at 80x24, the size people have over SSH."""

from __future__ import annotations

from conftest import static_text
from test_app import FakeTrainer, make_app
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


async def test_runs_table_essentials_fit_80_columns_newest_first(tmp_path, tiny):
    fixed_run(tmp_path / "runs", tiny)
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
        first = [str(c) for c in table.get_row_at(0)]
        assert first[2] == "cnn" and first[3] == "finished"  # the new run on top
        labels = [str(c.label) for c in table.columns.values()]
        right = 0
        for label, column in zip(labels, table.columns.values()):
            right += column.get_render_width(table)
            if label == "s/ep":
                break
        assert right <= table.region.width  # run .. s/epoch in view without scrolling
        assert labels[:8] == ["", "run", "arch", "state", "epochs", "best val", "test acc",
                              "s/ep"]
        assert first[6].endswith("/20")  # the test accuracy says on how many images
        assert table.region.height >= 6  # fills the height rather than a fixed few rows


async def test_full_screen_gallery_shows_eight_images_per_class_at_80x24(tmp_path):
    from conftest import make_arrays

    from cifar_tui.app import CifarApp
    from cifar_tui.data import Cifar10

    data = Cifar10(*make_arrays(per_class=8), source="generated")
    app = CifarApp(runs_root=tmp_path / "runs", loader=lambda source: data)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        lines = static_text(app.query_one("#gallery", Static)).splitlines()
        row = lines[lines.index("airplane") + 1]
        assert row.count("\u2580" * 8) == 8  # eight 8-pixel-wide images on one line
        assert len(row.rstrip()) <= SIZE[0]


async def test_too_small_a_terminal_is_told_plainly(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        note = static_text(app.query_one("#too-small", Static))
        assert "60x20" in note and "at least 80x24" in note
        assert not app.query_one("TabbedContent").display or \
            app.query_one("TabbedContent").region.height == 0
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.query_one("TabbedContent").region.height > 0
        assert app.query_one("ContentTabs").region.y == 1  # the tab bar stays under the title
