"""Data pane: source, shapes, class counts, the [0,1] scaling toggle and the class gallery
(a page of classes at a time past CIFAR-10's ten)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Static, Switch

from ..data import first_per_class, one_hot
from ..messages import SetNormalize
from ..widgets import Gallery, MaximizableScroll, Pane, class_counts_table, stat_line

if TYPE_CHECKING:
    from ..data import Dataset


class DataPane(Pane):
    can_focus = True
    BINDINGS = [
        Binding("n", "toggle_normalize", "[0,1]"),
        Binding("f", "maximize_gallery", "Full gallery"),
        Binding("plus,equals", "zoom(1)", "Zoom", key_display="+/-"),  # one hint for both
        Binding("minus", "zoom(-1)", "Zoom out", show=False),
        # Not in the footer (it is full at 80 columns): the gallery's first line names the keys.
        Binding("right_square_bracket", "page(1)", "Next classes", key_display="[/]",
                show=False),
        Binding("left_square_bracket", "page(-1)", "Previous classes", show=False),
    ]
    SHRINKS = (4, 2, 1)  # gallery pixel reduction: 8x8, 16x16 or full 32x32 images
    PAGE = 10  # classes per gallery page: CIFAR-10's all at once, CIFAR-100's in 10 pages

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # 16x16: the smallest a person can tell what the image shows (8x8 thumbnails, all 8 of
        # a class side by side at 80 columns, could not be recognised); - gives those.
        self.zoom = 1
        self.page = 0

    # -- the pane's widgets, by id ------------------------------------------------------------
    @property
    def summary_box(self) -> Static:
        return self.query_one("#data-summary", Static)

    @property
    def counts_box(self) -> Static:
        return self.query_one("#data-counts", Static)

    @property
    def normalization_box(self) -> Static:
        return self.query_one("#data-normalization", Static)

    @property
    def gallery_box(self) -> MaximizableScroll:
        return self.query_one("#gallery-box", MaximizableScroll)

    @property
    def normalize_switch(self) -> Switch:
        return self.query_one("#normalize", Switch)

    def compose(self) -> ComposeResult:
        with Horizontal():
            with VerticalScroll(id="data-info"):
                yield Static("Loading the data set...", id="data-summary")
                with Horizontal(id="normalize-row"):
                    yield Switch(value=True, id="normalize")
                    yield Label("scale to [0,1]  (n)")
                yield Static(id="data-normalization")
                yield Static(id="data-counts")
            with MaximizableScroll(id="gallery-box"):
                yield Gallery(id="gallery")

    def on_mount(self) -> None:
        self.watch(self.app, "dataset", self.show_data, init=False)
        self.watch(self.app, "data_files_read", self.show_load_progress, init=False)
        self.watch(self.app, "normalize", self.show_normalization, init=False)

    @property
    def dataset(self) -> Dataset | None:
        return self.app.dataset

    def show_load_progress(self, files: int) -> None:
        """A first load decodes every image (20 s for the JPEG archive): how far it has got."""
        if self.app.dataset is None and files:
            self.summary_box.update(
                f"Loading the data: {files:,} files decoded.\nThe first load of "
                "a source decodes every image; later ones read the cache in under a second.")

    def show_data(self, ds: Dataset | None = None) -> None:
        self.refresh_bindings()  # the [/] pages depend on the class count
        summary = self.summary_box
        if ds is None:
            summary.update(Text(f"Could not load the data:\n{self.app.data_error}",
                                style="red"))
            return
        s = ds.summary()
        home = str(Path.home())
        cache = (s["cache"] or "-").replace(home, "~")
        k, size = len(s["classes"]), s["image_size"]
        skipped = ([Text(f"skipped {s['skipped']:,} unreadable files", style="yellow")]
                   if s["skipped"] else [])
        self.page = min(self.page, (k - 1) // self.PAGE)
        summary.update(Group(
            Text(s["name"], style="bold underline"),
            stat_line([("classes", str(k)), ("images", f"{size}x{size}")]),
            *skipped,
            stat_line([("source", s["source"].replace(home, "~"))]),
            stat_line([("cache", cache)]),
            *(stat_line([(f"{k[0].upper()} {k[2:]:<5}", str(tuple(s[k])))])
              for k in ("x_train", "y_train", "x_test", "y_test")),
        ))
        self.counts_box.update(
            class_counts_table(s["train_counts"], s["test_counts"]))
        self.show_normalization()
        self.show_gallery()

    def show_normalization(self, _: bool | None = None) -> None:
        ds = self.dataset
        normalized = self.app.normalize
        switch = self.normalize_switch
        if switch.value != normalized:
            with switch.prevent(Switch.Changed):
                switch.value = normalized
        if ds is None:
            return
        pixel = ds.x_train[0, 0, 0]
        shown = pixel / 255 if normalized else pixel
        label = int(ds.y_train[0])
        text = Text()
        text.append("pixels ", style="dim")
        text.append("float32 in [0, 1]" if normalized else "uint8 in [0, 255]", style="bold")
        text.append("\nimage 0, pixel (0,0): ", style="dim")
        text.append("(" + ", ".join(f"{v:.3f}" if normalized else str(int(v)) for v in shown)
                    + ")", style="bold")
        k = ds.num_classes
        text.append(f"\nlabel {label} ({ds.class_names[label]}) one-hot: ", style="dim")
        if k <= 10:
            text.append(str(one_hot(np.array([label]), k)[0].astype(int).tolist()),
                        style="bold")
        else:  # a hundred digits say less than where the 1 is
            text.append(f"{k} values, 1 at index {label}", style="bold")
        self.normalization_box.update(text)

    def on_switch_changed(self, event: Switch.Changed) -> None:
        if event.switch.id == "normalize":
            self.post_message(SetNormalize(event.value))

    def action_toggle_normalize(self) -> None:
        self.post_message(SetNormalize(not self.app.normalize))

    def show_gallery(self) -> None:
        ds = self.dataset
        if ds is None:
            return
        k = ds.num_classes
        first = self.page * self.PAGE
        classes = range(first, min(k, first + self.PAGE))
        header = None
        if k > self.PAGE:
            pages = (k - 1) // self.PAGE + 1
            header = Text(f"classes {first + 1}-{classes[-1] + 1} of {k} "
                          f"(page {self.page + 1}/{pages}; [ and ] turn pages)", style="dim")
        # 32x32 at 8x8 is a quarter: a bigger image is shown no bigger (64x64 at 8x8 too)
        shrink = self.SHRINKS[self.zoom] * -(-ds.image_size // 32)
        self.query_one(Gallery).show(ds.x_train, first_per_class(ds.y_train, 8, classes),
                                     shrink, ds.class_names, header)

    def commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Data: zoom gallery in", "Bigger images (+)",
                            lambda: self.action_zoom(1))
        yield SystemCommand("Data: zoom gallery out", "Smaller images (-)",
                            lambda: self.action_zoom(-1))
        yield SystemCommand("Data: full-screen gallery", "Toggle (f)",
                            self.action_maximize_gallery)
        yield SystemCommand("Data: next page of classes", "The gallery's next classes (])",
                            lambda: self.action_page(1))

    def action_maximize_gallery(self) -> None:
        self.gallery_box.toggle_maximized()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Pages only where the classes do not fit one: no [/] hint for CIFAR-10.
        if action == "page":
            return self.dataset is not None and self.dataset.num_classes > self.PAGE
        return True

    def action_page(self, step: int) -> None:
        ds = self.dataset
        if ds is None:
            return
        pages = (ds.num_classes - 1) // self.PAGE + 1
        self.page = (self.page + step) % pages
        self.show_gallery()
        self.gallery_box.scroll_home(animate=False)

    def action_zoom(self, step: int) -> None:
        self.zoom = min(len(self.SHRINKS) - 1, max(0, self.zoom + step))
        self.show_gallery()
