"""The training engine: config -> batches -> model.fit with callbacks -> run store. No UI code.

Runs on whichever Keras backend is selected (backend.py). Listeners receive events.py's
dataclasses from the training thread; they must not block. A stop request (a
``threading.Event``) is honoured between batches; every finished epoch is already in the run
store by then, and ``train(run=...)`` resumes from the last one.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import backend
from .callbacks import (
    FreezeBiases,
    Lookahead,
    Pruned,
    ResumableEarlyStopping,
    RunCallback,
    StopOnNaN,
    StopRequested,
)
from .compilation import CompileClock
from .config import TrainConfig
from .data import (
    Dataset,
    LoadCancelled,
    balanced_sample,
    check_matches,
    data_options,
    load_data,
    stratified_split,
    subset,
)
from .errors import error_message
from .evaluation import Evaluation, evaluate_probs, predict_probs
from .events import Failed, Finished, Listener, Started
from .hardware import cpu_has_avx512, cpu_has_bf16, describe_hardware
from .layers import FreezableBias
from .live import Publisher
from .models import InputStage, build_model, compile_model, init_whitening, make_optimizer
from .pipeline import ArrayBatches
from .recipe import FAST
from .runs import Run, RunDamagedError, RunStore
from .schedules import learning_rate
from .status import RunStatus

keras = backend.import_keras()


def mixed_policy(cfg: TrainConfig) -> str | None:
    """Keras's dtype policy for 16-bit compute with float32 weights, or None for float32.

    On a GPU, float16. On a CPU, bfloat16 (float16 has no CPU kernels to speak of), which
    ``auto`` picks only under TensorFlow on a CPU that computes it itself: on a Zen 4 oneDNN
    runs `fast`'s step in 2.85 s against 3.89 in float32 (bench/RESULTS.md); elsewhere it is
    emulated."""
    if cfg.mixed_precision == "off":
        return None
    if backend.gpu_count() > 0:
        return "mixed_float16"
    if cfg.mixed_precision == "on" or (keras.backend.backend() == "tensorflow"
                                       and cpu_has_bf16()):
        return "mixed_bfloat16"
    return None


def half_precision(model: keras.Model) -> str | None:
    """The 16-bit type the model's layers compute in, or None (float32). A resumed model keeps
    the policy it was built with, whatever this machine would pick."""
    kinds = {layer.compute_dtype for layer in model.layers if layer.weights} - {"float32"}
    return kinds.pop() if len(kinds) == 1 else None


def backend_name() -> str:
    name = keras.backend.backend()
    return {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}.get(name, name)


def _check_devices(devices: list[str]) -> None:
    """Refuse GPUs the backend does not have (MirroredStrategy would wait for them forever)."""
    import re

    gpus = backend.gpu_count()
    for dev in devices:
        m = re.search(r"(cpu|gpu|tpu):(\d+)$", dev, re.I)
        if m is None or m.group(1).lower() != "cpu" and int(m.group(2)) >= gpus \
                or m.group(1).lower() == "tpu":
            raise ValueError(f"device {dev!r} does not exist here: {backend_name()} "
                             f"sees {gpus} GPU{'' if gpus == 1 else 's'}. Use --gpus N with N at "
                             "most that, or leave it out.")


def jit_compile(cfg: TrainConfig) -> bool | str:
    """XLA for ``compile``: the config's on/off, else Keras's own choice ("auto": on with a GPU),
    except for the `fast` recipe on TensorFlow (``jit_choice``)."""
    return jit_choice(cfg)[0]


def jit_choice(cfg: TrainConfig) -> tuple[bool | str, str | None]:
    """``jit_compile``'s value and, where it chose for `fast` on TensorFlow, why (for the run's
    hardware line; None elsewhere).

    On a GPU, XLA (recipe.FAST). On a CPU, oneDNN without XLA in bfloat16 (2.85 against 5.5 s a
    step on a Zen 4), and in float32 on a CPU with AVX-512 too (3.9 against 5.8-6.2 s on the
    Zen 4, 3.09 against 4.64 on a Xeon with AMX); XLA only in float32 on a CPU without it,
    where it measured 2.1-2.6x faster on one VM and 1.17-1.25x on a Zen 3 (bench/RESULTS.md).
    A run given XLA is seeded without op determinism, which would turn XLA off (train)."""
    if cfg.jit_compile != "auto":
        return cfg.jit_compile == "on", None
    if cfg.arch != "fast" or keras.backend.backend() != "tensorflow":
        return "auto", None
    if not FAST["xla_on_tensorflow"]:
        return False, None
    if backend.gpu_count() > 0:
        return True, None
    if mixed_policy(cfg) == "mixed_bfloat16":
        return False, "XLA off: oneDNN is faster in bfloat16"
    if cpu_has_avx512():
        return False, "XLA off: oneDNN is faster on AVX-512"
    return True, "XLA on: faster than oneDNN without AVX-512"


def steps_per_execution(cfg: TrainConfig) -> int:
    """Steps per device call: the config's, or 1 on a CPU and 16 (5 with the lookahead) on a
    GPU, where dispatching each small step from Python costs more than the step itself."""
    torch = keras.backend.backend() == "torch"
    if cfg.steps_per_execution:
        if torch and cfg.steps_per_execution > 1:
            raise ValueError("Keras's PyTorch backend runs one step per call: use "
                             "--steps-per-execution 1 (or 0, auto), or another backend")
        return cfg.steps_per_execution
    if torch or backend.gpu_count() == 0:  # Keras on PyTorch takes only 1
        return 1
    return 5 if cfg.lookahead else 16


@contextlib.contextmanager
def distributed(cfg: TrainConfig) -> Iterator[int]:
    """Spread the run over ``cfg.devices`` for as long as the block runs; yields the replica
    count. TensorFlow: MirroredStrategy; JAX: keras.distribution.DataParallel."""
    if cfg.devices:
        _check_devices(cfg.devices)
    devices = backend.distribution_devices(None, cfg.devices)
    if devices is None:
        yield 1
        return
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(devices=devices)
        with strategy.scope():
            yield strategy.num_replicas_in_sync
        return
    # JAX: device names like "gpu:0" (TensorFlow's "/gpu:0" is accepted too).
    names = [d.lstrip("/").lower().replace("device:", "") for d in devices]
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=names))
    try:
        yield len(names)
    finally:
        keras.distribution.set_distribution(previous)


def _seconds(value: object) -> float:
    """A recorded duration, 0 when absent or damaged."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and 0 <= value < float("inf") else 0.0


