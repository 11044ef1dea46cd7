"""Train pane: progress with ETA, live per-epoch curves, overfitting warning, epoch log."""

from __future__ import annotations

from collections.abc import Iterator

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.widgets import ProgressBar, RichLog, Static, TabPane

from ..config import TrainConfig
from ..widgets import HistoryPlot, stat_line


class TrainPane(TabPane):
    can_focus = True
    BINDINGS = [Binding("l", "toggle_metric", "Acc/loss")]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.metric = "accuracy"
        self.history: list[dict] = []
        self.status = "idle"
        self.run_id = ""

    def compose(self) -> ComposeResult:
        yield Static("Press s to train the model set up in the Model pane (2).", id="train-status")
        yield ProgressBar(id="train-progress", show_eta=False)
        yield Static(id="overfit-warning")
        yield HistoryPlot(id="train-plot")
        yield RichLog(id="train-log", max_lines=500, markup=True, wrap=True)

    def reset(self, config: TrainConfig) -> None:
        self.history, self.status, self.run_id = [], "starting", ""
        self.query_one("#train-status", Static).update(
            f"Starting {config.arch} (batch {config.batch_size}, {config.optimizer} "
            f"lr {config.learning_rate}); loading TensorFlow...")
        self.query_one("#overfit-warning", Static).update("")
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.plot()

    def handle(self, event: object) -> None:
        from ..training import BatchProgress, EpochEnd, Failed, Finished, Started

        log = self.query_one(RichLog)
        status = self.query_one("#train-status", Static)
        if isinstance(event, Started):
            self.status, self.run_id = "running", event.run_id
            from ..runs import Run

            self.history = Run(self.app.store.root / event.run_id).history()
            resumed = f", resuming after epoch {event.initial_epoch}" if event.initial_epoch else ""
            log.write(f"[bold]run {event.run_id}[/]: {event.config['arch']}, {event.params:,} "
                      f"params, {event.train_size} train / {event.val_size} val{resumed}")
            self.query_one(ProgressBar).update(total=event.steps, progress=0)
            self.plot()
        elif isinstance(event, BatchProgress):
            self.query_one(ProgressBar).update(total=event.steps, progress=event.step)
            # Fixed-size line: no layout pass, so frequent updates cost training little.
            status.update(stat_line([
                ("run", event.run_id), ("epoch", f"{event.epoch}/{event.epochs}"),
                ("step", f"{event.step}/{event.steps}"), ("loss", f"{event.loss:.4f}"),
                ("acc", f"{event.accuracy:.4f}"), ("img/s", f"{event.images_per_sec:.0f}"),
                ("epoch ETA", f"{event.eta_s:.0f} s")]), layout=False)
        elif isinstance(event, EpochEnd):
            self.history = event.history
            m = event.metrics
            val = (f" val_loss {m['val_loss']:.4f} val_acc {m['val_accuracy']:.4f}"
                   if "val_accuracy" in m else "")
            log.write(f"epoch {event.epoch}/{event.epochs} loss {m['loss']:.4f} "
                      f"acc {m['accuracy']:.4f}{val} {m['seconds']:.1f} s "
                      f"{m['images_per_sec']:.0f} img/s" + (" [green]*best[/]" if event.best
                                                              else ""))
            if event.overfitting:
                log.write(f"[bold red]! {event.overfitting}[/]")
            self.query_one("#overfit-warning", Static).update(
                f"[bold white on red] ! {event.overfitting} [/]" if event.overfitting else "")
            self.plot()
        elif isinstance(event, Finished):
            self.status = event.status
            summary = f"{event.status} after {event.epochs_done} epochs ({event.seconds:.0f} s)"
            if event.evaluation is not None:
                summary += f"; test accuracy {event.evaluation.accuracy:.2%} (Results: 4)"
            elif event.status == "stopped":
                summary += "; resume it from Runs (6) with R"
            log.write(f"[bold]{summary}[/]")
            status.update(summary)
        elif isinstance(event, Failed):
            self.handle_error(event.message)

    def handle_error(self, message: str) -> None:
        self.status = "failed"
        self.query_one(RichLog).write(f"[bold red]failed: {message}[/]")
        self.query_one("#train-status", Static).update(f"[red]Training failed: {message}[/]")

    def plot(self) -> None:
        self.query_one(HistoryPlot).show([(self.run_id or "run", self.history)], self.metric)

    def commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Train: plot accuracy / loss", "Switch the live plot (l)",
                            self.action_toggle_metric)

    def action_toggle_metric(self) -> None:
        self.metric = "loss" if self.metric == "accuracy" else "accuracy"
        self.plot()
