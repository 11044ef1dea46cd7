"""The Textual app: shared state as reactives, the decisions, and the actions.

Panes (``panes/``) post messages (``messages.py``) and watch the app's reactives; they never call
each other or the app's methods. TensorFlow is imported only inside worker threads, so the first
frame does not wait for it. Training runs in a thread worker whose listener only posts messages.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.reactive import Reactive, var
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header, Static, TabbedContent
from textual.widgets._tabbed_content import ContentTabs
from textual.widgets._tabs import Underline
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from . import tasks
from .config import DEFAULT_ARCH, TrainConfig
from .data import Dataset, LoadCancelled, load_data
from .form import config_from_form, preset_values
from .keyorder import InOrderKeysApp
from .messages import (
    BuildModel,
    ClassifyImage,
    ConfigChanged,
    DataLoaded,
    DataProgress,
    EvaluateRun,
    ExportCode,
    ExportReport,
    OpenRun,
    ReadRuns,
    RunChanged,
    SetNormalize,
    ShowPair,
    StartSweep,
    StartTraining,
    TrainingAttached,
    TrainingFailed,
    TrainingFinished,
    TrainingMessage,
    TrainingQueued,
    TrainingStarted,
    training_message,
)
from .names import printable
from .panes.data import DataPane
from .panes.model import ModelPane
from .panes.predict import PredictPane
from .panes.results import ResultsPane
from .panes.runs import RunsPane
from .panes.study import StudyPane
from .panes.train import TrainPane
from .runs import Run, RunSnapshot, RunStore
from .status import RunStatus
from .widgets import ESC_DIGIT_KEYS, AppFirstFooter, Pane, plain_error, typing_in_field

PANES = ("data", "model", "train", "results", "predict", "runs", "study")
# Every pane is laid out for 80x24 and still works at 80x22 (an 80x24 terminal inside tmux or
# screen with a status line is 80x23); below that the app says so and only q acts.
MIN_SIZE = (80, 22)


class LoadWatch(threading.Event):
    """The data load's stop event, which is also told how many files it has read (data._Stop)
    and posts that to the app from the loading thread."""

    def __init__(self, app: App) -> None:
        super().__init__()
        self.app = app

    def files_read(self, files: int) -> None:
        self.app.post_message(DataProgress(files))


def _default_trainer(**kwargs: object) -> Run:
    from .trainer import train  # imports TensorFlow: only ever called in a worker thread

    return train(**kwargs)


def _default_sweeper(root: Path, name: str) -> str:
    """Start a study's workers as detached processes (they outlive the app); what to say."""
    from .sweep import start_workers

    started = start_workers(root, name)
    return f"{len(started)} worker(s), pid {', '.join(str(pid) for pid, _ in started)}"


class AppScreen(Screen):
    """The app's screen. Textual's repaints all of itself on every focus change
    (``Screen.focused`` is a repainting reactive), though the widgets whose look follows focus
    are restyled and redrawn on their own (``Screen._update_focus_styles``, ``:focus`` rules).
    A pane switch moves focus, so the pane being left was drawn again in full, a frame before
    the new one was laid out (bench/pane_switch.py)."""

    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    def _watch_maximized(self, previously_maximized: Widget | None,
                         maximized: Widget | None) -> None:
        """Textual's, restyling only the screen and the widget maximized or restored. Its class
        change on the screen restyled every widget of it (the Model form's ~140 too: 0.3 s of
        each ``f`` on a 2-core VM, bench/gallery_zoom.py), though only these two have rules
        for it (``Screen.-maximized-view`` and its ``.-maximized``, in App's default CSS)."""
        self.set_class(maximized is not None, "-maximized-view", update=False)
        self.app.stylesheet.update_nodes([self], animate=True)
        if previously_maximized is not None:
            previously_maximized.remove_class("-maximized")
        if maximized is not None:
            maximized.add_class("-maximized")


# The header is 80 columns: the title, " — ", and "run <id>" (27 characters) beside it.
TITLE_NAME_CHARS = 24


def title_for(ds: Dataset) -> str:
    """The header's title: the app and the data set loaded, which every pane shows (its name
    comes from a folder on disk: printable, and shortened to fit beside the run)."""
    name = printable(ds.name)
    if len(name) > TITLE_NAME_CHARS:
        name = name[:TITLE_NAME_CHARS - 1] + "…"
    return f"{CifarApp.TITLE} · {name}"