def _noop(event: object) -> None:
    pass


def train(config: TrainConfig | None = None, *, data: Dataset | None = None,
          store: RunStore | None = None, listener: Listener | None = None,
          stop: threading.Event | None = None, run: Run | None = None,
          evaluate: bool = True, callbacks: Sequence[keras.callbacks.Callback] = ()) -> Run:
    """Train a new run for ``config``, or resume ``run`` from its last finished epoch.

    ``callbacks``: more Keras callbacks, called after the run's own (a sweep's pruning: one that
    raises ``Pruned`` ends the run as ``pruned``, untested, at the epoch it committed).

    Returns the run; raises on failure after recording it (status ``failed``).
    """
    times = _Times(time.perf_counter())  # the wall time counts the data loading too
    config, run, data = _open_run(config, run, data, store or RunStore(), stop)
    lock = run.lock()  # one trainer per run: RunLockedError names a live owner
    times.add_earlier_sessions(run)
    # progress.json for viewers in other processes; their stop requests reach `emit.stop`
    emit = Publisher(run, listener or _noop, stop)
    policy = keras.mixed_precision.global_policy()
    try:
        initial_epoch = run.epochs_done if run.checkpoint_path.exists() else 0
        where = backend.describe()
        run.update_state(status=RunStatus.RUNNING, pid=os.getpid(), host=socket.gethostname(),
                         error=None, backend=keras.backend.backend())
        run.clear_spawn()  # begun: viewers go by the state and the lock from here
        data = _run_data(run, config, data, emit.stop, initial_epoch)
        backend.set_seed(config.seed, deterministic=jit_choice(config)[0] is not True)
        batches = _Batches.split(data, config, initial_epoch)
        if compute := mixed_policy(config):
            keras.mixed_precision.set_global_policy(compute)
        with distributed(config) as replicas:
            model = (_resumed_model(run, batches.steps) if initial_epoch
                     else _new_model(config, data, batches))
            early = _early_stopping(run, config, batches, initial_epoch)
            clock = CompileClock(keras.backend.backend(), bool(model.jit_compile))
            recorder = RunCallback(run, emit, emit.stop, config.epochs, batches.steps,
                                   batches.train_size, config.batch_size, early,
                                   has_val=batches.val is not None,
                                   train_seconds=times.train_seconds, compile_clock=clock,
                                   wall_seconds=times.wall_seconds)
            emit(_started(run, config, model, batches, initial_epoch, replicas, where, clock))
            status = _fit(run, model, config, batches, initial_epoch, early, times, callbacks=[
                StopOnNaN(config.learning_rate), FreezeBiases(),
                Lookahead(config.epochs, batches.steps) if config.lookahead else None,
                early, recorder, *callbacks])
        return _finish(run, data, status, evaluate, times, clock, emit)
    except BaseException as exc:
        _record_end(run, exc, times, emit)
        raise
    finally:
        keras.mixed_precision.set_global_policy(policy)
        lock.release()


