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
        self._segments: list[Segment] | None = None
        self._system: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(columns, rows) in terminal cells."""
        return self.image.shape[1], self.image.shape[0] // 2

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.size[0], self.size[0])

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Built once per colour system: a gallery redraws the same images whenever its pane
        # is shown.
        system = console.color_system
        if self._segments is None or self._system != system:
            self._system = system
            if system in ("standard", "windows"):  # Console.color_system is a name
                # 16 colours: nearest-colour mapping leaves a few flat greys; ordered
                # dithering over the 16 ANSI colours keeps shapes and hues recognisable.
                idx = dither16(self.image)
                # As RGB: Textual maps ANSI numbers through its own theme's colours before the
                # terminal's 16, which merged several; each palette RGB maps back to its number.
                colours = [Color.from_rgb(*_ANSI16[i]) for i in range(16)]
                cells = [(colours[a], colours[b]) for a, b in zip(idx[0::2].ravel().tolist(),
                                                                  idx[1::2].ravel().tolist())]
            else:
                img = self.image
                cells = [(Color.from_rgb(*top), Color.from_rgb(*bottom)) for top, bottom in
                         zip(img[0::2].reshape(-1, 3).tolist(), img[1::2].reshape(-1, 3).tolist())]
            width = self.image.shape[1]
            segments = []
            for start in range(0, len(cells), width):
                for fg, bg in cells[start:start + width]:
                    segments.append(Segment(UPPER_HALF, Style(color=fg, bgcolor=bg)))
                segments.append(Segment.line())
            self._segments = segments
        yield from self._segments


def probability_bars(probs: Sequence[float], true_label: int | None = None,
                     width: int = 24) -> Table:
    """The 10 class probabilities as bars, the predicted class bold, the true one marked."""
    probs = np.asarray(probs, dtype=float)
    pred = int(probs.argmax())
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right")
    table.add_column()
    table.add_column(justify="right")
    for i, name in enumerate(CLASSES):
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


def confusion_heatmap(cm: np.ndarray, normalized: bool = False) -> Table:
    """Rows: true class; columns: predicted. Diagonal in blue bins, errors in red bins."""
    cm = np.asarray(cm)
    rows = cm.sum(axis=1, keepdims=True).clip(min=1)
    rates = cm / rows
    off = rates.copy()
    np.fill_diagonal(off, 0)
    off_max = off.max() or 1.0
    table = Table(title="Confusion matrix (rows: true, columns: predicted"
                  + (", row %)" if normalized else ", counts)"), box=None, padding=(0, 0),
                  show_edge=False)
    table.add_column("true \\ pred", justify="right", style="bold")
    for name in CLASSES:
        table.add_column(name[:5], justify="right", min_width=6)
    for i, name in enumerate(CLASSES):
        cells = []
        for j in range(len(CLASSES)):
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


def per_class_table(per_class: list[dict]) -> Table:
    table = Table(title="Per class", box=None)
    for col in ("class", "accuracy", "precision", "f1", "n"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for c in per_class:
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
