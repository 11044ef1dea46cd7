"""The training API in one import (kept for callers of the old single module).

The pieces live by concern: events.py (what a run reports), pipeline.py (batches),
schedules.py, callbacks.py, trainer.py (``train``, ``evaluate_run``, ``load_run_model``).
"""

from __future__ import annotations

from .callbacks import Lookahead, ResumableEarlyStopping, RunCallback, StopRequested
from .config import TrainConfig
from .events import BatchProgress, EpochEnd, Failed, Finished, Listener, Started, describe
from .pipeline import ArrayBatches
from .schedules import WarmupLinear, learning_rate
from .trainer import evaluate_run, load_run_model, train

__all__ = ["ArrayBatches", "BatchProgress", "EpochEnd", "Failed", "Finished", "Listener",
           "Lookahead", "ResumableEarlyStopping", "RunCallback", "Started", "StopRequested",
           "TrainConfig", "WarmupLinear", "describe", "evaluate_run", "learning_rate",
           "load_run_model", "train"]