@dataclass
class _Times:
    """A run's training time (model.fit, validation included) and wall time (data loading,
    model building and the test evaluation too), each session's added to what the earlier
    ones recorded. The first epoch's compile time is not told apart (yet)."""

    called: float  # perf_counter when this session's train() began
    train_before: float = 0.0
    wall_before: float = 0.0
    fit_span: list[float] = field(default_factory=list)  # model.fit's start, and its end

    def add_earlier_sessions(self, run: Run) -> None:
        self.train_before = run.train_seconds or 0.0
        self.wall_before = _seconds(run.state.get("wall_seconds"))

    def train_seconds(self) -> float:
        if not self.fit_span:
            return round(self.train_before, 3)
        end = self.fit_span[1] if len(self.fit_span) > 1 else time.perf_counter()
        return round(self.train_before + end - self.fit_span[0], 3)

    def wall_seconds(self) -> float:
        return round(self.wall_before + time.perf_counter() - self.called, 3)

    @contextlib.contextmanager
    def fitting(self) -> Iterator[None]:
        self.fit_span.append(time.perf_counter())
        try:
            yield
        finally:
            self.fit_span.append(time.perf_counter())


def _open_run(config: TrainConfig | None, run: Run | None, data: Dataset | None,
              store: RunStore, stop: threading.Event | None,
              ) -> tuple[TrainConfig, Run, Dataset | None]:
    """The config to train and its run: ``run`` to resume (its own config), or a new run in
    ``store`` for ``config``, created once its data has loaded (a bad source is said before
    anything is created in the store). Returns the data when it was loaded here."""
    if run is not None:
        if (why := run.resume_problem()) is not None:  # before the lock's sweep touches a file
            raise RunDamagedError(f"run {run.id} cannot be resumed: {why}")
        config = TrainConfig.from_dict(run.config)
        if not run.checkpoint_path.exists() and run.epochs_done:
            raise FileNotFoundError(f"{run.checkpoint_path} is missing; cannot resume {run.id}")
    if config is None:
        raise ValueError("give a config for a new run, or a run to resume")
    config.validate()
    if run is None:
        if data is None:
            data = load_data(config.data, stop=stop, **data_options(config))
        config = config.resolved()  # the preset's dropout, batch norm...: what is trained
        # the run remembers its data set: another one's classes are refused (check_matches)
        run = store.create({**config.to_dict(), "dataset": data.spec()})
    return config, run, data


def _run_data(run: Run, config: TrainConfig, data: Dataset | None,
              stop: threading.Event, initial_epoch: int) -> Dataset:
    """The images this run trains and tests on: the config's subset of its data set, loaded
    here for a resume (where a stop ends a first, long load too), and recorded in the run."""
    if data is None:
        data = load_data(config.data, stop=stop, **data_options(config))
    if initial_epoch:  # the model's head and input were made for the data it began on
        check_matches(run.config.get("dataset"), data, f"run {run.id}")
    elif run.config.get("dataset") != data.spec():
        run.record_dataset(data.spec())
    # what `cifar-tui code RUN` exports the loader of: the source and its classes
    run.update_state(data_source=data.source, classes=list(data.class_names))
    return subset(data, config.subset, config.test_subset)


