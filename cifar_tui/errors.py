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

from .paths import cache_dir

EXIT_ERROR = 1  # a known error: the message says what to fix
EXIT_USAGE = 2  # bad command line (argparse's own code)
EXIT_INTERNAL = 70  # EX_SOFTWARE: an unexpected error, traceback in the log
EXIT_STOPPED = 130  # stopped on request (Ctrl-C, SIGTERM, a stop in the TUI)
EXIT_PIPE = 141  # the reader of our output went away (`cifar-tui runs | head`)


def log_path() -> Path:
    return cache_dir() / "errors.log"


# Exceptions that are bugs (or broken environments) whatever their message says, even those
# that are ValueErrors or LookupErrors by type. Other ValueError, LookupError, RuntimeError,
# OSError and DataError carry messages written for people (bad values, missing files...).
BUG_TYPES: tuple[type[BaseException], ...] = (
    KeyError, IndexError, AttributeError, TypeError, NameError, AssertionError, UnicodeError)
KNOWN_TYPES: tuple[type[BaseException], ...] = (ValueError, LookupError, RuntimeError, OSError)


def _out_of_memory(exc: BaseException) -> bool:
    return type(exc).__name__ == "ResourceExhaustedError"  # TensorFlow's, not imported here


# Packages a command may need that an install can lack (the TensorFlow-free one, a minimal
# one): import name -> what pip installs.
OPTIONAL_PACKAGES = {"sklearn": "scikit-learn", "matplotlib": "matplotlib", "PIL": "pillow",
                     "tensorboardX": "tensorboardX", "textual": "textual", "plotext": "plotext",
                     "textual_plotext": "textual-plotext", "psutil": "psutil", "rich": "rich",
                     "scipy": "scipy"}


def _missing_package(exc: BaseException) -> str | None:
    """The pip name of the optional package whose absence ``exc`` is, else None."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return OPTIONAL_PACKAGES.get(exc.name.split(".")[0])
    return None


def is_bug(exc: BaseException) -> bool:
    """Whether ``exc`` is unexpected: a bug to report, not a problem the person can fix."""
    from .data import DataError  # DataError, SpecError, StorageError, RunLockedError... known

    if _missing_package(exc) is not None:
        return False
    if isinstance(exc, BUG_TYPES):
        return True
    return not (isinstance(exc, (*KNOWN_TYPES, DataError)) or _out_of_memory(exc))


def error_message(exc: BaseException, where: str) -> str:
    """What to tell the person about ``exc``: its own message for a known error, else the
    unexpected-error line (the traceback logged once)."""
    if is_bug(exc):
        return unexpected_message(exc, where)
    if (package := _missing_package(exc)) is not None:
        return (f"this needs {package}, which is not installed here: pip install {package} "
                "(or pip install -e . for everything)")
    if _out_of_memory(exc):
        return (f"out of memory on the device ({(str(exc).splitlines() or [''])[0]}). Lower "
                "--batch-size or use a smaller model.")
    return str(exc) or type(exc).__name__


def log_unexpected(exc: BaseException, where: str) -> Path | None:
    """Append ``exc``'s traceback to the error log; its path, or None if it cannot be written.

    Logged once: an error reported where it happened (the trainer) and again where it ends the
    command has one traceback in the log."""
    if hasattr(exc, "_cifar_tui_log"):
        return exc._cifar_tui_log
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()} {where}: "
                    f"{' '.join(sys.argv)}\n")
            f.write("".join(traceback.format_exception(exc)))
    except OSError:
        path = None
    try:
        exc._cifar_tui_log = path
    except AttributeError:  # an exception type with __slots__: logging twice is harmless
        pass
    return path


def unexpected_message(exc: BaseException, where: str) -> str:
    """One line for the screen, after logging the traceback."""
    path = log_unexpected(exc, where)
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if len(what) > 300:
        what = what[:300] + "..."
    kept = f"the traceback is in {path}" if path else "the traceback could not be saved"
    return f"unexpected error ({what}); {kept}. Please report it with that file."
