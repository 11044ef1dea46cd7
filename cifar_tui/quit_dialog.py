"""The question ``q`` asks while this app trains: stop now, or keep training in the background."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from .names import markup_safe


class QuitDialog(ModalScreen[str | None]):
    """Dismissed with "stop", "background", or None (stay)."""

    DEFAULT_CSS = """
    QuitDialog { align: center top; }
    QuitDialog > Vertical {
        width: 64; height: auto; padding: 0 2; margin-top: 1;
        border: thick $warning; background: $surface;
    }
    QuitDialog Horizontal { height: auto; margin-top: 1; }
    /* at the top, clear of the toasts, which stack up from the bottom right */
    QuitDialog Button { margin-right: 1; }
    """
    BINDINGS = [
        Binding("s", "choose('stop')", "Stop now"),
        Binding("b", "choose('background')", "Background"),
        Binding("escape", "choose(None)", "Stay"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def compose(self) -> ComposeResult:
        run = f"run {markup_safe(self.run_id)}" if self.run_id else "a run"  # a folder name
        with Vertical():
            yield Static(f"[b]Quit while {run} is training?[/b]\n\n"
                         "[b]s[/b] Stop now: after this batch; finished epochs are kept, "
                         "resume with R in Runs.\n"
                         "[b]b[/b] Keep training in the background: a new process resumes "
                         "it from its last finished epoch; watch it with cifar-tui watch or "
                         "in Runs.\n"
                         "[b]esc[/b] Stay here.")
            with Horizontal():
                yield Button("Stop now", id="stop", variant="error")
                yield Button("Background", id="background", variant="primary")
                yield Button("Stay", id="stay")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "stay" else event.button.id)

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)
