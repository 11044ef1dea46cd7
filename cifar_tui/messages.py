"""The messages of the TUI: panes announce what the user asked for, the app decides.

Panes post these and never call one another or the app's methods; the app handles each with
``@on`` and changes its reactives (``current_run``, ``dataset``, ...), which the panes watch.
Training events from the core arrive as one message class per event kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from .config import TrainConfig
    from .data import Dataset
    from .runs import Run


# -- panes -> app ----------------------------------------------------------------------------
class ConfigChanged(Message):
    """The Model form changed: the config it now describes, or why it describes none."""

    def __init__(self, config: TrainConfig | None, error: str | None = None) -> None:
        super().__init__()
        self.config, self.error = config, error


class StartTraining(Message):
    """Train ``config``, or resume ``run`` when given."""

    def __init__(self, config: TrainConfig | None = None, run: Run | None = None) -> None:
        super().__init__()
        self.config, self.run = config, run


class StartSweep(Message):
    """Start a grid study of the Model form's config over ``params`` (``--param`` specs, lists
    only), one trial per grid point, in detached workers."""

    def __init__(self, params: list[str], what: str) -> None:
        super().__init__()
        self.params, self.what = params, what


class OpenRun(Message):
    """Make ``run`` the current run (Results, Predict and the title show it)."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run


class RunChanged(Message):
    """A pane wrote to ``run`` (e.g. a new evaluation): views of it must be redrawn."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run


class ExportReport(Message):
    """Write the report (markdown, HTML, PNG figures) of ``runs``."""

    def __init__(self, runs: list[Run]) -> None:
        super().__init__()
        self.runs = runs


class ShowPair(Message):
    """Show the test images of class ``true`` predicted as ``predicted``, worst first."""

    def __init__(self, true: int, predicted: int) -> None:
        super().__init__()
        self.true, self.predicted = true, predicted


class SetNormalize(Message):
    """Scale pixels to [0, 1] (True) or feed 0..255 (False) in the runs started from now."""

    def __init__(self, normalize: bool) -> None:
        super().__init__()
        self.normalize = normalize


# -- worker threads -> app -------------------------------------------------------------------
class DataLoaded(Message):
    def __init__(self, dataset: Dataset | None, error: str | None = None) -> None:
        super().__init__()
        self.dataset, self.error = dataset, error


class DataProgress(Message):
    """The first load of a source has read ``files`` files (then it is cached)."""

    def __init__(self, files: int) -> None:
        super().__init__()
        self.files = files


class TrainingMessage(Message):
    """Base of the per-kind training messages; ``event`` is the core's event dataclass."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class TrainingQueued(TrainingMessage):
    """The app is starting ``event`` (a TrainConfig); the backend is still loading."""


class TrainingAttached(TrainingMessage):
    """The Train view now follows ``event`` (a Run) that another process trains."""


class TrainingStarted(TrainingMessage):
    pass


class TrainingProgress(TrainingMessage):
    pass


class EpochEnded(TrainingMessage):
    pass


class TrainingFinished(TrainingMessage):
    pass


class TrainingFailed(TrainingMessage):
    pass


def training_message(event: object) -> TrainingMessage:
    """The message that carries a core training event (``events.py``) to the app.

    Called from the trainer's thread: the events module (and the sklearn it imports) loads
    there, not before the first frame.
    """
    from . import events

    kinds = {events.Started: TrainingStarted, events.BatchProgress: TrainingProgress,
             events.EpochEnd: EpochEnded, events.Finished: TrainingFinished,
             events.Failed: TrainingFailed}
    try:
        return kinds[type(event)](event)
    except KeyError:
        raise TypeError(f"not a training event: {event!r}") from None
