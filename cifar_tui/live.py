"""Live runs: what a training process publishes for viewers in other processes, and the viewers'
side. No UI code, no TensorFlow.

Besides the run store's files, the process that trains a run (the TUI, ``cifar-tui train``, or a
``--detach``-ed one) keeps two small files in the run's folder:

    progress.json   batch-level progress (epoch, step, img/s, ETA), rewritten at most once a second
    stop-request    created by a viewer to ask that process to stop after the current batch

Viewers poll files rather than talk to the trainer over a socket: a poll is a stat and a few small
reads, any number of viewers can watch one run, and nothing breaks when either side dies. The
trainer never waits on a viewer.
"""

from __future__ import annotations

import json
import math
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .events import BatchProgress, EpochEnd, Failed, Finished, Listener, Started
from .runs import (
    Run,
    RunLockedError,
    RunSnapshot,
    StorageError,
    atomic_write_text,
    best_epoch,
    open_run_file,
    read_run_text,
)
from .status import RunStatus

if TYPE_CHECKING:  # sklearn stays unloaded until a viewer needs it
    from .evaluation import Evaluation

PROGRESS = "progress.json"
STOP_REQUEST = "stop-request"
LOG = "train.log"
PROGRESS_EVERY_S = 1.0
PROGRESS_CAP = 64 * 1024
PROGRESS_COUNTS = ("pid", "epoch", "epochs", "step", "steps", "train_size", "val_size", "params",
                   "initial_epoch")
PROGRESS_NUMBERS = ("loss", "accuracy", "images_per_sec", "eta_s", "eta_run_s", "updated",
                    "started")


# -- the trainer's side ----------------------------------------------------------------------


