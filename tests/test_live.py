"""Runs that outlive their terminal: --detach, watch, runs --json, stop requests from another
process, one trainer per run, a killed owner. Trainers are real subprocesses on tiny data."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SUBPROCESS_ENV, make_arrays, wait_until, write_batches

from cifar_tui.cli import main
from cifar_tui.events import BatchProgress, EpochEnd, Failed, Finished, Started
from cifar_tui.live import (
    PROGRESS,
    STOP_REQUEST,
    Follower,
    Publisher,
    describe,
    live_summary,
    owner_pid,
    refuse_if_live,
    request_stop,
)
from cifar_tui.runs import START_GRACE_S, Run, RunLockedError, RunStore, StorageError

SMALL = "C8-P-C16-P-F-FC32"
ENV = SUBPROCESS_ENV


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_batches(tmp_path / "batches", make_arrays(6, 2))


def start_trainer(runs: Path, data: Path, epochs: int = 400) -> subprocess.Popen:
    """A slow headless trainer in its own process (batch 4: many small steps per epoch)."""
    return subprocess.Popen(
        [sys.executable, "-m", "cifar_tui", "--runs", str(runs), "train", "custom", "--spec",
         SMALL, "--epochs", str(epochs), "--batch-size", "4", "--patience", "0", "--no-eval",
         "--data", str(data)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def live_run(runs: Path, min_epochs: int = 1) -> Run:
    def ready() -> Run | None:
        found = RunStore(runs).list()
        return found[0] if found and found[0].epochs_done >= min_epochs else None
    return wait_until(ready, what=f"a run with {min_epochs} finished epochs")


# -- in-process pieces (no TensorFlow) --------------------------------------------------------


def _fake_live_run(tmp_path: Path) -> Run:
    run = RunStore(tmp_path / "runs").create({"arch": "custom", "epochs": 4, "batch_size": 4})
    run.update_state(status="running", pid=os.getpid(), host=os.uname().nodename)
    return run


def test_publisher_throttles_progress_and_turns_a_stop_file_into_the_stop_event(tmp_path):
    run = _fake_live_run(tmp_path)
    (run.path / STOP_REQUEST).write_text("{}")  # left over from an earlier session
    now = [100.0]
    seen: list = []
    pub = Publisher(run, seen.append, None, every_s=1.0, clock=lambda: now[0])
    assert not (run.path / STOP_REQUEST).exists(), "a stale request must not stop a new session"
    pub(Started(run.id, run.config, 0, 4, 10, 40, 10, 1234))
    for step in range(1, 6):
        now[0] += 0.3
        pub(BatchProgress(run.id, 1, 4, step, 10, 2.0, 0.1, 800.0, 3.0))
    progress = json.loads((run.path / PROGRESS).read_text())
    assert progress["step"] == 4  # written at step 4 (1.2 s after Started), not at step 5
    assert progress["pid"] == os.getpid() and progress["steps"] == 10
    assert progress["eta_run_s"] > progress["eta_s"] > 0  # the epochs still to come count
    assert len(seen) == 6, "every event still reaches the real listener"
    assert not pub.stop.is_set()
    request_stop(run)
    now[0] += 0.3
    pub(BatchProgress(run.id, 1, 4, 6, 10, 2.0, 0.1, 800.0, 3.0))
    assert pub.stop.is_set()


def test_progress_on_a_full_disk_never_stops_the_training(tmp_path, monkeypatch):
    run = _fake_live_run(tmp_path)

    def full(path: Path, text: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("cifar_tui.live._write_disposable", full)
    seen: list = []
    pub = Publisher(run, seen.append, None)
    pub(Started(run.id, run.config, 0, 4, 10, 40, 10, 1234))
    pub(BatchProgress(run.id, 1, 4, 1, 10, 2.0, 0.1, 800.0, 3.0))
    assert len(seen) == 2 and pub.write_errors >= 1 and not pub.stop.is_set()
    assert describe(run) == "running, starting (epoch 1/4)"


def test_a_viewer_in_another_process_sees_the_first_step_compiling(tmp_path):
    run = _fake_live_run(tmp_path)
    pub = Publisher(run, lambda event: None, None, every_s=0.0)
    pub(Started(run.id, run.config, 0, 4, 10, 40, 10, 1234, compiles=True))
    (started,) = Follower(run).poll()
    assert started.compiles  # the Train pane following it says "compiling..."
    pub(BatchProgress(run.id, 1, 4, 1, 10, 2.0, 0.1, 800.0, 3.0))
    started, _ = Follower(run).poll()
    assert not started.compiles  # a viewer arriving after the first step: compiled already
    row = {"epoch": 1, "loss": 2.0, "accuracy": 0.1, "seconds": 9.0, "images_per_sec": 90.0,
           "compile_seconds": 6.5}
    run.write_history([row])
    run.update_state(epochs_done=1, status="finished", train_seconds=9.0,
                     compile_cache={"loaded": 3, "compiled": 1})
    end = Follower(run).poll()[-1]
    assert (end.compile_seconds, end.cache) == (6.5, (3, 1))


def test_stop_request_on_a_read_only_store_says_so(tmp_path, monkeypatch):
    run = _fake_live_run(tmp_path)

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    with pytest.raises(StorageError, match="Read-only"):
        request_stop(run)
    # watching needs no writes at all
    (run.path / PROGRESS).write_text(json.dumps({"pid": os.getpid(), "epoch": 1, "step": 2,
                                                 "steps": 10, "epochs": 4, "updated": 1.0}))
    assert [type(e) for e in Follower(run).poll()] == [Started, BatchProgress]


def test_two_followers_see_epochs_as_they_land_then_the_end(tmp_path):
    """Two viewers (two TUIs, a TUI and `watch`) of one run each get every event."""
    run = _fake_live_run(tmp_path)
    a, b = Follower(run), Follower(run)
    assert a.poll() == [] and not a.done  # trainer still loading: nothing to show yet
    (run.path / PROGRESS).write_text(json.dumps({
        "pid": os.getpid(), "epochs": 4, "steps": 10, "train_size": 40, "val_size": 10,
        "params": 99, "initial_epoch": 0, "epoch": 1, "step": 3, "images_per_sec": 812.0,
        "eta_s": 2.0, "eta_run_s": 200.0, "updated": 1.0}))
    assert describe(run) == "running, epoch 1/4, 812 img/s, ETA 3 min"
    first = a.poll()
    assert [type(e) for e in first] == [Started, BatchProgress]
    assert first[0].params == 99 and first[1].step == 3
    assert a.poll() == []  # nothing new
    rows = []
    for epoch, (acc, val) in enumerate([(0.4, 0.5), (0.6, 0.55), (0.8, 0.5)], start=1):
        rows.append({"epoch": epoch, "accuracy": acc, "loss": 1.0 - epoch / 10,
                     "val_accuracy": val, "val_loss": 1.0 + epoch / 10, "seconds": 1.0})
        run.write_history(rows)
        run.update_state(epochs_done=epoch)
        ends = [e for e in a.poll() if isinstance(e, EpochEnd)]
        assert [e.epoch for e in ends] == [epoch]
    assert ends[0].overfitting and not ends[0].best  # val loss rose 2 epochs while train fell
    b_events = b.poll()
    assert [e.epoch for e in b_events if isinstance(e, EpochEnd)] == [1, 2, 3]
    run.update_state(status="stopped")
    end_a, end_b = a.poll(), b.poll()
    assert isinstance(end_a[-1], Finished) and end_a[-1].status == "stopped"
    assert isinstance(end_b[-1], Finished) and a.done and b.done


def test_a_followed_run_ends_with_its_test_accuracy(tmp_path):
    """Issue 34 item 10: a followed run ended "finished after 10 epochs (24 s)" without the
    test accuracy that Runs, Results and the CLI showed: metrics.json also names the weights
    evaluated, and the follower's Evaluation(**metrics) refused those keys."""
    from cifar_tui.evaluation import evaluate_probs

    run = _fake_live_run(tmp_path)
    follower = Follower(run)
    labels = np.arange(20) % 10
    probs = np.eye(10, dtype=np.float32)[labels]
    probs[:4] = np.roll(probs[:4], 1, axis=1)  # 16 of 20 right
    run.write_history([{"epoch": 1, "accuracy": 0.5, "loss": 1.0, "val_accuracy": 0.5,
                        "val_loss": 1.0, "seconds": 1.0}])
    run.write_metrics({**evaluate_probs(probs, labels).to_dict(), "weights_epoch": 1,
                       "weights": "best val", "epochs_done": 1})
    run.update_state(status="finished", epochs_done=1)
    end = follower.poll()[-1]
    assert isinstance(end, Finished) and end.evaluation is not None
    assert end.evaluation.accuracy == 0.8 and end.evaluation.n == 20


