"""Reusable widgets. They draw the state they are given; they compute nothing themselves."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.lazy import Lazy as _Lazy
from textual.reactive import Reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Checkbox, DataTable, Footer, Input, ProgressBar, Select, Static, TabPane
from textual.widgets._footer import FooterKey
from textual.widgets._progress_bar import Bar, ETAStatus, PercentageStatus
from textual.widgets.data_table import ColumnKey, RowKey
from textual_plotext import PlotextPlot

if TYPE_CHECKING:
    from textual.screen import Screen

from . import CLASSES
from .names import markup_safe, printable
from .render import HalfBlockImage


class Pane(TabPane):
    """A tab pane that holds the focus so its single keys work.

    Focus moves from pane to pane on every switch, and Textual restyles a widget's whole
    subtree when it gains or loses focus (``Widget.watch_has_focus``): for the Model form that
    was every field, twice per switch. No style of this app depends on a pane's focus (only on
    a field's own), so only the pane itself is restyled.
    """

    def watch_has_focus(self, _has_focus: bool) -> None:
        self.app.stylesheet.update_nodes([self], animate=True)

    def take_focus(self) -> None:
        """Focus where the pane's keys work (the pane itself; a table in the panes that
        are one), when the pane is shown."""
        if self.can_focus:
            self.focus()


class Lazy(_Lazy):
    """Textual's Lazy without its crash when the app closes before the first refresh (q typed
    ahead at start-up): the late mount then finds its parent gone and has nothing to do."""

    async def mount_composed_widgets(self, widgets: list) -> None:
        parent = self.parent
        if parent is None:
            return

        async def mount() -> None:
            if not parent.is_attached:
                return  # the app is closing
            await parent.mount(self._replace_widget, after=self)
            await self.remove()

        self.call_after_refresh(mount)


def downsample(img: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` pixel blocks (for a smaller gallery); a side that is
    not a multiple of ``factor`` loses its last pixels."""
    if factor <= 1:
        return img
    h, w, c = img.shape
    h, w = h - h % factor, w - w % factor
    img = img[:h, :w]
    return img.reshape(h // factor, factor, w // factor, factor, c).mean(axis=(1, 3)).astype(
        np.uint8)


