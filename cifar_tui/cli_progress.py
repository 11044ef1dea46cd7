"""How the headless CLI shows a training: a Rich progress bar on a terminal, plain lines in a
pipe, JSON Lines under ``--json``. Listeners of the trainer's events (events.py)."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from .events import BatchProgress, EpochEnd, Failed, Finished, Started, describe
from .names import printable


class LinePrinter:
    """One line per event (``describe``): what a pipe or a log file gets."""

    def __init__(self, command: str = "train", out: TextIO | None = None) -> None:
        self.command = command
        self.out = out

    def __call__(self, event: object) -> None:
        text = describe(event)
        if text is not None:
            out = self.out or (sys.stderr if isinstance(event, Failed) else sys.stdout)
            print(printable(text, newlines=True), file=out, flush=True)  # ids: folder names

    def close(self) -> None:
        pass


class JsonLinePrinter(LinePrinter):
    """One JSON object per event (jsonout.EVENTS), on stdout."""

    def __call__(self, event: object) -> None:
        from .jsonout import dumps, event_payload

        found = event_payload(event)
        if found is not None:
            print(dumps(self.command, found[1], event=found[0]), file=self.out or sys.stdout,
                  flush=True)


class ProgressPrinter(LinePrinter):
    """A per-step bar with the loss, accuracy, images/s and the epoch's ETA, as ``model.fit``
    shows on a terminal; each finished epoch's line stays in the scrollback above it."""

    def __init__(self, command: str = "train", out: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        super().__init__(command, out)
        self.console = Console(file=out or sys.stdout, highlight=False)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TextColumn("eta"),
            TimeRemainingColumn(), console=self.console, transient=True)
        self.lock = threading.Lock()  # events come from the training thread
        self.task = self.progress.add_task("loading data, building the model", total=None,
                                           metrics="")
        self.progress.start()

    def __call__(self, event: object) -> None:
        with self.lock:
            if isinstance(event, BatchProgress):
                self.progress.update(
                    self.task, description=f"epoch {event.epoch}/{event.epochs}",
                    total=event.steps, completed=event.step,
                    metrics=f"loss {event.loss:.4f} acc {event.accuracy:.4f} "
                            f"{event.images_per_sec:,.0f} img/s")
                return
            text = describe(event)
            if text is not None:
                self.console.print(printable(text, newlines=True), markup=False)
            if isinstance(event, Started):
                self.progress.reset(self.task, total=event.steps, description=(
                    f"epoch {event.initial_epoch + 1}/{event.epochs}"), metrics="")
            elif isinstance(event, EpochEnd) and event.epoch < event.epochs:
                self.progress.reset(self.task, description=(
                    f"epoch {event.epoch + 1}/{event.epochs}"), metrics="")
            elif isinstance(event, EpochEnd):  # the last: the test evaluation comes next
                self.progress.reset(self.task, total=None, description="test evaluation",
                                    metrics="")
            elif isinstance(event, Finished | Failed):
                self.close()

    def close(self) -> None:
        self.progress.stop()


def printer(command: str, json_lines: bool) -> LinePrinter:
    """The listener for this output: JSON Lines, a bar on a terminal, else plain lines."""
    if json_lines:
        return JsonLinePrinter(command)
    if sys.stdout.isatty():
        return ProgressPrinter(command)
    return LinePrinter(command)