class CifarApp(InOrderKeysApp):
    CSS_PATH = "app.tcss"
    TITLE = "cifar-tui"  # and the data set's name once it is loaded (title_for)
    SUB_TITLE = "image classifiers with Keras"
    # Start, stop and quit come first so the footer shows them even at 80 columns, then "? Keys"
    # (the panel listing every key, the hidden ones too); the digits are on the tab labels.
    # Each pane shows its three or four main keys; the rest are show=False, in the Keys panel
    # and the command palette. tests/test_layout.py checks every footer fits 80 columns.
    def notify(self, message: str, *, title: str = "", severity: str = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Textual's notify (panes' too: Widget.notify comes here), always as plain text:
        messages carry run ids, paths and errors from files, and a ``[`` in a folder name
        must show, not parse (or crash the app). No message of this app uses markup."""
        super().notify(printable(message, newlines=True), title=printable(title),
                       severity=severity, timeout=timeout, markup=False)

    BINDINGS = [
        Binding("s", "start_training", "Start"),
        Binding("x", "stop_training", "Stop"),
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "toggle_keys", "Keys"),
        Binding("escape", "leave_field", "Leave field"),
        Binding("w", "export_report", "Report", show=False),
        Binding("f12", "save_svg", "SVG", show=False),
        *(Binding(str(i), f"tab('{tab}')", tab.title(), show=False)
          for i, tab in enumerate(PANES, start=1)),
        # Esc and a digit read together: what the two keys do one after the other, from a field
        # too (priority, and the fields leave these keys to it). Not in the Keys panel.
        *(Binding(f"alt+{i},{char}", f"esc_then_tab('{tab}')", show=False, system=True,
                  priority=True)
          for i, (tab, char) in enumerate(zip(PANES, ESC_DIGIT_KEYS, strict=True), start=1)),
    ]

    # Shared state. Panes watch these (``self.watch(self.app, ...)``); only the app sets them.
    # ``var``, not ``reactive``: a reactive of the app repaints the whole screen each time it is
    # set (twice a second while training, for train_event and system), though the panes redraw
    # what depends on it themselves.
    dataset: var[Dataset | None] = var(None, always_update=True, init=False)
    data_files_read: var[int] = var(0, init=False)  # while a first load decodes the files
    data_error: var[str | None] = var(None, init=False)
    normalize: var[bool] = var(True, init=False)
    current_run: var[Run | None] = var(None, always_update=True, init=False)
    runs_version: var[int] = var(0, init=False)  # bumped when the run store changes
    # Every run as last read (newest first), by a worker thread: the Runs pane draws these.
    runs: var[tuple[RunSnapshot, ...]] = var((), init=False)
    # The latest training message (TrainingQueued, TrainingStarted, TrainingProgress, ...).
    train_event: var[TrainingMessage | None] = var(None, always_update=True, init=False)
    # The run the Train view shows: None before any; STARTING, RUNNING, then how it ended.
    train_status: var[RunStatus | None] = var(None, init=False)
    # CPU/memory/GPU of the process training the run in the Train view (sysmon.SystemSample)
    system: var[object | None] = var(None, always_update=True, init=False)
    # (true, predicted) classes whose test images Predict shows, worst first; None: all images
    pair: var[tuple[int, int] | None] = var(None, always_update=True, init=False)
    current_study: var[str | None] = var(None, always_update=True, init=False)  # Study view
    classified: var[tasks.Classified | None] = var(None, always_update=True, init=False)
    # The Model pane's model, built, and its config as a script (BuildModel, ExportCode).
    model_built: var[tasks.ModelBuilt | None] = var(None, always_update=True, init=False)
    model_code: var[tasks.ModelCode | None] = var(None, always_update=True, init=False)

    def __init__(self, data_source: str | None = None, runs_root: str | Path | None = None,
                 subset: int | None = None,
                 loader: Callable[..., Dataset] = load_data,
                 trainer: Callable[..., Run] = _default_trainer,
                 sweeper: Callable[[Path, str], str] = _default_sweeper,
                 data_options: dict | None = None) -> None:
        super().__init__()
        # No animations unless TEXTUAL_ANIMATIONS asks for them: over SSH every frame of one is
        # a redraw sent down the line, and the tab bar's underline slid for 0.3 s after each
        # pane switch, which was not over until it stopped (bench/pane_switch.py).
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            self.animation_level = "none"
        self.data_source, self.subset = data_source, subset
        # --image-size, --labels, --test-fraction: how the loader reads the data source
        self.data_options = dict(data_options or {})
        self.loader, self.trainer, self.sweeper = loader, trainer, sweeper
        self.store = RunStore(runs_root)
        self.stop_event = threading.Event()
        # Set on leaving: a load in progress stops at its next file rather than keeping the
        # process alive until all 60,000 images are decoded (loader(source, stop=...)); it
        # also tells the Data pane how far a first load has got.
        self.load_stop = LoadWatch(self)
        self.train_worker: Worker | None = None
        # set whenever no trainer runs in this process; a Textual thread worker outlives the app
        self.training_done = threading.Event()
        self.training_done.set()
        self.hung_up = False
        self.train_run_id = ""  # the run this app trains (from its Started event)
        # A run trained by another process, shown in the Train view (live.Follower), and the
        # system monitor of whichever process trains the run shown there.
        self.follower = None
        self.monitor = None
        self._focus_before_small: Widget | None = None
        # What the Model form describes (ModelPane posts ConfigChanged on every edit).
        self.config: TrainConfig | None = config_from_form(preset_values(DEFAULT_ARCH, subset))
        self.config_error: str | None = None
        self._runs_reader: Worker | None = None  # the worker reading the run store, if any
        self._runs_again: bool | None = None  # a read asked for meanwhile (True: fresh)
        self.classifier = tasks.Classifier()  # Predict's image files, with the run's model loaded

    # -- layout ----------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        return AppScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="data"):
            yield DataPane("1 Data", id="data")
            yield ModelPane("2 Model", id="model")
            yield TrainPane("3 Train", id="train")
            yield ResultsPane("4 Results", id="results")
            yield PredictPane("5 Predict", id="predict")
            yield RunsPane("6 Runs", id="runs")
            yield StudyPane("7 Study", id="study")
        yield Static(id="too-small")
        yield AppFirstFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a form field has focus every key is the field's: none of the app's single
        # keys act (they show dimmed in the footer; esc leaves the field).
        in_field = typing_in_field(self)
        if action == "leave_field":
            return in_field  # shown only where it applies
        if action == "esc_then_tab":  # priority bindings act under a dialog too: not these
            return not self.screen.is_modal
        if in_field and action in ("tab", "start_training", "stop_training", "quit",
                                   "export_report", "toggle_keys"):
            return None
        return True

    def action_toggle_keys(self) -> None:
        """?: every key of the pane in view and of the app, in a dialog that scrolls (it closes
        with esc or ? again)."""
        from .keys_screen import KeysScreen, key_sections

        tabs = self.query_one(TabbedContent)
        title = f"{(tabs.active or 'data').title()} pane"
        self.push_screen(KeysScreen(key_sections(self, tabs.active_pane, title)))

    def action_leave_field(self) -> None:
        """Esc: focus back on the pane, whose single keys work again."""
        self._focus_pane(self.query_one(TabbedContent).active_pane)

    def on_mount(self) -> None:
        # Tab walks the fields of the pane; the tab bar is for the mouse and the digit keys.
        self.query_one(ContentTabs).can_focus = False
        runs = self.store.list()
        if runs:
            self.current_run = runs[-1]
        self.run_worker(self._load_data, thread=True, group="data", exit_on_error=False)
        # Reading a followed run's small files and sampling /proc once a second costs the UI
        # thread well under a millisecond; no thread whose lifetime could outlast the app.
        self.set_interval(1.0, self._tick)
        # Runs trained by any process (this app, --detach, another shell) show their progress:
        # the store is read again every 2 s, in a worker (unchanged ended runs: stats only).
        self.read_runs()
        self.set_interval(2.0, self.read_runs)

    def on_resize(self, event: events.Resize) -> None:
        width, height = event.size
        small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        screen = self.screen
        if small == screen.has_class("-too-small"):
            if small:
                self._say_too_small(width, height)
            return
        if small:
            # Hiding the panes takes their focus; it comes back where it was.
            self._focus_before_small = self.focused
            self._say_too_small(width, height)
            screen.set_class(True, "-too-small")
        else:
            screen.set_class(False, "-too-small")
            self.call_after_refresh(self._refocus_after_small)

    def _say_too_small(self, width: int, height: int) -> None:
        self.query_one("#too-small", Static).update(
            f"This terminal is {width}x{height}; cifar-tui needs at least "
            f"{MIN_SIZE[0]}x{MIN_SIZE[1]}.\nEnlarge the window (or use a smaller font). "
            "Until then only q acts (it quits); training goes on meanwhile.")

    def _refocus_after_small(self) -> None:
        widget, self._focus_before_small = self._focus_before_small, None
        if widget is not None and widget.is_attached and widget.focusable:
            widget.focus()
        else:
            self._focus_pane(self.query_one(TabbedContent).active_pane)
        self.screen.refresh_bindings()  # the footer shows that pane's keys again

    def accept_key(self, event: events.Key) -> bool:
        """While the screen is too small nothing can be seen: only q (quit) acts."""
        return not self.screen.has_class("-too-small") or event.key == "q"

    def action_tab(self, tab: str) -> None:
        self.screen.minimize()  # a full-screen view belongs to the pane being left
        tabs = self.query_one(TabbedContent)
        tabs.active = tab
        self._underline_active_tab()
        self._focus_pane(tabs.get_pane(tab))

    def action_esc_then_tab(self, tab: str) -> None:
        """Esc and a digit read as one key (ESC_DIGIT_KEYS): leave the field, go to the pane."""
        self.action_tab(tab)

    def _underline_active_tab(self) -> None:
        """Move the tab bar's underline now. Textual moves it after the next frame (it needs
        the tab's place on screen), which made every pane switch a second frame; the tabs
        never move, so their place from the last layout is right."""
        bar = self.query_one(ContentTabs)
        tab = bar.active_tab
        if tab is None or not tab.virtual_region:  # not laid out yet: Textual's own way
            return
        underline = bar.query_one(Underline)
        start, end = tab.virtual_region.shrink(tab.styles.gutter).column_span
        underline.show_highlight = True
        underline.highlight_start, underline.highlight_end = start, end

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # A click on the tab bar; a digit key has focused the pane already (a second focus
        # repaints the pane once more, a frame after the switch's own).
        focused = self.screen.focused
        if focused is None or event.pane not in focused.ancestors_with_self:
            self._focus_pane(event.pane)

    def _focus_pane(self, pane: Widget) -> None:
        # Focus inside the pane so its key bindings (shown in the footer) work at once.
        if isinstance(pane, Pane):
            pane.take_focus()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for tab in PANES:
            yield SystemCommand(f"Go to {tab}", f"Show the {tab} pane", partial(self.action_tab,
                                                                             tab))
        yield SystemCommand("Start training", "Train the model configured in the Model pane",
                            self.action_start_training)
        yield SystemCommand("Stop training", "Stop after the current batch; finished epochs "
                            "are kept", self.action_stop_training)
        yield SystemCommand("Export report", "report.md + report.html with figures of the "
                            "current run (in Runs: of the selected runs) (w)",
                            self.action_export_report)
        yield SystemCommand("Save screenshot (SVG)", "The screen as an SVG file in the runs "
                            "folder's screenshots/ (F12)", self.action_save_svg)
        yield SystemCommand("Toggle [0,1] scaling", "Scale pixels to [0,1] or keep 0..255",
                            self.action_toggle_normalize)
        for pane in (DataPane, ModelPane, TrainPane, ResultsPane, PredictPane, RunsPane,
                     StudyPane):
            yield from self.query_one(pane).commands()

    # -- data ------------------------------------------------------------------------------
    def _load_data(self) -> None:
        try:
            ds = self.loader(self.data_source, stop=self.load_stop, **self.data_options)
        except LoadCancelled:
            return  # the app is closing
        except Exception as exc:  # shown in the Data pane; the app stays usable
            self.post_message(DataLoaded(None, str(exc)))
        else:
            self.post_message(DataLoaded(ds))

    @on(DataProgress)
    def _data_progress(self, message: DataProgress) -> None:
        if self.dataset is None:
            self.data_files_read = message.files

    @on(DataLoaded)
    def _data_loaded(self, message: DataLoaded) -> None:
        self.data_error = message.error
        self.dataset = message.dataset
        if message.dataset is not None:
            self.title = title_for(message.dataset)
        if message.error:
            self.notify(message.error, title="Could not load the data", severity="error",
                        timeout=15)

    def action_toggle_normalize(self) -> None:
        self.post_message(SetNormalize(not self.normalize))

    @on(SetNormalize)
    def _set_normalize(self, message: SetNormalize) -> None:
        if message.normalize != self.normalize:
            self.normalize = message.normalize
            self.notify("Pixels scaled to [0, 1]" if self.normalize else
                        "Pixels left as 0..255: watch what this does to SGD training")

    # -- the Model form --------------------------------------------------------------------
    @on(ConfigChanged)
    def _config_changed(self, message: ConfigChanged) -> None:
        self.config, self.config_error = message.config, message.error

    def _form_config(self) -> TrainConfig | None:
        """The Model form's config with the app-wide settings, or None (and say why)."""
        if self.config is None:
            self.notify(self.config_error or "the Model form is incomplete",
                        title="Check the Model pane (2)", severity="error")
            return None
        return replace(self.config, normalize=self.normalize, data=self.data_source,
                       **self.data_options)

    # -- training --------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        return self.train_worker is not None and self.train_worker.state in (
            WorkerState.PENDING, WorkerState.RUNNING)

    def action_start_training(self) -> None:
        if (config := self._form_config()) is not None:
            self.start_training(config)

    @on(StartTraining)
    def _start_message(self, message: StartTraining) -> None:
        self.start_training(message.config, message.run)

    def start_training(self, config: TrainConfig | None = None, run: Run | None = None) -> None:
        """Train ``config`` (or resume ``run``) in a worker thread; the user asked for it (s, R),
        so the Train pane shows it. (A study's trials train in detached workers of their own.)"""
        if self.training:
            self.notify("A training is already running: stop it with x first", severity="warning")
            return
        if self.dataset is None:
            self.notify("The data is not loaded yet (see the Data pane)", severity="warning")
            return
        self.follower = None  # the Train view shows this training now
        self.stop_event = threading.Event()
        self.train_status = RunStatus.STARTING
        self.train_event = TrainingQueued(config or TrainConfig.from_dict(run.config))
        described = self.train_event.event.headline()
        self.sub_title = f"starting {described}"  # not the previous run's name
        self.action_tab("train")
        kwargs = {"data": self.dataset, "store": self.store, "stop": self.stop_event,
                  "listener": lambda event: self.post_message(training_message(event))}
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
            if self.follower is not None and not self.follower.done:
                self._request_stop(self.follower.run)
            else:
                self.notify("Nothing is training")
            return
        self.stop_event.set()
        self.notify("Stopping after this batch; finished epochs are kept")

    @on(TrainingMessage)
    def _training_event(self, message: TrainingMessage) -> None:
        self.train_event = message

    @on(TrainingStarted)
    def _training_started(self, message: TrainingStarted) -> None:
        self.train_status = RunStatus.RUNNING
        if self.follower is None:
            self.train_run_id = message.event.run_id
        self.runs_version += 1
        # not the previous run's name
        self.sub_title = printable(f"training {message.event.run_id}")

    @on(TrainingFinished)
    def _training_finished(self, message: TrainingFinished) -> None:
        self.train_status = RunStatus(message.event.status)
        self.runs_version += 1
        self.current_run = self.store.get(message.event.run_id)

    @on(TrainingFailed)
    def _training_failed(self, message: TrainingFailed) -> None:
        self.train_status = RunStatus.FAILED
        self.runs_version += 1
        self.notify(plain_error(message.event.message), title="Training failed",
                    severity="error", timeout=15)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self.train_worker and event.state in (WorkerState.SUCCESS,
                                                                 WorkerState.ERROR):
            if event.state == WorkerState.ERROR and self.train_status is not None \
                    and self.train_status.live:
                # Died without reporting a failure: before the trainer could report (TensorFlow
                # missing), or when recording the failure failed too (a full disk). A reported
                # failure or stop came first (its message was posted before the worker ended)
                # and set how it ended.
                from .errors import error_message
                from .events import Failed

                error = event.worker.error or RuntimeError("the training could not start")
                self.post_message(TrainingFailed(Failed("", error_message(error, "tui"))))

    # -- sweeps ----------------------------------------------------------------------------
    @on(StartSweep)
    def _start_sweep(self, message: StartSweep) -> None:
        """A grid study of the Model form's config, its trials trained by detached workers
        (one per GPU, one on a CPU), so they run whether this app stays or not."""
        if (base := self._form_config()) is None:
            return
        if base.data is not None and Path(base.data).exists():
            base = replace(base, data=str(Path(base.data).resolve()))  # workers' cwd may differ
        self.notify(f"Starting a grid study of {message.what}...")
        # Where the person pressed b: the Study view opens only if they are still there
        # when the study has started (Optuna's import and the workers' start take seconds).
        where = (self.query_one(TabbedContent).active, self.focused)
        self.run_worker(partial(self._create_study, base, message, where), thread=True,
                        group="sweep", exit_on_error=False)

    def _create_study(self, base: TrainConfig, message: StartSweep,
                      where: tuple[str, Widget | None]) -> None:
        from .sweep import create  # Optuna: in this worker thread

        try:
            name, setup = create(self.store.root, base, message.params, sampler="grid",
                                 pruner="none")  # the same runs as the queue: all in full
            started = self.sweeper(self.store.root, name)
        except Exception as exc:  # noqa: BLE001 - said on screen; the app goes on
            self.call_from_thread(self.notify, plain_error(str(exc)),
                                  title="Could not start the study", severity="error",
                                  timeout=15)
            return
        self.call_from_thread(self._sweep_started, name, f"{setup.trials} trials of "
                              f"{message.what}: {started}. The Study view (7) follows them; "
                              "Runs (6) lists each trial's run.", where)

    def _sweep_started(self, name: str, text: str, where: tuple[str, Widget | None]) -> None:
        self.runs_version += 1  # its first trials' runs may be there already
        self.current_study = name
        # Never while the person types in a field or reads another pane: the toast says it.
        if (self.query_one(TabbedContent).active, self.focused) == where:
            self.action_tab("study")
        self.notify(text, title=f"Study {name}", timeout=10)

    # -- runs ------------------------------------------------------------------------------
    @on(OpenRun)
    def _open_run(self, message: OpenRun) -> None:
        run = self.current_run = message.run
        owner = run.owner()
        if owner is not None and owner.pid == os.getpid():
            self.action_tab("train")  # the run this app trains
        elif run.status.live:  # trained by another process, or on its way to be
            self.attach(run)

    # -- runs trained by other processes ---------------------------------------------------
    def attach(self, run: Run) -> None:
        """Show ``run``, trained by another process, in the Train view as if trained here."""
        from .live import Follower

        if self.training:
            self.notify("This app is training a run: its Train view stays on it. Watch the "
                        f"other from a shell: cifar-tui watch {run.id}", severity="warning")
            return
        self.follower = Follower(run)
        self.train_status = RunStatus.STARTING
        self.train_event = TrainingAttached(run)
        self.action_tab("train")
        self._tick()

    def _request_stop(self, run: Run) -> None:
        from .live import owner_pid, request_stop

        try:
            request_stop(run)
        except OSError as exc:
            self.notify(str(exc), title="Could not stop the run", severity="error", timeout=15)
            return
        self.notify(f"Asked process {owner_pid(run) or '?'} to stop {run.id} after this batch; "
                    "finished epochs are kept")

    def _tick(self) -> None:
        """Once a second: new events of a followed run; the trainer's CPU, memory and GPU."""
        pid = os.getpid() if self.training else None
        if self.follower is not None:
            for event in self.follower.poll():
                self.post_message(training_message(event))
            if not self.follower.done:
                from .live import owner_pid

                pid = owner_pid(self.follower.run)
        if pid is None:
            self.monitor = None
            if self.system is not None:
                self.system = None
            return
        if self.monitor is None or self.monitor.pid != pid:
            from .sysmon import SystemMonitor

            self.monitor = SystemMonitor(pid)
        self.system = self.monitor.sample()

    def watch_runs_version(self) -> None:
        self.read_runs()

    @on(ReadRuns)
    def _read_runs_again(self) -> None:
        self.read_runs(fresh=True)

    def read_runs(self, fresh: bool = False) -> None:
        """Read the store again in a worker; ``fresh``: every run's files, not only those of
        live runs and runs whose files changed (RunSnapshot.reusable). One read at a time: a
        read asked for meanwhile follows it (hundreds of runs can take longer than 2 s)."""
        if self._runs_reader is not None and not self._runs_reader.is_finished:
            self._runs_again = bool(self._runs_again) or fresh
            return
        self._runs_again = None
        previous = {} if fresh else {s.id: s for s in self.runs}
        self._runs_reader = self.run_worker(partial(self._read_snapshots, previous),
                                            thread=True, group="runs", exit_on_error=False)

    def _read_snapshots(self, previous: dict[str, RunSnapshot]) -> None:
        self.call_from_thread(self._runs_read, tuple(self.store.snapshots(previous)))

    def _runs_read(self, snapshots: tuple[RunSnapshot, ...]) -> None:
        if len(snapshots) != len(self.runs) or any(
                new is not old for new, old in zip(snapshots, self.runs)):
            self.runs = snapshots  # the same objects: nothing changed, nothing to redraw
        if self._runs_again is not None:  # asked for while this read was under way
            self._runs_reader = None
            self.read_runs(self._runs_again)

    @on(EvaluateRun)
    def _evaluate(self, message: EvaluateRun) -> None:
        if self.dataset is None:
            self.notify("Need a run and loaded data to evaluate", severity="warning")
            return
        self.run_worker(partial(self._evaluate_run, message.run, self.dataset), thread=True,
                        group="evaluate", exclusive=True, exit_on_error=False)

    def _evaluate_run(self, run: Run, data: Dataset) -> None:
        from .trainer import evaluate_run  # TensorFlow: in this worker thread

        try:
            evaluate_run(run, data)  # under the run's lock: a live trainer's run is refused
        except Exception as exc:  # noqa: BLE001 - said on screen; the app goes on
            self.call_from_thread(self.notify, str(exc), title="Evaluation failed",
                                  severity="error")
        self.post_message(RunChanged(run))

    # -- core work the panes ask for (tasks.py) ------------------------------------------
    def _core_work(self, group: str, task: Callable[[], object], result: str,
                   failed: str) -> None:
        """Run ``task`` in a worker of ``group`` (a newer request replaces the older one) and
        put what it returns in the reactive ``result``; an error is said as ``failed``."""
        def work() -> None:
            try:
                value = task()
            except Exception as exc:  # noqa: BLE001 - said on screen; the app goes on
                self.call_from_thread(self.notify, str(exc), title=failed, severity="error")
                return
            self.call_from_thread(setattr, self, result, value)

        self.run_worker(work, thread=True, group=group, exclusive=True, exit_on_error=False)

    @on(BuildModel)
    def _build_model(self, message: BuildModel) -> None:
        self._core_work("params", partial(tasks.build, message.key, message.summary_width),
                   "model_built", "Could not build the model")

    @on(ExportCode)
    def _export_code(self, message: ExportCode) -> None:
        self._core_work("code", partial(tasks.write_code, message.config, self.dataset,
                                        message.key), "model_code",
                   "Could not write the code")

    @on(ClassifyImage)
    def _classify(self, message: ClassifyImage) -> None:
        if self.current_run is None:
            self.notify("No run to classify with: train one (s) or open one in Runs (6)",
                        severity="warning")
            return
        self._core_work("classify", partial(self.classifier, self.current_run, message.path),
                   "classified", "Cannot classify")

    @on(RunChanged)
    def _run_changed(self, message: RunChanged) -> None:
        self.runs_version += 1
        if self.current_run is not None and self.current_run.id == message.run.id:
            self.current_run = message.run

    def watch_current_run(self, run: Run | None) -> None:
        if run is not None:
            self.sub_title = printable(f"run {run.id}")

    @on(ShowPair)
    def _show_pair(self, message: ShowPair) -> None:
        self.pair = (message.true, message.predicted)
        self.action_tab("predict")

    # -- write-ups -------------------------------------------------------------------------
    def action_export_report(self) -> None:
        if self.current_run is None:
            self.notify("No run to report on: train one (s) or open one in Runs (6)",
                        severity="warning")
            return
        self.post_message(ExportReport([self.current_run]))

    @on(ExportReport)
    def _export_report(self, message: ExportReport) -> None:
        runs = message.runs
        name = runs[0].id if len(runs) == 1 else time.strftime("compare-%Y%m%d-%H%M%S")
        out = self.store.root / "reports" / name
        self.notify(f"Writing the report of {len(runs)} run(s)...")
        self.run_worker(partial(self._write_report, runs, out), thread=True, group="report",
                        exit_on_error=False)

    def _write_report(self, runs: list[Run], out: Path) -> None:
        from .report import write_report  # matplotlib and TensorFlow: in this worker thread

        try:
            report = write_report(runs, out, self.dataset)
        except Exception as exc:  # noqa: BLE001 - said on screen; the app goes on
            self.call_from_thread(self.notify, str(exc), title="Report failed",
                                  severity="error", timeout=15)
            return
        self.call_from_thread(self.notify, f"{report.html}\n{report.markdown}",
                              title="Report written", timeout=20)

    def action_save_svg(self) -> None:
        """The screen as SVG: <runs>/screenshots/cifar-tui-<pane>-<time>.svg."""
        folder = self.store.root / "screenshots"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            pane = self.query_one(TabbedContent).active or "screen"
            path = Path(self.save_screenshot(
                f"cifar-tui-{pane}-{time.strftime('%Y%m%d-%H%M%S')}.svg", str(folder)))
        except OSError as exc:
            self.notify(f"Could not save the screenshot: {exc}", severity="error")
            return
        self.notify(str(path), title="Screenshot saved")

    def _fatal_error(self) -> None:
        """An unhandled error ends the app with one line and its traceback in errors.log, not
        a screenful of traceback (Textual's own ``_fatal_error`` renders one)."""
        import sys

        from rich.text import Text

        from .errors import unexpected_message

        error = sys.exc_info()[1] or self._exception or RuntimeError("unknown error")
        self.bell()
        self._exit_renderables.append(Text(f"cifar-tui: {unexpected_message(error, 'tui')}"))
        self._close_messages_no_wait()

    def on_unmount(self) -> None:
        self.load_stop.set()  # every way out: no one waits for a load to end before leaving

    def action_quit(self) -> None:
        if not self.training:
            self.exit()  # a run followed from another process goes on there
            return
        from .quit_dialog import QuitDialog

        # Toasts are drawn over every screen: "Report written" hid the Background button.
        # The dialog is at the top, and the toasts there were are put away.
        self.clear_notifications()
        self.push_screen(QuitDialog(self.train_run_id), self._quit_chosen)

    def _quit_chosen(self, choice: str | None) -> None:
        if choice in ("stop", "background"):
            self.run_worker(self._quit(background=choice == "background"), group="quit")

    async def _quit(self, background: bool) -> None:
        """Stop after the batch (finished epochs are kept), then leave; with ``background``,
        hand the run to a detached process that resumes it from its last finished epoch (the
        shell needs its terminal back, so this process cannot stay)."""
        self.stop_event.set()
        self.notify("Stopping after this batch; finished epochs are kept")
        if self.train_worker is not None:
            try:
                await self.train_worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass  # the run's own state file already says what happened
        if not self.train_run_id:
            self.exit()
            return
        from .events import epochs
        from .live import start_detached

        run = self.store.get(self.train_run_id)
        status = run.status
        if not background:  # what happened to it, as Background says where it goes on
            self.exit(message=Text(printable(
                f"run {run.id} {status} after {epochs(run.epochs_done)}"
                + (f"; resume it: cifar-tui train --resume {run.id}, or R in the Runs "
                   "pane" if status is RunStatus.STOPPED else ""))))
            return
        if status.complete or status is RunStatus.FAILED:
            self.exit(message=Text(printable(f"run {run.id} {status}")))
            return
        try:
            pid, log = start_detached(run)
        except OSError as exc:
            self.notify(f"{exc}. The run is kept: resume it with R.", severity="error",
                        timeout=15)
            return
        # printed on the terminal as text: a run id is a folder name (no markup, no ESC)
        self.exit(message=Text(printable(
            f"run {run.id} goes on in the background (pid {pid}), from epoch "
            f"{run.epochs_done + 1}; log: {log}\nfollow it: cifar-tui watch "
            f"{run.id}, or open it in the Runs pane", newlines=True)))