class Gallery(Widget):
    """The first images of each class: the class name, then its images in as many rows as the
    width needs, so every image shows at any width (scroll down for more classes).

    Drawn line by line (Textual's Line API): a zoom, a scroll or a resize builds only the lines
    on screen, from images kept per zoom level. As one Static of Rich tables it drew all of its
    ~650 lines at full size twice per zoom step (layout, then paint): 1.5-2.6 s a step.
    """

    DEFAULT_CSS = "Gallery { height: auto; }"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._images: dict[int, list[HalfBlockImage]] = {}
        self._kept: dict[tuple[int, int], HalfBlockImage] = {}  # (image, shrink): every zoom
        self._source: np.ndarray | None = None
        self._names: Sequence[str] = CLASSES
        self._header: Text | None = None
        self._width = 0
        # One entry a line: a line of text, or (images side by side, which of their cell rows)
        self._lines: list[Strip | tuple[list[HalfBlockImage], int]] = []
        self._strips: dict[int, Strip] = {}  # the lines drawn so far at this layout

    def show(self, x: np.ndarray, indices: dict[int, np.ndarray], shrink: int = 2,
             names: Sequence[str] = CLASSES, header: Text | None = None) -> None:
        """``indices``: the images of each class shown (a page of classes); ``names``: all
        the class names; ``header``: a line above them (which page this is)."""
        if x is not self._source:
            self._source, self._kept = x, {}
        for idx in indices.values():
            for i in idx.tolist():
                if (i, shrink) not in self._kept:
                    self._kept[i, shrink] = HalfBlockImage(downsample(x[i], shrink))
        self._images = {c: [self._kept[i, shrink] for i in idx.tolist()]
                        for c, idx in indices.items()}
        self._names, self._header = names, header
        self._width = 0
        self.refresh(layout=True)

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def _layout(self, width: int) -> None:
        """Which text or image row each line shows, at ``width`` columns (nothing drawn)."""
        if width == self._width:
            return
        self._width, self._strips = width, {}
        lines: list[Strip | tuple[list[HalfBlockImage], int]] = []
        console = self.app.console
        options = console.options.update_width(max(1, width))
        texts = [self._header] if self._header is not None else []
        for c, images in self._images.items():
            texts.append(Text(self._names[c], style="bold"))
            lines.extend(Strip(line) for text in texts
                         for line in console.render_lines(text, options, pad=False))
            texts = []
            if not images:
                continue
            img_w, img_h = images[0].size
            per_row = max(1, (width + 1) // (img_w + 1))
            for start in range(0, len(images), per_row):
                chunk = images[start:start + per_row]
                lines.extend((chunk, y) for y in range(img_h))
        self._lines = lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        self._layout(width)
        return len(self._lines)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = {}  # drawn in the old colours

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        self._layout(width)
        style = self.rich_style
        strip = self._strips.get(y)
        if strip is None and y < len(self._lines):
            line = self._lines[y]
            if isinstance(line, Strip):
                strip = line
            else:  # images one column apart, as a grid of one row
                images, row = line
                system = self.app.console.color_system
                segments: list[Segment] = []
                for n, image in enumerate(images):
                    if n:
                        segments.append(Segment(" "))
                    segments.extend(image.row(row, system))
                strip = Strip(segments)
            strip = self._strips[y] = strip.apply_style(style).crop_extend(0, width, style)
        return strip if strip is not None else Strip.blank(width, style)


class ImageView(Static):
    """One image, scaled up, drawn with half blocks."""

    def show(self, image: np.ndarray | None, scale: int = 1) -> None:
        self.update(HalfBlockImage(image, scale) if image is not None else "")


class StillBar(Bar):
    """A bar that, with animations off, draws an unknown length once. Textual's redraws it 15
    times a second whatever the animation level, though it then draws the same still bar:
    over SSH each redraw goes down the line (the Train pane before a training's first batch)."""

    def watch_percentage(self, percentage: float | None) -> None:
        super().watch_percentage(percentage)
        if self.app.animation_level == "none":
            self.auto_refresh = None


class StillProgressBar(ProgressBar):
    """Textual's ProgressBar with a StillBar."""

    def compose(self) -> ComposeResult:
        if self.show_bar:
            yield (StillBar(id="bar", clock=self._clock, bar_renderable=self.BAR_RENDERABLE)
                   .data_bind(ProgressBar.percentage).data_bind(ProgressBar.gradient))
        if self.show_percentage:
            yield PercentageStatus(id="percentage").data_bind(ProgressBar.percentage)
        if self.show_eta:
            yield ETAStatus(id="eta").data_bind(eta=ProgressBar._display_eta)


RICH_COLOURS = {"orange": "dark_orange"}  # plotext colour names Rich spells otherwise


class HistoryPlot(PlotextPlot):
    """Per-epoch curves: train and validation accuracy (or loss) of one or more runs."""

    def show(self, series: list[tuple[str, list[dict]]], metric: str = "accuracy",
             title: str = "") -> Text:
        """Draw the curves; return their legend (run names in their colours), which goes
        beside the plot: plotext draws its legend over the curves."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title or f"{metric} per epoch (solid: train, dots: validation)")
        plt.xlabel("epoch")
        colours = ["cyan", "orange", "green", "magenta", "red", "blue", "yellow", "white"]
        legend = Text()
        longest = 1
        for i, (name, history) in enumerate(series):
            if not history:
                continue
            longest = max(longest, max(h["epoch"] for h in history))
            colour = colours[i % len(colours)]
            for key, marker in ((metric, "braille"), (f"val_{metric}", "dot")):
                # a diverged run's NaN/inf values are left out (plotext fails on them)
                points = [(h["epoch"], h[key]) for h in history
                          if isinstance(h.get(key), float) and math.isfinite(h[key])]
                if points:
                    plt.plot([e for e, _ in points], [v for _, v in points], color=colour,
                             marker=marker)
            legend.append(f"\u25a0 {name}  ", style=RICH_COLOURS.get(colour, colour))
        if longest <= 20:
            plt.xticks(list(range(1, longest + 1)))
        self.refresh()
        return legend


class EpochTable(Static):
    """The per-epoch figures beside a plot: train and validation accuracy (or loss) of the
    latest epochs that fit, the best validation epoch marked."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._history: list[dict] = []
        self._metric = "accuracy"

    def show(self, history: list[dict], metric: str = "accuracy") -> None:
        self._history, self._metric = history, metric
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        metric, history = self._metric, self._history
        table = Table(box=None, padding=(0, 0, 0, 1), header_style="bold", show_edge=False)
        table.add_column("ep", justify="right")
        table.add_column("train", justify="right")
        table.add_column("val", justify="right")
        vals = [h.get(f"val_{metric}") for h in history]
        finite = [v for v in vals if isinstance(v, float) and math.isfinite(v)]
        best = (max if metric == "accuracy" else min)(finite) if finite else None
        rows = max(1, (self.size.height or 12) - 2)  # the header and the metric's name

        def cell(value: object) -> str:
            return f"{value:.3f}" if isinstance(value, float) and math.isfinite(value) else "-"

        for h, val in list(zip(history, vals))[-rows:]:
            mark = "bold green" if val is not None and val == best else ""
            table.add_row(str(h.get("epoch", "?")), cell(h.get(metric)),
                          Text(cell(val), style=mark))
        self.update(Group(Text(f" {metric}", style="dim"), table) if history else "")


def stat_line(pairs: list[tuple[str, str]]) -> Text:
    text = Text()
    for label, value in pairs:
        text.append(f"{label} ", style="dim")
        text.append(f"{printable(value)}  ", style="bold")  # values can be names from files
    return text


def class_counts_table(train: dict[str, int], test: dict[str, int]) -> Group:
    """Train and test images per class (in ``train``'s order), then the imbalance (the largest
    class's train count over the smallest's), when they differ."""
    table = Table(box=None, padding=(0, 1), header_style="bold")
    table.add_column("class", max_width=18, no_wrap=True, overflow="ellipsis")
    table.add_column("train", justify="right")
    table.add_column("test", justify="right")
    for name in train:
        table.add_row(name, f"{train.get(name, 0):,}", f"{test.get(name, 0):,}")
    counts = list(train.values())
    if not counts or min(counts) == max(counts):
        return Group(table)
    ratio = max(counts) / max(1, min(counts))
    return Group(table, Text(f"imbalanced: the largest class has {ratio:.1f}x the train "
                             "images of the smallest", style="yellow"))


class MaximizableScroll(VerticalScroll):
    """A scroll area that `f` can blow up to the full screen (Screen.maximize)."""

    ALLOW_MAXIMIZE = True

    def toggle_maximized(self) -> None:
        if self.screen.maximized is self:
            self.screen.minimize()
        else:
            self.screen.maximize(self, container=False)
            self.focus()


class RowTable(DataTable):
    """A table of rows (row cursor) where home/end go to the first/last row, as in a list,
    and columns are one space apart rather than DataTable's two.

    DataTable's home/end scroll sideways to the first/last column whatever the cursor type;
    ctrl+home/ctrl+end still do what home/end do here. Its padding puts a space on each side of
    every cell: at 80 columns the Runs table's essentials (run .. s/epoch) needed 8 more. Here
    the padding is off and every column but the first starts with one space, so a cell read
    back (``get_row_at``) has it too.
    """

    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, cell_padding=0, **kwargs)

    @staticmethod
    def _spaced(value: object, first: bool) -> object:
        if not isinstance(value, str):
            return value
        # DataTable parses str cells as markup: a run id or setting from a file is text here
        value = markup_safe(value)
        return value if first else " " + value

    def add_column(self, label: str, *, width: int | None = None, key: str | None = None,
                   default: object = None) -> ColumnKey:
        return super().add_column(self._spaced(label, not self.columns),
                                  width=width, key=key, default=default)

    def add_row(self, *cells: object, **kwargs: object) -> RowKey:
        return super().add_row(*(self._spaced(c, i == 0) for i, c in enumerate(cells)),
                               **kwargs)

    def update_cell(self, row_key: RowKey | str, column_key: ColumnKey | str, value: object,
                    *, update_width: bool = False) -> None:
        first = self.get_column_index(column_key) == 0
        super().update_cell(row_key, column_key, self._spaced(value, first),
                            update_width=update_width)