@dataclass(frozen=True)
class _Batches:
    """The training images split into a training and a stratified validation part, as batches
    for model.fit: training ones shuffled per epoch (from ``initial_epoch`` on a resume, so
    they continue the unbroken run's order) with the short last batch dropped."""

    train_index: np.ndarray  # of data.x_train
    val_index: np.ndarray
    train: ArrayBatches
    val: ArrayBatches | None  # None without a validation split

    @classmethod
    def split(cls, data: Dataset, config: TrainConfig, initial_epoch: int) -> _Batches:
        tr, va = stratified_split(data.y_train, config.val_split, config.seed)
        k, bs = data.num_classes, config.batch_size
        train = ArrayBatches(data.x_train[tr], data.y_train[tr], bs, shuffle=True,
                             num_classes=k, seed=config.seed, epoch=initial_epoch,
                             drop_remainder=True,
                             alternate_flip=config.augment_flip and config.alternate_flip)
        val = (ArrayBatches(data.x_train[va], data.y_train[va], max(bs, 256), num_classes=k)
               if len(va) else None)
        return cls(tr, va, train, val)

    @property
    def steps(self) -> int:
        return self.train.num_batches

    @property
    def train_size(self) -> int:
        return len(self.train_index)


def _new_model(config: TrainConfig, data: Dataset, batches: _Batches) -> keras.Model:
    """The config's model for this data, compiled with its optimizer and schedule; `fast`'s
    whitening filled from a class-balanced sample of the training images."""
    stage = InputStage(scale=1 / 255 if config.normalize else 1.0,
                       flip=config.augment_flip and not config.alternate_flip,
                       pixels=config.crop_pixels if config.augment_crop else 0,
                       seed=config.seed)
    model = build_model(config.arch, stage=stage, num_classes=data.num_classes,
                        image_size=data.image_size, **config.model_options())
    tr = batches.train_index
    sample = tr[balanced_sample(data.y_train[tr], FAST["whitening"]["sample"], config.seed)]
    init_whitening(model, data.x_train[sample])
    opt = make_optimizer(config.optimizer, learning_rate(config, batches.steps),
                         config.weight_decay, config.momentum)
    opt.exclude_from_weight_decay(var_list=[  # decay would move a frozen bias
        layer.bias for layer in model.layers if isinstance(layer, FreezableBias)])
    compile_model(model, opt, config.label_smoothing, jit_compile(config),
                  steps_per_execution(config))
    return model


def _resumed_model(run: Run, steps: int) -> keras.Model:
    """The run's last committed epoch, optimizer state and all (safe_mode: no code runs)."""
    model = keras.saving.load_model(run.checkpoint_path, safe_mode=True)
    run.check_checkpoint(model, steps)
    return model


def _early_stopping(run: Run, config: TrainConfig, batches: _Batches,
                    initial_epoch: int) -> ResumableEarlyStopping | None:
    """Keras's early stopping on validation accuracy (none without patience or a validation
    split), carrying on from the best and wait a resumed run recorded."""
    if not config.patience or batches.val is None:
        return None
    state = run.state if initial_epoch else {}
    return ResumableEarlyStopping(best=state.get("es_best"), wait=int(state.get("es_wait") or 0),
                                  monitor="val_accuracy", mode="max", patience=config.patience)


def _started(run: Run, config: TrainConfig, model: keras.Model, batches: _Batches,
             initial_epoch: int, replicas: int, where: str, clock: CompileClock) -> Started:
    """The Started event, with the run's hardware (for reports' timings, with why XLA is on or
    off for `fast`) and image counts (for every accuracy shown) recorded first."""
    half = half_precision(model)
    jit, why = jit_choice(config)
    if why and bool(model.jit_compile) != jit:  # resumed from another machine's choice
        why = None
    val_size = len(batches.val_index)
    run.update_state(hardware=describe_hardware(half, why), train_images=batches.train_size,
                     val_images=val_size, versions=backend.versions())
    return Started(run.id, config.to_dict(), initial_epoch, config.epochs, batches.steps,
                   batches.train_size, val_size, model.count_params(), replicas,
                   (f"{where} in {half}" if half else where) + (f" ({why})" if why else ""),
                   compiles=clock.compiles and initial_epoch < config.epochs)


