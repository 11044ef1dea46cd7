"""Issue 30's attacks as fixtures: hostile pickles, names, lock links, progress and state files.
Each test is one attack that once broke; the comment says what it did."""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import types

import numpy as np
import pytest
from conftest import small_run_config

from cifar_tui import data
from cifar_tui.cli import main
from cifar_tui.data import DataError, UnsafePickleError
from cifar_tui.runs import Run, RunLockedError, RunStore, StorageError

cfg = small_run_config


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
        def __getattr__(self, name: str):  # the moment `from .trainer import train` runs
            seen.update({s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGTERM,
                                                           signal.SIGINT)})
            raise RuntimeError("stop here: nothing to train")

    monkeypatch.setitem(sys.modules, "cifar_tui.trainer", Training("cifar_tui.trainer"))
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
    assert "epoch 1/1  loss 2.0000" in out and "finished after 1 epoch " in out


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
    from cifar_tui.trainer import train

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


# -- names are data: never markup, terminal control, HTML or mathtext ----------------------

MARKUP_ID = "a[link='x]b"
ESC_ID = "esc\x1b[31mred\x1b[0m"
HTML_ID = "<img src=x onerror=alert(1)>$x^2$"


def test_printable_escapes_every_control_character():
    from cifar_tui.names import markdown_safe, markup_safe, plot_label, printable

    assert printable(ESC_ID) == "esc\\x1b[31mred\\x1b[0m"
    assert printable("a\nb\rc\x9bd\u202ee") == "a\\x0ab\\x0dc\\x9bd\\u202ee"
    assert printable("a\nb", newlines=True) == "a\nb"
    assert markup_safe(MARKUP_ID) == "a\\[link='x]b"
    assert markdown_safe(HTML_ID + "|") == "&lt;img src=x onerror=alert(1)&gt;$x^2$\\|"
    assert plot_label("$x^2$") == r"\$x^2\$"


def test_folder_names_are_distinct_and_stay_inside():
    from cifar_tui.names import folder_names

    assert folder_names(["r1", "r1", "..", "a/b", ".", "r1"]) == \
        ["r1", "r1-2", "run", "a_b", "run-2", "r1-3"]


def _hostile_store(root) -> RunStore:
    store = RunStore(root)
    for name in (MARKUP_ID, ESC_ID, "<b>x<b>$x^2$"):
        run = store.create(cfg().to_dict())
        run.path.rename(root / name)
    return store


