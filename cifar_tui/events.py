"""Training events: what a trainer reports to listeners (CLI printer, TUI, live-run writer).

TensorFlow-free, so viewers of a run in another process can build the same events from the run's
files without loading the training stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no sklearn import for a module every viewer loads
    from .evaluation import Evaluation


@dataclass(frozen=True)
class Started:
    run_id: str
    config: dict
    initial_epoch: int
    epochs: int
    steps: int
    train_size: int
    val_size: int
    params: int
    replicas: int = 1


@dataclass(frozen=True)
class BatchProgress:
    run_id: str
    epoch: int  # 1-based
    epochs: int
    step: int
    steps: int
    loss: float
    accuracy: float
    images_per_sec: float
    eta_s: float  # to the end of this epoch


@dataclass(frozen=True)
class EpochEnd:
    run_id: str
    epoch: int  # 1-based
    epochs: int
    metrics: dict
    history: list[dict]
    overfitting: str | None
    best: bool


@dataclass(frozen=True)
class Finished:
    run_id: str
    status: str  # finished, early-stopped, stopped
    epochs_done: int
    best_val_accuracy: float | None
    evaluation: Evaluation | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Failed:
    run_id: str
    message: str


Listener = Callable[[object], None]
