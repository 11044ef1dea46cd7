"""Issue 30's attacks as fixtures: hostile pickles, names, lock links, progress and state files.
Each test is one attack that once broke; the comment says what it did."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import types

import numpy as np
import pytest

from cifar_tui import data
from cifar_tui.cli import main
from cifar_tui.config import TrainConfig
from cifar_tui.data import DataError, UnsafePickleError
from cifar_tui.runs import Run, RunLockedError, RunStore, StorageError

SMALL = "C8-P-F-FC16"


def cfg(**kw) -> TrainConfig:
    base = {"spec": SMALL, "optimizer": "adam", "learning_rate": 3e-3, "batch_size": 16,
            "epochs": 3, "val_split": 0.0, "patience": 0}
    return TrainConfig.for_arch("custom", **{**base, **kw})


def listing(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}

# -- data: pickles that allocate what the file does not hold --------------------------------


class _Alloc:
    """Pickles as ``numpy.ndarray(shape, uint8)``: REDUCE on the allowed ndarray name."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def __reduce__(self):
        return (np.ndarray, (self.shape, np.dtype("u1")))


def test_a_tiny_pickle_cannot_allocate_a_huge_array(tmp_path, arrays):
    # Was: 123 bytes became 200,080 images (588 MB cache); 1M images were OOM-killed at 4 GB.
    from conftest import write_batches

    folder = write_batches(tmp_path / "b", arrays)
    bomb = pickle.dumps({b"data": _Alloc((200_080, 3072)), b"labels": _Alloc((200_080,))},
                        protocol=2)
    assert len(bomb) < 300
    (folder / "data_batch_2").write_bytes(bomb)
    with pytest.raises(UnsafePickleError, match="data_batch_2.*called numpy.ndarray directly"):
        data.load_cifar10(folder)


@pytest.mark.parametrize("dtype", ["O", "V8", [("a", "u1")], "U4", "c8"])
def test_a_pickle_asking_for_a_non_numeric_array_type_is_refused(dtype):
    arr = np.zeros(2, dtype=dtype)
    with pytest.raises(UnsafePickleError, match="array type|refused"):
        data.safe_unpickle(pickle.dumps({b"data": arr}, protocol=2), "f")


def test_every_array_is_bounded_by_the_bytes_in_the_file():
    with pytest.raises(UnsafePickleError, match="array of 80 bytes in a file of 40"):
        data._bounded_arrays({b"data": [np.zeros(10)]}, 40)
    data._bounded_arrays({b"data": [np.zeros(5)]}, 40)  # within: fine


def test_a_genuine_batch_still_loads(tmp_path, arrays):
    from conftest import write_batches

    ds = data.load_cifar10(write_batches(tmp_path / "b", arrays), use_cache=False)
    assert ds.x_train.shape == arrays[0].shape and (ds.y_test == arrays[3]).all()


@pytest.mark.parametrize("labels", [7, 2.5, {b"x": 1}, [[1, 2]]])
def test_labels_that_are_not_a_list_are_a_data_error(tmp_path, arrays, labels):
    # Was: a scalar exited 70 (TypeError: len() of unsized object).
    from conftest import write_batches

    folder = write_batches(tmp_path / "b", arrays)
    rows = arrays[0][:2].transpose(0, 3, 1, 2).reshape(2, -1)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": rows, b"labels": labels},
                                                     protocol=2))
    with pytest.raises(DataError, match="test_batch: labels are .*not a list of class numbers"):
        data.load_cifar10(folder, use_cache=False)


# -- resume: validate first, delete only what the store wrote, only inside the store ---------

FOREIGN = {"config.json": b'{"model_type": "bert"}', ".eslintrc.json": b"{}",
           "model-final.keras": b"mine", "checkpoint-best.keras": b"mine", ".results.csv": b"1"}


@pytest.fixture
def foreign(tmp_path):
    """A folder of someone else's that happens to hold a config.json."""
    p = tmp_path / "p"
    p.mkdir()
    for name, content in FOREIGN.items():
        (p / name).write_bytes(content)
    return p


def test_resume_of_a_folder_outside_the_store_touches_nothing(tmp_path, foreign, capsys):
    # Was: the lock's sweep deleted model-final.keras, checkpoint-best.keras and the hidden
    # files, then the command wrote lock and state.json there.
    runs = tmp_path / "runs"
    assert main(["train", "--resume", str(foreign), "--runs", str(runs)]) == 1
    assert "is not a run folder in" in capsys.readouterr().err
    assert listing(foreign) == FOREIGN


