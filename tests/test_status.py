"""One owner of a run's life: RunStatus, RunSnapshot, the best-epoch rule (issue 31)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cifar_tui import callbacks
from cifar_tui.events import EpochEnd
from cifar_tui.live import Follower
from cifar_tui.runs import RunLockedError, RunStore, best_epoch
from cifar_tui.status import RunStatus

PACKAGE = Path(__file__).resolve().parents[1] / "cifar_tui"
STATUSES = {s.value for s in RunStatus}
# The Train view's and the app's own words for a run's life, before they became RunStatus.
OTHER_VOCABULARIES = {"idle", "done", "following"}


def status_literals(source: str) -> list[tuple[int, str]]:
    """(line, literal) of each status written as a string where a status is meant: compared
    with (==, !=, in), in a tuple/list/set of strings, given as ``status=``, or assigned to a
    name or attribute ending in ``status``. Other strings that happen to be equal (Optuna's
    trial states as dict keys, JSON event kinds) are not statuses and are left alone."""
    found = {}

    def strings(node: ast.AST) -> list[ast.Constant]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node]
        if isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            return list(node.elts)
        return []

    def flag(nodes: list[ast.Constant], words: set[str]) -> None:
        found.update({(n.lineno, n.col_offset): n.value for n in nodes if n.value in words})

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                flag(strings(side), STATUSES)
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            if len(strings(node)) > 1:
                flag(strings(node), STATUSES)
        elif isinstance(node, ast.keyword) and node.arg == "status":
            flag(strings(node.value), STATUSES)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id if isinstance(t, ast.Name) else t.attr
                     for t in targets if isinstance(t, ast.Name | ast.Attribute)]
            if any(n.endswith("status") for n in names):
                flag(strings(node.value), STATUSES | OTHER_VOCABULARIES)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "var" \
                and node.args:  # a Textual var's default, as train_status had
            flag(strings(node.args[0]), OTHER_VOCABULARIES)
    return [(line, word) for (line, _), word in sorted(found.items())]


def test_the_scan_finds_each_way_a_status_literal_was_written():
    planted = textwrap.dedent('''
        if run.status in ("finished", "early-stopped"):
            pass
        ENDED = ("finished", "stopped")
        run.update_state(status="failed")
        self.train_status = "idle"
        status = "pruned"
        train_status = var("idle")
        ok = {"complete": 0, "pruned": 0}  # Optuna's words, dict keys: not statuses
        kind = "finished", {}  # a JSON event kind
    ''')
    assert [word for _, word in status_literals(planted)] == [
        "finished", "early-stopped", "finished", "stopped", "failed", "idle", "pruned", "idle"]


def test_no_status_literal_lives_outside_the_status_type():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "status.py":
            continue
        hits = status_literals(path.read_text(encoding="utf-8"))
        if hits:
            found[str(path.relative_to(PACKAGE))] = hits
    assert found == {}, f"use RunStatus (cifar_tui/status.py): {found}"


def test_statuses_on_disk_read_as_before():
    for value in ("created", "running", "finished", "early-stopped", "pruned", "stopped",
                  "interrupted", "failed"):
        status = RunStatus.read(value)
        assert status == value and json.dumps(status) == json.dumps(value)
    assert RunStatus.read("paused") is RunStatus.UNKNOWN and RunStatus.read(3) is \
        RunStatus.UNKNOWN
    assert {s for s in RunStatus if s.live} == {RunStatus.RUNNING, RunStatus.STARTING}
    assert {s for s in RunStatus if s.complete} == {RunStatus.FINISHED,
                                                     RunStatus.EARLY_STOPPED}
    assert not any(s.live and s.ended for s in RunStatus)
    assert not any(s.complete and s.resumable for s in RunStatus)


def _history(vals: list[float | None]) -> list[dict]:
    rows = []
    for epoch, val in enumerate(vals, start=1):
        row = {"epoch": epoch, "accuracy": 0.5, "loss": 1.0, "seconds": 1.0,
               "images_per_sec": 10.0, "learning_rate": 0.01}
        if val is not None:
            row.update(val_accuracy=val, val_loss=1.0)
        rows.append(row)
    return rows


@pytest.mark.parametrize("vals, best", [
    ([0.3, 0.5, 0.45], 2),
    ([0.5, 0.5], 1),  # a tie does not replace the model
    ([None, None, None], 3),  # --val-split 0: the latest epoch is the run's model
])
def test_the_trainer_and_a_viewer_agree_on_the_best_epoch(tmp_path, monkeypatch, vals, best):
    """callbacks.py chose the run's model (every epoch, with no validation) by one rule and
    live.py's Follower flagged "best" by another (never, with no validation)."""
    monkeypatch.setattr(callbacks, "current_lr", lambda model: 0.01)
    run = RunStore(tmp_path).create({"arch": "custom", "epochs": len(vals)})
    committed: list[bool] = []

    def commit(model, history, *, best, **state):  # noqa: ANN001, ANN202
        committed.append(best)
        run.write_history(history)
        run.update_state(epochs_done=history[-1]["epoch"])

    monkeypatch.setattr(run, "commit_epoch", commit)
    events: list = []
    cb = callbacks.RunCallback(run, events.append, None, epochs=len(vals), steps=1,
                               train_size=1, batch_size=1, early=None,
                               has_val=vals[0] is not None, throttle_s=0.0)
    for epoch, row in enumerate(_history(vals)):
        cb.on_epoch_begin(epoch)
        cb.on_epoch_end(epoch, {k: v for k, v in row.items() if "loss" in k or "acc" in k})
    trainer = [e.best for e in events if isinstance(e, EpochEnd)]
    assert trainer == committed
    run.update_state(status="finished", pid=os.getpid())
    viewer = [e.best for e in Follower(run).poll() if isinstance(e, EpochEnd)]
    assert viewer == trainer
    assert best_epoch(run.history()) == run.snapshot().best_epoch == best
    assert max(i + 1 for i, flag in enumerate(trainer) if flag) == best


