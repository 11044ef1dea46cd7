"""A run's numbers for the tools people already use: TensorBoard event files and one CSV table
of several runs' histories. No UI code, no TensorFlow needed (tensorboardX writes the events;
TensorFlow's own summary writer is used only where tensorboardX is missing).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

from .config import TrainConfig
from .runs import HISTORY_FIELDS, Run

SCALARS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds",
           "images_per_sec")


def folder_name(run_id: str, taken: set[str]) -> str:
    """A run id as one safe folder name (no separators, dots or control characters), unique
    among ``taken``."""
    name = re.sub(r"[^A-Za-z0-9_+-]+", "_", run_id).strip("_")[:100] or "run"
    base, n = name, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def _hparams(run: Run) -> dict:
    """The settings as TensorBoard's HParams tab takes them: numbers, bools, text."""
    config = TrainConfig.from_dict(run.config)
    moot = config.unused()
    out = {}
    for k, v in config.to_dict().items():
        if v is None or k in ("data", "devices"):
            continue
        out[k] = "unused" if k in moot else v if isinstance(v, int | float | bool | str) \
            else str(v)
    return out


def _results(run: Run) -> dict:
    s = run.summary()
    out = {"hparam/best_val_accuracy": s["best_val_accuracy"],
           "hparam/test_accuracy": s["test_accuracy"], "hparam/train_seconds": run.train_seconds}
    return {k: float(v) for k, v in out.items() if v is not None}


class _TFWriter:
    """tensorboardX's SummaryWriter calls, on TensorFlow's summary writer."""

    def __init__(self, logdir: str) -> None:
        import tensorflow as tf

        self.tf = tf
        self.writer = tf.summary.create_file_writer(logdir)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        with self.writer.as_default():
            self.tf.summary.scalar(tag, value, step=step)

    def add_text(self, tag: str, text: str, step: int = 0) -> None:
        with self.writer.as_default():
            self.tf.summary.text(tag, text, step=step)

    def add_hparams(self, hparams: dict, metrics: dict) -> None:
        self.add_text("hparams", "\n".join(f"{k} = {v}" for k, v in hparams.items()))

    def close(self) -> None:
        self.writer.close()


def _writer(logdir: Path):  # noqa: ANN202 - a tensorboardX SummaryWriter or _TFWriter
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        try:
            return _TFWriter(str(logdir))
        except ImportError:
            raise RuntimeError("writing TensorBoard files needs tensorboardX (or TensorFlow): "
                               "pip install tensorboardX") from None
    return SummaryWriter(logdir=str(logdir))


def to_tensorboard(runs: Sequence[Run], out: Path) -> list[Path]:
    """Event files for ``runs`` under ``out/<run>/`` (``tensorboard --logdir out`` shows them
    side by side): one scalar per history column and epoch, the test accuracy at the last
    epoch, and the settings with the results in the HParams tab. The folders written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    written = []
    for run in runs:
        logdir = out / folder_name(run.id, taken)
        writer = _writer(logdir)
        try:
            history = run.history()
            for row in history:
                for key in SCALARS:
                    if key in row:
                        writer.add_scalar(f"epoch/{key}", float(row[key]), int(row["epoch"]))
            test = run.summary()["test_accuracy"]
            if test is not None and history:
                writer.add_scalar("test/accuracy", float(test), int(history[-1]["epoch"]))
            writer.add_text("run", f"{run.id}: {run.config.get('arch')}, {run.status}")
            writer.add_hparams(_hparams(run), _results(run))
        finally:
            writer.close()
        written.append(logdir)
    return written


def history_table(runs: Sequence[Run]) -> str:
    """Every run's history.csv as one CSV table: run id and arch, then the history columns."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["run", "arch", *HISTORY_FIELDS])
    for run in runs:
        for row in run.history():
            w.writerow([run.id, run.config.get("arch"),
                        *(row.get(k, "") for k in HISTORY_FIELDS)])
    return buf.getvalue()
