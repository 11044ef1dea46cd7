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
from conftest import SMALL_SPEC, small_run_config

from cifar_tui.cli import main
from cifar_tui.config import TrainConfig
from cifar_tui.events import EpochEnd
from cifar_tui.runs import Run, RunLockedError, RunStore, process_start
from cifar_tui.trainer import train

SMALL = SMALL_SPEC
cfg = small_run_config


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
        target = os.path.basename(str(args[-1]))
        if "progress" in target:  # live progress: throttled by time, not part of the run state
            return result
        done.append(f"{name} {target}")
        if len(done) == after:
            raise Killed
        return result

    monkeypatch.setattr(os, "replace", lambda *a, **k: mutation(real_replace, "replace", *a,
                                                                 **k))
    monkeypatch.setattr(os, "unlink", lambda *a, **k: mutation(real_unlink, "unlink", *a, **k))
    return done


@pytest.mark.slow
def test_kill_inside_every_write_window_resumes_exactly(tmp_path, tiny, monkeypatch):
    steps = len(tiny.y_train) // 16  # training drops the short last batch
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


def test_a_lock_record_without_the_kernel_lock_is_no_owner(tmp_path):
    run = RunStore(tmp_path).create({"arch": "cnn"})
    me = os.getpid()
    record = {"pid": me, "host": socket.gethostname(), "since": "2026-01-01 00:00:00"}
    lock_file = run.path / "lock"
    # a record naming a live process (this one, pid 1) that holds no kernel lock: forged or
    # stale, it is no owner
    for pid in (me, 1, 2**22 + 4321):
        lock_file.write_text(json.dumps({**record, "pid": pid, "start": process_start(pid)}))
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


# -- damaged runs ----------------------------------------------------------------------------

GOOD_HISTORY = ("epoch,accuracy,loss,val_accuracy,val_loss,learning_rate,seconds,images_per_sec\n"
                "1,0.5,1.5,0.4,1.6,0.01,1.0,900\n")


def damaged_store(root) -> dict[str, str]:
    """A store of one good run and one run per kind of damage: {run id: expected reason}."""
    store = RunStore(root)
    expected = {}

    def make(name: str, reason: str, **files: object) -> None:
        run = store.create(cfg(epochs=2).to_dict())
        run.write_history([{"epoch": 1, "accuracy": 0.5, "loss": 1.5, "val_accuracy": 0.4,
                            "val_loss": 1.6}])
        run.update_state(status="stopped", epochs_done=1)
        for fname, content in files.items():
            target = run.path / fname.replace("_", ".")
            target.write_bytes(content if isinstance(content, bytes) else content.encode())
        new = run.path.with_name(name)
        run.path.rename(new)
        expected[name] = reason

    make("a-good", "")
    make("b-state-list", "state.json holds a JSON list", state_json="[1, 2]")
    make("c-history-garbage", "history.csv: line 3", history_csv=GOOD_HISTORY + "x,y,z\n")
    make("d-predictions", "predictions.npz is not", predictions_npz=b"not a zip")
    conf = cfg(epochs=2).to_dict()
    make("e-config-types", "normalize is 'no'",
         config_json=json.dumps({**conf, "normalize": "no"}))
    make("f-nan", "diverged: loss is nan at epoch 1",
         history_csv=GOOD_HISTORY.replace("1.5,", "nan,"))
    make("g-done-over", "says 7 epochs are done, but the run has 2",
         state_json=json.dumps({"status": "finished", "epochs_done": 7}))
    make("h-config-bad-json", "config.json is unreadable", config_json="{")
    make("i-metrics-fields", "metrics.json: loss is None, not a number",  # it crashed Results
         metrics_json=json.dumps({"accuracy": 0.5, "n": 10}))
    make("j-metrics-confusion", "metrics.json: confusion is not a 10x10 table",
         metrics_json=json.dumps({"accuracy": 0.5, "loss": 1.0, "ece": 0.1, "n": 10,
                                  "confusion": [[1, 2]], "per_class": [], "confused_pairs": []}))
    return expected


