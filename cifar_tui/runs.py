"""The run store: one folder per training run, every file written atomically. No UI code.

    runs/<id>/config.json     the TrainConfig
    runs/<id>/state.json      status, pid, last finished epoch, early-stopping state
    runs/<id>/history.csv     one row per finished epoch
    runs/<id>/checkpoint.keras  model + optimizer after the last finished epoch (for --resume)
    runs/<id>/model.keras     the best model so far (by val accuracy)
    runs/<id>/metrics.json    test-set evaluation
    runs/<id>/predictions.npz test-set probabilities
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_RUNS = "CIFAR_TUI_RUNS"
HISTORY_FIELDS = ("epoch", "accuracy", "loss", "val_accuracy", "val_loss", "learning_rate",
                  "seconds", "images_per_sec")


class StorageError(OSError):
    """Writing a run failed (full disk, permissions); earlier files are intact."""


def default_root() -> Path:
    return Path(os.environ.get(ENV_RUNS, "runs"))


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temp file in the same folder, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        what = "the disk is full" if exc.errno == errno.ENOSPC else str(exc)
        raise StorageError(exc.errno, f"could not write {path}: {what}. Free space or "
                           "choose another --runs folder; files already saved are intact.") from exc
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_save_model(model, path: Path) -> None:  # noqa: ANN001 - keras.Model
    _atomic(path, lambda p: model.save(p))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process can linger as a zombie until its parent reaps it
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@dataclass
class Run:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    # -- files -----------------------------------------------------------------------------
    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.keras"

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.npz"

    def _read_json(self, name: str) -> dict:
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}

    def _write_json(self, name: str, data: dict) -> None:
        atomic_write_text(self.path / name, json.dumps(data, indent=2, sort_keys=True))

    @property
    def config(self) -> dict:
        return self._read_json("config.json")

    def write_config(self, config: dict) -> None:
        self._write_json("config.json", config)

    @property
    def state(self) -> dict:
        return self._read_json("state.json")

    def update_state(self, **changes: object) -> None:
        self._write_json("state.json", {**self.state, **changes})

    @property
    def metrics(self) -> dict:
        return self._read_json("metrics.json")

    def write_metrics(self, metrics: dict) -> None:
        self._write_json("metrics.json", metrics)

    def history(self) -> list[dict]:
        try:
            text = (self.path / "history.csv").read_text(encoding="utf-8")
        except OSError:
            return []
        rows = []
        for row in csv.DictReader(io.StringIO(text)):
            rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()
                         if v not in ("", None)})
        return rows

    def write_history(self, rows: list[dict]) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
        atomic_write_text(self.path / "history.csv", buf.getvalue())

    def save_predictions(self, probs: np.ndarray, labels: np.ndarray) -> None:
        _atomic(self.predictions_path, lambda p: np.savez(p, probs=probs, labels=labels))

    def predictions(self) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            with np.load(self.predictions_path, allow_pickle=False) as z:
                return z["probs"], z["labels"]
        except (OSError, KeyError, ValueError):
            return None

    # -- derived ---------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """running, finished, early-stopped, stopped, failed, or interrupted (process died)."""
        st = self.state
        status = st.get("status", "unknown")
        if status == "running":
            same_host = st.get("host") == socket.gethostname()
            if same_host and not _pid_alive(int(st.get("pid", 0))):
                return "interrupted"
        return status

    @property
    def epochs_done(self) -> int:
        return int(self.state.get("epochs_done", 0))

    def summary(self) -> dict:
        cfg, st, hist, met = self.config, self.state, self.history(), self.metrics
        best = max((h.get("val_accuracy", 0.0) for h in hist), default=None)
        return {
            "id": self.id, "arch": cfg.get("arch"), "status": self.status,
            "epochs": f"{st.get('epochs_done', 0)}/{cfg.get('epochs', '?')}",
            "batch_size": cfg.get("batch_size"), "optimizer": cfg.get("optimizer"),
            "learning_rate": cfg.get("learning_rate"),
            "best_val_accuracy": best, "test_accuracy": met.get("accuracy"),
            "created": st.get("created"),
        }


class RunStore:
    """The runs folder."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def create(self, config: dict) -> Run:
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{config.get('arch', 'run')}"
        for n in range(1000):
            path = self.root / (base if n == 0 else f"{base}-{n}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - a thousand runs in one second
            raise StorageError(errno.EEXIST, f"could not create a run folder in {self.root}")
        run = Run(path)
        run.write_config(config)
        run.update_state(status="created", created=time.strftime("%Y-%m-%d %H:%M:%S"),
                         epochs_done=0)
        return run

    def list(self) -> list[Run]:
        if not self.root.is_dir():
            return []
        return sorted((Run(p) for p in self.root.iterdir()
                       if p.is_dir() and (p / "config.json").exists()), key=lambda r: r.id)

    def get(self, ref: str | Path) -> Run:
        """A run by id, unique id prefix/suffix, or folder path."""
        p = Path(ref)
        if (p / "config.json").exists():
            return Run(p)
        runs = self.list()
        exact = [r for r in runs if r.id == str(ref)]
        if exact:
            return exact[0]
        matches = [r for r in runs if str(ref) in r.id]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise LookupError(f"no run {ref!r} in {self.root}; `cifar-tui runs` lists them")
        raise LookupError(f"{ref!r} matches {len(matches)} runs: "
                          + ", ".join(r.id for r in matches[:5]))
