"""Sweeps: an Optuna study whose every trial is an ordinary run of the run store. No UI code.

    <runs>/studies/NAME/study.json     where the study lives (its storage URL), so that the TUI,
                                       ``sweep --status`` and ``sweep --join`` find it by name
    <runs>/studies/NAME/journal.log    the study itself, by default (Optuna's journal file:
                                       no server, safe for several processes on one machine)
    <runs>/studies/NAME/worker-*.log   what each detached worker printed

With ``--storage postgresql://...`` (any URL Optuna's RDB storage takes) the study is in that
database instead, and workers on other machines join it with ``sweep --join NAME --storage URL``.

The study's user attribute ``cifar_tui`` holds what a worker needs to run a trial (the base
config, the space's specs, the sampler, the pruner, how many trials): a joining worker needs
nothing but the study's name and storage. A trial creates a run (tagged ``study`` and ``trial``
in its state), trains it with a callback that reports the validation accuracy of each epoch to
the pruner, and returns the run's best validation accuracy.

A worker that dies mid-trial (kill -9, a lost machine) leaves a RUNNING trial that no one will
finish. On one machine its owner record (pid, start time, boot) says at once that it is dead;
across machines the RDB storage's heartbeat says so after its grace period. Either way the
trial is marked failed and Optuna's ``RetryHeartbeatStaleTrialCallback`` queues it again with
the same parameters; the worker that takes the retry resumes the dead trial's run from its last
finished epoch, so nothing trained is lost.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import TrainConfig
from .procs import boot_id, process_start
from .runs import Owner, Run, RunStore, atomic_write_text
from .space import Param, SpecError, grid_size, is_grid, parse_space
from .status import RunStatus

if TYPE_CHECKING:
    import optuna

STUDIES = "studies"
JOURNAL = "journal.log"
RECORD = "study.json"
ATTR = "cifar_tui"
SAMPLERS = ("auto", "grid", "tpe", "random")
PRUNERS = ("median", "none")
DEFAULT_TRIALS = 20
# RDB storage: a worker's heartbeat every HEARTBEAT_S; a RUNNING trial silent for GRACE_S is a
# dead worker's (on another machine: on this one the owner record says so at once).
HEARTBEAT_S, GRACE_S = 10, 60
MAX_RETRY = 3  # a trial whose workers keep dying is given up after this many retries
POLL_S = 2.0  # how often an idle worker looks for a trial to take over
FAILURES_IN_A_ROW = 3  # a worker whose trials all fail (no data, a bad config) stops
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Surplus(Exception):
    """A trial started after the study had all the trials it asks for (two workers asked at
    once): it trains nothing and is left out of every view."""


@dataclass(frozen=True)
class Setup:
    """What a study runs, stored with it (the study's ``cifar_tui`` user attribute)."""

    base: dict  # the TrainConfig every trial starts from
    space: list[str]  # --param specs, canonical
    sampler: str  # grid, tpe, random
    pruner: str  # median, none
    trials: int  # finished trials wanted, across all workers

    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.base)

    def params(self) -> list[Param]:
        return parse_space(self.space, self.config())


# -- where studies live -------------------------------------------------------------------------


def study_dir(root: Path, name: str) -> Path:
    return Path(root) / STUDIES / name


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise ValueError(f"study name {name!r}: use letters, digits, '.', '_' and '-' (at most "
                         "64, not starting with '.' or '-')")
    return name


