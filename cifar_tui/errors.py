"""Unexpected errors: a short message for the person, the traceback in a log file. No UI code.

Known errors (bad input, a full disk, a live run) carry messages written for people and are
shown as they are; anything else is a bug or an environment problem, so its traceback is kept
in ``errors.log`` (next to the data cache) for a report, and the screen gets one line.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

EXIT_ERROR = 1  # a known error: the message says what to fix
EXIT_USAGE = 2  # bad command line (argparse's own code)
EXIT_INTERNAL = 70  # EX_SOFTWARE: an unexpected error, traceback in the log
EXIT_STOPPED = 130  # stopped on request (Ctrl-C, SIGTERM, a stop in the TUI)
EXIT_PIPE = 141  # the reader of our output went away (`cifar-tui runs | head`)


def log_path() -> Path:
    from .data import cache_dir

    return cache_dir() / "errors.log"


def log_unexpected(exc: BaseException, where: str) -> Path | None:
    """Append ``exc``'s traceback to the error log; its path, or None if it cannot be written."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()} {where}: "
                    f"{' '.join(sys.argv)}\n")
            f.write("".join(traceback.format_exception(exc)))
    except OSError:
        return None
    return path


def unexpected_message(exc: BaseException, where: str) -> str:
    """One line for the screen, after logging the traceback."""
    path = log_unexpected(exc, where)
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if len(what) > 300:
        what = what[:300] + "..."
    kept = f"the traceback is in {path}" if path else "the traceback could not be saved"
    return f"unexpected error ({what}); {kept}. Please report it with that file."
