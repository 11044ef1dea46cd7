"""Layer-by-layer parameter table with each count's formula, checked against Keras. No UI code."""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

_SUMMARY_LOCK = threading.Lock()  # $COLUMNS is process-wide


@dataclass(frozen=True)
class ParamRow:
    name: str
    type: str
    output_shape: str
    formula: str
    count: int
    trainable: int
    non_trainable: int


@dataclass(frozen=True)
class ParamTable:
    model_name: str
    rows: list[ParamRow]
    total: int
    trainable: int
    non_trainable: int
    keras_total: int

    @property
    def matches_keras(self) -> bool:
        return self.total == self.keras_total and all(
            r.count == r.trainable + r.non_trainable for r in self.rows)

    def to_dict(self) -> dict:
        return {"model": self.model_name, "rows": [asdict(r) for r in self.rows],
                "total": self.total, "trainable": self.trainable,
                "non_trainable": self.non_trainable, "keras_total": self.keras_total,
                "matches_keras": self.matches_keras}


def _size(weights: list) -> int:
    return sum(math.prod(w.shape) for w in weights)


def _formula(layer: keras.layers.Layer) -> tuple[str, int] | None:
    """(formula, count computed from the formula's own terms), or None if not a known type."""
    cls = type(layer).__name__
    if not layer.weights:
        return "0", 0
    if cls == "Dense":
        n_in, units = layer.kernel.shape
        if layer.use_bias:
            return f"({n_in}+1)*{units}", (n_in + 1) * units
        return f"{n_in}*{units}", n_in * units
    if cls in ("Conv1D", "Conv2D", "Conv3D"):
        *k, c_in, f = layer.kernel.shape
        ks = "*".join(str(d) for d in k)
        if layer.use_bias:
            return f"({ks}*{c_in}+1)*{f}", (math.prod(k) * c_in + 1) * f
        return f"{ks}*{c_in}*{f}", math.prod(k) * c_in * f
    if cls == "DepthwiseConv2D":
        kh, kw, c_in, mult = layer.kernel.shape
        n = kh * kw * c_in * mult + (c_in * mult if layer.use_bias else 0)
        bias = f"+{c_in * mult}" if layer.use_bias else ""
        return f"{kh}*{kw}*{c_in}*{mult}{bias}", n
    if "BatchNormalization" in {c.__name__ for c in type(layer).__mro__}:  # FusedBatchNorm too
        c = layer.moving_mean.shape[0]
        learned = int(layer.scale) + int(layer.center)  # gamma, beta
        terms = [f"{learned}*{c}"] if learned else []
        return " + ".join([*terms, f"2*{c}"]), (learned + 2) * c
    if cls == "ScaledBias":
        c = layer.bias.shape[0]
        return f"{c}", c
    if cls == "FreezableBias":  # the offsets and the learning on/off flag
        c = layer.bias.shape[0]
        return f"{c}+1", c + 1
    if cls == "LayerNormalization":
        c = _size(layer.weights)
        return f"{c}", c
    if cls == "Normalization":
        return "0 (mean, variance, count: constants)", _size(layer.weights)
    return None


def _shape(layer: keras.layers.Layer) -> str:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def param_table(model: keras.Model) -> ParamTable:
    """One row per top-level layer; nested models appear as a single row."""
    rows = []
    for layer in model.layers:
        trainable = _size(layer.trainable_weights)
        non_trainable = _size(layer.non_trainable_weights)
        known = _formula(layer)
        if known is None:
            n_sub = sum(1 for sub in getattr(layer, "layers", []) if sub.weights)
            formula = f"sum of {n_sub} weighted layers" if n_sub else "see Keras"
            count = layer.count_params()
        else:
            formula, count = known
        rows.append(ParamRow(layer.name, type(layer).__name__, _shape(layer), formula, count,
                             trainable, non_trainable))
    total = sum(r.count for r in rows)
    return ParamTable(model.name, rows, total, sum(r.trainable for r in rows),
                      sum(r.non_trainable for r in rows), model.count_params())


def keras_summary(model: keras.Model, width: int = 100) -> str:
    """Keras's own ``model.summary()`` as plain text, ``width`` columns wide.

    Keras draws it with a Rich console sized from ``$COLUMNS`` (80 when not a terminal), which
    would cut the parameter column off; the variable is set for the call only.
    """
    import os

    lines: list[str] = []
    with _SUMMARY_LOCK:
        old = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = str(width)
        try:
            model.summary(print_fn=lambda text, **_: lines.append(text), line_length=width)
        finally:
            if old is None:
                os.environ.pop("COLUMNS", None)
            else:
                os.environ["COLUMNS"] = old
    return "".join(lines).rstrip() + "\n"