def test_resume_of_dot_is_refused(tmp_path, foreign, monkeypatch, capsys):
    monkeypatch.chdir(foreign)
    assert main(["train", "--resume", ".", "--runs", str(tmp_path / "runs")]) == 1
    assert "--resume trains only runs of the store" in capsys.readouterr().err
    assert listing(foreign) == FOREIGN


def test_resume_of_a_symlinked_run_folder_is_refused(tmp_path, foreign, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "r1").symlink_to(foreign)
    for ref in ("r1", str(runs / "r1")):
        assert main(["train", "--resume", ref, "--runs", str(runs)]) == 1
        assert "symbolic link" in capsys.readouterr().err
    assert listing(foreign) == FOREIGN


DAMAGED_STATES = ["garbage{", "[1, 2]", '{"epochs_done": "abc", "status": "stopped"}',
                  '{"epochs_done": -1, "status": "stopped"}']


@pytest.mark.parametrize("state", DAMAGED_STATES)
def test_a_damaged_run_is_refused_and_its_checkpoints_kept(tmp_path, state, capsys):
    # Was: the sweep wiped its checkpoints and training silently restarted at epoch 1.
    store = RunStore(tmp_path / "runs")
    run = store.create(cfg().to_dict())
    for name in ("checkpoint-0002.keras", "model-0001.keras", "checkpoint-0001.keras"):
        (run.path / name).write_bytes(b"weights")
    (run.path / "state.json").write_text(state)
    before = listing(run.path)
    for argv in (["train", "--resume", run.id], ["train", "--resume", run.id, "--detach"]):
        assert main([*argv, "--runs", str(store.root)]) == 1
        err = capsys.readouterr().err
        assert f"run {run.id} cannot be resumed: state.json" in err, err
    assert listing(run.path) == before


