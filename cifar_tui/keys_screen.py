"""The Keys panel (``?``): every key of the pane in view and of the app, hidden ones too.

Textual's own help panel is a 30-column strip at 80 columns (one description took 4 lines, the
last keys were below the fold) that cannot be scrolled from the keyboard: PageDown scrolled the
pane behind it. This one is a dialog as wide as the screen allows, that scrolls with the arrows
and PageUp/PageDown, and closes with esc or ``?``.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Static

# (section title, [(keys, description)])
KeySections = list[tuple[str, list[tuple[str, str]]]]


def key_sections(app: App, pane: Widget, pane_title: str) -> KeySections:
    """The keys that act now on the screen in view, the pane's first, then the app's; a key
    bound to the same action as another shares its row ("home ^home  First row")."""
    in_pane: dict[str, tuple[list[str], str]] = {}
    everywhere: dict[str, tuple[list[str], str]] = {}
    pane_keys = pane._bindings.key_to_bindings
    for key, active in app.screen.active_bindings.items():
        binding = active.binding
        if not active.enabled or not binding.description:
            continue  # what does not act now, and the system's unnamed aliases
        if active.node is not pane and key in pane_keys and active.node in pane.query("*"):
            # the pane's meaning of a key its focused table also binds (enter: Open, which
            # the table's row selection does)
            binding = pane_keys[key][0]
        group = everywhere if active.node is app or active.node is app.screen else in_pane
        keys, _ = group.setdefault(binding.action, ([], binding.description))
        display = app.get_key_display(binding)
        if display not in keys:
            keys.append(display)
    return [(title, [(" ".join(keys), description) for keys, description in group.values()])
            for title, group in ((pane_title, in_pane), ("Everywhere", everywhere)) if group]


def keys_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right", style="bold", no_wrap=True)
    table.add_column()
    table.add_row("", Text(title, style="bold underline"))
    for keys, description in rows:
        table.add_row(keys, description)
    return table


class KeysScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    KeysScreen { align: center middle; }
    KeysScreen > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    KeysScreen VerticalScroll { height: auto; max-height: 100%; }
    KeysScreen Horizontal { height: auto; }
    KeysScreen .keys-list { width: 1fr; height: auto; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, sections: KeySections) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Keys"
            box.border_subtitle = "\u2191\u2193 pgup pgdn scroll \u00b7 esc or ? closes"
            # the pane's keys beside the app's: at 80x24 most panes' keys fit without scrolling
            with VerticalScroll(id="keys-scroll"), Horizontal():
                for title, rows in self.sections:
                    yield Static(keys_table(title, rows), classes="keys-list")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
