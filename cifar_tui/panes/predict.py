"""Predict pane: a test image (or a file) in half blocks beside its class probabilities."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from rich.text import Text
from textual import events
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from .. import CLASSES
from ..messages import ClassifyImage
from ..names import markup_safe
from ..render import probability_bars
from ..widgets import ImageView, InOrderInput, Pane, downsample


class PredictPane(Pane):
    BINDINGS = [
        Binding("right,j", "step(1)", "Next"),
        Binding("left,k", "step(-1)", "Prev"),
        Binding("m", "next_wrong", "Mistake"),
        Binding("o", "open_file", "Open file"),
        Binding("a", "all_images", "All images", show=False),
    ]
    can_focus = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.index = 0
        self.probs: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.images: np.ndarray | None = None
        # A confused pair (true, predicted) and its images, worst first; None: every image.
        self.pair: tuple[int, int] | None = None
        self.pair_images: np.ndarray | None = None
        self.pair_pos = 0
        self._shown_run: str | None = None

    # -- the pane's widgets, by id ------------------------------------------------------------
    @property
    def header_box(self) -> Static:
        return self.query_one("#pred-header", Static)

    @property
    def caption_box(self) -> Static:
        return self.query_one("#pred-caption", Static)

    @property
    def bars_box(self) -> Static:
        return self.query_one("#pred-bars", Static)

    @property
    def path_input(self) -> Input:
        return self.query_one("#pred-path", Input)

    def compose(self) -> ComposeResult:
        yield Static("No predictions yet: train or evaluate a run first.", id="pred-header")
        with Horizontal(id="pred-body"):
            with Vertical(id="pred-left"):
                yield ImageView(id="pred-image")
                yield Static(id="pred-caption")
            yield Static(id="pred-bars")
        # One line at the top of the pane, so it is in view at any terminal size.
        yield InOrderInput(placeholder="image file path; Enter classifies it, Esc cancels",
                           id="pred-path", compact=True)

    def commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Predict: next misclassified", "Jump to the next test mistake",
                            self.action_next_wrong)
        yield SystemCommand("Predict: open image file", "Classify a photo from disk",
                            self.action_open_file)

    def on_mount(self) -> None:
        self.watch(self.app, "current_run", self.refresh_run)
        self.watch(self.app, "dataset", self.refresh_run, init=False)
        self.watch(self.app, "pair", self.show_pair, init=False)
        self.watch(self.app, "classified", self.show_file, init=False)

    def show_pair(self, pair: tuple[int, int] | None) -> None:
        """Step through the test images of a confused pair, highest wrong probability first
        (fastai's plot_top_losses for one cell of the confusion matrix)."""
        self.pair, self.pair_images, self.pair_pos = pair, None, 0
        if pair is not None and self.probs is not None:
            from ..evaluation import worst_of_pair

            self.pair_images = worst_of_pair(self.probs, self.labels, *pair)
            if len(self.pair_images):
                self.index = int(self.pair_images[0])
        self.show()

    def action_all_images(self) -> None:
        if self.pair is not None:
            self.show_pair(None)

    def refresh_run(self, _: object = None) -> None:
        run, ds = self.app.current_run, self.app.dataset
        self.probs = self.labels = self.images = None
        header = self.header_box
        # Nothing of the previous run may stay on screen under this one's name.
        self.query_one(ImageView).show(None)
        self.caption_box.update("")
        self.bars_box.update("")
        if run is None:
            return
        if run.id != self._shown_run:  # another run: the last one's pair filter and image go
            self._shown_run, self.pair, self.index = run.id, None, 0
        preds = run.predictions()
        if preds is None:
            header.update(f"Run {markup_safe(run.id)} has no test predictions: evaluate it "
                          "(4, then e).")
            return
        if ds is None:
            header.update("Waiting for CIFAR-10 to load...")
            return
        from ..data import DataError, check_matches, subset

        try:
            check_matches(run.config.get("dataset"), ds, f"Run {run.id}")
        except DataError as exc:
            header.update(str(exc))
            return
        x_test = subset(ds, run.config.get("subset"), run.config.get("test_subset")).x_test
        probs, labels = preds
        if len(x_test) != len(labels):
            header.update(f"Run {markup_safe(run.id)} was evaluated on other data "
                          f"({len(labels)} images, {len(x_test)} loaded): evaluate it again "
                          "(4, then e).")
            return
        self.probs, self.labels, self.images = probs, labels, x_test
        self.index = min(self.index, len(labels) - 1)
        self.show_pair(self.pair)  # the pair's images in this run (or all, when no pair)

    def show(self) -> None:
        if self.probs is None:
            return
        i = self.index
        p, label = self.probs[i], int(self.labels[i])
        pred = int(p.argmax())
        wrong = int((self.probs.argmax(1) != self.labels).sum())
        header = (f"run {markup_safe(self.app.current_run.id)}   test image "
                  f"{i + 1}/{len(self.labels)}   {wrong} misclassified")
        if self.pair is not None and self.pair_images is not None:
            # the run is in the title bar; the pair needs the room here
            t, q = (self.app.current_run.class_names[c] for c in self.pair)
            n = len(self.pair_images)
            header = (f"{t} \u2192 {q}: {self.pair_pos + 1}/{n}, worst first (a: all images)"
                      if n else f"no {t} predicted as {q} in this run (a: all images)")
        self.header_box.update(header)
        classes = self.app.current_run.class_names
        self.query_one(ImageView).show(_for_screen(self.images[i]), scale=1)
        self.caption_box.update(self._caption(label, pred, p, classes))
        self.bars_box.update(probability_bars(p, label, classes=classes))

    @staticmethod
    def _caption(label: int | None, pred: int, p: np.ndarray,
                 classes: tuple[str, ...] = CLASSES) -> Text:
        text = Text()
        if label is not None:
            text.append(f"true {classes[label]}\n")
        # green/red say right/wrong: a photo of the user's has no known class to be right about
        style = "bold" if label is None else "bold green" if label == pred else "bold red"
        text.append(f"predicted {classes[pred]} ({p[pred]:.0%})", style=style)
        if label is None:
            text.append("\ntrue class unknown", style="dim")
        return text

    def action_step(self, delta: int) -> None:
        if self.pair_images is not None and len(self.pair_images):
            self.pair_pos = (self.pair_pos + delta) % len(self.pair_images)
            self.index = int(self.pair_images[self.pair_pos])
            self.show()
        elif self.probs is not None:
            self.index = (self.index + delta) % len(self.labels)
            self.show()

    def action_next_wrong(self) -> None:
        if self.probs is None:
            return
        self.pair = self.pair_images = None  # mistakes of every class from here
        wrong = np.flatnonzero(self.probs.argmax(1) != self.labels)
        if not len(wrong):
            self.notify("No misclassified test images")
            return
        later = wrong[wrong > self.index]
        self.index = int(later[0] if len(later) else wrong[0])
        self.show()

    def action_open_file(self) -> None:
        box = self.path_input
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "pred-path" and event.value.strip():
            self.post_message(ClassifyImage(Path(event.value.strip()).expanduser()))
            event.input.display = False
            self.focus()

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        if event.widget.id == "pred-path":  # esc, or focus went elsewhere: close the box
            event.widget.display = False

    def show_file(self, result: Any) -> None:
        """An image file as the app classified it (``tasks.Classified``)."""
        if result is None:
            return
        image, probs, classes = result.image, result.probs, result.class_names
        side = image.shape[0]
        self.header_box.update(
            f"{markup_safe(result.path)} (resized to {side}x{side})")
        self.query_one(ImageView).show(_for_screen(image), scale=1)
        self.caption_box.update(self._caption(None, int(probs.argmax()), probs, classes))
        self.bars_box.update(probability_bars(probs, classes=classes))


def _for_screen(image: np.ndarray) -> np.ndarray:
    """Images larger than 32x32 shown at 32x32 or less (16 rows), so they fit 80x24."""
    return downsample(image, -(-image.shape[0] // 32))