def _write_disposable(path: Path, text: str) -> None:
    """Atomic (a reader never sees half a file) but not fsynced: progress is rewritten every
    second and worthless after a crash, so it must not cost the training a disk flush."""
    tmp = path.with_name(f".tmp-{path.stem}-{os.getpid()}-{threading.get_ident()}")
    try:
        tmp.unlink(missing_ok=True)  # a name planted here (a link) is replaced, never followed
        fd = open_run_file(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Publisher:
    """A training listener that mirrors events into ``progress.json`` and turns a viewer's
    ``stop-request`` file into the trainer's stop event, then passes every event on.

    Called from the training thread once per throttled BatchProgress (about twice a second), so
    the stop file is checked that often and a request is honoured within a batch of that.
    A progress write that fails (full or read-only disk) is skipped, never fatal: the run store's
    own writes report storage errors where they matter.
    """

    def __init__(self, run: Run, listener: Listener, stop: threading.Event | None,
                 every_s: float = PROGRESS_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.run, self.listener, self.every_s, self.clock = run, listener, every_s, clock
        self.stop = stop if stop is not None else threading.Event()
        self._static: dict = {}
        self._last_write = -math.inf
        self._epoch_t0 = (0, clock())
        self._history: list[dict] = []  # finished epochs, for the run's ETA
        self.write_errors = 0
        # A request aimed at an earlier session must not stop this one; one made while this
        # process was starting (a viewer's x on a "starting" run) is for this one.
        spawn = run.spawn()
        if spawn is None or spawn.owner.pid != os.getpid() \
                or _request_time(run) < spawn.time:
            clear_stop_request(run)

    def __call__(self, event: object) -> None:
        if isinstance(event, Started):
            self._static = {"pid": os.getpid(), "epochs": event.epochs, "steps": event.steps,
                            "train_size": event.train_size, "val_size": event.val_size,
                            "params": event.params, "initial_epoch": event.initial_epoch,
                            "compiles": event.compiles, "started": time.time()}
            self._history = self.run.history()
            self._write({"epoch": event.initial_epoch + 1, "step": 0}, force=True)
        elif isinstance(event, BatchProgress):
            if stop_requested(self.run):
                self.stop.set()
            if event.epoch != self._epoch_t0[0]:
                self._epoch_t0 = (event.epoch, self.clock())
            self._write({"epoch": event.epoch, "step": event.step, "loss": event.loss,
                         "accuracy": event.accuracy, "images_per_sec": event.images_per_sec,
                         "eta_s": event.eta_s,
                         "eta_run_s": self._eta_run(event)})
        elif isinstance(event, EpochEnd):
            self._history = event.history
            self._write({"epoch": event.epoch, "step": self._static.get("steps", 0),
                         "loss": event.metrics.get("loss"),
                         "accuracy": event.metrics.get("accuracy"),
                         "images_per_sec": event.metrics.get("images_per_sec"), "eta_s": 0.0,
                         "eta_run_s": self._per_epoch(event.history) * (event.epochs
                                                                        - event.epoch)},
                        force=True)
        self.listener(event)

    def _per_epoch(self, history: list[dict]) -> float:
        secs = [h["seconds"] for h in history[-3:] if "seconds" in h]
        return sum(secs) / len(secs) if secs else 0.0

    def _eta_run(self, event: BatchProgress) -> float:
        per_epoch = self._per_epoch(self._history)
        if not per_epoch and event.step:  # first epoch: extrapolate this one
            per_epoch = (self.clock() - self._epoch_t0[1]) * event.steps / event.step
        return event.eta_s + per_epoch * (event.epochs - event.epoch)

    def _write(self, fields: dict, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_write < self.every_s:
            return
        self._last_write = now
        data = {**self._static, **fields, "updated": time.time()}
        try:
            _write_disposable(self.run.path / PROGRESS, json.dumps(data))
        except OSError:
            self.write_errors += 1


def _request_time(run: Run) -> float:
    try:
        return float(json.loads(read_run_text(run.path / STOP_REQUEST, 4096))["time"])
    except (OSError, ValueError, TypeError, KeyError):
        return -math.inf


def stop_requested(run: Run) -> bool:
    """A viewer's request is a file it wrote: anything else of that name (a folder, a link)
    is not one, or it would stop every later session of the run."""
    try:
        return stat.S_ISREG(os.lstat(run.path / STOP_REQUEST).st_mode)
    except OSError:
        return False


def clear_stop_request(run: Run) -> None:
    if stop_requested(run):
        try:
            (run.path / STOP_REQUEST).unlink(missing_ok=True)
        except OSError:
            pass


# -- the viewers' side -----------------------------------------------------------------------


def request_stop(run: Run) -> None:
    """Ask whichever process trains ``run`` to stop after the current batch (finished epochs are
    kept; the run can be resumed). Raises StorageError if the run folder cannot be written."""
    try:
        atomic_write_text(run.path / STOP_REQUEST,
                          json.dumps({"pid": os.getpid(), "time": time.time()}))
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError(exc.errno, f"cannot ask run {run.id} to stop: {exc.strerror} "
                           f"({run.path}). Stop it where it runs (Ctrl-C, or kill -TERM "
                           f"{run.state.get('pid', 'its pid')}).") from exc


def read_progress(run: Run, state: dict | None = None) -> dict | None:
    """The live progress of ``run``'s current training session, or None (``state``: its
    state.json as just read, if it was).

    Only progress written by the process that trains the run now counts: a file left by an earlier
    session (stopped, killed) says nothing about this one.
    """
    try:
        data = json.loads(read_run_text(run.path / PROGRESS, PROGRESS_CAP))
    except (OSError, ValueError):
        return None
    state = run.state if state is None else state
    if not isinstance(data, dict) or data.get("pid") != state.get("pid") \
            or progress_problem(data) is not None:
        return None  # a damaged file is no progress (it is disposable; the run is not)
    return data


def progress_problem(data: dict) -> str | None:
    """Why a progress.json object is not as a trainer writes it (a field of the wrong type),
    or None: every field viewers read is checked here, once, so no view trips on one."""
    for key in PROGRESS_COUNTS:
        value = data.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool)
                                      and value >= 0):
            return f"progress.json: {key} is {value!r}, not a count"
    for key in PROGRESS_NUMBERS:
        value = data.get(key)
        if value is not None and not (isinstance(value, int | float)
                                      and not isinstance(value, bool)):
            return f"progress.json: {key} is {value!r}, not a number"
    return None


def owner_pid(run: Run) -> int | None:
    """The pid of the live process training ``run`` (or starting to), else None."""
    return run.live_pid()


def refuse_if_live(run: Run) -> None:
    """One trainer per run, checked before starting one elsewhere (``--detach``): raise
    RunLockedError naming the live owner, or the trainer already starting. (The trainer itself
    takes the run's lock.)"""
    owner = run.owner()
    if owner is None and (spawn := run.spawn()) is not None and spawn.owner.alive():
        owner = spawn.owner
    if owner is not None and owner.pid != os.getpid():
        raise RunLockedError(run.id, owner)


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def describe(run: Run | RunSnapshot) -> str:
    """One line for lists: 'running, epoch 4/10, 812 img/s, ETA 3 min', or the plain status
    (of a snapshot, or of a run as its files say now)."""
    snap = run.snapshot() if isinstance(run, Run) else run
    status = snap.status
    epochs = snap.config.get("epochs", "?")
    if status is RunStatus.STARTING:
        return f"starting (epoch {snap.epochs_done + 1}/{epochs}): loading data and Keras"
    if status is not RunStatus.RUNNING:
        return status
    p = snap.progress
    if p is None:
        return f"running, starting (epoch {snap.epochs_done + 1}/{epochs})"
    parts = [f"running, epoch {p.get('epoch', '?')}/{p.get('epochs', epochs)}"]
    if p.get("images_per_sec"):
        parts.append(f"{p['images_per_sec']:.0f} img/s")
    if p.get("eta_run_s") is not None:
        parts.append(f"ETA {_minutes(float(p['eta_run_s']))}")
    return ", ".join(parts)


def live_summary(run: Run | RunSnapshot) -> dict:
    """``RunSnapshot.summary()`` plus what a live view needs: pid (if live), epoch, seconds per
    epoch and batch-level progress."""
    snap = run.snapshot() if isinstance(run, Run) else run
    s = snap.summary()
    secs = [h["seconds"] for h in snap.rows if "seconds" in h]
    s.update({
        "pid": snap.owner_pid, "live": snap.owner_pid is not None, "epoch": snap.epochs_done,
        "epochs_total": snap.config.get("epochs"),
        "seconds_per_epoch": round(sum(secs) / len(secs), 3) if secs else None,
        "progress": snap.progress if snap.owner_pid is not None else None,
        "description": describe(snap),
        "error": snap.error if snap.shown_status is RunStatus.FAILED else None,
    })
    return s


class Follower:
    """Turns the files of a run, written by whatever process trains it, into the same training
    events a trainer in this process would emit, so a viewer reuses the trainer's views.

    Call ``poll()`` every second or so; ``done`` turns true after the final Finished/Failed.
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        self.done = False
        self.status = RunStatus.UNKNOWN
        self._started = False
        self._epochs_seen = 0
        self._progress_stamp: float | None = None

    def poll(self) -> list[object]:
        if self.done:
            return []
        run, events = self.run, []
        # one read of the run's files: state, history (written before the state that ends a
        # run, so a final state means a complete history), progress
        snap = run.snapshot()
        self.status = status = snap.status
        progress = snap.progress
        if status.live and progress is None and not self._started:
            return []  # the trainer is still loading data and TensorFlow
        if not status.live and (why := self._lost(snap)) is not None:
            self.done = True  # nothing more can be read: say why, never "unknown after 0"
            return [Failed(run.id, why)]
        if not status.live and not self._started \
                and (why := run.start_error(snap.state)) is not None:
            self.done = True  # its trainer died before it began: nothing more will come
            return [Failed(run.id, why)]
        from .evaluation import detect_overfitting  # sklearn: loaded on the first real poll

        history = snap.history()
        epochs = snap.epochs_planned
        if not self._started:
            p = progress or {}
            st = snap.state  # a finished run has no progress: its image counts are recorded

            def count(value: object) -> int:
                return value if isinstance(value, int) and not isinstance(value, bool) else 0

            events.append(Started(run.id, snap.config, int(p.get("initial_epoch", 0)), epochs,
                                  int(p.get("steps", 0)),
                                  int(p.get("train_size", count(st.get("train_images")))),
                                  int(p.get("val_size", count(st.get("val_images")))),
                                  int(p.get("params", 0)),
                                  compiles=p.get("compiles") is True and not p.get("step")))
            self._started = True
        for i in range(self._epochs_seen, len(history)):
            so_far = history[:i + 1]
            best = best_epoch(so_far) == so_far[-1]["epoch"]  # the trainer's rule
            events.append(EpochEnd(run.id, int(so_far[-1]["epoch"]), epochs, so_far[-1],
                                   so_far, detect_overfitting(so_far), best))
        self._epochs_seen = max(self._epochs_seen, len(history))
        if progress is not None and progress.get("updated") != self._progress_stamp:
            self._progress_stamp = progress.get("updated")
            # the epoch in progress, or the one that just ended (short epochs rarely show
            # a middle); never progress older than the history
            if int(progress.get("epoch", 0)) >= len(history) and progress.get("step"):
                events.append(BatchProgress(
                    run.id, int(progress["epoch"]), int(progress.get("epochs", epochs)),
                    int(progress["step"]), int(progress.get("steps", 0)),
                    float(progress.get("loss", math.nan)),
                    float(progress.get("accuracy", math.nan)),
                    float(progress.get("images_per_sec", 0.0)),
                    float(progress.get("eta_s", 0.0))))
        if not status.live:
            self.done = True
            if status is RunStatus.FAILED:
                events.append(Failed(run.id, str(snap.state.get("error") or status)))
            else:
                evaluation = _evaluation(snap) if status.complete else None
                events.append(Finished(
                    run.id, status, snap.epochs_done, snap.state.get("best_val_accuracy"),
                    evaluation, snap.train_seconds or 0.0,
                    snap.weights_note() if evaluation else None,
                    compile_seconds=snap.compile_seconds, cache=_cache_counts(snap.state)))
        return events

    def _lost(self, snap: RunSnapshot) -> str | None:
        """Why a run that is not live can no longer be followed, or None: its folder moved
        or went, or its files are damaged and no trainer holds it to write them again (one
        that does is waited for: its next commit rewrites state.json)."""
        run = self.run
        if not run.path.is_dir():
            return (f"run {run.id}'s folder {run.path} is gone (moved or removed); a trainer "
                    "of it carries on where it is now")
        if snap.damage is None or run.lock_held():
            return None
        return f"run {run.id} is damaged: {snap.damage}"


def _cache_counts(state: dict) -> tuple[int, int] | None:
    """state.json's ``compile_cache`` as (loaded, compiled), or None if absent or malformed."""
    cache = state.get("compile_cache")
    if not isinstance(cache, dict):
        return None
    counts = cache.get("loaded"), cache.get("compiled")
    ok = all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)
    return counts if ok else None  # type: ignore[return-value]


