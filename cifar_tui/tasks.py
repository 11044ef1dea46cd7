"""The core work the TUI's panes ask for, as plain functions the app runs in its thread
workers: each returns a frozen result the app puts in a reactive for the pane to draw (or
raises, for the app to say why). No UI code; Keras is imported inside each, in the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from .config import TrainConfig
    from .data import Dataset
    from .runs import Run


@dataclass(frozen=True)
class ModelBuilt:
    """The model ``key`` describes (arch, model options, (classes, image size)): its parameter
    table (``params.param_table``) and Keras's summary, or the error it did not build with."""

    key: tuple
    table: object | None
    summary: str | None
    error: Exception | None


def build(key: tuple, summary_width: int) -> ModelBuilt:
    from .models import build_model  # imports TensorFlow
    from .params import keras_summary, param_table

    arch, options, (num_classes, image_size) = key[0], dict(key[1]), key[2]
    try:
        model = build_model(arch, num_classes=num_classes, image_size=image_size, **options)
    except Exception as exc:  # noqa: BLE001 - a bad spec: said where the user looks
        return ModelBuilt(key, None, None, exc)
    return ModelBuilt(key, param_table(model), keras_summary(model, summary_width), None)


@dataclass(frozen=True)
class ModelCode:
    """A config as the script ``cifar-tui code`` exports, or why it has none (``key``: the
    request's)."""

    key: str
    source: str | None
    error: str | None


def write_code(config: TrainConfig, data: Dataset | None, key: str) -> ModelCode:
    """The script of ``config`` reading, and fitting its model to, ``data`` (the data set
    loaded; None: CIFAR-10's)."""
    from .codegen import dataset_export, export_script  # imports TensorFlow

    try:
        source = export_script(config, **(dataset_export(data, config) if data is not None
                                          else {}))
    except Exception as exc:  # noqa: BLE001 - e.g. fast: why it has no plain-Keras script
        return ModelCode(key, None, str(exc))
    return ModelCode(key, source, None)


@dataclass(frozen=True)
class Classified:
    """An image file classified by a run's model."""

    run_id: str
    path: Path
    image: np.ndarray
    probs: np.ndarray
    class_names: tuple[str, ...]


class Classifier:
    """Classifies image files with a run's model, kept loaded while that run's model file is
    the same (a new best model is loaded again)."""

    def __init__(self) -> None:
        self._model: tuple[tuple[str, Path], object] | None = None

    def __call__(self, run: Run, path: Path) -> Classified:
        from .evaluation import load_image, predict_probs
        from .trainer import load_run_model  # imports TensorFlow

        image = load_image(path, run.image_size)
        key = (run.id, run.evaluation_weights()[0])
        if self._model is None or self._model[0] != key:
            self._model = (key, load_run_model(run))
        probs = predict_probs(self._model[1], image[None],
                              normalize=run.config.get("normalize", True))[0]
        return Classified(run.id, path, image, probs, run.class_names)