def colour_system(environ: Mapping[str, str]) -> str | None:
    """The colour system to use where the environment under-reports it, else None (auto).

    Rich reads TERM=xterm (also screen, tmux) as 16 colours, but the terminals that send it
    today (xterm itself, VTE/GNOME Terminal, Konsole, iTerm2, Windows Terminal, PuTTY, tmux
    and screen sessions) all show 256, and 16 greys make the images and heatmap hard to read.
    So these get 256 unless COLORTERM or TEXTUAL_COLOR_SYSTEM says otherwise (set
    TEXTUAL_COLOR_SYSTEM=standard on a real 16-colour terminal). TERM=linux (the console)
    really has 16 colours and keeps them; the images are dithered for it.
    """
    if environ.get("TEXTUAL_COLOR_SYSTEM") or environ.get("COLORTERM") or \
            "NO_COLOR" in environ:
        return None
    return "256" if environ.get("TERM") in ("xterm", "screen", "tmux") else None


def run_app(data: str | None = None, runs: str | None = None, subset: int | None = None,
            data_options: dict | None = None) -> int:
    """Start the TUI with fd 2 diverted to a log so TensorFlow cannot draw over it.

    A hangup (SSH drop, terminal closed, tmux killed) never stops a training: the screen closes,
    the terminal's descriptors are pointed at /dev/null, and this process carries on headless
    until the training ends (a study's trials run in detached workers of their own). Why this
    rather than handing the run to a fresh background process that resumes from the last
    checkpoint: nothing is lost (the epoch in progress goes on), TensorFlow, the data and the GPU
    memory are not loaded twice, and the run keeps one owner pid throughout, so viewers never
    see it as interrupted. (``q`` -> background, where the shell must get its terminal back, does
    hand over to a new process.)
    """
    from .quiet import detach_from_terminal, divert_stderr, log_path, quiet_tensorflow

    quiet_tensorflow()
    if (system := colour_system(os.environ)) is not None:
        from textual import constants

        constants.COLOR_SYSTEM = system  # read when the app's console is made
    log = log_path()
    terminal = divert_stderr(log)
    app = CifarApp(data_source=data, runs_root=runs, subset=subset, data_options=data_options)

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
    if not app.training_done.is_set() and not app.hung_up:
        # The screen is gone; say why the prompt has not come back yet.
        print("cifar-tui: stopping the training after this batch (finished epochs are kept)...",
              flush=True)
    app.training_done.wait()
    return app.return_code or 0
