"""cifar-tui export: TensorBoard event files (without TensorFlow) and one CSV of histories."""

from __future__ import annotations

import csv
import io
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

from cifar_tui.cli import main
from cifar_tui.config import TrainConfig
from cifar_tui.runs import HISTORY_FIELDS, RunStore

ROOT = Path(__file__).resolve().parent.parent


def _fake_run(store: RunStore, run_id_epochs: int, **cfg):
    """A run with a history of ``run_id_epochs`` epochs, written as the store writes it."""
    run = store.create(TrainConfig.for_arch("cnn", **cfg).to_dict())
    rows = [{"epoch": e, "loss": 2.0 - e / 10, "accuracy": 0.1 * e, "val_loss": 2.1 - e / 10,
             "val_accuracy": 0.1 * e + 0.05, "learning_rate": 0.01, "seconds": 1.5,
             "images_per_sec": 100.0} for e in range(1, run_id_epochs + 1)]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS)
    w.writeheader()
    w.writerows(rows)
    (run.path / "history.csv").write_text(buf.getvalue())
    run.update_state(status="finished", epochs_done=run_id_epochs, train_seconds=3.0)
    return run


def _events(folder: Path) -> list:
    """The summaries in a folder's TFRecord event files, read with tensorboardX's protobufs."""
    from tensorboardX.proto.event_pb2 import Event

    out = []
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            event = Event.FromString(data[i + 12:i + 12 + n])
            i += 12 + n + 4
            out += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
    return out


def test_tensorboard_event_files_without_tensorflow(tmp_path):
    store = RunStore(tmp_path / "runs")
    a = _fake_run(store, 3, optimizer="sgd")
    _fake_run(store, 2, optimizer="adam", learning_rate=0.001)
    (store.root / a.id).rename(store.root / "a\x1b[31m b..c")  # a hostile id: one safe folder
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys
        sys.modules["tensorflow"] = None  # as if not installed: importing it fails
    """))
    # A machine without TensorFlow names no TensorFlow backend (another test of this worker
    # may have set KERAS_BACKEND=tensorflow in this process's environment).
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = f"{site}{os.pathsep}{ROOT}"
    out = tmp_path / "tb"
    res = subprocess.run([sys.executable, "-m", "cifar_tui", "export", "--runs",
                          str(store.root), "--tensorboard", str(out)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    folders = sorted(p.name for p in out.iterdir())
    assert len(folders) == 2 and all("/" not in f and "\x1b" not in f for f in folders)
    scalars = {f: _events(out / f) for f in folders}
    three = next(v for v in scalars.values() if ("epoch/loss", 3, 1.7) in
                 [(t, s, round(x, 3)) for t, s, x in v])
    assert [s for t, s, _ in three if t == "epoch/val_accuracy"] == [1, 2, 3]
    # the HParams tab: settings and results (tensorboardX writes them in a subfolder)
    assert any(t == "hparam/train_seconds" for v in scalars.values() for t, _, _ in v)


def test_one_csv_of_several_runs_histories(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    a = _fake_run(store, 3)
    b = _fake_run(store, 2, epochs=5)
    capsys.readouterr()
    assert main(["export", "--runs", str(store.root), "--csv", "-"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["run"], r["epoch"]) for r in rows] == sorted(
        [(a.id, str(e)) for e in (1, 2, 3)] + [(b.id, str(e)) for e in (1, 2)],
        key=lambda t: ([x.id for x in store.list()].index(t[0]), t[1]))
    assert rows[0]["arch"] == "cnn" and float(rows[0]["val_accuracy"]) > 0
    path = tmp_path / "all.csv"
    assert main(["export", a.id, "--runs", str(store.root), "--csv", str(path)]) == 0
    assert len(path.read_text().splitlines()) == 4


def test_export_says_what_is_missing(tmp_path, capsys):
    assert main(["export", "--runs", str(tmp_path), "--csv", "-"]) == 1
    assert "no runs to export" in capsys.readouterr().err
    assert main(["export", "--runs", str(tmp_path)]) == 1
    assert "--tensorboard DIR" in capsys.readouterr().err
