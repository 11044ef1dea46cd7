"""The run store: one folder per training run, every file written atomically. No UI code.

    runs/<id>/config.json     the TrainConfig
    runs/<id>/state.json      status, pid, last finished epoch, early-stopping state, the
                              names of the checkpoint and best model of that epoch, and
                              train_seconds: the time in model.fit of every training
                              session so far (a resume adds its own; committed with each
                              epoch), wall_seconds: their wall time, data loading and
                              evaluation included, and compile_cache: the last session's
                              programs loaded from the persistent compilation cache and
                              compiled (JAX); a sweep's trial also has ``study`` and
                              ``trial`` (its number there)
    runs/<id>/history.csv     one row per finished epoch (its seconds, and compile_seconds:
                              how many of them went to compiling)
    runs/<id>/checkpoint-NNNN.keras  model + optimizer after epoch NNNN (for --resume)
    runs/<id>/model-NNNN.keras  the best model so far (by val accuracy), from epoch NNNN
    runs/<id>/metrics.json    test-set evaluation, with the epoch of the weights it used
    runs/<id>/predictions.npz test-set probabilities
    runs/<id>/lock            who holds the run's lock (the kernel flock is on the folder)
    runs/<id>/spawn.json      a background trainer started for the run that has not begun yet

Crash consistency: an epoch is committed by ONE atomic rename, that of state.json. Its model
files are written first under new names, and history.csv before state.json; readers trust only
what state.json points at (history rows past its ``epochs_done`` are ignored, and dropped from
the file when the run is next locked), so a writer killed at any instant leaves the previous
epoch's state intact and a resume continues exactly after the last epoch history shows. Runs
written before this scheme (checkpoint.keras, model.keras) still load.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import re
import socket
import stat
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import CLASSES
from .procs import boot_id, pid_alive, process_start
from .status import RunStatus

ENV_RUNS = "CIFAR_TUI_RUNS"
HISTORY_FIELDS = ("epoch", "accuracy", "loss", "val_accuracy", "val_loss", "learning_rate",
                  "seconds", "images_per_sec", "compile_seconds")


class StorageError(OSError):
    """Writing a run failed (full disk, permissions); earlier files are intact."""


class RunDamagedError(ValueError):
    """A run's files are unreadable or disagree with each other; the message says which."""


def default_root() -> Path:
    return Path(os.environ.get(ENV_RUNS, "runs"))


def _umask() -> int:
    # os.umask can only be read by setting it; do that once, before any worker thread exists.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()
TMP_PREFIX = ".tmp-"  # every temp file of a run starts with this; a killed writer's are swept
# What sweep may delete: the model files and temp files this store names, nothing else.
OUR_MODEL = re.compile(r"(checkpoint|model)(-\d{4,})?\.keras")
OUR_TEMP = re.compile(r"\.tmp-[\w.-]+")


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temp file in the same folder, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_PREFIX}{path.stem}-",
                               suffix=path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, FILE_MODE)  # mkstemp makes 0600; run files are ordinary files
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        what = "the disk is full" if exc.errno == errno.ENOSPC else str(exc)
        raise StorageError(exc.errno, f"could not write {path}: {what}. Free space or "
                           "choose another --runs folder; files already saved are intact.") from exc
    finally:
        tmp_path.unlink(missing_ok=True)


READ_CAP = 64 * 2**20  # no run file this app writes comes near this; bigger ones are not ours


def open_run_file(path: Path, flags: int, mode: int = FILE_MODE) -> int:
    """os.open for a file in a run folder, never through a symbolic link (a link planted as
    ``lock`` or ``train.log`` must not make the store write its target)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StorageError(exc.errno, f"{path} is a symbolic link; run files are never "
                               "written through one. Remove it.") from None
        raise


def read_run_text(path: Path, cap: int = READ_CAP) -> str:
    """A run file's text, read without following a symbolic link or blocking on a FIFO, and
    refused beyond ``cap`` bytes (a link to /dev/zero or a huge file must not fill memory)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"{path.name} is a symbolic link, not a run file") from None
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        data = f.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"{path.name} is over {cap // 2**20} MiB, far more than a run writes")
    return data.decode("utf-8")


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (a power cut must not undo the commit after later writes)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_save_model(model, path: Path) -> None:  # noqa: ANN001 - keras.Model
    _atomic(path, lambda p: model.save(p))


def _file_name(value: object, default: str) -> str:
    """A file name that state.json points at, never a path out of the run's folder."""
    if isinstance(value, str) and value and Path(value).name == value and value[0] != ".":
        return value
    return default


def _optimizer_steps(model) -> int | None:  # noqa: ANN001 - keras.Model
    opt = getattr(model, "optimizer", None)
    try:
        return int(opt.iterations.numpy())
    except AttributeError:
        return None


# -- the run lock: one trainer per run -------------------------------------------------------

LOCK_NAME = "lock"
LOCK_RECORD_CAP = 4096
LOCK_WAIT_S = 1.0  # a viewer's probe (Run.lock_held) holds a shared lock for microseconds