def hide_password(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _is_url(storage: str) -> bool:
    return "://" in storage


def record(root: Path, name: str, storage: str | None) -> Path:
    """Write ``<runs>/studies/NAME/study.json``: the study's storage URL (None: the journal file
    beside it). Readable by its owner only: a database URL may hold a password."""
    folder = study_dir(root, name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RECORD
    atomic_write_text(path, json.dumps({"name": name, "storage": storage,
                                        "created": time.strftime("%Y-%m-%d %H:%M:%S")}))
    os.chmod(path, 0o600)
    return folder


def storage_of(root: Path, name: str, storage: str | None = None) -> str:
    """The storage URL (or journal file path) of study ``name``: ``storage`` when given, else
    what its study.json records, else LookupError."""
    check_name(name)
    if storage:
        return storage
    folder = study_dir(root, name)
    try:
        recorded = json.loads((folder / RECORD).read_text(encoding="utf-8")).get("storage")
    except FileNotFoundError:
        known = ", ".join(list_studies(root)[:8]) or "none yet"
        raise LookupError(f"no study {name!r} in {Path(root) / STUDIES} (studies here: {known}); "
                          "a study in a database: give its --storage URL") from None
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(f"{folder / RECORD} is unreadable ({exc}); give --storage URL") from None
    return recorded if isinstance(recorded, str) and recorded else str(folder / JOURNAL)


def list_studies(root: Path) -> list[str]:
    """The studies recorded in this runs folder, newest first."""
    base = Path(root) / STUDIES
    if not base.is_dir():
        return []
    found = [p for p in base.iterdir() if (p / RECORD).is_file() and NAME_RE.match(p.name)]
    return [p.name for p in sorted(found, key=lambda p: (p / RECORD).stat().st_mtime,
                                   reverse=True)]


_STORAGES: dict[str, optuna.storages.BaseStorage] = {}
_STORAGES_LOCK = threading.Lock()


def open_storage(storage: str) -> optuna.storages.BaseStorage:
    """Optuna's storage for a URL (RDB, with heartbeat and retries) or a journal file path; one
    per URL in a process (the Study view reads its study every few seconds: one database
    connection pool, one journal read incrementally, not one more each time)."""
    with _STORAGES_LOCK:
        if storage not in _STORAGES:
            _STORAGES[storage] = _open_storage(storage)
        return _STORAGES[storage]


def _open_storage(storage: str) -> optuna.storages.BaseStorage:
    import optuna

    _quiet_optuna()
    if not _is_url(storage):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(storage))
    try:
        return optuna.storages.RDBStorage(
            _driver(storage), heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                MAX_RETRY))
    except ImportError as exc:
        raise ValueError(f"storage {hide_password(storage)}: its database driver is missing "
                         f"({exc}); for PostgreSQL: pip install 'cifar-tui[postgres]'") from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's: unreachable server, bad URL
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ValueError(f"cannot open the study storage {hide_password(storage)}: {first}") \
            from None


