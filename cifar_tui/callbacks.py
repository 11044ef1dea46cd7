"""The trainer's Keras callbacks: run recording and stop requests, resumable early stopping,
airbench's lookahead and bias freeze. Backend-neutral (keras.ops and numpy only). No UI code."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from .backend import import_keras
from .compilation import CompileClock
from .evaluation import detect_overfitting
from .events import BatchProgress, EpochEnd, Listener
from .layers import FreezableBias
from .recipe import FAST
from .runs import Run, improves

keras = import_keras()


class StopRequested(Exception):
    """Raised inside fit by the stop callback; fit unwinds between batches."""


class Pruned(Exception):
    """Raised inside fit when a sweep's pruner gives up on the trial, after the epoch is
    committed; the run ends with status ``pruned``."""

    def __init__(self, epoch: int) -> None:
        super().__init__(f"pruned at epoch {epoch}")
        self.epoch = epoch


class ReportEpochs(keras.callbacks.Callback):
    """A sweep's per-epoch hook: ``report(val_accuracy, epoch)`` after each epoch, then
    ``should_prune()`` decides whether the run goes on (Optuna's ``trial.report`` and
    ``trial.should_prune``). It must come after the run's recorder, so that the epoch a pruned
    run ends on is on disk. The last epoch is never pruned: stopping there saves nothing, and
    would throw away a fully trained trial's value and its test evaluation."""

    def __init__(self, report: Callable[[float, int], None],
                 should_prune: Callable[[], bool]) -> None:
        super().__init__()
        self.report, self.should_prune = report, should_prune

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get("val_accuracy")
        if value is None or not math.isfinite(float(value)):
            return
        self.report(float(value), epoch + 1)
        if epoch + 1 < (self.params or {}).get("epochs", math.inf) and self.should_prune():
            raise Pruned(epoch + 1)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's EarlyStopping, starting from a resumed run's best value and wait count."""

    def __init__(self, best: float | None = None, wait: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._resume_best, self._resume_wait = best, wait

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if self._resume_best is not None:
            self.best, self.wait = self._resume_best, self._resume_wait

    def wait_exhausted(self) -> bool:
        """Whether the resumed state had already met Keras's stopping rule (``wait >=
        patience``) at the last committed epoch: the run stopped early there."""
        return self._resume_best is not None and self._resume_wait >= self.patience


class Diverged(RuntimeError):
    """The loss became NaN or infinite: nothing after that batch can be learned."""


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """Keras's TerminateOnNaN, but failing the run with a message saying what to change (the
    epoch in progress is not recorded; finished epochs stay resumable)."""

    def __init__(self, learning_rate: float) -> None:
        super().__init__()
        self.learning_rate, self._epoch = learning_rate, 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch + 1

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise Diverged(f"the loss became {float(loss)} at epoch {self._epoch}, batch "
                           f"{batch + 1}: the training diverged. Lower the learning rate (it "
                           f"is {self.learning_rate:g}) or turn on batch norm.")


class Lookahead(keras.callbacks.Callback):
    """airbench's lookahead: from epoch ``start_epoch`` on, every ``every`` steps, move an
    average of the weights toward the model's (``avg = d * avg + (1 - d) * weights``) and copy
    it back into the model; with ``end_epochs_on_average``, after each epoch's last step the
    model takes the average (dropping the steps since the last averaging).

    ``d = rate ** k * (step / total) ** power`` for the ``k`` steps since the last update
    (airbench: ``0.95 ** 5`` every 5 steps, cubic): weak averaging early, strong near the end.
    The first due step only takes the average's starting copy. BN statistics are averaged too
    (every float weight). With several steps per device call the update comes at the first call
    that ends past a multiple of ``every``. The average lives on the device (keras.ops), so an
    update costs no copy to the host. The model holds the average at each epoch's end, so a run
    resumed after ``start_epoch`` restarts it from the saved weights exactly.
    """

    def __init__(self, epochs: int, steps_per_epoch: int, **hyp: float) -> None:
        """``hyp``: ``every``, ``rate``, ``start_epoch``, ``power``, ``end_epochs_on_average``;
        the rest from the recipe."""
        super().__init__()
        hyp = {**FAST["lookahead"], **hyp}
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.total_steps = max(1, epochs * self.steps_per_epoch)
        self.every, self.start_epoch = int(hyp["every"]), int(hyp["start_epoch"])
        self.rate, self.power = hyp["rate"], hyp["power"]
        self.end_epochs_on_average = bool(hyp["end_epochs_on_average"])
        self._vars: list = []
        self._avg: list | None = None
        self._epoch = 0
        self._last = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        model = self.model  # on JAX, reading .model attaches the current state to the variables
        self._vars = [v for v in model.trainable_variables + model.non_trainable_variables
                      if "float" in str(v.dtype)]
        self._avg = None
        self._last = -1

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        if self._last < 0:  # the first epoch of this fit (later than 0 when resumed)
            self._last = self._last_update_before(epoch)
            if epoch > self.start_epoch:  # resumed: the saved weights are the average
                self._start()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # The step comes from the epoch and batch index (the last of the call's steps), not from
        # optimizer.iterations: on JAX that read would pull the whole training state back into
        # the model after every call.
        step = self._epoch * self.steps_per_epoch + batch + 1
        if self._epoch >= self.start_epoch and self._due(step, self._last):
            if self._avg is None:
                self._start()
            else:
                self.model  # noqa: B018 - sync JAX state into the variables before reading them
                k = step - self._last
                self.update(self.rate ** k * min(1.0, step / self.total_steps) ** self.power)
            self._last = step
        if self.end_epochs_on_average and batch + 1 >= self.steps_per_epoch \
                and self._avg is not None:
            # The epoch's last step: the model takes the average, before validation and saving.
            self.model  # noqa: B018
            self.update(1.0)

    def _last_update_before(self, epoch: int) -> int:
        """The step at which an unbroken run last averaged (or started the average) before
        ``epoch``: a resumed run's first ``k`` must count from there, not from the epoch's start,
        or its first decay differs (0.95 ** 3 for 0.95 ** 5 at 48 steps an epoch)."""
        per_call = max(1, int(getattr(self.model, "steps_per_execution", 1) or 1))
        last = 0
        for e in range(self.start_epoch, epoch):
            for first in range(0, self.steps_per_epoch, per_call):  # Keras's call ends
                step = e * self.steps_per_epoch + first + per_call
                if self._due(step, last):
                    last = step
        return last

    def _due(self, step: int, last: int) -> bool:
        """Whether a call ending at ``step`` has passed a multiple of ``every`` since ``last``."""
        return step // self.every > last // self.every

    def _start(self) -> None:
        self.model  # noqa: B018
        self._avg = [keras.ops.copy(v.value) for v in self._vars]

    def update(self, decay: float) -> None:
        for i, var in enumerate(self._vars):
            avg = keras.ops.add(keras.ops.multiply(self._avg[i], decay),
                                keras.ops.multiply(var.value, 1.0 - decay))
            # A copy for the model: on JAX the trainer donates the variables' buffers to the
            # next step, which would free the average's own buffer too.
            var.assign(keras.ops.copy(avg))
            self._avg[i] = avg


class FreezeBiases(keras.callbacks.Callback):
    """Turns each ``FreezableBias`` on for its first ``epochs`` epochs and off after (set at
    every epoch's start, so a resumed run gets the right state whatever was saved)."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for layer in self.model.layers:
            if isinstance(layer, FreezableBias):
                live = epoch < layer.epochs
                layer.live.assign(1 if live else 0)
                if not live:
                    self._stop_momentum(layer.bias)

    def _stop_momentum(self, variable: keras.Variable) -> None:
        """Zeroes SGD's velocity for ``variable``: with no gradient, Nesterov momentum would
        still move a frozen bias for dozens of steps (airbench's ``requires_grad=False`` stops it
        at once). Other optimizers keep their slots; the recipe uses SGD."""
        opt = self.model.optimizer
        # Under mixed_float16 Keras wraps SGD in a LossScaleOptimizer, which holds no slots.
        opt = getattr(opt, "inner_optimizer", opt)
        slots = getattr(opt, "momentums", None)
        if not (opt is not None and opt.built and slots):
            return
        slot = slots[opt._get_variable_index(variable)]  # Keras's own slot lookup
        slot.assign(keras.ops.zeros(slot.shape, slot.dtype))


class RunCallback(keras.callbacks.Callback):
    """Streams events, honours stop requests, and records each finished epoch atomically."""

    def __init__(self, run: Run, emit: Listener, stop: threading.Event | None, epochs: int,
                 steps: int, train_size: int, batch_size: int,
                 early: ResumableEarlyStopping | None, has_val: bool,
                 throttle_s: float = 0.5,
                 train_seconds: Callable[[], float] | None = None,
                 compile_clock: CompileClock | None = None,
                 wall_seconds: Callable[[], float] | None = None) -> None:
        """``train_seconds``, ``wall_seconds``: the run's training and wall time so far (all
        sessions), committed with each epoch so a killed session's finished epochs keep theirs
        (a resume's wall time then cannot fall below its training time). ``compile_clock``: how
        much of each epoch went to compiling (history's ``compile_seconds``)."""
        super().__init__()
        self.train_seconds, self.compile_clock = train_seconds, compile_clock
        self.wall_seconds = wall_seconds
        self.run, self.emit, self.stop = run, emit, stop
        self.epochs, self.steps, self.train_size = epochs, steps, train_size
        self.batch_size = batch_size
        self.early, self.has_val, self.throttle_s = early, has_val, throttle_s
        self.history = run.history()
        vals = [h["val_accuracy"] for h in self.history if "val_accuracy" in h]
        self.best = max(vals, default=None)
        self._t0 = self._t_train = self._last_emit = 0.0
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._t0 = self._last_emit = time.perf_counter()
        if self.compile_clock is not None:
            self.compile_clock.start()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.compile_clock is not None:
            self.compile_clock.call_ended()
        if self.stop is not None and self.stop.is_set():
            raise StopRequested
        now = time.perf_counter()
        step = batch + 1
        if step == self.steps:
            self._t_train = now
        if now - self._last_emit < self.throttle_s and step != self.steps:
            return
        self._last_emit = now
        elapsed = now - self._t0
        rate = min(step * self.batch_size, self.train_size) / elapsed if elapsed else 0.0
        logs = logs or {}
        self.emit(BatchProgress(
            self.run.id, self._epoch + 1, self.epochs, step, self.steps,
            float(logs.get("loss", math.nan)), float(logs.get("accuracy", math.nan)), rate,
            (self.steps - step) * elapsed / step))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        now = time.perf_counter()
        train_time = (self._t_train or now) - self._t0
        # The images trained: the short last batch is dropped, so steps x batch size (all of
        # them when they are fewer than one batch), not every train image.
        images = min(self.steps * self.batch_size, self.train_size)
        row = {"epoch": epoch + 1, "seconds": round(now - self._t0, 3),
               "images_per_sec": round(images / train_time, 1) if train_time else 0.0,
               "learning_rate": current_lr(self.model)}
        row.update({k: float(v) for k, v in logs.items()
                    if k in ("accuracy", "loss", "val_accuracy", "val_loss")})
        compiling = self.compile_clock.epoch_seconds() if self.compile_clock else None
        if compiling is not None:
            row["compile_seconds"] = round(compiling, 3)
        self.history = [h for h in self.history if h["epoch"] < epoch + 1] + [row]
        improved = improves(self.best, row)  # the one rule of the run's model (runs.py)
        if improved and row.get("val_accuracy") is not None:
            self.best = row["val_accuracy"]
        times = {key: clock() for key, clock in (("train_seconds", self.train_seconds),
                                                  ("wall_seconds", self.wall_seconds)) if clock}
        self.run.commit_epoch(
            self.model, self.history, best=improved, best_val_accuracy=self.best, **times,
            es_best=float(self.early.best) if self.early is not None else None,
            es_wait=int(self.early.wait) if self.early is not None else 0)
        self.emit(EpochEnd(self.run.id, epoch + 1, self.epochs, row, list(self.history),
                           detect_overfitting(self.history), improved))
        self._t_train = 0.0


def current_lr(model: keras.Model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