def test_damaged_runs_are_listed_as_damaged_and_the_rest_works(tmp_path, capsys):
    expected = damaged_store(tmp_path)
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name, reason in expected.items():
        line = next(ln for ln in out.splitlines() if ln.startswith(name))
        if reason:
            assert "damaged" in line, line
            assert reason in out, reason
        else:
            assert "stopped" in line and "0.4000" in line
    assert main(["runs", "--runs", str(tmp_path), "--json"]) == 0
    rows = {r["run"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert rows["a-good"]["damage"] is None
    assert all(reason in rows[n]["damage"] for n, reason in expected.items() if reason)
    # a damaged config cannot be resumed with its values used as they are
    with pytest.raises(ValueError, match="normalize is 'no'"):
        train(run=RunStore(tmp_path).get("e-config-types"))


async def test_tui_starts_with_damaged_runs_and_plots_a_diverged_one(tmp_path, tiny):
    from textual.widgets import DataTable

    from cifar_tui.app import CifarApp

    expected = damaged_store(tmp_path / "runs")
    app = CifarApp(runs_root=tmp_path / "runs", loader=lambda source, stop=None: tiny)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("6")
        table = app.query_one("#runs-table", DataTable)
        statuses = {name: table.get_row(name)[3].strip() for name in expected}
        assert statuses["a-good"] == "stopped"
        assert all(statuses[n] == "damaged" for n in expected if n != "a-good")
        table.move_cursor(row=table.get_row_index("f-nan"))
        await pilot.press("l")  # the loss plot of a NaN history used to crash plotext
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause()
        for name in ("i-metrics-fields", "j-metrics-confusion"):  # Results raised KeyError
            await pilot.press("6")
            table.move_cursor(row=table.get_row_index(name))
            await pilot.press("enter")
            await pilot.pause()
            await pilot.press("4")
            await pilot.pause()
            assert "no test evaluation" in str(app.query_one("#results-header").render())
    assert app.return_code in (0, None)


# -- divergence, stops, values, errors, leftovers --------------------------------------------


def test_nan_loss_stops_the_training_at_once(tmp_path, tiny, monkeypatch):
    # The contract, not one CPU's numerics: the training stops at the first batch whose loss
    # is not finite, whichever batch that is (1 or 2 here on most CPUs, 3 on an AMX one), and
    # says which; no batch runs after it and no epoch is recorded past the last whole one.
    import re

    from cifar_tui.callbacks import StopOnNaN

    seen: list[tuple[int, int, float]] = []  # (epoch, batch, loss) of every batch trained
    real = StopOnNaN.on_batch_end

    def spy(self, batch, logs=None):  # noqa: ANN001, ANN202
        seen.append((self._epoch, batch + 1, float((logs or {}).get("loss", 0.0))))
        return real(self, batch, logs)

    monkeypatch.setattr(StopOnNaN, "on_batch_end", spy)
    # Let it diverge: past the learning-rate limit that validation (TrainConfig.problems) sets.
    monkeypatch.setattr(TrainConfig, "problems", lambda self: {})
    events: list = []
    with pytest.raises(RuntimeError, match="the training diverged. Lower the learning rate") \
            as err:
        train(cfg(optimizer="sgd", learning_rate=1e38, epochs=3), data=tiny,
              store=RunStore(tmp_path), listener=events.append)
    epoch, batch = map(int, re.search(r"at epoch (\d+), batch (\d+)", str(err.value)).groups())
    assert seen[-1][:2] == (epoch, batch)  # the batch named is the last one trained
    assert not math.isfinite(seen[-1][2])  # its loss is not finite...
    assert all(math.isfinite(loss) for _, _, loss in seen[:-1])  # ...and it is the first
    run = RunStore(tmp_path).list()[0]
    assert run.status == "failed" and "diverged" in run.state["error"]
    assert run.epochs_done == epoch - 1 and len(run.history()) == epoch - 1


def test_stop_during_the_first_data_load_is_a_stop_and_leaves_no_run(tmp_path, arrays):
    from conftest import image_members, write_tree

    from cifar_tui.data import LoadCancelled
    from cifar_tui.events import Failed, Finished

    tree = write_tree(tmp_path / "imgs", image_members(arrays))
    stop = threading.Event()
    stop.set()
    events: list = []
    with pytest.raises(LoadCancelled):
        train(cfg(data=str(tree)), store=RunStore(tmp_path / "runs"), stop=stop,
              listener=events.append)
    # Nothing is created before the data loads (issue 35): a stop then leaves no run behind,
    # and is no failure.
    assert RunStore(tmp_path / "runs").list() == []
    assert not any(isinstance(e, Failed | Finished) for e in events)


@pytest.mark.parametrize("flag, value, message", [
    ("--lr", "inf", "learning rate inf would diverge"),
    ("--lr", "nan", "learning rate must be positive"),
    ("--momentum", "nan", "momentum must be in [0, 1)"),
    ("--weight-decay", "-5", "weight decay must be a number, 0 or more"),
    ("--weight-decay", "inf", "weight decay must be a number, 0 or more"),
    ("--crop-pixels", "40", "crop pixels must be in 0..16"),
])
def test_bad_training_values_are_refused_before_training(tmp_path, capsys, flag, value,
                                                         message):
    code = main(["train", "custom", "--spec", SMALL, flag, value, "--runs", str(tmp_path)])
    assert code == 1
    assert message in capsys.readouterr().err
    assert RunStore(tmp_path).list() == []


def test_unexpected_errors_are_one_line_plus_a_log(capsys):
    from cifar_tui.cli import run_command
    from cifar_tui.errors import log_path

    def boom() -> int:
        raise KeyError("name")

    assert run_command("eval", boom) == 70
    err = capsys.readouterr().err
    assert err.startswith("cifar-tui eval: unexpected error (KeyError: 'name'); the traceback "
                          f"is in {log_path()}")
    assert "Traceback" not in err and "Traceback" in log_path().read_text()

    def stopped() -> int:
        raise KeyboardInterrupt

    assert run_command("train", stopped) == 130
    assert "stopped" in capsys.readouterr().err


def test_a_bug_inside_training_is_an_unexpected_error_not_a_usage_error(tmp_path, arrays,
                                                                       capsys, monkeypatch):
    """The issue's case: a KeyError raised in the middle of fit was printed as
    `cifar-tui train: 'val_loss'`, like a bad flag. A bug says "unexpected error", where its
    traceback is (logged once), and exits 70; a bad flag exits 2 and a bad value 1."""
    from conftest import write_batches

    import cifar_tui.callbacks as callbacks
    from cifar_tui.errors import EXIT_ERROR, EXIT_INTERNAL, EXIT_USAGE, log_path

    def broken(history: list) -> None:
        raise KeyError("val_loss")

    monkeypatch.setattr(callbacks, "detect_overfitting", broken)
    data = write_batches(tmp_path / "b", arrays)
    runs = tmp_path / "runs"
    common = ["--data", str(data), "--runs", str(runs)]
    code = main(["train", "custom", "--spec", SMALL, "--epochs", "1", *common])
    err = capsys.readouterr().err
    assert code == EXIT_INTERNAL == 70
    lines = [line for line in err.splitlines() if "val_loss" in line]
    assert lines == [f"cifar-tui train: unexpected error (KeyError: 'val_loss'); the traceback "
                     f"is in {log_path()}. Please report it with that file."]
    log = log_path().read_text()
    assert log.count("KeyError: 'val_loss'") == 1 and "in broken" in log  # once, with its frame
    run = RunStore(runs).list()[0]
    assert run.status == "failed"
    assert run.state["error"].startswith("unexpected error (KeyError: 'val_loss')")

    with pytest.raises(SystemExit) as usage:
        main(["train", "custom", "--epochs", "two", *common])
    assert usage.value.code == EXIT_USAGE == 2
    assert main(["train", "custom", "--spec", SMALL, "--epochs", "0", *common]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "epochs must be in 1..1000" in err and "unexpected" not in err


def test_errors_are_classified_in_one_place():
    from cifar_tui.data import DataError
    from cifar_tui.errors import error_message, is_bug
    from cifar_tui.models import SpecError

    class ResourceExhaustedError(Exception):  # TensorFlow's out-of-memory, by name
        pass

    for known in (ValueError("bad"), SpecError("C8-X", 3, 1, "unknown"), DataError("bad"),
                  OSError("full"), RuntimeError("locked"),
                  ResourceExhaustedError("OOM when allocating")):
        assert not is_bug(known), known
    for bug in (KeyError("k"), IndexError("i"), AttributeError("a"), TypeError("t"),
                UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), ZeroDivisionError()):
        assert is_bug(bug), bug
    assert error_message(ValueError("epochs must be at least 1"), "x") == \
        "epochs must be at least 1"
    assert error_message(ResourceExhaustedError("OOM when allocating\nmore"), "x") == (
        "out of memory on the device (OOM when allocating). Lower --batch-size or use a "
        "smaller model.")
    assert error_message(ZeroDivisionError("division by zero"), "x").startswith(
        "unexpected error (ZeroDivisionError: division by zero); the traceback is in ")


def test_runs_piped_into_head_ends_quietly(tmp_path):
    root = tmp_path / "runs"
    for i in range(1500):
        d = root / f"2026-run-{i:05d}"
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"arch": "cnn", "epochs": 3}))
        (d / "state.json").write_text(json.dumps({"status": "stopped", "epochs_done": 1}))
    res = subprocess.run(f"{sys.executable} -m cifar_tui runs --runs {root} | head -n 2",
                         shell=True, capture_output=True, text=True, timeout=120)
    assert res.stdout.count("\n") == 2
    assert "Broken pipe" not in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_killed_writers_leftovers_are_swept_by_the_next_owner(tmp_path, arrays, monkeypatch):
    run = RunStore(tmp_path / "runs").create(cfg().to_dict())
    junk = [".tmp-checkpoint-abc.keras", ".tmp-history-y2.csv", "checkpoint-0004.keras",
            "model-0003.keras"]
    theirs = [".checkpoint-x1.keras", ".results.csv", "model-final.keras", "notes.txt"]
    for name in junk + theirs:
        (run.path / name).write_bytes(b"partial")
    with run.lock():
        left = {p.name for p in run.path.iterdir()}
    assert not left & set(junk) and {"config.json", "state.json", *theirs} <= left

    from conftest import write_batches

    from cifar_tui.data import load_cifar10
    from cifar_tui.paths import cache_dir

    stale = cache_dir() / ".tmp-999999999-dead"
    stale.mkdir(parents=True)
    (stale / "x_train.npy").write_bytes(b"half")
    load_cifar10(write_batches(tmp_path / "b", arrays))
    assert not stale.exists()