def _driver(url: str) -> str:
    """A plain ``postgresql://`` URL with the driver installed: SQLAlchemy 2.1 reads it as
    psycopg 3, the ``postgres`` extra installs psycopg2 (its binary wheel)."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def _quiet_optuna() -> None:
    import optuna

    # Each trial is logged by the worker itself, with its run; Optuna's lines would repeat it.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def load(root: Path, name: str, storage: str | None = None,
         ) -> tuple[optuna.Study, Setup, str]:
    """The study, its setup and its storage URL."""
    import optuna

    url = storage_of(root, name, storage)
    if not _is_url(url) and not Path(url).exists():
        raise LookupError(f"study {name!r}: its journal {url} is missing")
    try:
        study = optuna.load_study(study_name=name, storage=open_storage(url))
    except KeyError:
        raise LookupError(f"no study {name!r} in {hide_password(url)}") from None
    attrs = study.user_attrs.get(ATTR)
    try:
        setup = Setup(**attrs)
    except TypeError:
        raise ValueError(f"study {name!r} in {hide_password(url)} was not made by cifar-tui "
                         "sweep (it has no setup to run trials from)") from None
    return study, setup, url


def _sampler(setup: Setup) -> optuna.samplers.BaseSampler:
    import optuna

    if setup.sampler == "grid":
        return optuna.samplers.GridSampler({p.name: list(p.choices) for p in setup.params()})
    if setup.sampler == "random":
        return optuna.samplers.RandomSampler()
    return optuna.samplers.TPESampler()


def _pruner(setup: Setup) -> optuna.pruners.BasePruner:
    import optuna

    if setup.pruner == "none":
        return optuna.pruners.NopPruner()
    # An epoch-1 accuracy says little; three trials make the first median. Steps are epochs
    # from 1, and Optuna prunes from step == n_warmup_steps on: 2 is "not before epoch 2".
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)


# -- making a study ---------------------------------------------------------------------------


def create(root: Path, base: TrainConfig, specs: list[str], *, name: str | None = None,
           sampler: str = "auto", pruner: str = "median", trials: int | None = None,
           storage: str | None = None) -> tuple[str, Setup]:
    """Make a study of ``base`` over ``specs`` (none: the architecture's default space) and
    record it in ``root``; its name and setup. Every check is made here, before any worker
    starts: bad specs, a sampler that does not fit the space, a base config without
    validation."""
    import optuna

    base.validate()
    if base.val_split <= 0:
        raise ValueError("a sweep ranks trials by validation accuracy: --val-split must be "
                         "above 0")
    params = parse_space(specs, base)
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose from {', '.join(SAMPLERS)}")
    if pruner not in PRUNERS:
        raise ValueError(f"unknown pruner {pruner!r}; choose from {', '.join(PRUNERS)}")
    if sampler == "auto":
        sampler = "grid" if is_grid(params) else "tpe"
    if sampler == "grid" and not is_grid(params):
        ranged = next(p.name for p in params if p.choices is None)
        raise SpecError(f"--sampler grid needs a list for every --param; {ranged} is a range "
                        f"(list its values, e.g. {ranged}=A,B,C, or use --sampler tpe)")
    if trials is not None and trials < 1:
        raise ValueError("--trials must be at least 1")
    if sampler == "grid":
        trials = min(trials or grid_size(params), grid_size(params))
    name = check_name(name or f"{base.arch}-{time.strftime('%Y%m%d-%H%M%S')}")
    setup = Setup(base.to_dict(), [p.spec for p in params], sampler, pruner,
                  trials or DEFAULT_TRIALS)
    url = storage or str(study_dir(root, name) / JOURNAL)
    if not _is_url(url):
        if (study_dir(root, name) / RECORD).exists():
            raise ValueError(f"study {name!r} exists: add workers with cifar-tui sweep --join "
                             f"{name}, or choose another --name")
        study_dir(root, name).mkdir(parents=True, exist_ok=True)
    try:
        study = optuna.create_study(study_name=name, storage=open_storage(url),
                                    direction="maximize")
    except optuna.exceptions.DuplicatedStudyError:
        raise ValueError(f"study {name!r} exists in {hide_password(url)}: add workers with "
                         f"cifar-tui sweep --join {name} --storage URL, or choose another "
                         "--name") from None
    study.set_user_attr(ATTR, asdict(setup))
    record(root, name, storage)
    return name, setup


# -- a worker ---------------------------------------------------------------------------------


def _retried(trials: list) -> set[int]:
    """Numbers of the failed trials that were queued again (RetryHeartbeatStaleTrialCallback)."""
    out: set[int] = set()
    for t in trials:
        out.update(t.system_attrs.get("retry_history") or ())
    return out


def t_surplus(t: Any) -> bool:  # noqa: ANN401 - a FrozenTrial
    return bool(t.user_attrs.get("surplus"))


def _counted(t: Any, retried: set[int]) -> bool:  # noqa: ANN401 - a FrozenTrial
    """Whether a trial counts towards the study's ``trials``: not a surplus one, nor one that
    failed because its worker died and was queued again (its retry counts instead)."""
    from optuna.trial import TrialState

    return not t_surplus(t) and not (t.state == TrialState.FAIL and t.number in retried)


def tally(trials: list) -> dict[str, int]:
    """How many trials are done (complete, pruned, failed for good), running and waiting;
    surplus trials and trials queued again after their worker died are not counted."""
    from optuna.trial import TrialState

    retried = _retried(trials)
    out = {"complete": 0, "pruned": 0, "failed": 0, "running": 0, "waiting": 0}
    for t in trials:
        if not _counted(t, retried):
            continue
        key = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
               TrialState.FAIL: "failed", TrialState.RUNNING: "running",
               TrialState.WAITING: "waiting"}.get(t.state)
        if key:
            out[key] += 1
    out["done"] = out["complete"] + out["pruned"] + out["failed"]
    return out


def _owner_record() -> dict:
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "start": process_start(pid),
            "boot": boot_id(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}


def fail_dead_trials(study: optuna.Study) -> list[int]:
    """Mark failed the RUNNING trials whose worker is certainly dead (this machine's pids;
    other machines' through the RDB heartbeat) and queue each again; their numbers."""
    import optuna
    from optuna.trial import TrialState

    optuna.storages.fail_stale_trials(study)  # the heartbeat (RDB); a no-op for a journal
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRY)
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        try:
            owner = Owner(**worker)
        except TypeError:
            continue  # it has not said who runs it yet (milliseconds after its start)
        if owner.alive():
            continue
        try:
            if not study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker saw it first
        retry(study, study._storage.get_trial(t._trial_id))
        failed.append(t.number)
    return failed


def _resumable(store: RunStore, trial: optuna.Trial) -> Run | None:
    """The run of the trial this one retries, when it can go on from its last epoch."""
    import optuna

    frozen = trial.study._storage.get_trial(trial._trial_id)
    if optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen) is None:
        return None
    run_id = frozen.user_attrs.get("run")
    if not isinstance(run_id, str) or not (store.root / run_id / "config.json").exists():
        return None
    run = Run(store.root / run_id)
    status = run.status
    if (status is RunStatus.CREATED or status.cut_short) and run.owner() is None \
            and run.damage() is None:
        return run
    return None