# Esc then a digit can reach the app in one read (a slow SSH link, or the app busy for a moment).
# ESC and a digit is also how a terminal sends Alt+digit, and Textual's parser reads it as the
# character that Option+digit types on a Mac: these are the keys it gives for ESC 1 ... ESC 7.
ESC_DIGIT_KEYS = ("inverted_exclamation_mark", "trade_mark_sign", "pound_sign", "cent_sign",
                  "infinity", "section_sign", "pilcrow_sign")


class KeysFollowFocus:
    """A form field's keys go where focus is when each is acted on, not where it was when the
    key arrived.

    Textual's App forwards every key to the widget focused when the key is read. A key that
    moves focus (tab, shift+tab, esc) acts only once it has bubbled up to the pane or the app
    that binds it, a message queue per container, and keys read in one go with it (tmux
    send-keys, a paste of keystrokes, several keys in one SSH packet) reached the field first:
    in the learning rate, ``Tab C-u 9`` cleared the learning rate and typed 9 there, and only
    then moved on. A field now runs such a key's binding at once, as the app would (the same
    binding chain, from the field up), and hands a key that arrives once focus has left it to
    the widget that has focus now.
    """

    MOVES_FOCUS = frozenset({"tab", "shift+tab", "escape"})

    def check_consume_key(self, key: str, character: str | None) -> bool:
        # Esc and a digit read as one key are the app's to act on (it leaves the field for
        # that pane), not a character to type.
        return key not in ESC_DIGIT_KEYS and super().check_consume_key(key, character)

    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if focused is not None and self not in focused.ancestors_with_self:
            event.stop()
            event.prevent_default()
            focused._forward_event(events.Key(event.key, event.character))
            return
        if event.key in self.MOVES_FOCUS and await self.app._check_bindings(event.key):
            event.stop()
            event.prevent_default()
            return
        await self._own_key(event)

    async def _own_key(self, event: events.Key) -> None:
        """A key for this field (Textual then runs the field's class's own handler, unless
        this stops it)."""


