"""runs --compare: the hyperparameter table (no training needed: runs are written directly)."""

from __future__ import annotations

import json

import pytest

from cifar_tui.cli import main
from cifar_tui.compare import hparam_table
from cifar_tui.config import TrainConfig
from cifar_tui.runs import RunStore


def evaluation(accuracy: float, n: int = 10_000) -> dict:
    """A metrics.json as the app writes it, with this test accuracy on ``n`` images."""
    import numpy as np

    from cifar_tui.evaluation import evaluate_probs

    labels = np.arange(n) % 10
    probs = np.eye(10, dtype=np.float32)[labels]
    wrong = round(n * (1 - accuracy))
    probs[:wrong] = np.roll(probs[:wrong], 1, axis=1)
    return evaluate_probs(probs, labels).to_dict()


def _run(store: RunStore, val: float | None, test: float | None, secs: float, **cfg):
    run = store.create(TrainConfig.for_arch("cnn", **cfg).to_dict())
    rows = [{"epoch": e, "accuracy": 0.5, "loss": 1.0, "seconds": secs,
             "images_per_sec": 900 / secs,
             **({"val_accuracy": val - 0.01 * (2 - e)} if val is not None else {})}
            for e in (1, 2)]
    run.write_history(rows)
    run.update_state(epochs_done=2)  # history counts committed epochs only
    if test is not None:
        run.write_metrics(evaluation(test, n=100))
    return run


@pytest.fixture
def store(tmp_path) -> RunStore:
    store = RunStore(tmp_path / "runs")
    _run(store, 0.61, 0.60, 3.0, batch_size=32)
    _run(store, 0.66, 0.64, 2.0, batch_size=64)
    _run(store, 0.55, None, 1.0, batch_size=128, dropout=0.25)
    return store


def test_columns_are_the_differing_settings_then_results(store):
    table = hparam_table(store.list())
    assert table.columns == ["run", "dropout", "batch_size", "best_val", "test_acc",
                             "s_per_epoch", "images_per_sec"]
    assert [r[2] for r in table.rows] == [32, 64, 128]
    assert table.rows[1][3:] == [0.66, 0.64, 2.0, 450.0]
    assert table.shared["optimizer"] == "sgd" and "batch_size" not in table.shared
    assert "data" not in table.columns  # where it came from is not a hyperparameter


def test_sort_any_column_unknown_last(store):
    runs = store.list()
    by_test = hparam_table(runs, "test_acc", descending=True)
    assert [r[4] for r in by_test.rows] == [0.64, 0.60, None]
    by_test = hparam_table(runs, "test_acc")
    assert [r[4] for r in by_test.rows] == [0.60, 0.64, None]
    assert [r[2] for r in hparam_table(runs, "s_per_epoch").rows] == [128, 64, 32]
    with pytest.raises(ValueError, match="choose from run, dropout"):
        hparam_table(runs, "accuracy")