def _evaluation(run: RunSnapshot) -> Evaluation | None:
    from .evaluation import Evaluation

    try:
        # metrics.json also names the weights evaluated: Evaluation(**metrics) refused those
        # keys, and a followed run ended without its test accuracy (issue 34 item 10)
        return Evaluation.from_metrics(run.metrics)
    except TypeError:  # no metrics.json (evaluation skipped) or an older layout
        return None


# -- a foreground training whose terminal goes away ---------------------------------------------


class Hangup:
    """What a foreground ``cifar-tui train`` does when its terminal goes away (SSH drop, window
    closed, tmux killed): the training carries on to its end, as one started in the TUI does,
    and what it would have printed goes to the run's ``train.log`` (stdin: /dev/null).

    Both the kernel's SIGHUP and a print that fails with EIO lead here: the terminal can be gone
    before the signal is handled, and that failed print must not fail the run. Ctrl-C and
    SIGTERM still stop it after the batch.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.run_id: str | None = None  # from the first event: a new run's id is made in train()
        self.happened = False

    def install(self) -> None:
        self._previous = signal.signal(signal.SIGHUP, lambda signum, frame: self.hang_up())

    def uninstall(self) -> None:
        """Put back the SIGHUP handler from before ``install`` (for callers in-process)."""
        previous = getattr(self, "_previous", None)
        if previous is not None and not self.happened:
            signal.signal(signal.SIGHUP, previous)

    def hang_up(self) -> None:
        if self.happened:
            return
        self.happened = True
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the terminal is gone for good
        where = f" (its output: {self.root / self.run_id / LOG})" if self.run_id else ""
        try:  # a deliberate kill -HUP leaves the terminal there to read this
            print(f"\nSIGHUP: the training goes on without this terminal{where}; follow it with "
                  "cifar-tui watch RUN", file=sys.stderr, flush=True)
        except OSError:
            pass
        self._redirect()

    def _redirect(self) -> None:
        target = str(self.root / self.run_id / LOG) if self.run_id else os.devnull
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass  # what the dead terminal did not take is lost; the run's files have it
        try:
            out = open_run_file(Path(target), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        except OSError:
            out = os.open(os.devnull, os.O_WRONLY)
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
        finally:
            os.close(out)
            os.close(null)

    def listener(self, inner: Listener) -> Listener:
        """``inner`` (what prints the events), told the run's id and kept from failing the run
        when the terminal is gone."""

        def listen(event: object) -> None:
            run_id = getattr(event, "run_id", None)
            if run_id and self.run_id is None:
                self.run_id = run_id
                if self.happened:  # hung up while loading: the run's log exists from now
                    self._redirect()
            try:
                inner(event)
            except OSError:  # EIO: the terminal went before its SIGHUP was handled
                self.hang_up()
                inner(event)

        return listen


# -- starting a headless training ------------------------------------------------------------


def start_detached(run: Run, *, evaluate: bool = True,
                   python: str = sys.executable) -> tuple[int, Path]:
    """Train ``run`` (new or to resume) in a new background process; return (pid, log path).

    The process gets its own session (setsid): no controlling terminal, so closing the terminal
    or the SSH connection sends it no SIGHUP; stdin is /dev/null and stdout/stderr go to
    ``train.log`` in the run's folder. It resumes from the run's last finished epoch, which for a
    fresh run is the start.
    """
    log = run.path / LOG
    # an id: --resume trains only runs of the store
    args = ["--runs", str(run.path.parent), "train", f"--resume={run.id}"]
    if not evaluate:
        args.append("--no-eval")
    pid = spawn_detached(args, log, python=python)
    # Until the child takes the run (seconds: it imports Keras first) this record is how
    # viewers know it is on its way, and, if it dies first, that it did and where its log is.
    try:
        run.record_spawn(pid, log)
    except StorageError:
        pass  # not fatal: the child itself writes the run's state; viewers fall back on that
    return pid, log


def spawn_detached(args: list[str], log: Path, env: dict[str, str] | None = None,
                   python: str = sys.executable) -> int:
    """Start ``cifar-tui ARGS`` in a new background process that outlives this terminal; its
    pid. Its own session (setsid): no controlling terminal, so a closed terminal or SSH
    connection sends it no SIGHUP; stdin is /dev/null, stdout and stderr append to ``log``.
    ``env``: changes to this process's environment."""
    try:  # never through a link planted as train.log
        out = os.fdopen(open_run_file(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab")
    except OSError as exc:
        raise StorageError(exc.errno, f"cannot write the log {log}: {exc.strerror}. Choose "
                           "another --runs folder.") from exc
    with out:
        try:
            proc = subprocess.Popen([python, "-m", "cifar_tui", *args],
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    close_fds=True,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        except OSError as exc:
            raise StorageError(exc.errno, f"could not start {python}: {exc.strerror}") from exc
    return proc.pid