def test_model_file_naming_builtins_exec_is_a_message(tmp_path, capsys):
    import zipfile

    run = RunStore(tmp_path).create(cfg().to_dict())
    evil = {"module": "builtins", "class_name": "exec", "config": {}, "registered_name": "exec"}
    with zipfile.ZipFile(run.model_path, "w") as z:
        z.writestr("config.json", json.dumps(evil))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
    photo = tmp_path / "p.png"
    import numpy as np
    from conftest import png_bytes

    photo.write_bytes(png_bytes(np.zeros((40, 40, 3), np.uint8)))
    assert main(["predict", run.id, str(photo), "--runs", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not a model this tool can load safely" in err and "unexpected" not in err


def test_image_counts_are_none_for_older_runs_and_for_values_that_are_not_counts(tmp_path):
    run = RunStore(tmp_path).create({"arch": "cnn"})
    assert run.image_counts == (None, None)  # a run from before the counts were recorded
    run.update_state(train_images=True, val_images="80")  # a damaged state.json
    assert run.image_counts == (None, None)
    run.update_state(train_images=45_000, val_images=0)  # --val-split 0
    assert run.image_counts == (45_000, 0)


def test_epochs_planned_reads_the_config_and_is_0_for_what_is_not_a_count(tmp_path):
    store = RunStore(tmp_path)
    assert store.create({"arch": "cnn", "epochs": 12}).epochs_planned == 12
    assert store.create({"arch": "cnn"}).epochs_planned == 0
    for damaged in ("12", True, -3, 4.5, None):
        assert store.create({"arch": "cnn", "epochs": damaged}).epochs_planned == 0


def test_process_facts_come_from_psutil(monkeypatch):
    """procs.py parsed /proc by hand; psutil answers the same on Linux and macOS."""
    import time

    import psutil

    from cifar_tui import procs

    me = os.getpid()
    assert procs.pid_alive(me) and not procs.pid_alive(0) and not procs.pid_alive(-1)
    assert procs.process_start(me) == psutil.Process(me).create_time()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:  # exited, not reaped
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not procs.pid_alive(child.pid)  # a zombie is no owner
    child.wait()
    assert not procs.pid_alive(child.pid) and procs.process_start(child.pid) is None
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: 42.0)
    assert procs.process_start(me) == 42.0  # psutil's answer, not /proc's


def test_cli_runs_lists_newest_first_as_the_runs_pane(tmp_path, capsys):
    """Issue 34 item 7: the CLI listed the oldest run first, the TUI the newest: one order."""
    for name in ("20260101-000000-cnn", "20260102-000000-dense", "20260103-000000-fast"):
        (tmp_path / name).mkdir()
        Run(tmp_path / name).write_config({"arch": name.rsplit("-", 1)[1], "epochs": 1})
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("2026")]
    assert [ln.split()[0] for ln in lines] == ["20260103-000000-fast", "20260102-000000-dense",
                                              "20260101-000000-cnn"]
    assert main(["runs", "--runs", str(tmp_path), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [r["run"][:8] for r in runs] == ["20260103", "20260102", "20260101"]


@pytest.mark.slow
def test_an_evaluation_killed_inside_every_write_window_leaves_a_sound_run(tmp_path, tiny,
                                                                         monkeypatch):
    """evaluate_run writes predictions.npz and metrics.json under the run lock: a kill after any
    of its file mutations leaves a run with no damage, its status, the old or the new test
    evaluation (never a broken one), and its lock free for the next evaluation."""
    from cifar_tui.trainer import evaluate_run

    base = train(cfg(epochs=1), data=tiny, store=RunStore(tmp_path / "base"))
    assert base.status == "finished" and base.metrics
    with monkeypatch.context() as m:  # a dry run lists the evaluation's file mutations
        ops = inject_crash(m, after=None)
        evaluate_run(_copy(base, tmp_path / "dry"), tiny)
    assert any("predictions.npz" in op for op in ops) and any("metrics.json" in op for op in ops)

    for after in range(1, len(ops) + 1):
        run = _copy(base, tmp_path / f"kill{after}")
        with monkeypatch.context() as m:
            inject_crash(m, after=after)
            with pytest.raises(Killed):
                evaluate_run(run, tiny)
        where = f"killed after {ops[:after]}"
        snap = run.snapshot()
        assert snap.damage is None and snap.status == "finished", where
        assert run.metrics["n"] == len(tiny.y_test), where
        assert run.predictions() is not None, where
        assert run.owner() is None, where
        assert evaluate_run(run, tiny).n == len(tiny.y_test), where  # the lock is free