class InOrderInput(KeysFollowFocus, Input):
    """Textual's Input, acting on its own keys (ctrl+u, backspace, the arrows, ...) in the order
    they were typed.

    Textual types a printable key as soon as the Input gets it, but acts on a key the Input
    binds only once that key has bubbled up through every container to the App
    (``App._on_key`` -> ``_check_bindings``), each step a message queue. Keys read in one go
    (tmux send-keys, SSH sending several keys in one packet, key macros) all reach the Input
    before that, so ``ctrl+u 5 0`` typed 50 and then cleared the field, and ``backspace 5``
    deleted the 5 (Textual issue #6605; the fix proposed there, PR #6631, is this one). The
    Input's own non-priority bindings run here, as the App would run them: the focused widget
    is the first namespace of its binding chain, and priority bindings ran before the key was
    forwarded here.
    """

    async def _own_key(self, event: events.Key) -> None:
        bindings = self._bindings.copy()
        if self.app._keymap:
            bindings.apply_keymap(self.app._keymap)
        for binding in bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority and await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()  # Input's own handler and the bubbling are skipped
                return


class FieldSelect(KeysFollowFocus, Select):
    """A form's drop-down list (see KeysFollowFocus)."""


class FieldCheckbox(KeysFollowFocus, Checkbox):
    """A form's on/off field (see KeysFollowFocus)."""


