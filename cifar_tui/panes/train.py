"""Train pane: progress with ETA, live per-epoch curves, overfitting warning, epoch log.

It watches the app's ``train_event`` (the latest training message) and draws it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import ProgressBar, RichLog, Static

from ..backend import requested as requested_backend
from ..events import compile_text, describe, epochs
from ..messages import (
    EpochEnded,
    TrainingAttached,
    TrainingFailed,
    TrainingFinished,
    TrainingMessage,
    TrainingProgress,
    TrainingQueued,
    TrainingStarted,
)
from ..names import markup_safe, printable
from ..status import RunStatus
from ..widgets import EpochTable, HistoryPlot, Pane, StillProgressBar, plain_error, stat_line


class TrainPane(Pane):
    can_focus = True
    BINDINGS = [Binding("l", "toggle_metric", "Acc/loss"),
                Binding("v", "toggle_log", "Plot/log")]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metric = "accuracy"
        self.history: list[dict] = []
        # the run shown: None before this session trains or follows one (the current run's
        # curves are shown then), else STARTING, RUNNING and how it ended, as app.train_status
        self.status: RunStatus | None = None
        self.run_id = ""
        self.epochs = 0  # of the run shown: the bar's scale once it has ended
        self.steps = 0  # per epoch
        self.images: tuple[int | None, int | None] = (None, None)  # train, validation
        self._draw = {TrainingQueued: self._queued, TrainingAttached: self._attached,
                      TrainingStarted: self._started,
                      TrainingProgress: self._progress, EpochEnded: self._epoch_end,
                      TrainingFinished: self._finished, TrainingFailed: self._failed}

    # -- the pane's widgets, by id ------------------------------------------------------------
    @property
    def system_line(self) -> Static:
        return self.query_one("#train-system", Static)

    @property
    def status_line(self) -> Static:
        return self.query_one("#train-status", Static)

    @property
    def overfit_warning(self) -> Static:
        return self.query_one("#overfit-warning", Static)

    def compose(self) -> ComposeResult:
        yield Static("Press s to train the model set up in the Model pane (2).", id="train-status")
        with Horizontal(id="train-bar-row"):
            yield StillProgressBar(id="train-progress", show_eta=False)
            yield Static(id="train-system")
        yield Static(id="overfit-warning")
        # The curves take the pane (at 80x24 most of it), each epoch's figures beside them;
        # v swaps them for the log of every epoch.
        with Horizontal(id="train-curves"):
            yield HistoryPlot(id="train-plot")
            yield EpochTable(id="train-epochs")
        yield RichLog(id="train-log", max_lines=500, markup=True, wrap=True)

    def on_mount(self) -> None:
        self.watch(self.app, "train_event", self.show_event, init=False)
        self.watch(self.app, "system", self.show_system, init=False)
        self.watch(self.app, "current_run", self.show_last_run)

    def show_system(self, sample: Any) -> None:
        """The training process's CPU, memory and GPU (sysmon.SystemSample); absent: blank."""
        text = sample.describe() if sample is not None else ""
        self.system_line.update(f"[dim]{text}[/]" if text else "", layout=False)

    def show_last_run(self, run: Any) -> None:
        """While nothing trains, show the current run's curves rather than an empty pane."""
        if run is None or self.status is not None:  # this session's training stays shown
            return
        snap = run.snapshot(progress=False)  # one read of its files
        self.run_id, self.history = run.id, snap.history()
        self.images = snap.image_counts
        status, done = snap.status, snap.epochs_done
        if status.live:  # trained by another process: follow it, not train again
            text = (f"Run {run.id} is {status} in another process ({epochs(done)} done): "
                    "to follow it here, open it in Runs (6) with enter.")
        else:
            text = (f"Last run {run.id}: {status}, {epochs(done)}. "
                    "Press s to train the model set up in the Model pane (2).")
        self.status_line.update(Text(printable(text)))  # ids: text
        if status.ended:  # as this session's run would end: not an empty "--%" bar
            self._ended_bar(status, done, snap.epochs_planned)
        self.plot()

    def show_event(self, message: TrainingMessage | None) -> None:
        if message is not None:
            self._draw[type(message)](message.event)

    def _bar(self, total: float | None, progress: float, end: RunStatus | None = None) -> None:
        """The bar: steps of the epoch while it runs; epochs done of the run once it has
        ended (``end``), coloured by how: green complete, red failed, yellow cut short."""
        bar = self.query_one(ProgressBar)
        bar.update(total=total, progress=progress)
        bar.set_class(end is not None and end.complete, "-finished")
        bar.set_class(end is RunStatus.FAILED, "-failed")
        bar.set_class(end is not None and not end.complete and end is not RunStatus.FAILED,
                      "-stopped")

    def _ended_bar(self, status: RunStatus, done: int, epochs: int) -> None:
        """Epochs done of the run, coloured by how it ended: full and green once complete
        (early stopping too), else how far it got of ``epochs`` (0: unknown)."""
        if status.complete:
            self._bar(max(done, 1), max(done, 1), status)
        else:  # stopped, pruned, interrupted (its trainer died) or failed
            self._bar(epochs or max(done, 1), done, status)

    def _warn(self, text: Text | str) -> None:
        """The overfitting warning; without one its row goes to the plot."""
        warning = self.overfit_warning
        warning.update(text)
        warning.display = bool(text)

    def _queued(self, config: Any) -> None:
        self.history, self.status, self.run_id = [], RunStatus.STARTING, ""
        self.epochs, self.steps, self.images = config.epochs, 0, (None, None)
        self.status_line.update(
            f"Starting {config.headline()}; loading Keras on {requested_backend()}...")
        self._warn("")
        self._bar(None, 0)
        self.plot()

    def _attached(self, run: Any) -> None:
        snap = run.snapshot(progress=False)  # one read of its files
        pid = snap.owner_pid
        self.history, self.status, self.run_id = snap.history(), snap.status, run.id
        self.epochs, self.steps = snap.epochs_planned, 0
        self.images = snap.image_counts
        who = f"process {pid}" if pid is not None else "another process"
        if snap.status is RunStatus.STARTING:  # its trainer is loading data and Keras
            text = Text(printable(f"Run {run.id} is starting in {who}: loading data and "
                                  "Keras... Its progress shows here from its first batch; x "
                                  "stops it."))
        else:
            text = Text(printable(f"Following run {run.id}, trained by {who}; x stops it "
                                  "after the batch."))
        self.status_line.update(text)
        self._warn("")
        self._bar(None, 0)
        self.query_one(RichLog).write(f"[bold]following run {markup_safe(run.id)}[/] "
                                      f"({markup_safe(who)})")
        self.plot()

    def _started(self, event: Any) -> None:
        from ..runs import Run

        self.status, self.run_id = RunStatus.RUNNING, event.run_id
        self.epochs, self.steps = event.epochs, event.steps
        self.images = (event.train_size, event.val_size)
        self.history = Run(self.app.store.root / event.run_id).history()
        # the CLI's line: run, params, backend (the run id is a folder name: plain text)
        self.query_one(RichLog).write(Text(printable(describe(event))))
        # no longer "starting"/"loading Keras": say so before the first batch's figures, and
        # that the first step compiles (seconds to minutes), so a slow first epoch is explained
        self.status_line.update(stat_line([
            ("epoch", f"{event.initial_epoch + 1}/{event.epochs}"),
            ("step", f"0/{event.steps}" + (" compiling..." if event.compiles else ""))]))
        self._bar(event.steps or None, 0)
        self.plot()

    def _progress(self, event: Any) -> None:
        self.query_one(ProgressBar).update(total=event.steps, progress=event.step)
        self.steps = event.steps
        # Fixed-size line: no layout pass, so frequent updates cost training little. The run's
        # name is in the title: the line fits 80 columns.
        self.status_line.update(stat_line([
            ("epoch", f"{event.epoch}/{event.epochs}"),
            ("step", f"{event.step}/{event.steps}"), ("loss", f"{event.loss:.4f}"),
            ("acc", f"{event.accuracy:.4f}"), ("img/s", f"{event.images_per_sec:.0f}"),
            ("ETA", f"{event.eta_s:.0f} s")]), layout=False)

    def _epoch_end(self, event: Any) -> None:
        self.history = event.history
        if self.steps:  # the epoch is complete (short ones may show no step in between)
            self._bar(self.steps, self.steps)
        m = event.metrics
        self.status_line.update(stat_line([
            ("epoch", f"{event.epoch}/{event.epochs} done"),
            ("loss", f"{m.get('loss', float('nan')):.4f}"),
            ("acc", f"{m.get('accuracy', float('nan')):.4f}"),
            *([("val acc", f"{m['val_accuracy']:.4f}")] if "val_accuracy" in m else [])]),
            layout=False)
        log = self.query_one(RichLog)
        log.write(describe(event))
        if event.overfitting:
            log.write(Text(f"! {event.overfitting}", style="bold yellow"))
        # A warning only: early stopping (patience) is what ends a run, and says so at the end.
        self._warn(Text(f" ! {event.overfitting} (a warning: training goes on) ",
                        style="bold black on yellow") if event.overfitting else "")
        self.plot()

    def _finished(self, event: Any) -> None:
        self.status = RunStatus(event.status)
        self._ended_bar(self.status, event.epochs_done, self.epochs)
        summary = (f"{event.status} after {epochs(event.epochs_done)} ({event.seconds:.0f} s"
                   f"{compile_text(event.compile_seconds, ', ', ' compiling')})")
        if event.evaluation is not None:
            weights = f", {event.weights}" if event.weights else ""
            summary += (f"; test accuracy {event.evaluation.accuracy:.2%} on "
                        f"{event.evaluation.n:,} images{weights} (Results: 4)")
        elif self.status.cut_short:
            summary += "; resume it from Runs (6) with R"
        self.query_one(RichLog).write(Text(printable(summary), style="bold"))
        self.status_line.update(Text(printable(summary)))

    def _failed(self, event: Any) -> None:
        from ..runs import Run

        self.status = RunStatus.FAILED
        run_id = event.run_id or self.run_id
        done = Run(self.app.store.root / run_id).epochs_done if run_id else 0
        self._ended_bar(self.status, done, self.epochs)
        message = plain_error(event.message)
        self.query_one(RichLog).write(Text(f"failed: {message}", style="bold red"))
        self.status_line.update(Text(f"Training failed: {message}", style="red"))

    def plot(self) -> None:
        train, val = self.images
        title = ""  # the plot's own, when the counts are not known (runs from before them)
        if isinstance(train, int) and isinstance(val, int):
            # short enough for the plot's width at 80 columns (plotext drops a longer one)
            title = (f"{self.metric}: train (solid) {train:,}"
                     + (f", val (dots) {val:,}" if val else "") + " img")
        self.query_one(HistoryPlot).show([(self.run_id or "run", self.history)], self.metric,
                                         title)
        self.query_one(EpochTable).show(self.history, self.metric)

    def commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Train: plot accuracy / loss", "Switch the live plot (l)",
                            self.action_toggle_metric)
        yield SystemCommand("Train: plot / log", "Swap the curves for the log of every epoch "
                            "(v)", self.action_toggle_log)

    def action_toggle_log(self) -> None:
        self.toggle_class("-log")

    def action_toggle_metric(self) -> None:
        self.metric = "loss" if self.metric == "accuracy" else "accuracy"
        self.plot()