def test_a_spawned_trainer_is_starting_until_it_dies_then_its_death_and_log_are_said(tmp_path):
    """The window between ``--detach`` and the child taking the run (it imports Keras first):
    viewers see "starting", a second start is refused, and a child that dies in it ends every
    viewer with what happened and where the log is, instead of leaving them waiting for ever."""
    run = RunStore(tmp_path / "runs").create({"arch": "custom", "epochs": 4, "batch_size": 4})
    log = run.path / "train.log"
    log.write_text("loading...\nModuleNotFoundError: No module named 'keras'\n")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run.record_spawn(child.pid, log)
        follower = Follower(run)
        assert run.status == "starting" and owner_pid(run) == child.pid
        assert describe(run) == "starting (epoch 1/4): loading data and Keras"
        assert follower.poll() == [] and not follower.done
        with pytest.raises(RunLockedError, match=f"pid {child.pid}"):
            refuse_if_live(run)
        # a viewer's x while it starts is for this start: the trainer must not discard it
        request_stop(run)
        assert (run.path / STOP_REQUEST).exists()
    finally:
        child.kill()
        child.wait()
    assert run.status == "failed" and owner_pid(run) is None
    events = follower.poll()
    assert [type(e) for e in events] == [Failed] and follower.done
    assert f"pid {child.pid}" in events[0].message and str(log) in events[0].message
    assert "No module named 'keras'" in events[0].message
    assert live_summary(run)["error"] == events[0].message


