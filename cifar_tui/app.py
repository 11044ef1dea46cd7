"""The Textual app: state, messages and actions. Panes live in ``screens``, widgets in ``widgets``.

TensorFlow is imported only inside worker threads, so the first frame does not wait for it.
Training runs in a thread worker whose listener only posts messages back to the app.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from pathlib import Path

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, TabbedContent
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from .config import TrainConfig
from .data import Cifar10, load_cifar10
from .runs import Run, RunStore
from .screens.data import DataPane
from .screens.model import ModelPane
from .screens.predict import PredictPane
from .screens.results import ResultsPane
from .screens.runs import RunsPane
from .screens.train import TrainPane


class DataLoaded(Message):
    def __init__(self, dataset: Cifar10 | None, error: str | None = None) -> None:
        super().__init__()
        self.dataset, self.error = dataset, error


class TrainingEvent(Message):
    """A core training event (training.Started, BatchProgress, EpochEnd, Finished, Failed)."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event


def _default_trainer(**kwargs: object) -> Run:
    from .training import train  # imports TensorFlow: only ever called in a worker thread

    return train(**kwargs)


class CifarApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "cifar-tui"
    SUB_TITLE = "CIFAR-10 classifiers with Keras"
    BINDINGS = [
        Binding("1", "tab('data')", "Data"),
        Binding("2", "tab('model')", "Model"),
        Binding("3", "tab('train')", "Train"),
        Binding("4", "tab('results')", "Results"),
        Binding("5", "tab('predict')", "Predict"),
        Binding("6", "tab('runs')", "Runs"),
        Binding("s", "start_training", "Start"),
        Binding("x", "stop_training", "Stop"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, data_source: str | None = None, runs_root: str | Path | None = None,
                 subset: int | None = None,
                 loader: Callable[[str | None], Cifar10] = load_cifar10,
                 trainer: Callable[..., Run] = _default_trainer) -> None:
        super().__init__()
        self.data_source, self.subset = data_source, subset
        self.loader, self.trainer = loader, trainer
        self.store = RunStore(runs_root)
        self.dataset: Cifar10 | None = None
        self.normalize = True
        self.current_run: Run | None = None
        self.stop_event = threading.Event()
        self.train_worker: Worker | None = None
        self.queue: list[TrainConfig] = []
        # set whenever no trainer runs in this process; a Textual thread worker outlives the app
        self.training_done = threading.Event()
        self.training_done.set()
        self.hung_up = False

    # -- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="data"):
            yield DataPane("Data", id="data")
            yield ModelPane("Model", id="model")
            yield TrainPane("Train", id="train")
            yield ResultsPane("Results", id="results")
            yield PredictPane("Predict", id="predict")
            yield RunsPane("Runs", id="runs")
        yield Footer()

    def on_mount(self) -> None:
        runs = self.store.list()
        if runs:
            self.set_current_run(runs[-1])
        self.run_worker(self._load_data, thread=True, group="data", exit_on_error=False)

    def action_tab(self, tab: str) -> None:
        self.screen.minimize()  # a full-screen view belongs to the pane being left
        tabs = self.query_one(TabbedContent)
        tabs.active = tab
        self._focus_pane(tabs.get_pane(tab))

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_pane(event.pane)

    def _focus_pane(self, pane: Widget) -> None:
        # Focus inside the pane so its key bindings (shown in the footer) work at once.
        if pane.id == "runs":
            pane.query_one("#runs-table").focus()
        elif pane.can_focus:
            pane.focus()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for tab in ("data", "model", "train", "results", "predict", "runs"):
            yield SystemCommand(f"Go to {tab}", f"Show the {tab} pane", partial(self.action_tab,
                                                                             tab))
        yield SystemCommand("Start training", "Train the model configured in the Model pane",
                            self.action_start_training)
        yield SystemCommand("Stop training", "Stop after the current batch; finished epochs "
                            "are kept", self.action_stop_training)
        yield SystemCommand("Toggle [0,1] scaling", "Scale pixels to [0,1] or keep 0..255",
                            self.action_toggle_normalize)
        yield SystemCommand("Compare batch sizes 32/64/128", "Queue three runs of the current "
                            "model", partial(self.compare, "batch_size", [32, 64, 128]))
        yield SystemCommand("Compare dropout / batch norm", "Queue cnn, cnn-dropout and "
                            "cnn-dropout-bn", self.compare_regularization)
        for pane in (DataPane, ModelPane, TrainPane, ResultsPane, PredictPane, RunsPane):
            yield from self.query_one(pane).commands()

    # -- data ------------------------------------------------------------------------------
    def _load_data(self) -> None:
        try:
            ds = self.loader(self.data_source)
        except Exception as exc:  # shown in the Data pane; the app stays usable
            self.post_message(DataLoaded(None, str(exc)))
        else:
            self.post_message(DataLoaded(ds))

    def on_data_loaded(self, message: DataLoaded) -> None:
        self.dataset = message.dataset
        self.query_one(DataPane).show_data(message.dataset, message.error)
        self.query_one(PredictPane).refresh_run()
        if message.error:
            self.notify(message.error, title="Could not load CIFAR-10", severity="error",
                        timeout=15)

    def action_toggle_normalize(self) -> None:
        self.normalize = not self.normalize
        self.query_one(DataPane).show_normalization()
        self.notify("Pixels scaled to [0, 1]" if self.normalize else
                    "Pixels left as 0..255: watch what this does to SGD training")

    # -- training --------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        return self.train_worker is not None and self.train_worker.state in (
            WorkerState.PENDING, WorkerState.RUNNING)

    def action_start_training(self) -> None:
        if (config := self._form_config()) is not None:
            self.start_training(config)

    def start_training(self, config: TrainConfig | None = None, run: Run | None = None) -> None:
        if self.training:
            self.notify("A training is already running: stop it with x first", severity="warning")
            return
        if self.dataset is None:
            self.notify("CIFAR-10 is not loaded yet (see the Data pane)", severity="warning")
            return
        self.stop_event = threading.Event()
        self.query_one(TrainPane).reset(config or TrainConfig.from_dict(run.config))
        self.action_tab("train")
        kwargs = {"data": self.dataset, "store": self.store, "stop": self.stop_event,
                  "listener": lambda event: self.post_message(TrainingEvent(event))}
        if run is not None:
            kwargs["run"] = run
        else:
            kwargs["config"] = config
        self.training_done.clear()
        self.train_worker = self.run_worker(partial(self._train, **kwargs), thread=True,
                                            group="train", exit_on_error=False)

    def _train(self, **kwargs: object) -> Run:
        try:
            return self.trainer(**kwargs)
        finally:
            self.training_done.set()

    def action_stop_training(self) -> None:
        if not self.training:
            self.notify("Nothing is training")
            return
        self.queue.clear()
        self.stop_event.set()
        self.notify("Stopping after this batch; finished epochs are kept")

    def on_training_event(self, message: TrainingEvent) -> None:
        from .training import Failed, Finished  # training events only exist once TF is loaded

        event = message.event
        self.query_one(TrainPane).handle(event)
        if isinstance(event, Finished | Failed):
            runs = self.query_one(RunsPane)
            runs.refresh_runs()
            if isinstance(event, Finished):
                self.set_current_run(self.store.get(event.run_id))
            else:
                self.notify(event.message, title="Training failed", severity="error",
                            timeout=15)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self.train_worker and event.state in (WorkerState.SUCCESS,
                                                                 WorkerState.ERROR):
            if event.state == WorkerState.ERROR and self.query_one(TrainPane).status == "starting":
                # failed before the trainer could report (e.g. TensorFlow missing)
                self.query_one(TrainPane).handle_error(str(event.worker.error))
            if self.queue and not self.stop_event.is_set():
                self.start_training(self.queue.pop(0))

    def _form_config(self) -> TrainConfig | None:
        try:
            return self.query_one(ModelPane).current_config()
        except ValueError as exc:
            self.notify(str(exc), title="Check the Model pane", severity="error")
            return None

    def compare(self, field: str, values: list) -> None:
        """Queue one run per value of ``field`` on the current model settings."""
        if (base := self._form_config()) is not None:
            configs = [replace(base, **{field: v}) for v in values]
            self._queue_runs(configs, f"{field} = {', '.join(map(str, values))}")

    def compare_regularization(self) -> None:
        if (base := self._form_config()) is not None:
            configs = [replace(base, arch=a, dropout=None, batch_norm=None, spec=None)
                       for a in ("cnn", "cnn-dropout", "cnn-dropout-bn")]
            self._queue_runs(configs, "cnn vs cnn-dropout vs cnn-dropout-bn")

    def _queue_runs(self, configs: list[TrainConfig], what: str) -> None:
        if self.training:
            self.queue.extend(configs)
        else:
            self.queue = configs[1:]
            self.start_training(configs[0])
        self.notify(f"Comparing {what}: {len(configs)} runs queued. Select them in Runs (6) "
                    "with space to overlay their curves.")

    # -- runs ------------------------------------------------------------------------------
    def set_current_run(self, run: Run) -> None:
        self.current_run = run
        self.query_one(ResultsPane).refresh_run()
        self.query_one(PredictPane).refresh_run()
        self.sub_title = f"run {run.id}"

    async def action_quit(self) -> None:
        if self.training and self.train_worker is not None:
            self.queue.clear()
            self.stop_event.set()
            self.notify("Stopping training before quitting; finished epochs are kept")
            try:
                await self.train_worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass  # the run's own state file already says what happened
        self.exit()


