"""Rich renderables for the core's results, shared by the CLI and the TUI's widgets.

They only draw what they are given: no training, no evaluation, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich import box
from rich._palettes import STANDARD_PALETTE
from rich.color import Color
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from . import CLASSES
from .params import ParamTable

UPPER_HALF = "\u2580"


_ANSI16 = np.array([tuple(STANDARD_PALETTE[i]) for i in range(16)], dtype=np.float32)
_BAYER4 = (np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]],
                    dtype=np.float32) + 0.5) / 16 - 0.5


def dither16(image: np.ndarray, spread: float = 96.0) -> np.ndarray:
    """Each pixel's index into the 16 ANSI colours, after 4x4 ordered (Bayer) dithering."""
    h, w, _ = image.shape
    threshold = np.tile(_BAYER4, (h // 4 + 1, w // 4 + 1))[:h, :w, None] * spread
    pixels = np.clip(image.astype(np.float32) + threshold, 0, 255)
    distances = ((pixels[:, :, None, :] - _ANSI16[None, None]) ** 2).sum(axis=-1)
    return distances.argmin(axis=-1)


class HalfBlockImage:
    """An RGB image drawn with upper-half blocks: one cell shows two pixels, one above the other.

    ``scale`` repeats each pixel horizontally and vertically (32x32 at scale 1 is 32x16 cells).
    Rich reduces the truecolour to 256 or 16 colours when the terminal has fewer.
    """

    def __init__(self, image: np.ndarray, scale: int = 1) -> None:
        img = np.asarray(image)
        if img.dtype != np.uint8:
            img = np.clip(img * (255 if img.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
        if scale > 1:
            img = img.repeat(scale, axis=0).repeat(scale, axis=1)
        if img.shape[0] % 2:
            img = np.concatenate([img, img[-1:]], axis=0)
        self.image = img
        # Each cell row's segments, built when first drawn, once per colour system: a
        # gallery draws only the rows on screen, and redraws them whenever its pane is shown.
        self._rows: dict[int, list[Segment]] = {}
        self._colours: tuple[list, list] | None = None
        self._system: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(columns, rows) in terminal cells."""
        return self.image.shape[1], self.image.shape[0] // 2

    def row(self, y: int, color_system: str | None) -> list[Segment]:
        """Cell row ``y`` as segments (no line break), for a console of ``color_system``
        (``Console.color_system``: "truecolor", "256", "standard"...)."""
        if self._colours is None or self._system != color_system:
            self._system, self._rows = color_system, {}
            if color_system in ("standard", "windows"):
                # 16 colours: nearest-colour mapping leaves a few flat greys; ordered
                # dithering over the 16 ANSI colours keeps shapes and hues recognisable.
                # As RGB: Textual maps ANSI numbers through its own theme's colours before the
                # terminal's 16, which merged several; each palette RGB maps back to its number.
                palette = [Color.from_rgb(*_ANSI16[i]) for i in range(16)]
                idx = dither16(self.image)
                self._colours = ([[palette[i] for i in r] for r in idx[0::2].tolist()],
                                 [[palette[i] for i in r] for r in idx[1::2].tolist()])
            else:
                img = self.image
                self._colours = (img[0::2].tolist(), img[1::2].tolist())
        segments = self._rows.get(y)
        if segments is None:
            top, bottom = self._colours[0][y], self._colours[1][y]
            if self._system in ("standard", "windows"):
                styles = [Style(color=fg, bgcolor=bg) for fg, bg in zip(top, bottom)]
            else:
                styles = [Style(color=Color.from_rgb(*fg), bgcolor=Color.from_rgb(*bg))
                          for fg, bg in zip(top, bottom)]
            segments = self._rows[y] = [Segment(UPPER_HALF, style) for style in styles]
        return segments

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.size[0], self.size[0])

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for y in range(self.size[1]):
            yield from self.row(y, console.color_system)
            yield Segment.line()


def top_classes(probs: np.ndarray, true: int | None = None, n: int = 5,
                most: int = 10) -> list[int]:
    """The classes a probability chart shows: all of them up to ``most``; past that the ``n``
    most probable, then the true class when it is not among them."""
    if len(probs) <= most:
        return list(range(len(probs)))
    top = [int(c) for c in np.argsort(-probs, kind="stable")[:n]]
    return top + ([true] if true is not None and true not in top else [])


def probability_bars(probs: Sequence[float], true_label: int | None = None,
                     width: int = 24, classes: Sequence[str] = CLASSES) -> Table:
    """The class probabilities as bars, the predicted class bold, the true one marked; past
    10 classes the 5 most probable (and the true class, when it is not among them)."""
    probs = np.asarray(probs, dtype=float)
    pred = int(probs.argmax())
    shown = top_classes(probs, true_label)
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right", max_width=18, no_wrap=True, overflow="ellipsis")
    table.add_column()
    table.add_column(justify="right")
    if len(shown) < len(probs):
        table.title = f"top 5 of {len(probs)} classes"
        table.title_justify = "left"
        table.title_style = "dim"
    for i in shown:
        name = classes[i]
        filled = probs[i] * width
        full = int(filled)
        bar = "\u2588" * full + (_PARTIAL[int((filled - full) * 8)] if full < width else "")
        # red: the predicted class is wrong; with no true class (a user's photo) it is not known
        colour = ("green" if i == true_label else
                  ("cyan" if true_label is None else "red") if i == pred else "blue")
        label = Text(name + (" \u2713" if i == true_label else "  "),
                     style="bold" if i == pred else "")
        table.add_row(label, Text(bar.ljust(width), style=colour), f"{probs[i]:6.1%}")
    return table


_PARTIAL = ["", "\u258f", "\u258e", "\u258d", "\u258c", "\u258b", "\u258a", "\u2589"]

# Eight bins from the xterm-256 palette, so the heatmap reads the same without truecolour.
HEAT = ["grey11", "grey23", "navy_blue", "dark_blue", "blue3", "dodger_blue2", "deep_sky_blue1",
        "bright_cyan"]
ERR_HEAT = ["grey11", "grey23", "dark_red", "red3", "red1", "orange_red1", "dark_orange",
            "yellow1"]


def _text_on(colour: str) -> str:
    """Black or white, whichever reads better on ``colour`` (by relative luminance)."""
    r, g, b = Color.parse(colour).get_truecolor()
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "black" if luminance > 110 else "white"


# The most classes a terminal heatmap shows whole: past this (CIFAR-100's 100 are 600 columns)
# it shows the block of the most confused classes, and the report has the full matrix.
HEATMAP_MAX = 12
ZOOM = 8  # classes in that block: 8 six-character columns fit 80 columns beside the names


def most_confused_block(cm: np.ndarray, size: int = ZOOM) -> list[int]:
    """The ``size`` classes most mixed up with each other: the classes of the largest
    off-diagonal cells (both directions summed), in order, until there are ``size``."""
    cm = np.asarray(cm, dtype=np.int64)
    both = cm + cm.T
    np.fill_diagonal(both, 0)
    chosen: list[int] = []
    for flat in np.argsort(-np.triu(both), axis=None, kind="stable"):
        t, p = divmod(int(flat), cm.shape[1])
        if both[t, p] == 0 or len(chosen) >= size:
            break
        chosen += [c for c in (t, p) if c not in chosen][:size - len(chosen)]
    for c in range(cm.shape[0]):  # fewer confusions than classes: fill in order
        if len(chosen) >= size:
            break
        if c not in chosen:
            chosen.append(c)
    return chosen


def confusion_heatmap(cm: np.ndarray, normalized: bool = False,
                      classes: Sequence[str] = CLASSES) -> Table:
    """Rows: true class; columns: predicted. Diagonal in blue bins, errors in red bins.

    Past HEATMAP_MAX classes, only the block of the ZOOM most confused classes (rates and
    colours still of the whole rows)."""
    cm = np.asarray(cm)
    rows = cm.sum(axis=1, keepdims=True).clip(min=1)
    rates = cm / rows
    off = rates.copy()
    np.fill_diagonal(off, 0)
    off_max = off.max() or 1.0
    k = len(classes)
    shown = list(range(k)) if k <= HEATMAP_MAX else most_confused_block(cm)
    what = ", row %)" if normalized else ", counts)"
    title = ("Confusion matrix (rows: true, columns: predicted" + what if k <= HEATMAP_MAX
             else f"Most confused {len(shown)} of {k} classes (rows: true, columns: predicted"
             + what + "; full matrix: report")
    table = Table(title=title, box=None, padding=(0, 0), show_edge=False)
    zoom = k > HEATMAP_MAX
    table.add_column("true \\ pred", justify="right", style="bold", no_wrap=True,
                     max_width=16 if zoom else None, overflow="ellipsis")
    # Zoomed, the columns are numbered as the rows are: 5 letters of "maple_tree" and
    # "maple_leaf" would not tell them apart.
    for n, j in enumerate(shown, start=1):
        table.add_column(str(n) if zoom else classes[j][:5], justify="right", min_width=6)
    for n, i in enumerate(shown, start=1):
        name = f"{n} {classes[i]}" if zoom else classes[i]
        cells = []
        for j in shown:
            if i == j:
                colour = HEAT[min(len(HEAT) - 1, int(rates[i, j] * len(HEAT)))]
            else:
                colour = ERR_HEAT[min(len(ERR_HEAT) - 1, int(off[i, j] / off_max * len(ERR_HEAT)))]
            value = f"{rates[i, j]:.0%}" if normalized else str(int(cm[i, j]))
            # Text colour by the cell's brightness, so the number stays readable when the
            # terminal shows only greys (NO_COLOR: Textual keeps each colour's luminance);
            # correct cells are bold, so the diagonal stands out without colour too.
            style = f"{_text_on(colour)} on {colour}" + (" bold" if i == j else "")
            cells.append(Text(f"{value:>5} ", style=style))
        table.add_row(name, *cells)
    return table


# The Results pane's sort orders of the per-class table: (name, key, largest first).
PER_CLASS_SORTS = (("class", None, False), ("accuracy, worst first", "recall", False),
                   ("accuracy, best first", "recall", True), ("f1, worst first", "f1", False),
                   ("test images, fewest first", "support", False))


def per_class_table(per_class: list[dict], sort: int = 0) -> Table:
    """Precision, recall (accuracy) and F1 of each class, in PER_CLASS_SORTS[sort] order."""
    name, key, reverse = PER_CLASS_SORTS[sort % len(PER_CLASS_SORTS)]
    # The Results pane's o sorts; its footer is full at 80 columns, so the title says so.
    title = f"By {name} (o: sort)" if key else "Per class (o: sort)"
    table = Table(title=title, box=None)
    for col in ("class", "accuracy", "precision", "f1", "n"):
        table.add_column(col, justify="left" if col == "class" else "right",
                         **({"max_width": 16, "overflow": "ellipsis", "no_wrap": True}
                            if col == "class" else {}))
    rows = per_class if key is None else sorted(per_class, key=lambda c: c[key],
                                                reverse=reverse)
    for c in rows:
        table.add_row(c["class"], f"{c['recall']:.1%}", f"{c['precision']:.1%}",
                      f"{c['f1']:.3f}", str(c["support"]))
    return table


def confused_pairs_text(pairs: list[dict], selected: int | None = None) -> Text:
    text = Text("Most confused (true \u2192 predicted)\n", style="bold")
    if pairs:
        text.append("n picks a pair, enter shows its images\n", style="dim")
    for i, p in enumerate(pairs):
        mark = "\u25b6 " if i == selected else "  "  # a marker, not only a colour
        text.append(f"{mark}{p['true']} \u2192 {p['predicted']}: ",
                    style="reverse" if i == selected else "")
        text.append(f"{p['count']}", style="bold red")
        text.append(f" ({p['rate']:.1%} of {p['true']})\n")
    return text


# Layer types shown shorter in the parameter table, so that every built-in architecture's table
# fits 80 columns when shown full-screen (Keras's own summary keeps the full names).
SHORT_TYPES = {"BatchNormalization": "BatchNorm", "GlobalMaxPooling2D": "GlobalMaxPool2D",
               "GlobalAveragePooling2D": "GlobalAvgPool2D"}


def param_table_renderable(table: ParamTable) -> Group:
    # Rules under the header only, no borders: the five columns fit 80 columns (boxed, the
    # dense-bn table was 85 wide and its trainable column cut off even full-screen).
    t = Table(title=f"{table.model_name}: parameters per layer", header_style="bold",
              caption="output shape without the batch dimension", caption_justify="left",
              box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for col, justify in (("layer (type)", "left"), ("output shape", "left"),
                         ("formula", "left"), ("params", "right"), ("trainable", "right")):
        t.add_column(col, justify=justify, no_wrap=True)
    for r in table.rows:
        shape = r.output_shape.replace("None, ", "")
        trainable = ("-" if not r.count else "all" if not r.non_trainable
                     else f"{r.trainable:,}")
        t.add_row(f"{r.name} ({SHORT_TYPES.get(r.type, r.type)})", shape, r.formula,
                  f"{r.count:,}", trainable)
    check = ("[green]matches Keras's count_params[/]" if table.matches_keras
             else f"[red]differs from Keras's {table.keras_total:,}[/]")
    footer = Text.from_markup(
        f"Total [bold]{table.total:,}[/]  trainable {table.trainable:,}  "
        f"non-trainable {table.non_trainable:,}\n({check})")
    return Group(t, footer)
