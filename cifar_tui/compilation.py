"""Compilation: the persistent cache of compiled training steps, and the clock of compile time.
No UI code.

JAX compiles each step with XLA on first use, which on a GPU takes longer than training `fast`
(bench/RESULTS.md). With ``jax_compilation_cache_dir`` set, JAX writes each compiled program to
disk and a later process with the same program, shapes, JAX version and device loads it instead.
The folder is keyed by JAX's version and this machine's CPU as well (JAX's own key has the
version and the accelerator; CPU code compiled for one host's instruction set must not be run on
another's), so a cache written elsewhere is simply never read. Any cache error (a damaged
entry, a read-only or full disk) costs only a compile: JAX turns it into a warning, kept off the
terminal here.

TensorFlow has a persistent cache for its XLA clusters (``--tf_xla_persistent_cache_directory``)
but fails the run on a damaged entry (``DataLossError: Can't parse ...``), so it stays off;
Keras on PyTorch runs eagerly and compiles nothing.
"""

from __future__ import annotations

import hashlib
import os
import platform
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from .paths import cache_dir

ENV = "CIFAR_TUI_COMPILE_CACHE"  # a folder, or "off"
# JAX's events for the work between a step's first call and its first run: tracing the Python
# step, lowering it, and XLA's compile (or, on a cache hit, loading the compiled program).
JAX_COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
                      "/jax/core/compile/jaxpr_to_mlir_module_duration",
                      "/jax/core/compile/backend_compile_duration")
JAX_CACHE_HITS = "/jax/compilation_cache/cache_hits"
JAX_CACHE_MISSES = "/jax/compilation_cache/cache_misses"


def _host_key() -> str:
    """A short name for this machine's CPU: its model and instruction-set flags."""
    model, flags = platform.processor(), ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
                elif key.strip() in ("flags", "Features") and not flags:
                    flags = value.strip()
                if model and flags:
                    break
    except OSError:
        pass
    text = f"{platform.machine()}|{model}|{flags}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cache_folder(backend: str) -> Path | None:
    """Where ``backend`` keeps compiled programs (``$CIFAR_TUI_COMPILE_CACHE``, else
    ``<cache>/compiled/<backend>-<version>-<host>``), or None: off, or nothing to cache."""
    if backend != "jax":
        return None
    env = os.environ.get(ENV, "")
    if env.lower() in ("off", "0", "none", "no"):
        return None
    if env:
        return Path(env)
    import jax

    return cache_dir() / "compiled" / f"jax-{jax.__version__}-{_host_key()}"


def enable_cache(backend: str) -> Path | None:
    """Point ``backend``'s persistent compilation cache at ``cache_folder``; returns it (None:
    off). Every program is cached, a CPU's quick compiles too. Never raises for the folder: one
    that cannot be made or written only means compiling again."""
    folder = cache_folder(backend)
    if folder is None:
        return None
    import jax

    # JAX reports a cache it cannot read or write as a Python warning; it must not reach the
    # terminal (the TUI draws there), and it costs only the compile it would have saved.
    warnings.filterwarnings("ignore", message=r"Error (reading|writing) persistent compilation")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # JAX tries again and falls back to compiling
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return folder


class _JaxCompileLog:
    """JAX's compile events, per thread: the union of their time spans (a nested trace counts
    once) and the persistent cache's hits and misses."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: dict[int, list[tuple[float, float]]] = {}
        self.counts: dict[int, list[int]] = {}

    def on_span(self, event: str, start: float, end: float, **_: object) -> None:
        if event in JAX_COMPILE_EVENTS:
            with self.lock:
                self.spans.setdefault(threading.get_ident(), []).append((start, end))

    def on_event(self, event: str, **_: object) -> None:
        if event in (JAX_CACHE_HITS, JAX_CACHE_MISSES):
            with self.lock:
                counts = self.counts.setdefault(threading.get_ident(), [0, 0])
                counts[event == JAX_CACHE_MISSES] += 1

    def seconds(self) -> float:
        """This thread's compile seconds so far (overlapping spans merged)."""
        with self.lock:
            spans = sorted(self.spans.get(threading.get_ident(), []))
        total, end = 0.0, -float("inf")
        for s, e in spans:
            if e > end:
                total += e - max(s, end)
                end = e
        return total

    def cache_counts(self) -> tuple[int, int]:
        """This thread's programs loaded from the persistent cache, and compiled afresh."""
        with self.lock:
            hits, misses = self.counts.get(threading.get_ident(), [0, 0])
        return hits, misses


_jax_log: _JaxCompileLog | None = None
_jax_log_lock = threading.Lock()


def _jax() -> _JaxCompileLog:
    global _jax_log
    with _jax_log_lock:
        if _jax_log is None:
            import jax.monitoring

            _jax_log = _JaxCompileLog()
            jax.monitoring.register_event_time_span_listener(_jax_log.on_span)
            jax.monitoring.register_event_listener(_jax_log.on_event)
        return _jax_log


class CompileClock:
    """The compile seconds of the thread that trains, epoch by epoch.

    On JAX, exact: the time JAX reports tracing, lowering and compiling (or loading from the
    cache) every program this thread runs, the validation step's included. Elsewhere, an
    estimate for a session's first epoch: its first training call's time less the next call's
    (a graph backend traces and optimises its step on the first call); None when that epoch
    has a single call. Keras on PyTorch runs eagerly: 0.
    """

    def __init__(self, backend: str, jit: bool = False,
                 now: Callable[[], float] = time.perf_counter) -> None:
        self.backend, self.now = backend, now
        self.compiles = backend != "torch" or jit  # whether a first step compiles at all
        self._log = _jax() if backend == "jax" else None
        self._mark = self._t = 0.0
        self._calls: list[float] = []  # the session's first two training calls (not JAX)
        self._epochs = 0  # epochs ended in this session
        self._counts0 = self._log.cache_counts() if self._log else (0, 0)

    def start(self) -> None:
        """An epoch begins."""
        self._mark = self._log.seconds() if self._log else 0.0
        self._t = self.now()

    def call_ended(self) -> None:
        """A training call (a batch, or several steps per execution) ended."""
        if self._log is None and self._epochs == 0 and len(self._calls) < 2:
            now = self.now()
            self._calls.append(now - self._t)
            self._t = now

    def epoch_seconds(self) -> float | None:
        """The epoch that just ended: its compile seconds (None: not known). Once an epoch."""
        first, self._epochs = self._epochs == 0, self._epochs + 1
        if self._log is not None:
            return self._log.seconds() - self._mark
        if not (self.compiles and first):
            return 0.0
        if len(self._calls) < 2:
            return None
        return max(0.0, self._calls[0] - self._calls[1])

    def cache_counts(self) -> tuple[int, int] | None:
        """Programs this thread loaded from the persistent cache, and compiled afresh, since
        this clock was made (JAX only)."""
        if self._log is None:
            return None
        hits, misses = self._log.cache_counts()
        return hits - self._counts0[0], misses - self._counts0[1]
