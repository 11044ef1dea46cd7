"""The training engine: config -> tf.data -> model.fit with callbacks -> run store. No UI code.

Listeners receive the event dataclasses of ``events`` from the training thread; they must not block.
A stop request (a ``threading.Event``) is honoured between batches; every finished epoch is
already in the run store by then, and ``train(run=...)`` resumes from the last one.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from typing import Any

import numpy as np

from . import CLASSES
from .config import TrainConfig
from .data import Cifar10, LoadCancelled, load_cifar10, stratified_split, subset
from .evaluation import Evaluation, detect_overfitting, evaluate_probs, predict_probs
from .events import BatchProgress, EpochEnd, Failed, Finished, Listener, Started  # noqa: F401
from .hardware import describe_hardware
from .live import Publisher
from .models import build_model, compile_model, init_whitening, make_optimizer
from .quiet import native_stderr_to_log
from .runs import Run, RunStore

with native_stderr_to_log():
    import keras
    import tensorflow as tf

class StopRequested(Exception):
    """Raised inside fit by the stop callback; fit unwinds between batches."""


# -- tf.data ---------------------------------------------------------------------------------


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, *, training: bool,
                 normalize: bool = True, flip: bool = False, crop: bool = False,
                 crop_pixels: int = 4, seed: int = 0) -> tf.data.Dataset:
    """uint8 images and int labels -> batches of (float32 images, one-hot labels).

    Images stay uint8 in memory (4x smaller than float); scaling happens per batch.
    """
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        if flip or crop:
            def augment(img, label):  # noqa: ANN001, ANN202
                if flip:
                    img = tf.image.random_flip_left_right(img)
                if crop:  # translate a few pixels: reflect-pad, then crop back to 32x32
                    p = crop_pixels
                    img = tf.pad(img, [[p, p], [p, p], [0, 0]], mode="REFLECT")
                    img = tf.image.random_crop(img, [32, 32, 3])
                return img, label
            ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size)

    def prep(img, label):  # noqa: ANN001, ANN202
        img = tf.cast(img, tf.float32)
        if normalize:
            img = img / 255.0
        return img, tf.one_hot(label, len(CLASSES))

    return ds.map(prep, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _learning_rate(cfg: TrainConfig, steps_per_epoch: int) -> Any:
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
        return WarmupLinear(cfg.learning_rate, total, warmup_steps=max(1, total // 5), start=0.2)
    return cfg.learning_rate


@keras.saving.register_keras_serializable("cifar_tui")
class WarmupLinear(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``start * peak`` to ``peak``, then linear decay to 0 (the fast CIFAR
    recipes' triangle; airbench starts at 0.2)."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int,
                 start: float = 0.0) -> None:
        self.peak, self.total_steps, self.warmup_steps = peak, total_steps, warmup_steps
        self.start = start

    def __call__(self, step):  # noqa: ANN001, ANN204
        step = keras.ops.cast(step, "float32")
        up = self.start + (1.0 - self.start) * step / self.warmup_steps
        down = (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps)
        return self.peak * keras.ops.clip(keras.ops.minimum(up, down), 0.0, 1.0)

    def get_config(self) -> dict:
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "start": self.start}


def _check_devices(devices: list[str]) -> None:
    """Refuse devices TensorFlow does not have (MirroredStrategy would wait for them forever)."""
    import re

    have = {(d.device_type.upper(), d.name.rsplit(":", 1)[-1])
            for d in tf.config.list_logical_devices()}
    for dev in devices:
        m = re.search(r"(cpu|gpu|tpu):(\d+)$", dev, re.I)
        if m is None or (m.group(1).upper(), m.group(2)) not in have:
            gpus = sum(t == "GPU" for t, _ in have)
            names = ", ".join(sorted(":".join(d) for d in have))
            raise ValueError(f"device {dev!r} does not exist here: TensorFlow sees {gpus} GPU"
                             f"{'' if gpus == 1 else 's'} ({names}). Use --gpus N with N at "
                             "most that, or leave it out.")


def _strategy(cfg: TrainConfig) -> tf.distribute.Strategy:
    if cfg.devices:
        _check_devices(cfg.devices)
    if cfg.devices and len(cfg.devices) > 1:
        return tf.distribute.MirroredStrategy(devices=cfg.devices)
    return tf.distribute.get_strategy()


def _use_mixed_precision(cfg: TrainConfig) -> bool:
    if cfg.mixed_precision == "on":
        return True
    return cfg.mixed_precision == "auto" and bool(tf.config.list_physical_devices("GPU"))


# -- callbacks -------------------------------------------------------------------------------


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's EarlyStopping, starting from a resumed run's best value and wait count."""

    def __init__(self, best: float | None = None, wait: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._resume_best, self._resume_wait = best, wait

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if self._resume_best is not None:
            self.best, self.wait = self._resume_best, self._resume_wait


class Lookahead(keras.callbacks.Callback):
    """airbench's lookahead: every ``every`` steps, move an average of the weights toward the
    model's (``avg = d * avg + (1 - d) * weights``) and copy it back into the model.

    ``d`` ramps as ``peak * (step / total) ** 3``: no averaging early, when it would only slow
    learning, and strong averaging near the end. BN statistics are averaged too. A resumed run
    starts its average from the saved weights (at most ``every - 1`` steps behind).
    """

    def __init__(self, total_steps: int, every: int = 5, peak: float = 0.95 ** 5) -> None:
        super().__init__()
        self.total_steps, self.every, self.peak = max(1, total_steps), every, peak
        self._vars: list = []
        self._avg: list[np.ndarray] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._vars = [v for v in self.model.trainable_variables
                      + self.model.non_trainable_variables if "float" in str(v.dtype)]
        self._avg = [np.array(v.numpy()) for v in self._vars]

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every == 0:
            self.update(self.peak * min(1.0, step / self.total_steps) ** 3)

    def update(self, decay: float) -> None:
        for avg, var in zip(self._avg, self._vars):
            avg *= decay
            avg += (1.0 - decay) * var.numpy()
            var.assign(avg)


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


class RunCallback(keras.callbacks.Callback):
    """Streams events, honours stop requests, and records each finished epoch atomically."""

    def __init__(self, run: Run, emit: Listener, stop: threading.Event | None, epochs: int,
                 steps: int, train_size: int, early: ResumableEarlyStopping | None,
                 has_val: bool, throttle_s: float = 0.5) -> None:
        super().__init__()
        self.run, self.emit, self.stop = run, emit, stop
        self.epochs, self.steps, self.train_size = epochs, steps, train_size
        self.early, self.has_val, self.throttle_s = early, has_val, throttle_s
        self.history = run.history()
        self.best = max((h.get("val_accuracy", -1.0) for h in self.history), default=None)
        self._t0 = self._t_train = self._last_emit = 0.0
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._t0 = self._last_emit = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
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
        rate = min(step * self._batch_size(), self.train_size) / elapsed if elapsed else 0.0
        logs = logs or {}
        self.emit(BatchProgress(
            self.run.id, self._epoch + 1, self.epochs, step, self.steps,
            float(logs.get("loss", math.nan)), float(logs.get("accuracy", math.nan)), rate,
            (self.steps - step) * elapsed / step))

    def _batch_size(self) -> int:
        return math.ceil(self.train_size / self.steps)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        now = time.perf_counter()
        train_time = (self._t_train or now) - self._t0
        row = {"epoch": epoch + 1, "seconds": round(now - self._t0, 3),
               "images_per_sec": round(self.train_size / train_time, 1) if train_time else 0.0,
               "learning_rate": _current_lr(self.model)}
        row.update({k: float(v) for k, v in logs.items()
                    if k in ("accuracy", "loss", "val_accuracy", "val_loss")})
        self.history = [h for h in self.history if h["epoch"] < epoch + 1] + [row]
        score = row.get("val_accuracy", row.get("accuracy", 0.0)) if self.has_val else None
        improved = score is None or self.best is None or score > self.best
        if improved:
            self.best = score if score is not None else self.best
        self.run.commit_epoch(
            self.model, self.history, best=improved, best_val_accuracy=self.best,
            es_best=float(self.early.best) if self.early is not None else None,
            es_wait=int(self.early.wait) if self.early is not None else 0)
        self.emit(EpochEnd(self.run.id, epoch + 1, self.epochs, row, list(self.history),
                           detect_overfitting(self.history), improved))
        self._t_train = 0.0


def _current_lr(model: keras.Model) -> float:
    lr = model.optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(lr))