def _open_run_dir(path: Path) -> int:
    """A descriptor of the run folder itself, refused when the folder is a symbolic link (a run
    is trained only inside its store)."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and path.is_symlink():
            raise StorageError(exc.errno, f"run folder {path} is a symbolic link; a run is "
                               "trained only in its own folder inside --runs") from None
        raise StorageError(exc.errno, f"cannot open run folder {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class Owner:
    """The process that holds a run's lock."""

    pid: int
    host: str
    since: str  # when it took the lock, local time
    start: float | None = None  # process_start(pid) when it took the lock
    boot: str | None = None

    def describe(self) -> str:
        if self.pid <= 0:  # the kernel lock is held but its record was removed
            return "a process whose lock record is gone"
        return f"pid {self.pid} on {self.host} since {self.since}"

    def alive(self) -> bool:
        """False when this owner is certainly gone (another host's process is assumed alive)."""
        if self.host != socket.gethostname():
            return True
        if self.boot is not None and self.boot != boot_id():
            return False
        if not pid_alive(self.pid):
            return False
        return self.start is None or process_start(self.pid) == self.start

    @classmethod
    def read(cls, path: Path) -> Owner | None:
        """The owner recorded in a lock file (alive or not); None if it records none."""
        try:
            d = json.loads(read_run_text(path, LOCK_RECORD_CAP) or "null")
            return cls(pid=int(d["pid"]), host=str(d["host"]), since=str(d["since"]),
                       start=None if d.get("start") is None else float(d["start"]),
                       boot=None if d.get("boot") is None else str(d["boot"]))
        except (OSError, ValueError, TypeError, KeyError):
            return None


# -- the spawn record: a background trainer on its way ------------------------------------

SPAWN_NAME = "spawn.json"
# How long a "created" run with neither a spawn record nor an owner counts as starting: the
# process that creates a run locks it or records the trainer it spawns within milliseconds.
START_GRACE_S = 30.0
LOG_TAIL_BYTES = 4096  # what is read of a dead trainer's log to quote its last line


@dataclass(frozen=True)
class Spawn:
    """A trainer process started for a run (``--detach``, ``q`` -> background) that has not
    begun training it yet: between its start and its first "running" state it holds no lock
    (it is importing Keras, seconds), so without this record a dead one would look like a run
    still starting, for ever. The process that starts it writes ``spawn.json``; the next trainer
    of the run to write its "running" state removes it. A record whose process is gone is a
    start that failed, and says where that process's log is."""

    owner: Owner  # the spawned process
    log: str
    time: float  # when it was started (time.time())

    @classmethod
    def read(cls, path: Path) -> Spawn | None:
        owner = Owner.read(path)
        if owner is None:
            return None
        try:
            d = json.loads(read_run_text(path, LOCK_RECORD_CAP))
            return cls(owner, str(d.get("log") or ""), float(d.get("time") or 0.0))
        except (OSError, ValueError, TypeError, AttributeError):
            return None


