"""The run store under kills, concurrent trainers and damaged files."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading

import keras
import pytest

from cifar_tui.cli import main
from cifar_tui.config import TrainConfig
from cifar_tui.runs import Run, RunLockedError, RunStore, process_start
from cifar_tui.training import EpochEnd, train

SMALL = "C8-P-F-FC16"


def cfg(**kw) -> TrainConfig:
    base = {"spec": SMALL, "optimizer": "adam", "learning_rate": 3e-3, "batch_size": 16,
            "epochs": 3, "val_split": 0.0, "patience": 0}
    return TrainConfig.for_arch("custom", **{**base, **kw})


def optimizer_steps(path) -> int:
    return int(keras.saving.load_model(path, safe_mode=True).optimizer.iterations.numpy())


class Killed(BaseException):
    """Stands for SIGKILL: nothing after the crash point runs in the writer."""


def inject_crash(monkeypatch: pytest.MonkeyPatch, after: int | None) -> list[str]:
    """Crash the writer right after its ``after``-th file mutation (a rename or a removal: the
    steps between which the files on disk differ); None: never, just list them."""
    done: list[str] = []
    real_replace, real_unlink = os.replace, os.unlink

    def mutation(op, name, *args, **kw):  # noqa: ANN001, ANN202
        result = op(*args, **kw)
        done.append(f"{name} {os.path.basename(str(args[-1]))}")
        if len(done) == after:
            raise Killed
        return result

    monkeypatch.setattr(os, "replace", lambda *a, **k: mutation(real_replace, "replace", *a,
                                                                 **k))
    monkeypatch.setattr(os, "unlink", lambda *a, **k: mutation(real_unlink, "unlink", *a, **k))
    return done


def test_kill_inside_every_write_window_resumes_exactly(tmp_path, tiny, monkeypatch):
    steps = math.ceil(len(tiny.y_train) / 16)
    base = train(cfg(epochs=2), data=tiny, store=RunStore(tmp_path / "base"), evaluate=False,
                 **_stopping_after(1))
    assert base.epochs_done == 1 and base.status == "stopped"

    with monkeypatch.context() as m:  # a dry run lists the resume's file mutations
        ops = inject_crash(m, after=None)
        train(run=_copy(base, tmp_path / "dry"), data=tiny, evaluate=False)
    assert sum("state.json" in op for op in ops) >= 2, ops

    for after in range(1, len(ops) + 1):
        run = _copy(base, tmp_path / f"kill{after}")
        with monkeypatch.context() as m:
            inject_crash(m, after=after)
            with pytest.raises(Killed):
                train(run=run, data=tiny, evaluate=False)
        done = run.epochs_done
        where = f"killed after {ops[:after]}"
        assert done in (1, 2), where
        assert [h["epoch"] for h in run.history()] == list(range(1, done + 1)), where
        assert optimizer_steps(run.checkpoint_path) == done * steps, where
        assert run.model_path.exists(), where

        run = train(run=run, data=tiny, evaluate=False)
        assert run.status == "finished", where
        assert [h["epoch"] for h in run.history()] == [1, 2], where
        assert optimizer_steps(run.checkpoint_path) == 2 * steps, where
        left = sorted(p.name for p in run.path.iterdir())
        assert left == ["checkpoint-0002.keras", "config.json", "history.csv", "lock",
                        "model-0002.keras", "progress.json", "state.json"], where


# -- one trainer per run ---------------------------------------------------------------------

HOLD = """
import sys, time
from cifar_tui.runs import Run
lock = Run(__import__("pathlib").Path(sys.argv[1])).lock()
print("locked", flush=True)
time.sleep(120)
"""


def test_second_trainer_is_refused_and_a_dead_owners_lock_is_taken_over(tmp_path, tiny,
                                                                        capsys):
    store = RunStore(tmp_path)
    run = store.create(cfg(epochs=1).to_dict())
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run.path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        owner = run.owner()
        assert owner is not None and owner.pid == holder.pid
        run.update_state(status="running")
        assert run.status == "running"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid} on .* since"):
            train(run=run, data=tiny, evaluate=False)
        assert main(["train", "--resume", run.id, "--runs", str(tmp_path)]) == 1
        assert f"pid {holder.pid}" in capsys.readouterr().err
        assert run.state["status"] == "running" and "error" not in run.state  # untouched
    finally:
        holder.kill()  # SIGKILL: its lock record stays behind, stale
        holder.wait()
    assert run.owner() is None and run.status == "interrupted"
    run = train(run=run, data=tiny, evaluate=False)
    assert run.status == "finished" and run.epochs_done == 1
    assert run.owner() is None  # released


def test_lock_record_of_a_reused_or_dead_pid_is_stale(tmp_path):
    run = RunStore(tmp_path).create({"arch": "cnn"})
    me = os.getpid()
    record = {"pid": me, "host": socket.gethostname(), "since": "2026-01-01 00:00:00"}
    lock_file = run.path / "lock"
    lock_file.write_text(json.dumps({**record, "start": process_start(me)}))
    assert run.owner() is not None and run.owner().pid == me  # this very process: alive
    lock_file.write_text(json.dumps({**record, "start": process_start(me) + 1}))
    assert run.owner() is None  # same pid, another process start: a reused pid
    lock_file.write_text(json.dumps({**record, "pid": 2**22 + 4321}))
    assert run.owner() is None
    with run.lock():  # a stale record is taken over in this process too
        assert run.owner().pid == me
        with pytest.raises(RunLockedError):  # one trainer even within one process
            run.lock()
    assert run.owner() is None and lock_file.read_text() == ""


def test_run_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run = RunStore(tmp_path).create({"arch": "cnn"})
    finally:
        os.umask(old)
    mode = stat.S_IMODE((run.path / "state.json").stat().st_mode)
    assert mode == 0o666 & ~old, oct(mode)


def _stopping_after(epoch: int) -> dict:
    """train() arguments that stop the training once ``epoch`` is recorded."""
    stop = threading.Event()

    def listener(event: object) -> None:
        if isinstance(event, EpochEnd) and event.epoch == epoch:
            stop.set()

    return {"stop": stop, "listener": listener}


def _copy(run: Run, dest) -> Run:
    shutil.copytree(run.path, dest)
    return Run(dest)