def _describe(values: dict) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in values.items())


def work(root: Path, name: str, storage: str | None = None, *,
         trainer: Callable[..., Run] | None = None, stop: threading.Event | None = None,
         say: Callable[[str], None] = print,
         pruner: optuna.pruners.BasePruner | None = None) -> int:
    """Run trials of study ``name`` until it has its number of finished trials (this worker's
    and every other's) or ``stop`` is set; the number of trials this worker trained.

    ``trainer``: ``trainer.train`` or a stand-in with its keywords (``run``, ``store``,
    ``stop``, ``listener``, ``callbacks``); ``pruner``: another Optuna pruner than the
    study's (a test's or a benchmark's)."""
    import optuna

    study, setup, _ = load(root, name, storage)
    study.sampler, study.pruner = _sampler(setup), pruner or _pruner(setup)
    params, base = setup.params(), setup.config()
    store = RunStore(root)
    stop = stop or threading.Event()
    if trainer is None:
        from .trainer import train as trainer
    from .callbacks import ReportEpochs
    from .space import apply

    ran, failures = 0, 0
    last_error: list[str] = []

    def objective(trial: optuna.Trial) -> float:
        try:
            return run_trial(trial)
        except (optuna.TrialPruned, Surplus):
            raise
        except Exception as exc:
            from .errors import error_message

            last_error.append(error_message(exc, "sweep"))
            raise

    def run_trial(trial: optuna.Trial) -> float:
        # Two workers may ask for a trial at once when one is missing: trial numbers are
        # handed out one by one by the storage, so the later one knows it is one too many.
        trials = study.get_trials(deepcopy=False)
        retried = _retried(trials)
        if sum(1 for t in trials if t.number < trial.number
               and _counted(t, retried)) >= setup.trials:
            trial.set_user_attr("surplus", True)
            last_error.append("surplus")
            raise Surplus(f"trial {trial.number}: the study has its {setup.trials} trials")
        trial.set_user_attr("worker", _owner_record())
        values = {p.name: p.suggest(trial) for p in params}
        config = apply(base, values)
        config.validate()
        run = _resumable(store, trial) or store.create(config.to_dict())
        trial.set_user_attr("run", run.id)
        with run.lock():  # as every writer of a run (the trainer takes it again next)
            run.update_state(study=name, trial=trial.number)
        resumed = f", resuming run {run.id} after epoch {run.epochs_done}" \
            if run.epochs_done else f", run {run.id}"
        say(f"trial {trial.number}: {_describe(values)}{resumed}")
        run = trainer(run=run, store=store, stop=stop, listener=_printer(trial.number, say),
                      callbacks=[ReportEpochs(trial.report, trial.should_prune)])
        status = run.status
        if status is RunStatus.PRUNED:
            say(f"trial {trial.number}: pruned at epoch {run.epochs_done}")
            raise optuna.TrialPruned(f"pruned at epoch {run.epochs_done}")
        if status is RunStatus.STOPPED:
            raise KeyboardInterrupt
        best = run.summary()["best_val_accuracy"]
        if best is None or not math.isfinite(best):
            raise ValueError(f"run {run.id} has no validation accuracy")
        say(f"trial {trial.number}: {status}, best val accuracy {best:.4f}")
        return best

    while not stop.is_set():
        fail_dead_trials(study)
        count = tally(study.get_trials(deepcopy=False))
        if count["done"] >= setup.trials:
            break
        if count["done"] + count["running"] >= setup.trials and not count["waiting"]:
            stop.wait(POLL_S)  # the last trials are others': take one over if its worker dies
            continue
        last_error.clear()
        try:
            study.optimize(objective, n_trials=1, catch=(Exception,))
        except KeyboardInterrupt:
            _requeue_stopped(study)
            say("stopped: the trial in progress goes back to the study; its run resumes "
                f"from its last finished epoch (cifar-tui sweep --join {name})")
            break
        if last_error and last_error[0] == "surplus":
            continue
        ran += 1
        failures = failures + 1 if last_error else 0
        if last_error:
            say(f"failed: {last_error[0]}")
        if failures >= FAILURES_IN_A_ROW:
            say(f"stopping: {failures} trials in a row failed (last: {last_error[0]})")
            break
    return ran