def test_a_created_run_that_no_process_takes_is_not_live_for_ever(tmp_path):
    run = RunStore(tmp_path / "runs").create({"arch": "custom", "epochs": 4, "batch_size": 4})
    assert run.status == "starting"  # its creator locks it or spawns its trainer at once
    assert Follower(run).poll() == []
    old = time.time() - START_GRACE_S - 5
    os.utime(run.path / "state.json", (old, old))
    assert run.status == "created" and owner_pid(run) is None
    follower = Follower(run)
    events = follower.poll()
    assert [type(e) for e in events] == [Failed] and follower.done
    assert f"cifar-tui train --resume {run.id}" in events[0].message
    with run.lock():  # a trainer that has taken it but not yet written "running"
        assert run.status == "starting"


def test_a_trainer_that_begins_clears_its_spawn_record_and_keeps_a_fresh_stop_request(tmp_path):
    run = RunStore(tmp_path / "runs").create({"arch": "custom", "epochs": 4, "batch_size": 4})
    run.record_spawn(os.getpid(), run.path / "train.log")  # this process was spawned for it
    request_stop(run)  # made after the spawn: x pressed while it was starting
    pub = Publisher(run, lambda event: None, None)
    assert (run.path / STOP_REQUEST).exists()
    pub(BatchProgress(run.id, 1, 4, 1, 10, 2.0, 0.1, 800.0, 3.0))
    assert pub.stop.is_set()
    run.update_state(status="running", pid=os.getpid())
    assert run.spawn() is None, "the state names it: the record is spent"
    run.clear_spawn()
    assert not (run.path / "spawn.json").exists()


def test_detached_trainer_that_dies_before_it_begins_ends_watch_with_its_log(tmp_path, data,
                                                                            monkeypatch, capsys):
    """A child that cannot even import Keras: `watch` ends (no hang) saying so and where the
    log is; `runs` lists the run as failed with the same reason."""
    fake = tmp_path / "fake" / "keras"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('this keras is broken on purpose')\n")
    monkeypatch.setenv("PYTHONPATH", f"{fake.parent}{os.pathsep}{ENV['PYTHONPATH']}")
    runs = tmp_path / "runs"
    assert main(["--runs", str(runs), "train", "custom", "--spec", SMALL, "--epochs", "2",
                 "--data", str(data), "--detach"]) == 0
    run = RunStore(runs).list()[0]
    watch = subprocess.run([sys.executable, "-m", "cifar_tui", "--runs", str(runs), "watch",
                            run.id, "--interval", "0.2"], env=ENV, capture_output=True,
                           text=True, timeout=120)
    assert watch.returncode == 1, (watch.stdout, watch.stderr)
    assert "ended before it began training" in watch.stderr
    assert "this keras is broken on purpose" in watch.stderr
    assert str(run.path / "train.log") in watch.stderr
    assert run.status == "failed"
    capsys.readouterr()
    assert main(["--runs", str(runs), "runs"]) == 0
    assert "ended before it began training" in capsys.readouterr().out


