"""Learning-rate schedules by name, as Keras schedules (saved with the optimizer). No UI code."""

from __future__ import annotations

from typing import Any

from .backend import import_keras
from .config import TrainConfig
from .recipe import FAST

keras = import_keras()


@keras.saving.register_keras_serializable("cifar_tui")
class WarmupLinear(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``start * peak`` to ``peak`` over ``warmup_steps``, then linear decay
    to ``end * peak`` at ``total_steps`` (airbench94's triangle: 0.2 -> 1 over 23 % of the steps,
    then down to 0.07). ``end`` defaults to 0 so schedules saved before it existed resume as
    they were."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int,
                 start: float = 0.0, end: float = 0.0) -> None:
        self.peak, self.total_steps, self.warmup_steps = peak, total_steps, warmup_steps
        self.start, self.end = start, end

    def __call__(self, step):  # noqa: ANN001, ANN204
        step = keras.ops.cast(step, "float32")
        up = self.start + (1.0 - self.start) * step / max(1, self.warmup_steps)
        frac = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        down = 1.0 + (self.end - 1.0) * keras.ops.clip(frac, 0.0, 1.0)
        factor = keras.ops.where(step < self.warmup_steps, keras.ops.minimum(up, 1.0), down)
        return self.peak * factor

    def get_config(self) -> dict:
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "start": self.start, "end": self.end}


def learning_rate(cfg: TrainConfig, steps_per_epoch: int) -> Any:
    """The config's schedule over the whole run (a float for ``constant``)."""
    total = max(1, cfg.epochs * steps_per_epoch)
    sched = keras.optimizers.schedules
    if cfg.schedule == "cosine":
        return sched.CosineDecay(cfg.learning_rate, decay_steps=total)
    if cfg.schedule == "warmup-cosine":
        warm = max(1, total // 5)
        return sched.CosineDecay(0.0, decay_steps=total - warm, warmup_target=cfg.learning_rate,
                                 warmup_steps=warm)
    if cfg.schedule == "linear":
        return sched.PolynomialDecay(cfg.learning_rate, total, end_learning_rate=0.0, power=1.0)
    if cfg.schedule == "warmup-linear":
        tri = FAST["schedule"]
        return WarmupLinear(cfg.learning_rate, total, warmup_steps=int(total * tri["warmup"]),
                            start=tri["start"], end=tri["end"])
    return cfg.learning_rate