def _printer(number: int, say: Callable[[str], None]) -> Callable[[object], None]:
    """A training listener for a worker's log: the run's epoch lines, after the trial's
    number."""
    from .events import BatchProgress, Failed, describe

    def listen(event: object) -> None:
        if not isinstance(event, BatchProgress | Failed):
            text = describe(event)
            if text:
                say(f"trial {number}: {text}")
    return listen


def _requeue_stopped(study: optuna.Study) -> None:
    """A stopped worker's trial (SIGTERM, Ctrl-C): failed, and queued again like a dead
    worker's, so the next worker resumes its run."""
    import optuna
    from optuna.trial import TrialState

    mine = os.getpid()
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        worker = t.user_attrs.get("worker") or {}
        if worker.get("pid") == mine and worker.get("host") == socket.gethostname() \
                and t.number not in _retried(study.get_trials(deepcopy=False)) \
                and not t_surplus(t):
            optuna.storages.RetryHeartbeatStaleTrialCallback(MAX_RETRY)(study, t)


# -- workers in the background ----------------------------------------------------------------


def gpu_count() -> int:
    """The GPUs this machine lets us use, without loading a framework: CUDA_VISIBLE_DEVICES
    when set, else NVML's count (0 with no NVIDIA driver)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no driver, no library: no GPU
        return 0


def worker_env(index: int, gpus: int) -> dict[str, str]:
    """Environment changes for worker ``index``: on a GPU box, its own GPU (round robin), and
    the frameworks told to take memory as they need it, so that workers sharing a GPU fit."""
    if not gpus:
        return {}
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [d.strip() for d in visible.split(",")] if visible else [str(i) for i in range(gpus)]
    return {"CUDA_VISIBLE_DEVICES": ids[index % len(ids)],
            "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def start_workers(root: Path, name: str, storage: str | None = None,
                  workers: int | None = None) -> list[tuple[int, Path]]:
    """Start ``workers`` detached worker processes (default: one per GPU, one on a CPU), each
    like ``train --detach``: they outlive this terminal. Their (pid, log)."""
    from .live import spawn_detached

    gpus = gpu_count()
    n = workers or max(1, gpus)
    if n < 1:
        raise ValueError("--workers must be at least 1")
    folder = study_dir(root, name)
    folder.mkdir(parents=True, exist_ok=True)
    args = ["--runs", str(Path(root).resolve()), "sweep", "--join", name, "--foreground"]
    if storage and _is_url(storage):
        args += ["--storage", storage]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = []
    for i in range(n):
        log = folder / f"worker-{stamp}-{i + 1}.log"
        out.append((spawn_detached(args, log, worker_env(i, gpus)), log))
    return out


# -- what a study looks like ------------------------------------------------------------------

_IMPORTANCE_CACHE: dict[tuple, dict[str, float]] = {}


def importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's parameter importances (its default evaluator, PED-ANOVA) over the complete
    trials; {} with fewer than two, or when every one had the same values. Cached per set of
    complete trials."""
    import optuna
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    key = (study.study_name, tuple(sorted(t.number for t in done)))
    if key in _IMPORTANCE_CACHE:
        return _IMPORTANCE_CACHE[key]
    result: dict[str, float] = {}
    if len(done) >= 2:
        import warnings

        try:
            with warnings.catch_warnings():  # "quantiles select the same set": few trials
                warnings.simplefilter("ignore")
                result = {k: float(v) for k, v in
                          optuna.importance.get_param_importances(study).items()}
        except (ValueError, RuntimeError, ZeroDivisionError):
            result = {}  # one value per parameter so far: nothing to apportion
    _IMPORTANCE_CACHE[key] = result
    return result


