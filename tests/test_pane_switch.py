"""What a focus change costs the screen: only the widgets whose look follows focus are drawn
again (bench/pane_switch.py times whole pane switches)."""

from __future__ import annotations

from test_app import make_app, settle
from textual._compositor import Compositor

SIZE = (80, 24)


async def test_a_focus_change_redraws_what_focus_changes_not_the_whole_screen(tmp_path, tiny,
                                                                                monkeypatch):
    """Textual repaints the whole screen on every focus change; a pane switch moves focus, so
    the pane being left was drawn again in full a frame before the new one was laid out."""
    updates: list[bool] = []  # per screen update: the whole screen?
    render_update = Compositor.render_update

    def recorded(self, full: bool = False, **kwargs):  # noqa: ANN001, ANN202 - as Textual's
        updates.append(full or self.size.region in self._dirty_regions)
        return render_update(self, full=full, **kwargs)

    monkeypatch.setattr(Compositor, "render_update", recorded)
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
