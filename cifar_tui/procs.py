"""Facts about processes on this machine (is a pid alive, when did it start), from psutil, which
answers them on Linux and macOS alike. No UI code."""

from __future__ import annotations

from pathlib import Path

import psutil


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (killed, not yet reaped by its parent) does not."""
    if pid <= 0:  # pid 0 would mean our own process group to os.kill
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # access denied: it exists
        return True


def boot_id() -> str | None:
    """This boot's identity: Linux's random boot id, else the boot time (macOS)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        pass
    try:
        return f"boot-{psutil.boot_time():.0f}"
    except (psutil.Error, OSError):
        return None


def process_start(pid: int) -> float | None:
    """When ``pid`` started (seconds since the epoch), None if unknown.

    Recorded with the pid so that a new process that got a dead owner's pid is not taken for it.
    """
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError, ValueError):
        return None
