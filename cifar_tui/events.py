"""Training events: what a trainer reports to listeners (CLI printer, TUI, live-run writer).

TensorFlow-free, so viewers of a run in another process can build the same events from the run's
files without loading the training stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no sklearn import for a module every viewer loads
    from .evaluation import Evaluation


@dataclass(frozen=True)
class Started:
    run_id: str
    config: dict
    initial_epoch: int
    epochs: int
    steps: int
    train_size: int
    val_size: int
    params: int
    replicas: int = 1
    backend: str = ""  # e.g. "jax on 1 GPU (NVIDIA H100) in float16"
    compiles: bool = False  # the first step compiles (a graph backend) before it runs


@dataclass(frozen=True)
class BatchProgress:
    run_id: str
    epoch: int  # 1-based
    epochs: int
    step: int
    steps: int
    loss: float
    accuracy: float
    images_per_sec: float
    eta_s: float  # to the end of this epoch


@dataclass(frozen=True)
class EpochEnd:
    run_id: str
    epoch: int  # 1-based
    epochs: int
    metrics: dict
    history: list[dict]
    overfitting: str | None
    best: bool


@dataclass(frozen=True)
class Finished:
    run_id: str
    status: str  # finished, early-stopped, stopped
    epochs_done: int
    best_val_accuracy: float | None
    evaluation: Evaluation | None = None
    seconds: float = 0.0  # the run's training time (model.fit), every session's
    weights: str | None = None  # which weights the evaluation used: Run.weights_note()
    wall_seconds: float | None = None  # the whole command's, data loading and evaluation in
    compile_seconds: float | None = None  # how much of ``seconds`` went to compiling
    cache: tuple[int, int] | None = None  # programs loaded from the compile cache, compiled


@dataclass(frozen=True)
class Failed:
    run_id: str
    message: str


Listener = Callable[[object], None]


def epochs(n: int) -> str:
    """'1 epoch', '3 epochs' ("stopped after 1 epochs" read wrong)."""
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def compile_text(seconds: float | None, before: str = "", after: str = "",
                 cache: tuple[int, int] | None = None) -> str:
    """``8.1 s`` of compiling, with ``before``/``after`` around it, and what the persistent
    cache gave (``cache``: programs loaded, compiled); empty when not measured or under 0.05 s
    and nothing was loaded (a cold cache's programs are compiled, a warm one's loaded)."""
    loaded, compiled = cache or (0, 0)
    if seconds is None or seconds < 0.05 and not loaded:
        return ""
    where = f" (cache: {loaded} of {loaded + compiled} loaded)" if loaded or compiled else ""
    return f"{before}{seconds:.1f} s{after}{where}"


def _seconds(metrics: dict) -> float | None:
    value = metrics.get("compile_seconds")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else float("nan")


def describe(event: object) -> str | None:
    """The one-line text for an event, as the CLI prints it and the Train pane logs it.

    None for events that are not logged as lines (batch progress).
    """
    if isinstance(event, Started):
        on = f" on {event.backend}" if event.backend else ""
        replicas = f" x{event.replicas} replicas" if event.replicas > 1 else ""
        resumed = f", resuming after epoch {event.initial_epoch}" if event.initial_epoch else ""
        # a viewer of a finished run knows less than the trainer did: say only what is known
        parts = [f"{event.params:,} params" if event.params else "",
                 f"{event.train_size} train / {event.val_size} val images"
                 if event.train_size else "",
                 f"{event.steps} steps of {event.config.get('batch_size')}{replicas}"
                 if event.steps else ""]
        known = "".join(f", {p}" for p in parts if p)
        return f"run {event.run_id}: {event.config.get('arch', '?')}{known}{on}{resumed}"
    if isinstance(event, EpochEnd):
        # A watched run's rows come from its history.csv: a column may be missing (nan then).
        m = {k: _number(event.metrics.get(k)) for k in (
            "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_sec")}
        val = (f"  val_loss {m['val_loss']:.4f}  val_acc {m['val_accuracy']:.4f}"
               if "val_accuracy" in event.metrics else "")
        return (f"epoch {event.epoch}/{event.epochs}  loss {m['loss']:.4f}  "
                f"acc {m['accuracy']:.4f}{val}  {m['seconds']:.1f} s"
                f"{compile_text(_seconds(event.metrics), ' (', ' compiling)')}  "
                f"{m['images_per_sec']:.0f} img/s" + ("  *best" if event.best else ""))
    if isinstance(event, Finished):
        best = event.best_val_accuracy
        best = best if isinstance(best, int | float) and not isinstance(best, bool) else None
        wall = (f" (wall {event.wall_seconds:.1f} s with data loading and evaluation)"
                if event.wall_seconds is not None else "")
        text = (f"{event.status} after {epochs(event.epochs_done)} in {event.seconds:.1f} s "
                f"of training"
                + compile_text(event.compile_seconds, ", ", " of it compiling", event.cache)
                + wall + (f"; best val acc {best:.4f}" if best is not None else ""))
        if event.evaluation is not None:
            ev = event.evaluation
            text += (f"\ntest accuracy {ev.accuracy:.4f} on {ev.n:,} images  "
                     f"loss {ev.loss:.4f}  ECE {ev.ece:.4f}")
            if event.weights:
                text += f"  ({event.weights})"
        return text
    if isinstance(event, Failed):
        return f"failed: {event.message}"
    return None
