"""The headless CLI's ``--json`` output: one vocabulary, a versioned schema, and its check.
No UI code.

Every object printed under ``--json`` carries ``schema_version`` and ``command``; ``train`` and
``watch`` print one object per line (JSON Lines), each with an ``event``. The README's "JSON
output" section documents SCHEMA; tests check every command's output against it.
"""

from __future__ import annotations

import json
import math
from typing import Any

SCHEMA_VERSION = 1

# Field types: "str", "int", "float" (an int is accepted), "bool", "object", "list", "any";
# a trailing "?" allows null. A dict is a nested object with those fields; [dict] a list of
# them. "...": extra keys are allowed (a compare row's hyperparameters).
RUN = {
    "run": "str", "arch": "str?", "dataset": "str", "classes": "int", "status": "str",
    "damage": "str?",
    "epochs_done": "int", "epochs": "int?", "batch_size": "int?", "optimizer": "str?",
    "learning_rate": "float?", "best_val_accuracy": "float?", "validation": "bool",
    "val_images": "int?", "test_accuracy": "float?", "test_images": "int?", "created": "str?",
    "live": "bool", "pid": "int?", "seconds_per_epoch": "float?", "train_seconds": "float?",
    "progress": "object?", "description": "str", "error": "str?",
}
EPOCH = {"epoch": "int", "epochs": "int", "loss": "float", "accuracy": "float",
         "val_loss": "float?", "val_accuracy": "float?", "seconds": "float",
         "images_per_sec": "float", "best": "bool"}
SCHEMA: dict[str, dict] = {
    "data": {"name": "str", "source": "str", "cache": "str?", "classes": "list",
             "image_size": "int", "skipped": "int", "skipped_files": "list", "x_train": "list",
             "y_train": "list", "x_test": "list", "y_test": "list", "dtype": "str",
             "pixel_range": "list", "train_counts": "object", "test_counts": "object",
             "load_seconds": "float"},
    "params": {"model": "str", "rows": [{"name": "str", "type": "str", "output_shape": "str",
                                         "formula": "str", "count": "int", "trainable": "int",
                                         "non_trainable": "int"}],
               "total": "int", "trainable": "int", "non_trainable": "int",
               "keras_total": "int", "matches_keras": "bool"},
    "runs": {"runs": [RUN]},
    "compare": {"runs": [{"run": "str", "best_val_accuracy": "float?",
                          "test_accuracy": "float?", "seconds_per_epoch": "float?",
                          "images_per_sec": "float?", "...": "any"}],
                "shared": "object"},
    "eval": {"run": "str", "weights_epoch": "int?", "weights": "str", "test_accuracy": "float",
             "test_loss": "float", "ece": "float", "test_images": "int",
             "per_class": [{"class": "str", "precision": "float", "recall": "float",
                            "f1": "float", "support": "int"}],
             "confusion": "list", "confused_pairs": [{"true": "str", "predicted": "str",
                                                      "count": "int", "rate": "float"}]},
    "predict": {"run": "str", "predictions": [{"image": "str", "class": "str",
                                               "probabilities": "object"}]},
    "report": {"runs": "list", "markdown": "str", "html": "str", "figures": "list"},
    "error": {"error": "str", "exit_code": "int"},
}
# train and watch: one line per event
EVENTS: dict[str, dict] = {
    "started": {"run": "str", "arch": "str?", "initial_epoch": "int", "epochs": "int",
                "steps": "int", "train_images": "int", "val_images": "int", "params": "int",
                "backend": "str"},
    "epoch": {"run": "str", **EPOCH},
    "finished": {"run": "str", "status": "str", "epochs_done": "int",
                 "best_val_accuracy": "float?", "train_seconds": "float",
                 "wall_seconds": "float?", "compile_seconds": "float?",
                 "test_accuracy": "float?", "test_loss": "float?", "test_images": "int?"},
    "failed": {"run": "str", "error": "str"},
}