def _fit(run: Run, model: keras.Model, config: TrainConfig, batches: _Batches,
         initial_epoch: int, early: ResumableEarlyStopping | None, times: _Times,
         callbacks: Sequence[keras.callbacks.Callback | None]) -> RunStatus:
    """model.fit from ``initial_epoch`` to the config's last epoch; the run's status after it."""
    if early is not None and initial_epoch > 1 and early.wait_exhausted():
        # It had already stopped early (killed during its test evaluation, say): Keras's rule
        # met at the last committed epoch; training on would add an epoch that the unbroken
        # run never trained.
        return RunStatus.EARLY_STOPPED
    if initial_epoch >= config.epochs:
        return RunStatus.FINISHED
    try:
        with times.fitting():
            model.fit(batches.train, validation_data=batches.val, epochs=config.epochs,
                      initial_epoch=initial_epoch, verbose=0,
                      callbacks=[c for c in callbacks if c is not None])
    except StopRequested:
        return RunStatus.STOPPED
    except Pruned:
        return RunStatus.PRUNED
    if early is not None and early.stopped_epoch > 0 and run.epochs_done < config.epochs:
        return RunStatus.EARLY_STOPPED
    return RunStatus.FINISHED


def _finish(run: Run, data: Dataset, status: RunStatus, evaluate: bool, times: _Times,
            clock: CompileClock, emit: Listener) -> Run:
    """Test the run's best weights (unless it was stopped or pruned), record its status and
    times, and say so."""
    evaluation = None
    if evaluate and status.complete and run.model_path.exists():
        evaluation = evaluate_run(run, data)
    total, wall = times.train_seconds(), times.wall_seconds()
    cache = clock.cache_counts()
    run.update_state(status=status, train_seconds=total, wall_seconds=wall,
                     **({"compile_cache": {"loaded": cache[0], "compiled": cache[1]}}
                        if cache else {}))
    emit(Finished(run.id, status, run.epochs_done, run.state.get("best_val_accuracy"),
                  evaluation, total, run.weights_note() if evaluation else None, wall,
                  compile_seconds=run.compile_seconds, cache=cache))
    return run


def _record_end(run: Run, exc: BaseException, times: _Times, emit: Listener) -> None:
    """Record how a training that raised ended: stopped when it was asked to (Ctrl-C, a stop
    during the first data load), else failed, with the message the user reads."""
    total, wall = times.train_seconds(), times.wall_seconds()
    if isinstance(exc, KeyboardInterrupt | LoadCancelled):  # asked for: not a failure
        run.update_state(status=RunStatus.STOPPED, train_seconds=total, wall_seconds=wall)
        emit(Finished(run.id, RunStatus.STOPPED, run.epochs_done,
                      run.state.get("best_val_accuracy"), None, total, None, wall))
        return
    message = error_message(exc, "train")  # a bug: "unexpected error", traceback logged
    run.update_state(status=RunStatus.FAILED, error=message, train_seconds=total, wall_seconds=wall)
    emit(Failed(run.id, message))


def load_run_model(run: Run) -> keras.Model:
    """The run's best model, loaded with safe_mode on (no code from the file runs)."""
    path, _ = run.evaluation_weights()
    if not path.exists():
        raise FileNotFoundError(f"run {run.id} has no saved model yet (no finished epoch)")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except (TypeError, ValueError, KeyError, OSError) as exc:  # a damaged or foreign file
        what = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ValueError(f"{path}: not a model this tool can load safely ({what}). Retrain the "
                         "run, or restore the file.") from None


def evaluate_run(run: Run, data: Dataset | None = None) -> Evaluation:
    """Evaluate the run's best model on its test set; store metrics.json and predictions.

    ``data``: the full dataset (default: the run's source); the run's own subset is applied here
    (a no-op on data that is already that subset). Data with other classes than the run was
    trained on is refused (DataError).
    """
    cfg = TrainConfig.from_dict(run.config)
    if data is None:
        data = load_data(cfg.data, **data_options(cfg))
    check_matches(run.config.get("dataset"), data, f"run {run.id}")
    data = subset(data, cfg.subset, cfg.test_subset)
    # Under the run's lock, as every writer of a run: a run another process trains is refused
    # (RunLockedError), not given a metrics.json of weights its trainer is replacing. The
    # trainer's own evaluation takes it again in the thread that holds it.
    with run.lock(reenter=True):
        _, weights = run.evaluation_weights()  # the file load_run_model loads
        model = load_run_model(run)
        probs = predict_probs(model, data.x_test, normalize=cfg.normalize, tta=cfg.tta)
        ev = evaluate_probs(probs, data.y_test, data.class_names)
        run.save_predictions(probs, data.y_test)
        run.write_metrics({**ev.to_dict(), **weights})
    return ev
