"""A hyperparameter table of runs, like TensorBoard's HParams view. No UI code, no TensorFlow.

One row per run; the columns are the config fields whose values differ between the runs, then
the results: best validation accuracy, test accuracy, seconds per epoch and images per second.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from .config import TrainConfig
from .runs import Run, RunSnapshot, accuracy_text, best_val_text

METRICS = ("best_val", "test_acc", "s_per_epoch", "images_per_sec")
# Where a run was trained from and on, not what was trained: never a column of its own.
NOT_HPARAMS = ("data", "devices")


def timings(run: Run | RunSnapshot) -> dict:
    """Seconds per epoch (mean; and without the first, which includes graph compilation),
    median training images/s, training and wall seconds, how many of the training seconds went
    to compiling, and where it ran."""
    hist = run.history()
    secs = [h["seconds"] for h in hist if "seconds" in h]
    rates = [h["images_per_sec"] for h in hist if h.get("images_per_sec")]
    st = run.state
    return {
        "epochs": len(hist),
        "s_per_epoch": statistics.fmean(secs) if secs else None,
        "s_per_epoch_after_first": statistics.fmean(secs[1:]) if len(secs) > 1 else None,
        "images_per_sec": statistics.median(rates) if rates else None,
        "train_s": run.train_seconds,  # in model.fit; every session's, a resume's included
        "wall_s": run.wall_seconds,  # data loading and evaluation included
        "compile_s": run.compile_seconds,  # of train_s (None: not measured)
        "hardware": st.get("hardware") or (f"host {st['host']}" if st.get("host") else None),
    }


@dataclass(frozen=True)
class HParamTable:
    columns: list[str]  # "run", the differing config fields, then METRICS
    rows: list[list]  # values (None where unknown), in the columns' order
    shared: dict  # config fields equal in every run
    summaries: dict = field(default_factory=dict)  # run id -> its summary()

    def to_dicts(self) -> list[dict]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    def text_rows(self) -> list[list[str]]:
        """The rows as the table shows them (a run without validation: "no val"); the
        accuracies say on how many images."""
        def text(run_id: str, column: str, value: object) -> str:
            summary = self.summaries.get(run_id, {})
            if column == "best_val":
                return best_val_text(summary, ".2%")
            if column == "test_acc" and isinstance(value, float):
                return accuracy_text(value, summary.get("test_images"), ".2%")
            return cell(column, value)

        return [[text(r[0], c, v) for c, v in zip(self.columns, r)] for r in self.rows]


UNUSED = "unused"  # a setting the run's other settings made moot (momentum of plain SGD)


def _hparams(run: Run | RunSnapshot) -> dict | None:
    """The run's settings (missing keys: the defaults; moot ones "unused"); None for a damaged
    config.json, whose row shows no settings (its status says why) rather than failing the
    whole table."""
    try:
        config = TrainConfig.from_dict(run.config)
    except (ValueError, TypeError):
        return None
    moot = config.unused()
    return {k: UNUSED if k in moot else v for k, v in config.to_dict().items()
            if k not in NOT_HPARAMS}


def _sort_key(value: object) -> tuple:
    # None last whichever the direction; numbers by value, the rest as text
    if value is None:
        return (1, 0, "")
    if isinstance(value, bool | int | float):
        return (0, 0, float(value))
    return (0, 1, str(value))


def hparam_table(runs: Sequence[Run | RunSnapshot], sort: str | None = None,
                 descending: bool = False) -> HParamTable:
    """The table for ``runs``, sorted by column ``sort`` (None: the given order)."""
    configs = [_hparams(r) for r in runs]
    valid = [c for c in configs if c is not None]
    keys = list(valid[0]) if valid else []
    differing = [k for k in keys if len({repr(c.get(k)) for c in valid}) > 1]
    shared = {k: valid[0][k] for k in keys if k not in differing}
    columns = ["run", *differing, *METRICS]
    rows, summaries = [], {}
    for run, cfg in zip(runs, configs):
        t = timings(run)
        summary = summaries[run.id] = run.summary()
        rows.append([run.id, *((cfg or {}).get(k) for k in differing),
                     summary["best_val_accuracy"],
                     summary["test_accuracy"], t["s_per_epoch"], t["images_per_sec"]])
    if sort is not None:
        if sort not in columns:
            raise ValueError(f"no column {sort!r} to sort by; choose from {', '.join(columns)}")
        i = columns.index(sort)
        present = [r for r in rows if r[i] is not None]
        present.sort(key=lambda r: _sort_key(r[i]), reverse=descending)
        rows = present + [r for r in rows if r[i] is None]
    return HParamTable(columns, rows, shared, summaries)


def cell(column: str, value: object) -> str:
    """A value as the table shows it."""
    if value is None:
        return "-"
    if column in ("best_val", "test_acc"):
        return f"{value:.2%}"
    if column == "s_per_epoch":
        return f"{value:.2f}"
    if column == "images_per_sec":
        return f"{value:,.0f}"
    return str(value)