def _trial_row(t: Any, store: RunStore) -> dict:  # noqa: ANN401 - FrozenTrial
    from .live import read_progress

    state = t.state.name.lower().replace("fail", "failed")
    run_id = t.user_attrs.get("run")
    run = Run(store.root / run_id) if isinstance(run_id, str) and run_id else None
    if run is not None and not (run.path / "config.json").exists():
        run = None
    # the epoch its run is at (running: the one in progress), else the last one reported
    epoch = max(t.intermediate_values, default=None)
    epochs = run.epochs_planned if run is not None else None
    if run is not None:
        progress = read_progress(run) if t.state.name == "RUNNING" else None
        epoch = int(progress.get("epoch", 0)) if progress else run.epochs_done
    reported = [v for step, v in sorted(t.intermediate_values.items())]
    value = t.value if t.state.name == "COMPLETE" else (reported[-1] if reported else None)
    retried_from = t.system_attrs.get("failed_trial")
    return {"number": t.number, "state": state, "epoch": epoch, "epochs": epochs or None,
            "params": dict(t.params), "value": value, "run": run.id if run else None,
            "run_status": run.status if run else None, "retry_of": retried_from}


def status(root: Path, name: str, storage: str | None = None,
           with_importances: bool = True) -> dict:
    """Study ``name`` as plain data (``sweep --status --json``, the Study view, the report):
    its setup, counts, best trial, every trial (state, epoch, parameters, value, best so far,
    run) and the parameter importances."""
    study, setup, url = load(root, name, storage)
    store = RunStore(root)
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    rows, best = [], None
    for t in trials:
        if t_surplus(t):
            continue
        row = _trial_row(t, store)
        if row["state"] == "complete" and row["value"] is not None \
                and (best is None or row["value"] > best["value"]):
            best = row
        row["best_so_far"] = best["value"] if best else None
        rows.append(row)
    return {"name": name, "storage": hide_password(url), "arch": setup.base.get("arch"),
            "sampler": setup.sampler, "pruner": setup.pruner, "space": setup.space,
            "target": setup.trials, "counts": tally(trials), "best": best, "trials": rows,
            "importances": importances(study) if with_importances else {}}


def status_text(s: dict) -> str:
    """``sweep --status`` as text: a header, the trials table, the importances."""
    c = s["counts"]
    lines = [f"study {s['name']}: {s['arch']}, {s['sampler']} sampler, "
             f"{'median pruning' if s['pruner'] == 'median' else 'no pruning'}, "
             f"{c['done']}/{s['target']} trials done ({c['complete']} complete, {c['pruned']} "
             f"pruned, {c['failed']} failed), {c['running']} running",
             f"space: {'  '.join(s['space'])}", f"storage: {s['storage']}"]
    if s["best"]:
        b = s["best"]
        lines.append(f"best: trial {b['number']}, val accuracy {b['value']:.4f}, "
                     f"{_describe(b['params'])}, "
                     + (f"run {b['run']}" if b["run"] else "its run in another runs folder"))
    lines.append("")
    lines.append(f"{'#':>3}  {'state':<12}{'epoch':>7}  {'value':>7}  {'best':>7}  "
                 f"{'run':<28}params")
    for r in s["trials"]:
        lines.append(f"{r['number']:>3}  {state_text(r):<12}{epoch_text(r):>7}  "
                     f"{_num(r['value']):>7}  {_num(r['best_so_far']):>7}  "
                     f"{(r['run'] or '-'):<28}{_describe(r['params'])}")
    if s["importances"]:
        lines.append("")
        lines.append("parameter importance (Optuna's PED-ANOVA, complete trials)")
        lines.extend(f"  {k:<20}{v:6.1%}" for k, v in s["importances"].items())
    return "\n".join(lines)


def state_text(row: dict) -> str:
    """A trial's state as the views show it: ``complete``, ``pruned``, ``failed``,
    ``running``, ``waiting``, ``retry of 3``."""
    if row["state"] == "waiting" and row.get("retry_of") is not None:
        return f"retry of {row['retry_of']}"
    return row["state"]


def epoch_text(row: dict) -> str:
    if row["epoch"] is None:
        return "-"
    return f"{row['epoch']}/{row['epochs']}" if row.get("epochs") else str(row["epoch"])


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
