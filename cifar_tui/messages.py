"""The messages of the TUI: panes announce what the user asked for, the app decides.

Panes post these and never call one another or the app's methods; the app handles each with
``@on`` and changes its reactives (``current_run``, ``dataset``, ...), which the panes watch.
Training events from the core arrive as one message class per event kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from .config import TrainConfig
    from .data import Dataset
    from .runs import Run


# -- panes -> app ----------------------------------------------------------------------------
@dataclass
class ConfigChanged(Message):
    """The Model form changed: the config it now describes, or why it describes none."""

    config: TrainConfig | None
    error: str | None = None


@dataclass
class StartTraining(Message):
    """Train ``config``, or resume ``run`` when given."""

    config: TrainConfig | None = None
    run: Run | None = None


@dataclass
class StartSweep(Message):
    """Start a grid study of the Model form's config over ``params`` (``--param`` specs, lists
    only), one trial per grid point, in detached workers."""

    params: list[str]
    what: str


@dataclass
class OpenRun(Message):
    """Make ``run`` the current run (Results, Predict and the title show it)."""

    run: Run


@dataclass
class RunChanged(Message):
    """A pane wrote to ``run`` (e.g. a new evaluation): views of it must be redrawn."""

    run: Run


@dataclass
class ReadRuns(Message):
    """Read every run's files again (u in Runs), not only those that may have changed."""


@dataclass
class EvaluateRun(Message):
    """Evaluate ``run`` on the loaded data's test set (its metrics.json and predictions)."""

    run: Run


@dataclass
class BuildModel(Message):
    """Build the model ``key`` describes (arch, model options, (classes, image size)) for its
    parameter table and Keras's summary, ``summary_width`` columns wide."""

    key: tuple
    summary_width: int


@dataclass
class ExportCode(Message):
    """Write ``config`` as the standalone Keras script ``cifar-tui code`` exports, for the data
    loaded; ``key`` names the request (the result carries it back)."""

    config: TrainConfig
    key: str


@dataclass
class ClassifyImage(Message):
    """Classify the image file at ``path`` with the current run's model."""

    path: Path


@dataclass
class ExportReport(Message):
    """Write the report (markdown, HTML, PNG figures) of ``runs``."""

    runs: list[Run]


@dataclass
class ShowPair(Message):
    """Show the test images of class ``true`` predicted as ``predicted``, worst first."""

    true: int
    predicted: int


@dataclass
class SetNormalize(Message):
    """Scale pixels to [0, 1] (True) or feed 0..255 (False) in the runs started from now."""

    normalize: bool


# -- worker threads -> app -------------------------------------------------------------------
@dataclass
class DataLoaded(Message):
    """The data set has loaded, or why it could not."""

    dataset: Dataset | None
    error: str | None = None


@dataclass
class DataProgress(Message):
    """The first load of a source has read ``files`` files (then it is cached)."""

    files: int


@dataclass
class TrainingMessage(Message):
    """Base of the per-kind training messages; ``event`` is the core's event dataclass."""

    event: Any


class TrainingQueued(TrainingMessage):
    """The app is starting ``event`` (a TrainConfig); the backend is still loading."""


class TrainingAttached(TrainingMessage):
    """The Train view now follows ``event`` (a Run) that another process trains."""


class TrainingStarted(TrainingMessage):
    """``event``: events.Started."""


class TrainingProgress(TrainingMessage):
    """``event``: events.BatchProgress."""


class EpochEnded(TrainingMessage):
    """``event``: events.EpochEnd."""


class TrainingFinished(TrainingMessage):
    """``event``: events.Finished."""


class TrainingFailed(TrainingMessage):
    """``event``: events.Failed."""


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
