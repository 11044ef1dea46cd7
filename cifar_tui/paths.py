"""Where cifar-tui keeps its own files outside the runs folder: one folder for the decoded-data
cache, the compiled-program cache and the logs of TensorFlow's and unexpected errors.

Standard library only: data.py, quiet.py, errors.py and compilation.py all need the folder, and
none of them should import another for it.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "CIFAR_TUI_CACHE"


def cache_dir() -> Path:
    """Where decoded datasets are cached (``$CIFAR_TUI_CACHE`` or ``~/.cache/cifar-tui``)."""
    env = os.environ.get(ENV_CACHE)
    return Path(env) if env else Path.home() / ".cache" / "cifar-tui"