def _finished_run(store: RunStore, val: float = 0.6):
    from cifar_tui.evaluation import evaluate_probs

    run = store.create({"arch": "custom", "epochs": 2})
    run.write_history(_history([0.5, val]))
    run.update_state(status="finished", epochs_done=2, val_images=100)
    labels = np.repeat(np.arange(10), 10)
    probs = np.full((100, 10), 0.05, np.float32)
    probs[np.arange(100), labels] = 0.55
    run.save_predictions(probs, labels)
    run.write_metrics(evaluate_probs(probs, labels).to_dict())
    return run


def test_a_snapshot_reads_each_file_once_and_answers_what_lists_ask(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = _finished_run(store)
    opened: list[str] = []

    def hook(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], str) and args[0].startswith(str(run.path)):
            opened.append(Path(args[0]).name)

    sys.addaudithook(hook)
    snap = run.snapshot()
    reads = list(opened)
    opened.clear()
    summary, live, best = snap.summary(), snap.live, snap.best_epoch
    assert opened == [], "a snapshot answers from what it read"
    assert sorted(reads) == ["config.json", "history.csv", "metrics.json", "predictions.npz",
                             "state.json"]
    assert summary == run.summary() and summary["status"] == RunStatus.FINISHED
    assert (live, snap.ended, snap.complete, snap.resumable, best) == (False, True, True,
                                                                       False, 2)
    # an ended run whose files did not change is not read again; a changed one is
    again = {s.id: s for s in store.snapshots({snap.id: snap})}
    assert again[run.id] is snap
    run.update_state(note="touched")
    assert store.snapshots({snap.id: snap})[0] is not snap


def test_a_snapshot_reads_predictions_headers_not_the_whole_array(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = _finished_run(store)
    assert run.snapshot().damage is None
    probs, labels = run.predictions()
    run.save_predictions(probs[:, :3], labels)  # three classes of ten
    assert "predictions.npz" in run.snapshot().damage
    run.save_predictions(probs, labels + 10)  # labels out of range
    assert "predictions.npz" in run.snapshot().damage


HOLD = """
import sys, time
from pathlib import Path
from cifar_tui.runs import Run
lock = Run(Path(sys.argv[1])).lock()
print("held", flush=True)
time.sleep(60)
"""


def test_an_evaluation_of_a_run_another_process_holds_is_refused_unwritten(tmp_path, tiny):
    """Results' e wrote metrics.json without the run lock (panes/results.py), over a run a
    trainer was writing. Evaluation goes through the core, under the lock."""
    from cifar_tui.trainer import evaluate_run

    store = RunStore(tmp_path / "runs")
    run = store.create({"arch": "custom", "epochs": 1, "dataset": tiny.spec()})
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run.path)],
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError):
            evaluate_run(run, tiny)
        assert not (run.path / "metrics.json").exists()
        assert not (run.path / "predictions.npz").exists()
    finally:
        holder.kill()
        holder.wait()


async def test_the_runs_pane_reads_no_run_file_on_the_ui_thread(tmp_path, tiny):
    """The pane polled the store every 2 s and drew each row from the files (state.json 9
    times a row): the app reads snapshots in a worker; the UI thread draws them."""
    import threading

    from textual.widgets import DataTable

    from cifar_tui.app import CifarApp

    store = RunStore(tmp_path / "runs")
    runs = [_finished_run(store, 0.5 + i / 100) for i in range(3)]
    ui, opened = threading.get_ident(), []

    def hook(event: str, args: tuple) -> None:
        path = args[0] if event == "open" else None
        if isinstance(path, str) and path.startswith(str(store.root)) \
                and threading.get_ident() == ui:
            opened.append(Path(path).name)

    sys.addaudithook(hook)
    app = CifarApp(runs_root=store.root, loader=lambda source, stop=None: tiny)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("6")
        table = app.query_one("#runs-table", DataTable)
        for _ in range(3):  # the first read, u (every run again), and a changed run
            while table.row_count < 3 or any(w.is_running for w in app.workers):
                await pilot.pause(0.05)
            await pilot.pause()
            opened.clear()
            await pilot.press("u")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert opened == [], "the UI thread read run files"
        runs[0].update_state(status="stopped")  # (this test runs on the UI thread too)
        opened.clear()
        app.read_runs()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "stopped" in [str(c).strip() for c in table.get_row(runs[0].id)]
        assert opened == []