def run_app(data: str | None = None, runs: str | None = None, subset: int | None = None) -> int:
    """Start the TUI with fd 2 diverted to a log so TensorFlow cannot draw over it.

    A hangup (SSH drop, terminal closed, tmux killed) never stops a training: the screen closes,
    the terminal's descriptors are pointed at /dev/null, and this process carries on headless
    until the training (and any queued comparison runs) end. Why this rather than handing the
    run to a fresh background process that resumes from the last checkpoint: nothing is lost (the
    epoch in progress goes on), TensorFlow, the data and the GPU memory are not loaded twice, and
    the run keeps one owner pid throughout, so viewers never see it as interrupted. (``q`` ->
    background, where the shell must get its terminal back, does hand over to a new process.)
    """
    from .quiet import detach_from_terminal, divert_stderr, log_path, quiet_tensorflow

    quiet_tensorflow()
    log = log_path()
    terminal = divert_stderr(log)
    app = CifarApp(data_source=data, runs_root=runs, subset=subset)

    def on_hangup(signum: int, frame: object) -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the terminal is gone for good
        # A tty hangup also sends SIGCONT, on which Textual would re-enter application mode and
        # start a new input thread that keeps the process alive after the training.
        signal.signal(signal.SIGCONT, signal.SIG_DFL)
        detach_from_terminal(terminal)
        app.hung_up = True
        try:  # wake the event loop from this signal handler to close the screen
            asyncio.get_running_loop().call_soon_threadsafe(app.exit)
        except RuntimeError:  # the app has already closed
            pass

    signal.signal(signal.SIGHUP, on_hangup)
    app.run()
    app.training_done.wait()
    if app.hung_up:
        _train_queue_headless(app)
    return app.return_code or 0


def _train_queue_headless(app: CifarApp) -> None:
    """Comparison runs queued before a hangup still run, one after another, without a screen."""
    while app.queue and not app.stop_event.is_set():
        try:
            app.trainer(config=app.queue.pop(0), data=app.dataset, store=app.store,
                        stop=app.stop_event, listener=lambda event: None)
        except Exception:  # noqa: BLE001 - recorded in that run's state; go on with the next
            continue
