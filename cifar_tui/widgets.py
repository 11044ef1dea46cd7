"""Reusable widgets. They draw the state they are given; they compute nothing themselves."""

from __future__ import annotations

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.app import App
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Input, Select, Static
from textual_plotext import PlotextPlot

from . import CLASSES
from .render import HalfBlockImage


def downsample(img: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` pixel blocks (for a smaller gallery)."""
    if factor <= 1:
        return img
    h, w, c = img.shape
    return img.reshape(h // factor, factor, w // factor, factor, c).mean(axis=(1, 3)).astype(
        np.uint8)


class Gallery(Static):
    """The first images of each class, one row per class, drawn with half blocks."""

    def show(self, x: np.ndarray, indices: dict[int, np.ndarray], shrink: int = 2) -> None:
        table = Table.grid(padding=(0, 1))
        table.add_column(justify="right", style="bold")
        per_row = max(len(v) for v in indices.values()) if indices else 0
        for _ in range(per_row):
            table.add_column()
        for c, idx in indices.items():
            images = [HalfBlockImage(downsample(x[i], shrink)) for i in idx]
            table.add_row(CLASSES[c], *images)
        self.update(table)


class ImageView(Static):
    """One image, scaled up, drawn with half blocks."""

    def show(self, image: np.ndarray | None, scale: int = 1) -> None:
        self.update(HalfBlockImage(image, scale) if image is not None else "")


class HistoryPlot(PlotextPlot):
    """Per-epoch curves: train and validation accuracy (or loss) of one or more runs."""

    def show(self, series: list[tuple[str, list[dict]]], metric: str = "accuracy",
             title: str = "") -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title or f"{metric} per epoch (solid: train, dots: validation)")
        plt.xlabel("epoch")
        colours = ["cyan", "orange", "green", "magenta", "red", "blue", "yellow", "white"]
        longest = 1
        for i, (name, history) in enumerate(series):
            if not history:
                continue
            epochs = [h["epoch"] for h in history]
            longest = max(longest, max(epochs))
            colour = colours[i % len(colours)]
            train = [h.get(metric) for h in history]
            val = [h.get(f"val_{metric}") for h in history]
            if all(v is not None for v in train):
                plt.plot(epochs, train, label=f"{name} train", color=colour, marker="braille")
            if all(v is not None for v in val):
                plt.plot(epochs, val, label=f"{name} val", color=colour, marker="dot")
        if longest <= 20:
            plt.xticks(list(range(1, longest + 1)))
        self.refresh()


def stat_line(pairs: list[tuple[str, str]]) -> Text:
    text = Text()
    for label, value in pairs:
        text.append(f"{label} ", style="dim")
        text.append(f"{value}  ", style="bold")
    return text


def class_counts_table(train: dict[str, int], test: dict[str, int]) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold")
    table.add_column("class")
    table.add_column("train", justify="right")
    table.add_column("test", justify="right")
    for name in CLASSES:
        table.add_row(name, f"{train.get(name, 0):,}", f"{test.get(name, 0):,}")
    return table


class MaximizableScroll(VerticalScroll):
    """A scroll area that `f` can blow up to the full screen (Screen.maximize)."""

    ALLOW_MAXIMIZE = True

    def toggle_maximized(self) -> None:
        if self.screen.maximized is self:
            self.screen.minimize()
        else:
            self.screen.maximize(self, container=False)
            self.focus()


FIELD_TYPES = (Input, Select, Checkbox)


def typing_in_field(app: App) -> bool:
    """Whether the focus is in a form field (or its open list): single keys belong to it."""
    focused = app.focused
    return focused is not None and any(isinstance(node, FIELD_TYPES)
                                       for node in focused.ancestors_with_self)
