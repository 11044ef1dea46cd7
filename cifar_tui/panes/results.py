"""Results pane: confusion-matrix heatmap, per-class accuracy and the most confused pairs.

Past 12 classes the heatmap shows the block of the 8 most confused classes and the pairs list
grows to 20: a 100x100 matrix is 600 columns, and what a person looks for in it is which
classes are mixed up (the report has the whole matrix)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from ..events import epochs
from ..messages import EvaluateRun, ShowPair
from ..names import markup_safe
from ..render import PER_CLASS_SORTS, confused_pairs_text, confusion_heatmap, per_class_table
from ..widgets import Pane, stat_line


class ResultsPane(Pane):
    BINDINGS = [Binding("c", "toggle_normalized", "Counts/row %"),
                Binding("e", "evaluate", "Evaluate"),
                Binding("n", "next_pair", "Pair"),
                Binding("o", "sort_classes", "Sort classes", show=False),  # named in the table
                Binding("enter", "show_pair", "Its images", show=False),
                # The pane keeps focus (for c and e), so it scrolls its body itself.
                Binding("down,j", "scroll_body('down')", "Scroll", show=False),
                Binding("up,k", "scroll_body('up')", "Scroll up", show=False),
                Binding("pagedown,space", "scroll_body('page_down')", "Page", show=False),
                Binding("pageup", "scroll_body('page_up')", "Page up", show=False)]
    can_focus = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.normalized = False
        self.sort = 0  # the per-class table's order (render.PER_CLASS_SORTS)
        self.pair_index: int | None = None  # the highlighted confused pair
        self.pairs: list[dict] = []
        self._shown_run: str | None = None

    # -- the pane's widgets, by id ------------------------------------------------------------
    @property
    def header_box(self) -> Static:
        return self.query_one("#results-header", Static)

    @property
    def heatmap_box(self) -> Static:
        return self.query_one("#heatmap", Static)

    @property
    def per_class_box(self) -> Static:
        return self.query_one("#per-class", Static)

    @property
    def confused_box(self) -> Static:
        return self.query_one("#confused", Static)

    def compose(self) -> ComposeResult:
        yield Static("No run yet: train one (s) or pick one in Runs (6).", id="results-header")
        with VerticalScroll():
            yield Static(id="heatmap")
            with Horizontal(id="results-detail"):
                yield Static(id="per-class")
                yield Static(id="confused")

    def commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Evaluate current run", "Test-set metrics and confusion matrix",
                            self.action_evaluate)
        yield SystemCommand("Results: next confused pair", "Highlight the next pair (n)",
                            self.action_next_pair)
        yield SystemCommand("Results: images of the confused pair", "Its test images in "
                            "Predict, most confident mistakes first (enter)",
                            self.action_show_pair)
        yield SystemCommand("Confusion matrix: counts / row %", "Switch the heatmap's numbers",
                            self.action_toggle_normalized)
        yield SystemCommand("Results: sort per-class table", "By class, accuracy, f1 or test "
                            "images (o)", self.action_sort_classes)

    def on_mount(self) -> None:
        self.watch(self.app, "current_run", self.refresh_run)

    def refresh_run(self, _: object = None) -> None:
        run = self.app.current_run
        header = self.header_box
        if run is None:
            return
        metrics = run.metrics
        if run.id != self._shown_run:  # another run: its pairs are others, its matrix on top
            self._shown_run, self.pair_index = run.id, None
            self.query_one(VerticalScroll).scroll_home(animate=False, immediate=True)
        if not metrics:
            self.pairs = []
            header.update(f"Run {markup_safe(run.id)} ({markup_safe(run.status)}) has no test "
                          "evaluation yet: press e.")
            for box in (self.heatmap_box, self.per_class_box, self.confused_box):
                box.update("")
            return
        weights = f" ({note})" if (note := run.weights_note()) else ""
        trained = run.train_seconds
        header.update(stat_line([
            ("run", run.id),
            ("test accuracy", f"{metrics['accuracy']:.2%} on {metrics['n']:,} images{weights}"),
            ("loss", f"{metrics['loss']:.4f}"), ("ECE", f"{metrics['ece']:.4f}"),
            ("trained", f"{epochs(run.epochs_done)} in {trained:.0f} s" if trained else "-")]))
        self.heatmap_box.update(
            confusion_heatmap(np.array(metrics["confusion"]), self.normalized, run.class_names))
        self.per_class_box.update(per_class_table(metrics["per_class"], self.sort))
        self.pairs = metrics["confused_pairs"]
        if self.pair_index is not None and self.pair_index >= len(self.pairs):
            self.pair_index = None
        self.confused_box.update(
            confused_pairs_text(self.pairs, self.pair_index))

    def action_next_pair(self) -> None:
        if not self.pairs:
            self.notify("No confused pairs: evaluate a run first (e)")
            return
        self.pair_index = 0 if self.pair_index is None else (self.pair_index + 1) % len(
            self.pairs)
        self.refresh_run()

    def action_show_pair(self) -> None:
        if not self.pairs:
            self.notify("No confused pairs: evaluate a run first (e)")
            return
        pair = self.pairs[self.pair_index or 0]
        classes = list(self.app.current_run.class_names)
        self.post_message(ShowPair(classes.index(pair["true"]), classes.index(pair["predicted"])))

    def action_sort_classes(self) -> None:
        self.sort = (self.sort + 1) % len(PER_CLASS_SORTS)
        self.notify(f"Per class: by {PER_CLASS_SORTS[self.sort][0]} (o: next)", timeout=3)
        self.refresh_run()

    def action_scroll_body(self, how: str) -> None:
        getattr(self.query_one(VerticalScroll), f"scroll_{how}")()

    def action_toggle_normalized(self) -> None:
        self.normalized = not self.normalized
        self.refresh_run()

    def action_evaluate(self) -> None:
        run, ds = self.app.current_run, self.app.dataset
        if run is None or ds is None:
            self.notify("Need a run and loaded data to evaluate", severity="warning")
            return
        self.header_box.update(f"Evaluating {markup_safe(run.id)}...")
        self.post_message(EvaluateRun(run))  # the app's worker; current_run redraws this
