"""Keep TensorFlow's chatter off the terminal.

TensorFlow's C++ runtime writes to file descriptor 2 directly, bypassing ``sys.stderr``; Textual
draws on that same descriptor. So the log level is set before TensorFlow is imported, and the app
moves fd 2 to a log file while it hands Textual a private duplicate of the terminal.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from .paths import cache_dir


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ and Python logs; must run before ``import tensorflow``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


def log_path() -> Path:
    """Where TensorFlow's native messages go instead of the terminal."""
    return cache_dir() / "tensorflow.log"


@contextlib.contextmanager
def native_stderr_to_log() -> Iterator[None]:
    """Send fd 2 to the log for the duration (TF's import logs ignore TF_CPP_MIN_LOG_LEVEL)."""
    quiet_tensorflow()
    sys.stderr.flush()
    try:
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        yield
        return
    saved = os.dup(2)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class TerminalStream(io.TextIOWrapper):
    """The terminal Textual draws on. Once the terminal is gone (SSH drop, tmux killed) a write
    fails with EIO; that must not kill Textual's writer thread (its bounded queue would then block
    the app for good), so failed writes are dropped instead."""

    def write(self, text: str) -> int:
        try:
            return super().write(text)
        except (OSError, ValueError):
            return len(text)

    def flush(self) -> None:
        try:
            super().flush()
        except (OSError, ValueError):
            pass


def detach_from_terminal(terminal: TextIO | None = None) -> None:
    """Point stdin, stdout and ``terminal`` at /dev/null: after a hangup nothing this process
    does may read from or write to the dead terminal (fd 2 already goes to the log)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        fds = [0, 1] + ([terminal.fileno()] if terminal is not None else [])
        for fd in fds:
            try:
                os.dup2(devnull, fd)
            except OSError:
                pass
    finally:
        os.close(devnull)


def divert_stderr(log_path: Path) -> TextIO:
    """Point fd 2 at ``log_path`` and return a text stream on the original terminal.

    ``sys.__stderr__`` is replaced by that stream so Textual (which draws on ``sys.__stderr__``)
    keeps the terminal, while anything native code writes to fd 2 lands in the log.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    terminal_fd = os.dup(2)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    terminal = TerminalStream(
        io.FileIO(terminal_fd, "w", closefd=True), encoding="utf-8", line_buffering=False
    )
    # Textual draws on sys.__stderr__; Python-level errors (a crash's traceback after the app
    # exits) also go to the terminal, and only what native code writes to fd 2 lands in the log.
    sys.__stderr__ = sys.stderr = terminal  # type: ignore[misc]
    return terminal