def _log_tail(path: str) -> str:
    """The last non-empty line of a log (its end only: a log can be large)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - LOG_TAIL_BYTES))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


class RunLockedError(RuntimeError):
    """Another live process trains this run."""

    def __init__(self, run_id: str, owner: Owner | None) -> None:
        self.run_id, self.owner = run_id, owner
        who = owner.describe() if owner else "another process"
        stop = f" (Ctrl-C there, or kill -TERM {owner.pid})" if owner and owner.pid > 0 else ""
        super().__init__(f"run {run_id} is live: {who} is training it. Stop that training "
                         f"first{stop}, or watch it; one run has one trainer at a time.")


# The runs whose lock this process holds: (device, inode) of the folder -> the holding thread.
_HELD: dict[tuple[int, int], int] = {}
_HELD_GUARD = threading.Lock()


class RunLock:
    """An exclusive lock on a run, held while a process trains it.

    The mutex is the kernel's ``flock`` on the run folder itself: atomic, released by the kernel
    when its holder dies however it dies (a stale lock is simply taken over), and nothing a
    user's ``rm`` can split -- removing a file would let a second trainer lock a new one. The
    ``lock`` file only records the holder (pid, process start time, host, since when) so others
    can say who owns a run; whether anyone does is asked of the kernel (``Run.lock_held``).
    """

    def __init__(self, run: Run) -> None:
        self.run, self.path = run, run.path / LOCK_NAME
        self._fd: int | None = None  # the run folder, locked
        self._record: int | None = None
        self._nested = False  # taken again by the thread that holds it (see acquire)
        self._key: tuple[int, int] | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None or self._nested

    def acquire(self, reenter: bool = False) -> RunLock:
        """Take the lock or raise RunLockedError naming the live owner. ``reenter``: a writer
        called by the one that holds the lock, in its thread (the trainer's test evaluation),
        writes under that hold; any other taker, in this process too, is refused."""
        import fcntl

        fd = _open_run_dir(self.run.path)
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        with _HELD_GUARD:
            holder = _HELD.get(key)
        if reenter and holder == threading.get_ident():
            os.close(fd)
            self._nested = True
            return self
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:  # perhaps only a viewer's probe: look again
                    time.sleep(0.02)
                    continue
                os.close(fd)
                raise RunLockedError(self.run.id, self.run.owner()) from None
            except OSError as exc:
                os.close(fd)
                raise StorageError(exc.errno, f"could not lock run {self.run.id}: "
                                   f"{exc.strerror}") from None
        try:
            rec = self._write_record()
        except OSError:
            os.close(fd)
            raise
        self._fd, self._record, self._key = fd, rec, key
        with _HELD_GUARD:
            _HELD[key] = threading.get_ident()
        self.run.sweep()  # whatever a killed owner left half-written goes now
        return self

    def _write_record(self) -> int:
        """Write who holds the lock into the ``lock`` file; its descriptor."""
        pid = os.getpid()
        record = {"pid": pid, "host": socket.gethostname(), "start": process_start(pid),
                  "boot": boot_id(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        rec = None
        try:
            rec = open_run_file(self.path, os.O_RDWR | os.O_CREAT)
            if not stat.S_ISREG(os.fstat(rec).st_mode):
                raise StorageError(errno.EINVAL, f"{self.path} is not a regular file; remove it")
            os.ftruncate(rec, 0)
            os.pwrite(rec, json.dumps(record).encode(), 0)
            os.fsync(rec)
        except OSError as exc:
            if rec is not None:
                os.close(rec)
            if isinstance(exc, StorageError):
                raise
            raise StorageError(exc.errno, f"could not lock run {self.run.id}: {exc}") from exc
        return rec

    def release(self) -> None:
        """Give the lock up (the record is emptied; the kernel lock goes with the descriptor)."""
        if self._nested:  # the outer hold keeps it
            self._nested = False
            return
        fd, self._fd = self._fd, None
        if fd is not None and self._key is not None:
            with _HELD_GUARD:
                _HELD.pop(self._key, None)
        rec, self._record = self._record, None
        if rec is not None:
            try:
                os.ftruncate(rec, 0)  # the descriptor of the file written, never a new link
            except OSError:
                pass
            finally:
                os.close(rec)
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self if self.held else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def _parse_history(text: str) -> tuple[list[dict], str | None]:
    """history.csv's rows as numbers, and what was wrong with the rows it had to skip."""
    rows, err = [], None
    try:
        reader = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        return [], f"not CSV ({exc})"
    for n, row in enumerate(reader, start=2):
        try:
            parsed = {k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()
                      if isinstance(k, str) and isinstance(v, str) and v != ""}
        except ValueError:
            parsed = {}
        if "epoch" not in parsed:
            err = err or f"line {n} is not an epoch's numbers"
            continue
        rows.append(parsed)
    return rows, err


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metrics_problem(m: dict, classes: Sequence[str] = CLASSES) -> str | None:
    """Why a metrics.json object is not a test evaluation as this app writes it (every field
    the views read, of its type, for the run's ``classes``), or None. A hand-edited or foreign
    file must not crash a pane."""
    k = len(classes)
    for key in ("accuracy", "loss", "ece"):
        if not _number(m.get(key)):
            return f"metrics.json: {key} is {m.get(key)!r}, not a number"
    if not (_count(m.get("n")) and m["n"] > 0):
        return f"metrics.json: n is {m.get('n')!r}, not a count of test images"
    cm = m.get("confusion")
    if not (isinstance(cm, list) and len(cm) == k and all(
            isinstance(row, list) and len(row) == k and all(map(_count, row)) for row in cm)):
        return f"metrics.json: confusion is not a {k}x{k} table of counts"
    per = m.get("per_class")
    if not (isinstance(per, list) and len(per) == k and all(
            isinstance(c, dict) and isinstance(c.get("class"), str) and _count(c.get("support"))
            and all(_number(c.get(f)) for f in ("precision", "recall", "f1")) for c in per)):
        return f"metrics.json: per_class is not {k} rows of precision, recall, f1, support"
    pairs = m.get("confused_pairs")
    if not (isinstance(pairs, list) and all(
            isinstance(p, dict) and p.get("true") in classes and p.get("predicted") in classes
            and _count(p.get("count")) and _number(p.get("rate")) for p in pairs)):
        return "metrics.json: confused_pairs is not a list of class pairs with counts"
    return None


class RunFacts:
    """What a run's files say, derived from its config, state, history and metrics: the one
    definition of each, shared by ``Run`` (which reads its files at each use) and
    ``RunSnapshot`` (which holds one read of them)."""

    config: dict
    state: dict
    metrics: dict

    def history(self) -> list[dict]:  # pragma: no cover - each subclass has its own
        raise NotImplementedError

    @property
    def epochs_done(self) -> int:
        done = self.state.get("epochs_done", 0)
        return done if _count(done) else 0

    @property
    def epochs_planned(self) -> int:
        """The epochs its config asks for; 0 where unknown or not a count (a damaged file)."""
        epochs = self.config.get("epochs", 0)
        return epochs if _count(epochs) else 0

    @property
    def dataset(self) -> dict:
        """The data set the run was trained on (name, classes, image_size): recorded in its
        config since runs took any data set; CIFAR-10 at 32x32 for runs from before."""
        return _dataset(self.config)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.dataset["classes"])

    @property
    def image_size(self) -> int:
        return int(self.dataset["image_size"])

    @property
    def image_counts(self) -> tuple[int | None, int | None]:
        """(train, validation) images the trainer recorded, from one read of state.json; None
        where unknown (runs from before the counts) or not a count."""
        st = self.state
        train, val = st.get("train_images"), st.get("val_images")
        return (train if _count(train) else None), (val if _count(val) else None)

    @property
    def train_seconds(self) -> float | None:
        """Training time (model.fit) of all sessions (a resumed run's included); runs older than
        ``train_seconds`` in state.json: the sum of their epochs' times. None if unknown."""
        total = self.state.get("train_seconds")
        if isinstance(total, int | float) and not isinstance(total, bool) and math.isfinite(total):
            return float(total)
        secs = [h["seconds"] for h in self.history() if math.isfinite(h.get("seconds", math.nan))]
        return float(sum(secs)) if secs else None

    @property
    def wall_seconds(self) -> float | None:
        """Wall time of all training sessions: data loading, building, fit and evaluation."""
        total = self.state.get("wall_seconds")
        ok = isinstance(total, int | float) and not isinstance(total, bool)
        return float(total) if ok and math.isfinite(total) else None

    @property
    def compile_seconds(self) -> float | None:
        """Seconds of its training time spent compiling (every session's), or None where no
        epoch measured it (older runs; an estimate that could not be made)."""
        secs = [h["compile_seconds"] for h in self.history()
                if math.isfinite(h.get("compile_seconds", math.nan))]
        return float(sum(secs)) if secs else None

    def weights_note(self) -> str | None:
        """Which epoch's weights the stored test evaluation used: "weights of epoch 3, best
        val"; it says so when the run has trained further since. None if not recorded."""
        m = self.metrics
        epoch = m.get("weights_epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            return None
        note = f"weights of epoch {epoch}"
        if m.get("weights") in ("best val", "last epoch"):
            note += f", {m['weights']}"
        then, now = m.get("epochs_done"), self.epochs_done
        if isinstance(then, int) and now > then:
            note += f"; evaluated after {then} of the {now} epochs now done"
        return note


# What a snapshot reads; their stats are its signature (Run.signature).
SNAPSHOT_FILES = ("config.json", "state.json", "history.csv", "metrics.json",
                  "predictions.npz", SPAWN_NAME, LOCK_NAME)


def _dataset(cfg: dict) -> dict:
    spec = cfg.get("dataset")
    classes = spec.get("classes") if isinstance(spec, dict) else None
    size = spec.get("image_size") if isinstance(spec, dict) else None
    if (isinstance(classes, list) and len(classes) >= 2
            and all(isinstance(c, str) for c in classes) and _count(size) and size > 0):
        return {"name": str(spec.get("name") or "images"), "classes": classes,
                "image_size": size}
    return {"name": "CIFAR-10", "classes": list(CLASSES), "image_size": 32}


def _damage(cfg: dict, cfg_err: str | None, st: dict, st_err: str | None, rows: list[dict],
            rows_err: str | None, met: dict, met_err: str | None, predictions: Path,
            classes: Sequence[str]) -> str | None:
    """Why a run's files cannot be trusted, or None: an unreadable or mistyped file, a state
    that contradicts its config, a diverged (NaN) loss. (The files as ``Run.snapshot`` read
    them.)"""
    from .config import TrainConfig

    if cfg_err:
        return cfg_err
    try:
        config = TrainConfig.from_dict(cfg)
    except (ValueError, TypeError) as exc:
        return f"config.json: {exc}"
    if st_err:
        return st_err
    done = st.get("epochs_done", 0)
    if not _count(done):
        return f"state.json: epochs_done is {done!r}, not a count of epochs"
    if done > config.epochs:
        return f"state.json says {done} epochs are done, but the run has {config.epochs}"
    if not isinstance(st.get("status", ""), str):
        return f"state.json: status is {st['status']!r}"
    if rows_err:
        return rows_err
    rows = [r for r in rows if r["epoch"] <= done]
    if [r["epoch"] for r in rows] != list(range(1, len(rows) + 1)) or len(rows) < done:
        return f"history.csv has epochs {[r['epoch'] for r in rows]}, state says {done}"
    for r in rows:
        bad = [k for k in ("loss", "val_loss") if k in r and not math.isfinite(r[k])]
        if bad:
            return f"diverged: {bad[0]} is {r[bad[0]]} at epoch {r['epoch']}"
    if met_err or (met and (met_err := metrics_problem(met, classes))):
        return met_err
    return predictions_problem(predictions, len(classes))


def predictions_problem(path: Path, k: int) -> str | None:
    """Why predictions.npz is not a set of test predictions for ``k`` classes, or None (also
    when there is none). Its probabilities' header is read, not the array (10,000 x K floats):
    a Runs-table refresh must not load every run's predictions."""
    if not path.exists():
        return None
    bad = "predictions.npz is not a readable set of test predictions"
    try:
        with np.load(path, allow_pickle=False) as z:
            with z.zip.open("probs.npy") as f:
                version = np.lib.format.read_magic(f)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read(f)
            labels = z["labels"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return bad
    if len(shape) != 2 or shape[1] != k or labels.shape != (shape[0],) \
            or not np.issubdtype(dtype, np.floating) \
            or not np.issubdtype(labels.dtype, np.integer) \
            or (len(labels) and (labels.min() < 0 or labels.max() >= k)):
        return bad
    return None


def improves(best: float | None, row: dict) -> bool:
    """Whether the epoch ``row`` gives the run's model (the best so far), after epochs whose
    best validation accuracy was ``best``: the trainer's rule (callbacks.RunCallback) and every
    view's. An epoch with no validation accuracy (``--val-split 0``) always does: with nothing
    to choose by, the run's model is its latest."""
    score = row.get("val_accuracy")
    if score is None:
        return True
    return best is None or score > best


def best_epoch(history: Sequence[dict]) -> int | None:
    """The epoch whose weights are the run's model (``improves``); None before the first."""
    best, epoch = None, None
    for row in history:
        if improves(best, row):
            epoch = int(row["epoch"])
            if row.get("val_accuracy") is not None:
                best = row["val_accuracy"]
    return epoch


@dataclass
class Run(RunFacts):
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    # -- files -----------------------------------------------------------------------------
    @property
    def model_path(self) -> Path:
        """The best model of the last committed epoch (``model.keras`` in older runs)."""
        return self.path / _file_name(self.state.get("model"), "model.keras")

    @property
    def checkpoint_path(self) -> Path:
        """Model + optimizer of the last committed epoch (``checkpoint.keras`` in older runs)."""
        return self.path / _file_name(self.state.get("checkpoint"), "checkpoint.keras")

    def evaluation_weights(self) -> tuple[Path, dict]:
        """The model file a test evaluation uses (the best by validation accuracy, else the
        last checkpoint) and where its weights come from, for metrics.json: ``weights_epoch``
        (None in runs older than numbered files), ``weights`` ("best val" or "last epoch") and
        the run's ``epochs_done`` then."""
        path = self.model_path if self.model_path.exists() else self.checkpoint_path
        match = re.search(r"-(\d+)\.keras$", path.name)
        best = path == self.model_path and self.state.get("best_val_accuracy") is not None
        return path, {"weights_epoch": int(match.group(1)) if match else None,
                      "weights": "best val" if best else "last epoch",
                      "epochs_done": self.epochs_done}

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.npz"

    def _read_json(self, name: str) -> dict:
        """The file's object; {} when it is missing or damaged (``damage()`` says which)."""
        data, _ = self._load_json(name)
        return data

    def _load_json(self, name: str) -> tuple[dict, str | None]:
        try:
            data = json.loads(read_run_text(self.path / name))
        except FileNotFoundError:
            return {}, None
        except (OSError, ValueError) as exc:  # ValueError: bad JSON or bad UTF-8
            return {}, f"{name} is unreadable ({exc})"
        if not isinstance(data, dict):
            return {}, f"{name} holds a JSON {type(data).__name__}, not an object"
        return data, None

    def _write_json(self, name: str, data: dict) -> None:
        atomic_write_text(self.path / name, json.dumps(data, indent=2, sort_keys=True))

    @property
    def config(self) -> dict:
        return self._read_json("config.json")

    def write_config(self, config: dict) -> None:
        self._write_json("config.json", config)

    def record_dataset(self, spec: dict) -> None:
        """Keep the data set's name, class names and image size in config.json."""
        self.write_config({**self.config, "dataset": spec})

    @property
    def state(self) -> dict:
        return self._read_json("state.json")

    def update_state(self, **changes: object) -> None:
        self._write_json("state.json", {**self.state, **changes})

    @property
    def metrics(self) -> dict:
        """The stored test evaluation; {} when missing or damaged (``damage()`` says why)."""
        data = self._read_json("metrics.json")
        return data if data and metrics_problem(data, self.class_names) is None else {}

    def write_metrics(self, metrics: dict) -> None:
        self._write_json("metrics.json", metrics)

    def history(self) -> list[dict]:
        """One row per committed epoch (a row written by a writer killed before its commit is
        not one)."""
        try:
            text = read_run_text(self.path / "history.csv")
        except (OSError, ValueError):
            return []
        rows, _ = _parse_history(text)
        done = self.epochs_done
        return [r for r in rows if r["epoch"] <= done]

    def commit_epoch(self, model, history: list[dict], *, best: bool,  # noqa: ANN001
                     **state: object) -> None:
        """Record the epoch that ``history[-1]`` describes, all or nothing.

        ``model``: the Keras model after that epoch (its optimizer included); ``best``: it is the
        best so far, so it also becomes the run's model; ``state``: more state.json fields that
        belong to this epoch (early-stopping counters, best score).

        Order: new checkpoint (and best model) under new names, then history.csv, then
        state.json pointing at them -- that rename is the commit -- then the files it no longer
        points at are removed. Killed before the commit, the run is the previous epoch's.
        """
        epoch = int(history[-1]["epoch"])
        old = self.state
        checkpoint = f"checkpoint-{epoch:04d}.keras"
        atomic_save_model(model, self.path / checkpoint)
        best_name = old.get("model")
        if best:
            best_name = f"model-{epoch:04d}.keras"
            atomic_save_model(model, self.path / best_name)
        self.write_history(history)
        steps = _optimizer_steps(model)
        self._write_json("state.json", {**old, **state, "epochs_done": epoch,
                                        "checkpoint": checkpoint, "model": best_name,
                                        "optimizer_steps": steps})
        self.sweep(temps=False)

    def check_checkpoint(self, model, steps_per_epoch: int) -> None:  # noqa: ANN001
        """Refuse a checkpoint whose optimizer did not stop where history does.

        state.json records the optimizer's step count with each commit; runs written before
        that must have ``epochs_done * steps_per_epoch`` steps.
        """
        found = _optimizer_steps(model)
        st = self.state
        recorded = st.get("optimizer_steps")
        expected = recorded if isinstance(recorded, int) else self.epochs_done * steps_per_epoch
        if found is not None and found != expected:
            raise RunDamagedError(
                f"run {self.id}: its checkpoint has {found} optimizer steps but its history ends "
                f"at epoch {self.epochs_done} ({expected} steps): the files are from different "
                "epochs (a writer was killed mid-save by an older version), so it cannot be "
                "resumed safely. Start a new run with the same settings.")

    def sweep(self, temps: bool = True) -> None:
        """Remove what no commit points at: model files of other epochs and (``temps``) the
        temp files of killed writers -- only names this store writes (``checkpoint-NNNN.keras``,
        ``model-NNNN.keras``, the older ``checkpoint.keras``/``model.keras``, and ``.tmp-``
        temp files), never anything else a folder holds.

        Only the run's owner may call this, as it takes the lock: a live writer's temp files
        look the same.
        """
        st = self.state
        keep = {_file_name(st.get("checkpoint"), "checkpoint.keras"),
                _file_name(st.get("model"), "model.keras")}
        for p in self.path.iterdir():
            name = p.name
            ours = OUR_MODEL.fullmatch(name) or (temps and OUR_TEMP.fullmatch(name))
            if ours and name not in keep and p.is_file() and not p.is_symlink():
                p.unlink(missing_ok=True)
        if temps:
            self._trim_history()

    def _trim_history(self) -> None:
        """Drop history.csv's rows past the committed epochs (a writer killed between its
        history.csv and state.json renames), so the file shows what a resume continues after."""
        try:
            rows, _ = _parse_history(read_run_text(self.path / "history.csv"))
        except (OSError, ValueError):
            return
        done = self.epochs_done
        if any(r["epoch"] > done for r in rows):
            self.write_history([r for r in rows if r["epoch"] <= done])

    def resume_problem(self) -> str | None:
        """Why this run must not be trained further, or None: a damaged run is refused with its
        reason before anything in its folder is touched (its checkpoints are the evidence)."""
        if self.path.is_symlink():
            return (f"its folder {self.path} is a symbolic link; a run is trained only in its "
                    "own folder inside --runs")
        damage = self.damage()
        return damage and f"{damage}. Repair or restore that file, or start a new run"

    def write_history(self, rows: list[dict]) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
        atomic_write_text(self.path / "history.csv", buf.getvalue())

    def save_predictions(self, probs: np.ndarray, labels: np.ndarray) -> None:
        _atomic(self.predictions_path, lambda p: np.savez(p, probs=probs, labels=labels))

    def predictions(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Stored test probabilities (N, K) and labels (N,), K the run's classes; None if absent
        or damaged."""
        try:
            with np.load(self.predictions_path, allow_pickle=False) as z:
                probs, labels = z["probs"], z["labels"]
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
            return None
        k = len(self.class_names)
        if probs.ndim != 2 or probs.shape[1] != k or labels.shape != (len(probs),) \
                or not np.issubdtype(labels.dtype, np.integer) \
                or (len(labels) and (labels.min() < 0 or labels.max() >= k)):
            return None
        return probs, labels

    def damage(self) -> str | None:
        """Why this run's files cannot be trusted, or None (``RunSnapshot.damage``)."""
        return self.snapshot().damage

    # -- ownership -------------------------------------------------------------------------
    def lock(self, reenter: bool = False) -> RunLock:
        """Take this run's lock (``with run.lock(): ...``), or raise RunLockedError;
        ``reenter``: see ``RunLock.acquire``."""
        return RunLock(self).acquire(reenter)

    def lock_held(self) -> bool:
        """Whether some process holds this run's kernel lock (the truth, whatever the ``lock``
        record says: a forged or stale record names a pid that holds nothing)."""
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            os.close(fd)  # a shared lock taken here goes with it
        return False

    def owner(self) -> Owner | None:
        """The live process training this run, or None (no one holds its kernel lock)."""
        if not self.lock_held():
            return None
        return Owner.read(self.path / LOCK_NAME) or Owner(0, socket.gethostname(), "?")

    def record_spawn(self, pid: int, log: Path) -> None:
        """Record the trainer process just started for this run (see ``Spawn``)."""
        atomic_write_text(self.path / SPAWN_NAME, json.dumps({
            "pid": pid, "host": socket.gethostname(), "start": process_start(pid),
            "boot": boot_id(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
            "time": time.time(), "log": str(log)}))

    def spawn(self, state: dict | None = None) -> Spawn | None:
        """The trainer started for this run that has not begun training it (alive or dead),
        or None. ``state``: state.json as just read, if it was."""
        if not (self.path / SPAWN_NAME).exists():  # a stat: most runs have no record
            return None
        spawn = Spawn.read(self.path / SPAWN_NAME)
        # It has begun if it wrote the run's state (it removes the record just after, but the
        # record may have been written after that, on a machine slow to return from fork).
        state = self.state if state is None else state
        if spawn is None or spawn.owner.pid == state.get("pid"):
            return None
        return spawn

    def clear_spawn(self) -> None:
        """Called by a trainer that has begun: the record of how it was started is done."""
        try:
            (self.path / SPAWN_NAME).unlink(missing_ok=True)
        except OSError:
            pass

    def start_error(self, state: dict | None = None) -> str | None:
        """Why the latest start of this run never began training, or None: its spawned trainer
        died first (an import error, a bad config, a kill), or no process ever took a run
        created long ago. ``state``: state.json as just read, if it was."""
        state = self.state if state is None else state
        spawn = self.spawn(state)
        if spawn is not None:
            if spawn.owner.alive():
                return None
            tail = _log_tail(spawn.log)
            # the log first: a long last line may be cut where the message is shown
            return (f"the training process of run {self.id} (pid {spawn.owner.pid}, started "
                    f"{spawn.owner.since}) ended before it began training; its log: "
                    f"{spawn.log}" + (f" (last line: {tail})" if tail else ""))
        if RunStatus.read(state.get("status")) is RunStatus.CREATED and self.owner() is None \
                and self._age() > START_GRACE_S:
            return (f"no process has trained run {self.id} since it was created: start it with "
                    f"cifar-tui train --resume {self.id} (or R in the Runs pane)")
        return None

    def _age(self) -> float:
        """Seconds since state.json was last written."""
        try:
            return time.time() - (self.path / "state.json").stat().st_mtime
        except OSError:
            return math.inf


    # -- derived ---------------------------------------------------------------------------
    @property
    def status(self) -> RunStatus:
        """What state.json says, corrected by who holds the run (see ``RunStatus``)."""
        return self._status(self.state)

    def _status(self, st: dict) -> RunStatus:
        status = RunStatus.read(st.get("status"))
        if status in (RunStatus.RUNNING, RunStatus.UNKNOWN):
            if self.lock_held():  # a trainer has it, whatever its files say now
                return RunStatus.RUNNING
            if status is RunStatus.UNKNOWN:
                return status
            if (self.path / LOCK_NAME).exists():
                return RunStatus.INTERRUPTED
            same_host = st.get("host") == socket.gethostname()  # runs from before the lock
            pid = st.get("pid")
            if same_host and not (isinstance(pid, int) and pid_alive(pid)):
                return RunStatus.INTERRUPTED
            return status
        spawn = self.spawn(st)
        if spawn is not None and spawn.owner.alive():
            return RunStatus.STARTING
        if status is RunStatus.CREATED:
            if spawn is not None:  # its trainer died before it began
                return RunStatus.FAILED
            if self.owner() is not None or self._age() <= START_GRACE_S:
                return RunStatus.STARTING  # a trainer has the lock, or is about to take it
        return status

    def summary(self) -> dict:
        """One row for lists (``RunSnapshot.summary``)."""
        return self.snapshot().summary()

    def signature(self) -> tuple:
        """The size and change time of each file a snapshot reads (stats, no reads): equal
        signatures, same files."""
        out = []
        for name in SNAPSHOT_FILES:
            try:
                st = os.stat(self.path / name, follow_symlinks=False)
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def snapshot(self, progress: bool = True) -> RunSnapshot:
        """The run as its files say now, each file read once (predictions.npz: its headers and
        labels only). ``progress``: also read a live run's progress.json."""
        signature = self.signature()
        cfg, cfg_err = self._load_json("config.json")
        st, st_err = self._load_json("state.json")
        try:
            hist_text, hist_err = read_run_text(self.path / "history.csv"), None
        except FileNotFoundError:
            hist_text, hist_err = "", None
        except (OSError, ValueError) as exc:
            hist_text, hist_err = "", f"history.csv is unreadable ({exc})"
        met, met_err = self._load_json("metrics.json")
        rows, rows_err = _parse_history(hist_text)
        rows_err = hist_err or (rows_err and f"history.csv: {rows_err}")
        done = st.get("epochs_done", 0)
        history = tuple(r for r in rows if r["epoch"] <= (done if _count(done) else 0))
        classes = _dataset(cfg)["classes"]
        damage = _damage(cfg, cfg_err, st, st_err, rows, rows_err, met, met_err,
                         self.predictions_path, classes)
        status = self._status(st)
        owner_pid = self._owner_pid(status, st) if status.live else None
        live_progress = None
        if progress and status is RunStatus.RUNNING and owner_pid is not None:
            from .live import read_progress  # live builds on this module

            live_progress = read_progress(self, st)
        error = None
        if status is RunStatus.FAILED:
            error = self.start_error(st) or st.get("error")
            error = str(error) if error else None
        return RunSnapshot(
            run=self, status=status, config=cfg, state=st, rows=history,
            metrics=met if met and metrics_problem(met, classes) is None else {},
            damage=damage or None, error=error, owner_pid=owner_pid,
            progress=live_progress, signature=signature)

    def live_pid(self) -> int | None:
        """The pid of the live process training this run (or starting to), else None."""
        st = self.state
        status = self._status(st)
        return self._owner_pid(status, st) if status.live else None

    def _owner_pid(self, status: RunStatus, st: dict) -> int | None:
        """The pid of the live process training this run (or starting to), else None."""
        owner = self.owner()
        if owner is not None:
            return owner.pid
        if status is RunStatus.STARTING:
            spawn = self.spawn(st)
            return spawn.owner.pid if spawn is not None else None
        pid = st.get("pid")  # a run from before the lock file
        return int(pid) if isinstance(pid, int) and not isinstance(pid, bool) else None

@dataclass(frozen=True)
class RunSnapshot(RunFacts):
    """A run as one read of its files found it (``Run.snapshot()``): what every list, the CLI,
    ``watch``, the app and the panes ask about a run, so each file is read once per look and
    each question is answered in one place. ``run`` is for acting on it (open, resume)."""

    run: Run
    status: RunStatus
    config: dict
    state: dict
    rows: tuple[dict, ...]  # the committed epochs of history.csv
    metrics: dict  # the stored test evaluation; {} when missing or damaged
    damage: str | None  # why its files cannot be trusted
    error: str | None  # why it failed (status FAILED)
    owner_pid: int | None  # the live process training it (or starting to)
    progress: dict | None  # a running run's progress.json (live.read_progress)
    signature: tuple = ()  # Run.signature() when read

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def path(self) -> Path:
        return self.run.path

    def history(self) -> list[dict]:
        return list(self.rows)

    @property
    def live(self) -> bool:
        return self.status.live

    @property
    def ended(self) -> bool:
        return self.status.ended

    @property
    def complete(self) -> bool:
        return self.status.complete

    @property
    def resumable(self) -> bool:
        """Can be trained further now: its status allows it, no one trains it, its files are
        sound."""
        return self.status.resumable and self.owner_pid is None and self.damage is None

    @property
    def best_epoch(self) -> int | None:
        """The epoch whose weights are the run's model (``best_epoch``)."""
        return best_epoch(self.rows)

    @property
    def shown_status(self) -> RunStatus:
        """Its status as lists show it: DAMAGED when its files cannot be trusted."""
        return RunStatus.DAMAGED if self.damage else self.status

    def reusable(self, signature: tuple) -> bool:
        """Whether this snapshot still holds for a run whose files now have ``signature``: an
        ended run, with no trainer on its way, whose files have not changed (a live or
        starting one changes without its files changing: its trainer may die)."""
        return (self.status.ended and signature == self.signature
                and self.signature[SNAPSHOT_FILES.index(SPAWN_NAME)] is None)

    def summary(self) -> dict:
        """One row for lists. A damaged run has status "damaged" and ``damage``, the reason;
        every value has its documented type whatever the files hold."""
        cfg, st, met = self.config, self.state, self.metrics
        vals = [h["val_accuracy"] for h in self.rows
                if math.isfinite(h.get("val_accuracy", math.nan))]

        def typed(value: object, *kinds: type) -> object:
            ok = isinstance(value, kinds) and not isinstance(value, bool)
            return value if ok and not (isinstance(value, float) and not math.isfinite(value)) \
                else None

        epochs = typed(cfg.get("epochs"), int)
        split = typed(cfg.get("val_split"), int, float)
        data = self.dataset
        return {
            "id": self.id, "arch": typed(cfg.get("arch"), str),
            "dataset": data["name"], "classes": len(data["classes"]),
            "status": self.shown_status, "damage": self.damage,
            "epochs": f"{self.epochs_done}/{epochs if epochs is not None else '?'}",
            "batch_size": typed(cfg.get("batch_size"), int),
            "optimizer": typed(cfg.get("optimizer"), str),
            "learning_rate": typed(cfg.get("learning_rate"), int, float),
            "best_val_accuracy": max(vals, default=None),
            # held-out images (--val-split 0: none), or val figures whatever the config says
            "validation": bool(vals) or split is None or split > 0,
            "val_images": typed(st.get("val_images"), int),  # unknown for older runs
            "test_accuracy": typed(met.get("accuracy"), int, float),
            "test_images": typed(met.get("n"), int),
            "created": typed(st.get("created"), str),
            "compile_seconds": self.compile_seconds,  # of its training time; None: not measured
            "study": typed(st.get("study"), str), "trial": typed(st.get("trial"), int),
        }


NO_VALIDATION = "no val"


def count_text(n: int) -> str:
    """An image count in a few characters: 10k, 4.5k, 800."""
    return f"{n / 1000:g}k" if n >= 1000 and n % 100 == 0 else str(n)


def accuracy_text(accuracy: float, n: int | None, fmt: str = ".1%") -> str:
    """``71.2%/10k``: an accuracy and on how many images (just the accuracy when unknown,
    as for runs recorded before the count was)."""
    return format(accuracy, fmt) + (f"/{count_text(n)}" if n else "")


def best_val_text(summary: dict, fmt: str = ".1%") -> str:
    """A run's best validation accuracy as every view shows it (``summary``: ``Run.summary()``),
    with on how many images.

    A run trained with ``--val-split 0`` had no validation: it says so, rather than 0 % or a
    dash; "-" is a validated run before its first epoch."""
    if not summary.get("validation", True):
        return NO_VALIDATION
    best = summary.get("best_val_accuracy")
    return "-" if best is None else accuracy_text(best, summary.get("val_images"), fmt)


class RunStore:
    """The runs folder."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def create(self, config: dict) -> Run:
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{config.get('arch', 'run')}"
        for n in range(1000):
            path = self.root / (base if n == 0 else f"{base}-{n}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - a thousand runs in one second
            raise StorageError(errno.EEXIST, f"could not create a run folder in {self.root}")
        run = Run(path)
        run.write_config(config)
        run.update_state(status=RunStatus.CREATED, created=time.strftime("%Y-%m-%d %H:%M:%S"),
                         epochs_done=0)
        return run

    def list(self) -> list[Run]:
        if not self.root.is_dir():
            return []
        return sorted((Run(p) for p in self.root.iterdir()
                       if p.is_dir() and (p / "config.json").exists()), key=lambda r: r.id)

    def newest_first(self) -> list[Run]:
        """The runs in the order every list shows them (the CLI's ``runs``, the Runs pane):
        newest first, as the run just trained is the one wanted."""
        return self.list()[::-1]

    def snapshots(self, previous: Mapping[str, RunSnapshot] | None = None) -> list[RunSnapshot]:
        """Every run, newest first, each read once (``Run.snapshot``); an ended run whose
        files have not changed since ``previous`` (the last call's, by id) keeps its snapshot
        (``RunSnapshot.reusable``: a few stats, no reads)."""
        out = []
        for run in self.newest_first():
            old = (previous or {}).get(run.id)
            out.append(old if old is not None and old.reusable(run.signature())
                       else run.snapshot())
        return out

    def writable(self, ref: str) -> Run:
        """The run ``ref`` names for training it further (``--resume``): a run of this store
        only (by id, unique part of one, or a path to a folder directly in it), never a folder
        elsewhere or a symbolic link to one."""
        p = Path(ref)
        if len(p.parts) > 1 or str(ref) in (".", "..") or p.is_absolute():
            try:
                inside = p.resolve(strict=True).parent == self.root.resolve(strict=True)
            except OSError:
                inside = False
            if p.is_symlink():
                raise LookupError(f"{ref} is a symbolic link: --resume trains only runs of the "
                                  f"store {self.root}, in their own folders")
            if not inside or not (p / "config.json").is_file():
                raise LookupError(f"{ref} is not a run folder in {self.root}: --resume trains "
                                  "only runs of the store (give its id; --runs DIR picks the "
                                  "store)")
            return Run(self.root / p.name)
        run = self.get(ref, paths=False)
        if run.path.is_symlink():
            raise LookupError(f"run {run.id} is a symbolic link to a folder outside "
                              f"{self.root}: --resume trains only runs of the store")
        return run

    def get(self, ref: str | Path, paths: bool = True) -> Run:
        """A run by id, unique id prefix/suffix, or folder path."""
        p = Path(ref)
        if paths and (p / "config.json").exists():
            return Run(p)
        runs = self.list()
        exact = [r for r in runs if r.id == str(ref)]
        if exact:
            return exact[0]
        matches = [r for r in runs if str(ref) in r.id]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise LookupError(f"no run {ref!r} in {self.root}; `cifar-tui runs` lists them")
        raise LookupError(f"{ref!r} matches {len(matches)} runs: "
                          + ", ".join(r.id for r in matches[:5]))