def test_cli_compare_text_and_json(store, capsys):
    ids = [r.id for r in store.list()]
    assert main(["runs", "--runs", str(store.root), "--compare", *ids, "--sort", "best_val",
                 "--desc"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run", "dropout", "batch_size", "best_val", "test_acc",
                                "s_per_epoch", "images_per_sec"]
    assert lines[1].startswith(ids[1]) and "66.00%" in lines[1] and "64.00%" in lines[1]
    assert lines[-1].startswith("same in all:") and "optimizer=sgd" in lines[-1]
    assert main(["runs", "--runs", str(store.root), "--compare", *ids, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["runs"]  # the JSON vocabulary (jsonout.py)
    assert rows[2]["dropout"] == 0.25 and rows[2]["test_accuracy"] is None
    assert main(["runs", "--runs", str(store.root), "--compare", *ids, "--sort", "nope"]) == 1
    assert "choose from" in capsys.readouterr().err


def test_a_run_without_validation_says_no_val_wherever_best_val_is_shown(tmp_path, capsys):
    """A --val-split 0 run (the fast recipe's setup) has no best validation accuracy: every
    view says "no val" (the issue: Run.summary gave 0.00 %), from one function."""
    from cifar_tui.panes.runs import row_cells
    from cifar_tui.report import write_report
    from cifar_tui.runs import best_val_text

    store = RunStore(tmp_path / "runs")
    none = _run(store, None, 0.70, 2.0, batch_size=64, val_split=0.0)
    held = _run(store, 0.66, 0.64, 2.0, batch_size=32)
    fresh = store.create(TrainConfig.for_arch("cnn").to_dict())  # validated, no epoch yet
    assert none.summary()["best_val_accuracy"] is None
    assert [best_val_text(r.summary()) for r in (none, held, fresh)] == ["no val", "66.0%", "-"]

    assert row_cells(none.snapshot(), False)[5] == "no val"  # the TUI's Runs table
    assert main(["runs", "--runs", str(store.root)]) == 0
    listing = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "no val" in listing[none.id] and "0.6600" in listing[held.id]

    table = hparam_table([none, held])
    assert table.to_dicts()[0]["best_val"] is None  # JSON keeps the number, or null
    assert [r[table.columns.index("best_val")] for r in table.text_rows()] == ["no val",
                                                                               "66.00%"]
    assert main(["runs", "--runs", str(store.root), "--compare", none.id, held.id]) == 0
    assert "no val" in capsys.readouterr().out

    unevaluated = _run(store, None, None, 1.0, val_split=0.0)  # a report needs no metrics
    report = write_report([unevaluated], tmp_path / "rep")
    row = next(line for line in report.markdown.read_text().splitlines()
               if line.startswith(f"| {unevaluated.id}"))
    assert "no val" in row and "0.00%" not in row


def test_every_view_says_on_how_many_images_each_accuracy_is(tmp_path, capsys):
    """The issue: every accuracy on screen says how many images it is on. The trainer records its
    train and validation counts; the Runs table, the HParams view, the CLI's list and its
    --compare give them with best val and test accuracy. Runs recorded before the counts were
    show the bare accuracy rather than a guess."""
    from cifar_tui.panes.runs import row_cells

    store = RunStore(tmp_path / "runs")
    run = _run(store, 0.66, 0.64, 2.0, batch_size=32)  # its test metrics: on 100 images
    old = _run(store, 0.61, 0.60, 2.0, batch_size=64)
    run.update_state(train_images=45_000, val_images=4_500)
    cells = row_cells(run.snapshot(), False)
    assert cells[5:7] == ["66.0%/4.5k", "64.0%/100"]
    assert row_cells(old.snapshot(), False)[5] == "61.0%"
    table = hparam_table([run, old])
    rows = {r[0]: r for r in table.text_rows()}
    assert rows[run.id][table.columns.index("best_val")] == "66.00%/4.5k"
    assert rows[run.id][table.columns.index("test_acc")] == "64.00%/100"
    assert main(["runs", "--runs", str(store.root)]) == 0
    listing = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "0.6600/4.5k" in listing[run.id] and "0.6400/100" in listing[run.id]
    assert main(["runs", "--runs", str(store.root), "--compare", run.id, old.id]) == 0
    out = capsys.readouterr().out
    assert "66.00%/4.5k" in out and "64.00%/100" in out


def test_runs_table_test_cell_names_the_epoch_of_weights_not_the_last(tmp_path):
    """The Runs table's test accuracy says which epoch's weights it is from when those are not
    the last epoch's (the Results pane says "weights of epoch N, best val")."""
    from cifar_tui.panes.runs import row_cells

    store = RunStore(tmp_path / "runs")
    best, last, older = (_run(store, 0.6, None, 1.0) for _ in range(3))  # 2 epochs done each
    best.write_metrics({**evaluation(0.6), "weights_epoch": 1, "weights": "best val",
                        "epochs_done": 2})
    last.write_metrics({**evaluation(0.6), "weights_epoch": 2, "weights": "last epoch",
                        "epochs_done": 2})
    older.write_metrics(evaluation(0.6))  # before weights were recorded
    assert [row_cells(r.snapshot(), False)[6] for r in (best, last, older)] == [
        "60.0%/10k e1", "60.0%/10k", "60.0%/10k"]
    last.update_state(epochs_done=4)  # trained on after the evaluation: no longer the last
    assert row_cells(last.snapshot(), False)[6] == "60.0%/10k e2"