def test_cli_prints_names_without_terminal_controls(tmp_path, capsys):
    store = _hostile_store(tmp_path / "runs")
    assert main(["runs", "--runs", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "esc\\x1b[31mred" in out and MARKUP_ID in out
    assert main(["watch", ESC_ID[:6], "--runs", str(store.root), "--interval", "0.05"]) == 1
    assert "\x1b" not in "".join(capsys.readouterr())


def test_an_error_naming_a_class_folder_with_a_newline_is_one_line(tmp_path, arrays, capsys):
    # Was: a class folder named "cat\nx" gave a three-line error.
    from conftest import image_members, write_tree

    members = image_members(arrays)
    members["train/cat\nx\x1b[2J/0001.png"] = members["train/cat/0000.png"]
    tree = write_tree(tmp_path / "imgs", members)
    assert main(["data", "--data", str(tree)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "cat\\x0ax" in err, err


def test_a_live_run_with_a_mistyped_progress_file_is_listed(tmp_path, capsys):
    # Was: "images_per_sec": "fast" crashed the Runs pane and `cifar-tui runs` for every run.
    from cifar_tui.live import live_summary

    store = RunStore(tmp_path / "runs")
    run = store.create(cfg().to_dict())
    with run.lock():
        run.update_state(status="running", pid=os.getpid())
        (run.path / "progress.json").write_text(json.dumps({
            "pid": os.getpid(), "epoch": 1, "epochs": 3, "step": 2, "steps": 5,
            "images_per_sec": "fast", "eta_run_s": "soon", "updated": 1.0}))
        assert live_summary(run)["progress"] is None  # damaged: no progress, not a crash
        assert main(["runs", "--runs", str(store.root)]) == 0
        assert "running, starting (epoch 1/3)" in capsys.readouterr().out


async def test_the_tui_shows_hostile_names_as_text(tmp_path, arrays):
    # Was: a run folder "a[link='x]b" crashed the TUI at start (MarkupError, exit 1) and on
    # open; a live run's "images_per_sec": "fast" crashed the Runs pane.
    from conftest import static_text
    from textual.widgets import Static

    from cifar_tui.app import CifarApp
    from cifar_tui.data import Cifar10

    store = _hostile_store(tmp_path / "runs")
    live = store.create(cfg().to_dict())
    live.path.rename(store.root / "live[b]x")
    live = Run(store.root / "live[b]x")
    with live.lock():
        live.update_state(status="running", pid=os.getpid())
        (live.path / "progress.json").write_text(json.dumps({
            "pid": os.getpid(), "epoch": 1, "epochs": 3, "step": 2, "steps": 5,
            "images_per_sec": "fast", "updated": 1.0}))
        app = CifarApp(runs_root=store.root,
                       loader=lambda source, stop=None: Cifar10(*arrays, source="gen"))
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.press("6")
            await pilot.pause(0.5)
            assert "live[b]x running" in static_text(app.query_one("#runs-live", Static))
            table = app.query_one("#runs-table")
            shown = {str(table.get_row_at(i)[1]).strip() for i in range(table.row_count)}
            assert "a\\[link='x]b" in shown  # escaped markup: the table shows a[link='x]b
            for i in range(1, table.row_count):  # open each: Train, Results, Predict views
                await pilot.press("6")
                table.move_cursor(row=i)
                await pilot.press("enter")
                for pane in ("3", "4", "5"):
                    await pilot.press(pane)
                    await pilot.pause(0.2)
                assert "\x1b" not in app.sub_title and app.current_run is not None
            await pilot.press("6", "h")  # the hyperparameter table too
            await pilot.pause(0.2)
        assert app.return_code in (None, 0)


def _run_with_history(store: RunStore, name: str) -> Run:
    run = store.create(cfg().to_dict())
    run.write_history([{"epoch": 1, "accuracy": 0.3, "loss": 2.0},
                       {"epoch": 2, "accuracy": 0.4, "loss": 1.8}])
    run.update_state(status="stopped", epochs_done=2)
    from cifar_tui import CLASSES

    run.write_metrics({  # an evaluation, so the run has figures of its own
        "accuracy": 0.5, "loss": 1.0, "ece": 0.1, "n": 20,
        "confusion": [[2 if i == j else 0 for j in range(10)] for i in range(10)],
        "per_class": [{"class": c, "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
                      for c in CLASSES],
        "confused_pairs": []})
    run.path.rename(store.root / name)
    return Run(store.root / name)


def test_report_names_are_text_and_runs_sharing_an_id_keep_their_figures(tmp_path):
    # Was: raw HTML from names in report.md, a $...$ id broke the figure (mathtext), and two
    # runs sharing an id wrote one figure folder.
    from cifar_tui.report import write_report

    one, two = RunStore(tmp_path / "a"), RunStore(tmp_path / "b")
    hostile = "r<script>x<script>$\\frac{a$"
    runs = [_run_with_history(one, hostile), _run_with_history(two, hostile)]
    report = write_report(runs, tmp_path / "out")
    md = report.markdown.read_text()
    # inside a code span (`cifar-tui eval ID`) a viewer shows it as text; nowhere else
    assert "<script>" not in re.sub(r"`[^`]*`", "", md) and "&lt;script&gt;" in md
    folders = sorted(p.name for p in (tmp_path / "out" / "figures").iterdir() if p.is_dir())
    assert len(folders) == 2 and all(".." not in f and "/" not in f for f in folders), folders
    assert "<script>" not in report.html.read_text()
