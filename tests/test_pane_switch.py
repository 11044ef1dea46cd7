"""What a focus change costs the screen: only the widgets whose look follows focus are drawn
again (bench/pane_switch.py times whole pane switches)."""

from __future__ import annotations

from test_app import FakeTrainer, make_app, settle
from textual._compositor import Compositor

SIZE = (80, 24)


def record_updates(monkeypatch) -> list[bool]:  # noqa: ANN001 - pytest's monkeypatch
    """Per screen update from now on: whether it redraws the whole screen."""
    updates: list[bool] = []
    render_update = Compositor.render_update

    def recorded(self, full: bool = False, **kwargs):  # noqa: ANN001, ANN202 - as Textual's
        updates.append(full or self.size.region in self._dirty_regions)
        return render_update(self, full=full, **kwargs)

    monkeypatch.setattr(Compositor, "render_update", recorded)
    return updates


async def test_a_focus_change_redraws_what_focus_changes_not_the_whole_screen(tmp_path, tiny,
                                                                                monkeypatch):
    """Textual repaints the whole screen on every focus change; a pane switch moves focus, so
    the pane being left was drawn again in full a frame before the new one was laid out."""
    updates = record_updates(monkeypatch)
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)  # the form (mounted after the first frame) and parameter table
        await pilot.press("tab")
        await pilot.pause()
        assert app.focused.id == "arch"
        updates.clear()
        await pilot.press("tab")
        await pilot.pause()
        assert app.focused.id == "f-dropout"
        assert updates and not any(updates), updates  # the two fields, not the whole screen


async def test_training_progress_does_not_repaint_the_screen(tmp_path, tiny, monkeypatch):
    """The app's shared state (the latest training message, the trainer's CPU and memory) was
    held in repainting reactives: each progress message (twice a second) and system sample
    (once a second) drew the whole screen again, whatever pane was shown."""
    updates = record_updates(monkeypatch)
    trainer = FakeTrainer(tiny, epochs=3, block=True)  # a progress message every 0.3 s
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=SIZE) as pilot:
        while app.dataset is None:
            await pilot.pause(0.05)
        await pilot.press("s")
        while not trainer.started.is_set():
            await pilot.pause(0.05)
        await pilot.press("1")  # the Data pane shows nothing of the training
        await pilot.pause(0.3)
        updates.clear()
        event = app.train_event
        await pilot.pause(1.2)
        assert app.train_event is not event and app.system is not None  # the app got them
        seen = list(updates)
        await pilot.press("x")
        await app.workers.wait_for_complete()
    assert seen and not any(seen), seen


async def test_a_pane_switch_draws_the_tab_bar_and_footer_in_its_first_frame(tmp_path, tiny,
                                                                              monkeypatch):
    """A pane switch was three screen updates: the new pane, then the footer's keys at their new
    widths (each key's new size asked Textual for one more layout), then the tab bar's underline
    (which Textual moves after the next frame). Now the footer and the tab bar change in the
    switch's first update and are not drawn again after it."""
    from textual.geometry import Region
    from textual.widgets import Footer
    from textual.widgets._tabbed_content import ContentTabs

    updates: list[list[Region]] = []
    render_update = Compositor.render_update

    def recorded(self, full: bool = False, **kwargs):  # noqa: ANN001, ANN202 - as Textual's
        updates.append([self.size.region] if full else list(self._dirty_regions))
        return render_update(self, full=full, **kwargs)

    monkeypatch.setattr(Compositor, "render_update", recorded)
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in "123456":  # every pane shown once: its widgets and footer keys exist
            await pilot.press(key)
            await settle(pilot)
        bars = [app.query_one(ContentTabs).region, app.query_one(Footer).region]
        for key in "2143652":
            await pilot.pause(0.1)
            updates.clear()
            await pilot.press(key)
            await pilot.pause()
            assert updates, key
            late = [r for update in updates[1:] for r in update
                    if any(r.overlaps(bar) for bar in bars)]
            assert not late, (key, late)
            assert any(r.overlaps(bars[1]) for r in updates[0]), key  # its keys changed