FIELD_TYPES = (Input, Select, Checkbox)


def typing_in_field(app: App) -> bool:
    """Whether the focus is in a form field (or its open list): single keys belong to it."""
    focused = app.focused
    return focused is not None and any(isinstance(node, FIELD_TYPES)
                                       for node in focused.ancestors_with_self)


# What one footer key shows: key, key display, description, action, dimmed, tooltip.
KeyHint = tuple[str, str, str, str, bool, str]


class KeyHintLabel(FooterKey):
    """A footer key whose new width needs no second layout pass.

    The layout that gives a key its new width (its label changed on a pane switch) also sets
    the key's ``virtual_size``, which for every Textual widget asks for one more layout of the
    screen, and so one more frame: on every pane switch, for nothing, since a key has no
    children and no scrollbars to place (bench/pane_switch.py)."""

    virtual_size = Reactive(Size(0, 0), layout=False, repaint=False)


class AppFirstFooter(Footer):
    """The footer with the app's keys (start, stop, quit) first, then the focused pane's.

    Textual's own footer lists the focused widget's keys first, so at 80 columns a pane with
    several keys pushed start/stop/quit off the right edge. Compact (one space between keys)
    by default, so every pane's main keys fit 80 columns.

    Textual's footer also removes and mounts all its keys again on every focus change, after
    the next frame: on a pane switch (two focus changes) that was two more frames, each with
    eight widgets styled and the screen laid out again, most of the switch's time
    (bench/pane_switch.py). This one changes its keys in place, before the next frame, and
    only when what they show changed; keys it does not need are hidden, not removed.
    """

    def __init__(self, *, compact: bool = True, **kwargs: object) -> None:
        super().__init__(compact=compact, **kwargs)
        self._hints: list[KeyHint] = []  # what the keys show now (palette key not included)
        self._palette_hint: KeyHint | None = None
        self._mount_pending = False

    def key_hints(self) -> tuple[list[KeyHint], KeyHint | None]:
        """The keys to show, in order, and the command palette's key (or None)."""
        active = self.screen.active_bindings
        # The app's own keys always show; where a focused field takes them (an Input hides
        # printable keys from the footer) they show dimmed, next to "esc Leave field".
        app_keys: list[tuple[Binding, bool, str]] = []
        # A pane key that a focused field takes (it types the letter) is left out, not dimmed:
        # the line has room for the app's keys, "esc Leave field" and the field's own keys.
        in_field = typing_in_field(self.app)
        shown = [(b.binding, b.enabled, b.tooltip) for b in active.values()
                 if b.binding.show and b.node is not self.app and (b.enabled or not in_field)]
        for binding in self.app.BINDINGS:
            if not isinstance(binding, Binding) or not binding.show or \
                    self.app.check_action(binding.action, ()) is False:
                continue
            current = active.get(binding.key)
            enabled = current is not None and current.enabled and current.node is self.app
            app_keys.append((binding, enabled, binding.tooltip))
        hints: list[KeyHint] = []
        seen: set[str] = set()
        for binding, enabled, tooltip in app_keys + shown:
            if binding.action in seen:
                continue
            seen.add(binding.action)
            hints.append((binding.key, self.app.get_key_display(binding), binding.description,
                          binding.action, not enabled, tooltip))
        palette_hint = None
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            palette = active.get(self.app.COMMAND_PALETTE_BINDING)
            if palette is not None:
                b = palette.binding
                palette_hint = (b.key, self.app.get_key_display(b), b.description, b.action,
                                not palette.enabled, "")
        return hints, palette_hint

    @staticmethod
    def _new_key(hint: KeyHint, classes: str = "") -> FooterKey:
        key, key_display, description, action, dimmed, tooltip = hint
        return KeyHintLabel(key, key_display, description, action, disabled=dimmed,
                            tooltip=tooltip, classes=classes).data_bind(compact=Footer.compact)

    @staticmethod
    def _show_hint(widget: FooterKey, hint: KeyHint) -> None:
        key, key_display, description, action, dimmed, tooltip = hint
        widget.display = True
        widget.key, widget.action = key, action
        if (widget.tooltip or "") != tooltip:
            widget.tooltip = tooltip or None
        if widget._disabled != dimmed:
            widget._disabled = dimmed  # what FooterKey's click checks
            widget.set_class(dimmed, "-disabled")  # restyles and redraws it
        if (widget.key_display, widget.description) != (key_display, description):
            widget.key_display, widget.description = key_display, description
            widget.refresh(layout=True)  # its width follows its text

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        self._hints, self._palette_hint = self.key_hints()
        for hint in self._hints:
            yield self._new_key(hint)
        if self._palette_hint is not None:
            yield self._new_key(self._palette_hint, classes="-command-palette")

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            # At once, in the focus change of a pane switch, not after the next frame (as
            # Textual's footer) nor later in this loop: the keys' new widths then join the
            # switch's own layout, and a switch is one layout and one frame.
            if not self._update_keys() and not self._mount_pending:
                self._mount_pending = True
                self.call_next(self._mount_keys)

    def _key_widgets(self) -> tuple[list[FooterKey], list[FooterKey]]:
        """The pane keys' widgets, and the command palette key's (one or none)."""
        widgets = list(self.query_children(FooterKey))
        return ([k for k in widgets if "-command-palette" not in k.classes],
                [k for k in widgets if "-command-palette" in k.classes])

    def _update_keys(self) -> bool:
        """Show the current keys in the key widgets there are; False if more are needed."""
        hints, palette_hint = self.key_hints()
        if hints == self._hints and palette_hint == self._palette_hint:
            return True
        keys, palette = self._key_widgets()
        if len(hints) > len(keys) or (palette_hint is not None and not palette):
            return False
        with self.app.batch_update():
            for widget, hint in zip(keys, hints):
                self._show_hint(widget, hint)
            for widget in keys[len(hints):]:
                widget.display = False
            if palette_hint is not None:
                self._show_hint(palette[0], palette_hint)
            elif palette:
                palette[0].display = False
        # Hand the keys' layout requests to the screen now, not when each key is next idle:
        # after the screen's layout of the pane switch, that was a second layout and frame.
        for key in keys + palette:
            key._check_refresh()
        self._hints, self._palette_hint = hints, palette_hint
        return True

    async def _mount_keys(self) -> None:
        """Mount the key widgets a pane needs beyond those there are (once per count)."""
        self._mount_pending = False
        if not self.is_attached:
            return
        hints, palette_hint = self.key_hints()
        keys, palette = self._key_widgets()
        new = [self._new_key(hint) for hint in hints[len(keys):]]
        if new:
            await self.mount_all(new, before=palette[0] if palette else None)
        if palette_hint is not None and not palette:
            await self.mount(self._new_key(palette_hint, classes="-command-palette"))
        self._update_keys()


def plain_error(exc: BaseException | str, limit: int = 300) -> str:
    """An exception as one short sentence a person can act on, without a backend's internals
    (TensorFlow wraps its messages in ``{{function_node ...}}`` and op traces)."""
    import re

    text = str(exc)
    oom = re.search(r"OOM when allocating tensor with shape\[([\d,\s]+)\]", text)
    if oom:
        dims = "x".join(d.strip() for d in oom.group(1).split(","))
        return (f"out of memory: one weight tensor alone is {dims}; use fewer units or "
                "layers")
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", text)
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__
                if isinstance(exc, BaseException) else "error")
    return line if len(line) <= limit else line[:limit - 1] + "\u2026"