def test_a_config_that_is_a_json_list_is_refused_not_defaulted(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    run = store.create(cfg().to_dict())
    (run.path / "config.json").write_text("[1, 2]")
    assert main(["train", "--resume", run.id, "--runs", str(store.root)]) == 1
    assert "config.json holds a JSON list" in capsys.readouterr().err
    assert "status" in run.state and run.state["status"] == "created"


def test_the_lock_sweep_deletes_only_the_stores_own_names(tmp_path):
    run = RunStore(tmp_path / "runs").create(cfg().to_dict())
    ours = [".tmp-state-k2j3.json", "checkpoint-0003.keras", "model-0002.keras"]
    theirs = [n for n in FOREIGN if n != "config.json"] + ["notes.txt", "model-v2.keras"]
    for name in ours + theirs:
        (run.path / name).write_bytes(b"x")
    with run.lock():
        left = set(listing(run.path))
    assert not left & set(ours) and set(theirs) <= left


# -- the lock: on the folder, never through a link, trusted over its record ---------------


def test_a_lock_that_is_a_symlink_never_writes_its_target(tmp_path, capsys):
    # Was: the victim was truncated to 0 bytes (opened with O_CREAT through the link).
    store = RunStore(tmp_path / "runs")
    run = store.create(cfg().to_dict())
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (run.path / "lock").symlink_to(victim)
    with pytest.raises(StorageError, match="lock is a symbolic link"):
        run.lock()
    assert main(["train", "--resume", run.id, "--runs", str(store.root)]) == 1
    assert "symbolic link" in capsys.readouterr().err
    assert victim.read_text() == "precious"


def test_a_train_log_that_is_a_symlink_is_not_appended_to(tmp_path):
    from cifar_tui.live import start_detached

    run = RunStore(tmp_path / "runs").create(cfg().to_dict())
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (run.path / "train.log").symlink_to(victim)
    with pytest.raises(StorageError, match="symbolic link"):
        start_detached(run, python="/bin/false")
    assert victim.read_text() == "precious"


def test_removing_the_lock_file_does_not_let_a_second_trainer_in(tmp_path, capsys):
    # Was: rm runs/X/lock let a second `train --resume X` train the same run alongside.
    store = RunStore(tmp_path / "runs")
    run = store.create(cfg().to_dict())
    with run.lock():
        (run.path / "lock").unlink()
        with pytest.raises(RunLockedError):
            run.lock()
        assert run.owner() is not None  # the kernel lock says so, record or not
        assert main(["train", "--resume", run.id, "--runs", str(store.root)]) == 1
        assert "is live" in capsys.readouterr().err
    assert run.lock_held() is False


def test_a_forged_lock_record_naming_a_live_pid_is_not_an_owner(tmp_path):
    # Was: pid 1 in the record showed the run as running for ever and refused --detach.
    from cifar_tui.live import owner_pid, refuse_if_live

    run = RunStore(tmp_path / "runs").create(cfg().to_dict())
    run.update_state(status="running", pid=1)
    (run.path / "lock").write_text(json.dumps({"pid": 1, "host": os.uname().nodename,
                                               "since": "2026-01-01 00:00:00"}))
    assert run.owner() is None and run.status == "interrupted" and owner_pid(run) is None
    refuse_if_live(run)  # does not raise


def test_watch_of_a_forged_live_lock_ends(tmp_path):
    # Was: watch waited for ever on a lock record naming pid 1.
    run = RunStore(tmp_path / "runs").create(cfg().to_dict())
    run.update_state(status="running", pid=1)
    (run.path / "lock").write_text(json.dumps({"pid": 1, "host": os.uname().nodename,
                                               "since": "2026-01-01 00:00:00"}))
    res = subprocess.run([sys.executable, "-m", "cifar_tui", "watch", run.id, "--runs",
                          str(run.path.parent), "--interval", "0.1"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "interrupted" in res.stdout, (res.stdout, res.stderr)


# -- validation gaps ------------------------------------------------------------------------


@pytest.mark.parametrize("flag, value, message", [
    ("--seed", "-1", "seed must be in 0..2147483647"),
    ("--seed", str(2**64), "seed must be in 0..2147483647"),
    ("--steps-per-execution", str(10**20), "steps per execution must be in 0..1000"),
])
def test_out_of_range_values_are_refused_before_a_run_exists(tmp_path, capsys, flag, value,
                                                             message):
    # Was: a failed run with numpy's message (seed), exit 70 (steps per execution).
    runs = tmp_path / "runs"
    assert main(["train", "cnn", flag, value, "--runs", str(runs)]) == 1
    assert message in capsys.readouterr().err
    assert not runs.exists() or not any(runs.iterdir())


def test_a_stop_request_that_is_a_folder_stops_nothing(tmp_path):
    # Was: a folder named stop-request could not be removed, so it stopped every resume.
    import threading

    from cifar_tui.events import BatchProgress
    from cifar_tui.live import Publisher, stop_requested

    run = RunStore(tmp_path / "runs").create(cfg().to_dict())
    (run.path / "stop-request").mkdir()
    assert not stop_requested(run)
    stop = threading.Event()
    pub = Publisher(run, lambda e: None, stop)
    pub(BatchProgress(run.id, 1, 3, 1, 5, 1.0, 0.5, 10.0, 1.0))
    assert not stop.is_set() and (run.path / "stop-request").is_dir()


def test_one_damaged_config_does_not_fail_the_whole_comparison(tmp_path, capsys):
    # Was: runs --compare failed for every run when one config.json was damaged.
    store = RunStore(tmp_path / "runs")
    good = store.create(cfg(batch_size=16).to_dict())
    other = store.create(cfg(batch_size=32).to_dict())
    bad = store.create(cfg().to_dict())
    (bad.path / "config.json").write_text('{"epochs": "many"}')
    assert main(["runs", "--compare", good.id, other.id, bad.id, "--runs",
                 str(store.root)]) == 0
    out = capsys.readouterr().out
    assert good.id in out and bad.id in out and "batch_size" in out


def test_gpus_past_the_machines_are_refused_before_anything_is_built(tmp_path, capsys,
                                                                     monkeypatch):
    # Was: --gpus 100000000 built a list of 10^8 device names (OOM-killed at 3 GB); a count
    # past the machine's made a failed run.
    from cifar_tui import hardware

    runs = tmp_path / "runs"
    for have, asked, message in ((0, "3", "this machine has no GPU"),
                                 (2, "100000000", "this machine has 2 GPUs; give 1..2"),
                                 (2, "0", "this machine has 2 GPUs; give 1..2")):
        monkeypatch.setattr(hardware, "machine_gpus", lambda have=have: have)
        assert main(["train", "cnn", "--gpus", asked, "--runs", str(runs)]) == 1
        assert f"--gpus {asked}: {message}" in capsys.readouterr().err
    assert not runs.exists() or not any(runs.iterdir())


def test_machine_gpus_counts_device_files(tmp_path):
    from cifar_tui.hardware import machine_gpus

    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null"):
        (tmp_path / name).touch()
    assert machine_gpus(tmp_path) == 2
    assert machine_gpus(tmp_path / "none") == 0


# -- a terminal lost while Keras loads ---------------------------------------------------


def test_signal_handlers_are_in_place_before_keras_loads(tmp_path, monkeypatch):
    # Was: installed after the TensorFlow import (~3.5 s): a SIGHUP or SIGTERM in those
    # seconds killed `cifar-tui train` silently, with no run.
    seen: dict = {}

    class Training(types.ModuleType):
        def __getattr__(self, name: str):  # the moment `from .training import train` runs
            seen.update({s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGTERM,
                                                           signal.SIGINT)})
            raise RuntimeError("stop here: nothing to train")

    monkeypatch.setitem(sys.modules, "cifar_tui.training", Training("cifar_tui.training"))
    before = {signal.SIGHUP: signal.SIG_DFL, signal.SIGTERM: signal.SIG_DFL,
              signal.SIGINT: signal.default_int_handler}  # a fresh process's
    saved = {s: signal.signal(s, h) for s, h in before.items()}
    try:
        assert main(["train", "cnn", "--runs", str(tmp_path / "runs")]) == 1
        after = {s: signal.getsignal(s) for s in before}
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    assert set(seen) == set(before)
    assert all(callable(h) and h not in (signal.SIG_DFL, signal.default_int_handler)
               for h in seen.values()), seen
    assert after == before  # and put back after


# -- watch: a damaged or moved run ends it with why ------------------------------------------


def _finished_run(store: RunStore, config: dict, history: str) -> Run:
    run = store.create(cfg().to_dict())
    (run.path / "config.json").write_text(json.dumps(config))
    (run.path / "history.csv").write_text(history)
    run.update_state(status="finished", epochs_done=1)
    return run


def test_watch_of_a_run_with_missing_fields_prints_what_it_has(tmp_path, capsys):
    # Was: exit 70 on KeyError 'arch', 'seconds', 'val_loss'.
    store = RunStore(tmp_path / "runs")
    run = _finished_run(store, {"epochs": 1}, "epoch,loss,accuracy,val_accuracy\n1,2,0.1,0.2\n")
    assert main(["watch", run.id, "--runs", str(store.root), "--interval", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/1  loss 2.0000" in out and "finished after 1 epochs" in out


def test_watch_of_a_damaged_run_says_so(tmp_path, capsys):
    # Was: exit 0 "unknown after 0 epochs".
    store = RunStore(tmp_path / "runs")
    run = store.create(cfg().to_dict())
    (run.path / "state.json").write_text("garbage{")
    assert main(["watch", run.id, "--runs", str(store.root), "--interval", "0.05"]) == 1
    assert f"run {run.id} is damaged: state.json is unreadable" in capsys.readouterr().err


def test_watch_of_a_run_moved_away_says_so(tmp_path):
    from cifar_tui.events import Failed
    from cifar_tui.live import Follower

    store = RunStore(tmp_path / "runs")
    run = store.create(cfg().to_dict())
    follower = Follower(run)
    run.path.rename(tmp_path / "elsewhere")
    events = follower.poll()
    assert follower.done and isinstance(events[-1], Failed)
    assert "is gone (moved or removed)" in events[-1].message


def test_watch_interval_must_be_a_finite_number_of_seconds(capsys):
    for value in ("inf", "nan", "0", "-1", "1e9"):
        with pytest.raises(SystemExit) as exc:
            main(["watch", "x", "--interval", value])
        assert exc.value.code == 2
        assert "is not a number of seconds" in capsys.readouterr().err


# -- early stopping across a kill; history follows state -----------------------------------


class Killed(BaseException):
    """Stands for SIGKILL."""


def test_an_early_stopped_run_killed_in_its_evaluation_does_not_train_on(tmp_path, tiny,
                                                                         monkeypatch):
    # Was: the resume trained one more epoch (es_wait 1 -> 2) that the unbroken run did not.
    from cifar_tui import trainer
    from cifar_tui.training import train

    slow = cfg(epochs=6, patience=1, learning_rate=1e-12, optimizer="sgd", val_split=0.2)
    unbroken = train(slow, data=tiny, store=RunStore(tmp_path / "a"), evaluate=False)
    assert unbroken.status == "early-stopped"

    def killed(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(trainer, "evaluate_run", killed)
        with pytest.raises(Killed):
            train(slow, data=tiny, store=RunStore(tmp_path / "b"))
    run = RunStore(tmp_path / "b").list()[0]
    run.update_state(status="running")  # as SIGKILL leaves it
    assert run.epochs_done == unbroken.epochs_done
    run = train(run=run, data=tiny)
    assert run.status == "early-stopped" and run.epochs_done == unbroken.epochs_done
    assert run.metrics  # and the evaluation the kill cut short is done


def test_history_rows_past_the_commit_are_dropped_when_the_run_is_taken(tmp_path):
    # Was: killed between the history.csv and state.json renames, the file showed epoch N+1
    # and the resume retrained it (README: "resumes exactly after the last epoch history.csv
    # shows").
    run = RunStore(tmp_path / "runs").create(cfg().to_dict())
    run.write_history([{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.9}])
    run.update_state(epochs_done=1, status="running")
    with run.lock():
        text = (run.path / "history.csv").read_text()
    assert [line.split(",")[0] for line in text.splitlines()] == ["epoch", "1"]