def _clean(value: Any) -> Any:
    """Floats to 7 significant digits (float32 noise off: 0.15000000596046448 -> 0.15);
    NaN and infinities (not JSON) to null."""
    if isinstance(value, float):
        return float(f"{value:.7g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar
        return _clean(value.item())
    return value


def document(command: str, payload: dict, event: str | None = None) -> dict:
    """The object printed for ``command``: the envelope, then ``payload``, cleaned."""
    head: dict = {"schema_version": SCHEMA_VERSION, "command": command}
    if event is not None:
        head["event"] = event
    return _clean({**head, **payload})


def dumps(command: str, payload: dict, event: str | None = None) -> str:
    """One line of JSON (``indent`` would break JSON Lines)."""
    return json.dumps(document(command, payload, event), ensure_ascii=False)


def _check_type(where: str, value: Any, kind: Any) -> list[str]:
    if isinstance(kind, dict):
        return _check_fields(where, value, kind)
    if isinstance(kind, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [p for i, v in enumerate(value) for p in _check_type(f"{where}[{i}]", v, kind[0])]
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if value is None:
        return [] if optional or kind == "any" else [f"{where}: null"]
    ok = {"str": isinstance(value, str), "bool": isinstance(value, bool),
          "int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, int | float) and not isinstance(value, bool),
          "object": isinstance(value, dict), "list": isinstance(value, list),
          "any": True}[kind]
    return [] if ok else [f"{where}: {type(value).__name__}, expected {kind}"]


def _check_fields(where: str, obj: Any, fields: dict) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: expected an object"]
    problems = [f"{where}.{k}: missing" for k in fields if k != "..." and k not in obj]
    if "..." not in fields:
        problems += [f"{where}.{k}: not in the schema" for k in obj if k not in fields]
    for k, kind in fields.items():
        if k in obj and k != "...":
            problems += _check_type(f"{where}.{k}", obj[k], kind)
    return problems


def check(obj: Any) -> list[str]:
    """What in ``obj`` breaks the schema (empty: it conforms)."""
    if not isinstance(obj, dict):
        return ["not an object"]
    if obj.get("schema_version") != SCHEMA_VERSION:
        return [f"schema_version {obj.get('schema_version')!r}, expected {SCHEMA_VERSION}"]
    body = {k: v for k, v in obj.items() if k not in ("schema_version", "command", "event")}
    command = obj.get("command")
    if "error" in obj:
        return _check_fields("error", body, SCHEMA["error"])
    if command in ("train", "watch"):
        event = obj.get("event")
        if event not in EVENTS:
            return [f"{command}: unknown event {event!r}"]
        return _check_fields(f"{command}.{event}", body, EVENTS[event])
    if command not in SCHEMA:
        return [f"unknown command {command!r}"]
    return _check_fields(str(command), body, SCHEMA[command])


# -- payloads: the vocabulary --------------------------------------------------------------


def run_row(summary: dict) -> dict:
    """A ``live_summary`` as the JSON vocabulary names it."""
    done, _, total = str(summary.get("epochs", "0/?")).partition("/")
    row = {k: summary.get(k) for k in RUN if k in summary}
    row.update(run=summary["id"], epochs_done=int(done) if done.isdigit() else 0,
               epochs=int(total) if total.isdigit() else None)
    row.setdefault("train_seconds", summary.get("train_seconds"))
    row["description"] = summary.get("description") or ""
    return {k: row.get(k) for k in RUN}


COMPARE_NAMES = {"best_val": "best_val_accuracy", "test_acc": "test_accuracy",
                 "s_per_epoch": "seconds_per_epoch"}


def compare_row(row: dict) -> dict:
    return {COMPARE_NAMES.get(k, k): v for k, v in row.items()}


def event_payload(event: object) -> tuple[str, dict] | None:
    """(event name, payload) for a training event, None for batch progress."""
    from .events import EpochEnd, Failed, Finished, Started

    if isinstance(event, Started):
        return "started", {"run": event.run_id, "arch": event.config.get("arch"),
                           "initial_epoch": event.initial_epoch, "epochs": event.epochs,
                           "steps": event.steps, "train_images": event.train_size,
                           "val_images": event.val_size, "params": event.params,
                           "backend": event.backend}
    if isinstance(event, EpochEnd):
        m = event.metrics
        return "epoch", {"run": event.run_id, "epoch": event.epoch, "epochs": event.epochs,
                         "loss": m.get("loss"), "accuracy": m.get("accuracy"),
                         "val_loss": m.get("val_loss"), "val_accuracy": m.get("val_accuracy"),
                         "seconds": m.get("seconds"), "images_per_sec": m.get("images_per_sec"),
                         "best": event.best}
    if isinstance(event, Finished):
        ev = event.evaluation
        return "finished", {"run": event.run_id, "status": event.status,
                            "epochs_done": event.epochs_done,
                            "best_val_accuracy": event.best_val_accuracy,
                            "train_seconds": event.seconds,
                            "wall_seconds": getattr(event, "wall_seconds", None),
                            "compile_seconds": event.compile_seconds,
                            "test_accuracy": ev.accuracy if ev else None,
                            "test_loss": ev.loss if ev else None,
                            "test_images": ev.n if ev else None}
    if isinstance(event, Failed):
        return "failed", {"run": event.run_id, "error": event.message}
    return None