# -- the trainer -----------------------------------------------------------------------------


def _noop(event: object) -> None:
    pass


def train(config: TrainConfig | None = None, *, data: Cifar10 | None = None,
          store: RunStore | None = None, listener: Listener | None = None,
          stop: threading.Event | None = None, run: Run | None = None,
          evaluate: bool = True) -> Run:
    """Train a new run for ``config``, or resume ``run`` from its last finished epoch.

    Returns the run; raises on failure after recording it (status ``failed``).
    """
    emit = listener or _noop
    store = store or RunStore()
    if run is not None:
        config = TrainConfig.from_dict(run.config)
        if not run.checkpoint_path.exists() and run.epochs_done:
            raise FileNotFoundError(f"{run.checkpoint_path} is missing; cannot resume {run.id}")
    if config is None:
        raise ValueError("give a config for a new run, or a run to resume")
    config.validate()
    if run is None:
        run = store.create(config.to_dict())
    lock = run.lock()  # one trainer per run: RunLockedError names a live owner
    # progress.json for viewers in other processes; their stop requests reach `stop`
    publisher = Publisher(run, emit, stop)
    emit, stop = publisher, publisher.stop
    policy = keras.mixed_precision.global_policy()
    t_start = time.perf_counter()
    try:
        initial_epoch = run.epochs_done if run.checkpoint_path.exists() else 0
        run.update_state(status="running", pid=os.getpid(), host=socket.gethostname(),
                         error=None)
        if data is None:
            data = load_cifar10(config.data, stop=stop)  # a stop ends a first, long load too
        data = subset(data, config.subset)
        keras.utils.set_random_seed(config.seed)
        tr, va = stratified_split(data.y_train, config.val_split, config.seed)
        bs = config.batch_size
        train_ds = make_dataset(data.x_train[tr], data.y_train[tr], bs, training=True,
                                normalize=config.normalize, flip=config.augment_flip,
                                crop=config.augment_crop, crop_pixels=config.crop_pixels,
                                seed=config.seed)
        val_ds = (make_dataset(data.x_train[va], data.y_train[va], max(bs, 256), training=False,
                               normalize=config.normalize) if len(va) else None)
        steps = math.ceil(len(tr) / bs)
        if _use_mixed_precision(config):
            keras.mixed_precision.set_global_policy("mixed_float16")
        strategy = _strategy(config)
        with strategy.scope():
            if initial_epoch:
                model = keras.saving.load_model(run.checkpoint_path, safe_mode=True)
                run.check_checkpoint(model, steps)
            else:
                model = build_model(config.arch, **config.model_options())
                init_whitening(model, data.x_train[tr[:5000]],
                               scale=1 / 255 if config.normalize else 1.0)
                opt = make_optimizer(config.optimizer, _learning_rate(config, steps),
                                     config.weight_decay, config.momentum)
                jit = {"on": True, "off": False}.get(config.jit_compile, "auto")
                compile_model(model, opt, config.label_smoothing, jit)
        state = run.state
        early = None
        if config.patience and len(va):
            early = ResumableEarlyStopping(
                best=state.get("es_best") if initial_epoch else None,
                wait=int(state.get("es_wait") or 0) if initial_epoch else 0,
                monitor="val_accuracy", mode="max", patience=config.patience)
        lookahead = Lookahead(config.epochs * steps) if config.ema else None
        recorder = RunCallback(run, emit, stop, config.epochs, steps, len(tr), early,
                               has_val=bool(len(va)))
        run.update_state(hardware=describe_hardware())  # for reports' timings
        emit(Started(run.id, config.to_dict(), initial_epoch, config.epochs, steps, len(tr),
                     len(va), model.count_params(), strategy.num_replicas_in_sync))
        status = "finished"
        if initial_epoch < config.epochs:
            try:
                model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                          initial_epoch=initial_epoch, verbose=0, shuffle=False,
                          callbacks=[c for c in (StopOnNaN(config.learning_rate), lookahead,
                                                 early, recorder) if c is not None])
                if early is not None and early.stopped_epoch > 0 \
                        and run.epochs_done < config.epochs:
                    status = "early-stopped"
            except StopRequested:
                status = "stopped"
        evaluation = None
        if evaluate and status != "stopped" and run.model_path.exists():
            evaluation = evaluate_run(run, data)
        run.update_state(status=status)
        emit(Finished(run.id, status, run.epochs_done, run.state.get("best_val_accuracy"),
                      evaluation, time.perf_counter() - t_start))
        return run
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | LoadCancelled):  # asked for: not a failure
            run.update_state(status="stopped")
            emit(Finished(run.id, "stopped", run.epochs_done, run.state.get("best_val_accuracy"),
                          None, time.perf_counter() - t_start))
            raise
        message = str(exc) or type(exc).__name__
        run.update_state(status="failed", error=message)
        emit(Failed(run.id, message))
        raise
    finally:
        keras.mixed_precision.set_global_policy(policy)
        lock.release()


def load_run_model(run: Run) -> keras.Model:
    """The run's best model, loaded with safe_mode on (no code from the file runs)."""
    path = run.model_path if run.model_path.exists() else run.checkpoint_path
    if not path.exists():
        raise FileNotFoundError(f"run {run.id} has no saved model yet (no finished epoch)")
    return keras.saving.load_model(path, safe_mode=True)


def evaluate_run(run: Run, data: Cifar10 | None = None) -> Evaluation:
    """Evaluate the run's best model on its test set; store metrics.json and predictions.

    ``data``: the full dataset (default: the run's source); the run's own subset is applied here
    (a no-op on data that is already that subset).
    """
    cfg = TrainConfig.from_dict(run.config)
    data = subset(data if data is not None else load_cifar10(cfg.data), cfg.subset)
    model = load_run_model(run)
    probs = predict_probs(model, data.x_test, normalize=cfg.normalize, tta=cfg.tta)
    ev = evaluate_probs(probs, data.y_test)
    run.save_predictions(probs, data.y_test)
    run.write_metrics(ev.to_dict())
    return ev