# -- real trainers in other processes ---------------------------------------------------------


@pytest.mark.slow
def test_detach_returns_at_once_and_the_run_finishes(tmp_path, data, capsys):
    runs = tmp_path / "runs"
    t = time.monotonic()
    code = main(["--runs", str(runs), "train", "custom", "--spec", SMALL, "--epochs", "3",
                 "--batch-size", "8", "--data", str(data), "--detach"])
    took = time.monotonic() - t
    out = capsys.readouterr().out
    assert code == 0 and took < 5, (took, out)
    run = RunStore(runs).list()[0]
    assert f"run {run.id} is training in the background" in out and "train.log" in out
    wait_until(lambda: run.status == "finished", what="the detached run to finish")
    assert [h["epoch"] for h in run.history()] == [1, 2, 3]
    assert "epoch 3/3" in (run.path / "train.log").read_text()
    assert main(["--runs", str(runs), "runs", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["runs"][0]  # the JSON vocabulary (jsonout.py)
    assert row["status"] == "finished" and row["pid"] is None and row["epochs_done"] == 3
    assert row["seconds_per_epoch"] > 0 and row["test_accuracy"] is not None


@pytest.mark.slow
def test_watch_a_live_run_stop_it_from_here_and_one_trainer_per_run(tmp_path, data, capsys):
    runs = tmp_path / "runs"
    proc = start_trainer(runs, data)
    try:
        run = live_run(runs, 1)
        watch = subprocess.Popen([sys.executable, "-m", "cifar_tui", "--runs", str(runs),
                                  "watch", run.id, "--interval", "0.2"], env=ENV,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(watch.stdout), daemon=True)
        reader.start()
        # epochs land in the watcher live, one line each, while the trainer goes on
        start = run.epochs_done
        wait_until(lambda: run.epochs_done >= start + 2, what="two more epochs")
        wait_until(lambda: sum(line.startswith("epoch ") for line in lines) >= start + 2,
                   timeout=10, what="the watcher's epoch lines")
        assert proc.poll() is None and watch.poll() is None

        row = next(r for r in (live_summary(r) for r in RunStore(runs).list()))
        assert row["live"] and row["pid"] == proc.pid and row["status"] == "running"
        assert row["progress"]["steps"] == 12 and row["description"].startswith("running, epoch")

        # a second trainer of the same run is refused, headless or detached
        assert main(["--runs", str(runs), "train", "--resume", run.id]) == 1
        assert "is live" in capsys.readouterr().err
        assert main(["--runs", str(runs), "train", "--resume", run.id, "--detach"]) == 1
        assert f"pid {proc.pid} on" in capsys.readouterr().err

        # stop from this process: the owner stops after the batch, keeping finished epochs
        request_stop(run)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert run.status == "stopped" and run.epochs_done >= start + 2
        assert watch.wait(timeout=10) == 1
        reader.join(5)
        assert lines[-1].startswith("stopped after"), lines[-3:]
    finally:
        proc.kill()


def test_owner_killed_9_is_interrupted_within_seconds(tmp_path, data):
    runs = tmp_path / "runs"
    proc = start_trainer(runs, data)
    try:
        run = live_run(runs, 1)
        follower = Follower(run)
        assert any(isinstance(e, Started) for e in follower.poll())
        assert describe(run).startswith("running")
    finally:
        proc.send_signal(signal.SIGKILL)
    t = time.monotonic()
    wait_until(lambda: run.status == "interrupted", timeout=5, what="interrupted status")
    ends = [e for e in follower.poll() if isinstance(e, Finished)]
    assert ends and ends[0].status == "interrupted" and follower.done
    assert time.monotonic() - t < 5
    assert live_summary(run)["pid"] is None
    proc.wait()
