"""What a focus change costs the screen: only the widgets whose look follows focus are drawn
again (bench/pane_switch.py times whole pane switches).

Judged by what reaches the terminal: the app runs on ``Terminal``, a driver that keeps each
screen update Textual writes (its cursor moves and text), where Pilot's headless driver writes
nothing."""

from __future__ import annotations

import re

from test_app import FakeTrainer, make_app, settle, wait_for
from textual.drivers.headless_driver import HeadlessDriver
from textual.geometry import Region

SIZE = (80, 24)
CURSOR_MOVE = re.compile(r"\x1b\[(\d+);(\d+)H")
ESCAPE = re.compile(r"\x1b(\[[0-9;?<=>]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")


class Terminal(HeadlessDriver):
    """A terminal of its own size that keeps what the app writes to it, one entry a write
    (Textual writes each screen update in one go)."""

    @property
    def is_headless(self) -> bool:  # the app renders and writes its updates
        return False

    def write(self, data: str) -> None:
        self._app.terminal_writes.append(data)


def rows_drawn(update: str) -> set[int]:
    """The screen rows (0-based) on which ``update`` writes text: after each cursor move
    (``ESC [ row ; col H``) or newline, the row that text lands on."""
    rows, row = set(), 0
    for part in re.split(r"(\x1b\[\d+;\d+H|\n)", update):
        if m := CURSOR_MOVE.fullmatch(part):
            row = int(m.group(1)) - 1
        elif part == "\n":
            row += 1
        elif ESCAPE.sub("", part):
            rows.add(row)
    return rows


def updates_since(app, start: int) -> list[set[int]]:  # noqa: ANN001
    """The rows each screen update written since ``start`` draws on (writes that draw nothing,
    a lone cursor move, left out)."""
    return [rows for rows in map(rows_drawn, app.terminal_writes[start:]) if rows]


def on_terminal(app):  # noqa: ANN001, ANN201 - a CifarApp
    app.terminal_writes = []
    app.driver_class = Terminal
    return app


def whole_screen(rows: set[int]) -> bool:
    return rows >= set(range(SIZE[1]))


def rows_of(region: Region) -> set[int]:
    return set(range(region.y, region.bottom))


async def test_the_terminal_sees_each_update_and_the_whole_first_frame(tmp_path, tiny):
    """The measure itself: the first frame draws every row; a later update fewer."""
    app = on_terminal(make_app(tmp_path, tiny))
    async with app.run_test(headless=False, size=SIZE) as pilot:
        await settle(pilot)
        assert whole_screen(updates_since(app, 0)[0])
        start = len(app.terminal_writes)
        await pilot.press("n")  # the Data pane's normalisation line changes, and little else
        await pilot.pause()
        updates = updates_since(app, start)
        assert updates and not any(map(whole_screen, updates)), updates


async def test_a_focus_change_redraws_what_focus_changes_not_the_whole_screen(tmp_path, tiny):
    """Textual repaints the whole screen on every focus change; a pane switch moves focus, so
    the pane being left was drawn again in full a frame before the new one was laid out."""
    app = on_terminal(make_app(tmp_path, tiny))
    async with app.run_test(headless=False, size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)  # the form (mounted after the first frame) and parameter table
        await pilot.press("tab")
        await pilot.pause()
        assert app.focused.id == "arch"
        start = len(app.terminal_writes)
        await pilot.press("tab")
        await pilot.pause()
        assert app.focused.id == "f-dropout"
        updates = updates_since(app, start)
        rows = rows_of(app.query_one("#arch").region) | rows_of(app.focused.region)
        # the two fields (and their labels), not the whole screen
        assert updates and all(drawn <= rows for drawn in updates), (updates, rows)


async def test_training_progress_does_not_repaint_the_screen(tmp_path, tiny):
    """The app's shared state (the latest training message, the trainer's CPU and memory) was
    held in repainting reactives: each progress message (twice a second) and system sample
    (once a second) drew the whole screen again, whatever pane was shown."""
    trainer = FakeTrainer(tiny, epochs=3, block=True)  # a progress message every 0.3 s
    app = on_terminal(make_app(tmp_path, tiny, trainer))
    async with app.run_test(headless=False, size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.dataset is not None)
        await pilot.press("s")
        await wait_for(pilot, trainer.started.is_set)
        await pilot.press("1")  # the Data pane shows nothing of the training
        await wait_for(pilot, lambda: app.train_event is not None)
        event, system = app.train_event, app.system
        start = len(app.terminal_writes)
        # at least two progress messages and a system sample have reached the app
        await wait_for(pilot, lambda: app.train_event is not event and app.system is not None
                       and app.system is not system and trainer.progress_sent >= 3)
        updates = updates_since(app, start)
        await pilot.press("x")
        await app.workers.wait_for_complete()
    assert not any(map(whole_screen, updates)), updates


async def test_a_pane_switch_draws_the_tab_bar_and_footer_in_its_first_frame(tmp_path, tiny):
    """A pane switch was three screen updates: the new pane, then the footer's keys at their new
    widths (each key's new size asked Textual for one more layout), then the tab bar's underline
    (which Textual moves after the next frame). Now the footer and the tab bar change in the
    switch's first update and are not drawn again after it."""
    app = on_terminal(make_app(tmp_path, tiny))
    async with app.run_test(headless=False, size=SIZE) as pilot:
        await settle(pilot)
        for key in "123456":  # every pane shown once: its widgets and footer keys exist
            await pilot.press(key)
            await settle(pilot)
        tab_bar = rows_of(app.query_one("ContentTabs").region)
        footer = rows_of(app.query_one("Footer").region)
        for key in "2143652":
            await pilot.pause(0.1)
            start = len(app.terminal_writes)
            await pilot.press(key)
            await pilot.pause()
            updates = updates_since(app, start)
            assert updates, key
            late = [drawn & (tab_bar | footer) for drawn in updates[1:]]
            assert not any(late), (key, late)
            assert updates[0] & footer and updates[0] & tab_bar, key  # its keys, its tab
