"""A run's status: the one vocabulary of a run's life, and what each status means. No UI code.

The values are what state.json has always held (``Run.status`` derives starting, interrupted
and failed starts from the lock and the spawn record), so runs written before this type read
the same. ``tests/test_status.py`` fails where a status literal is written outside this module.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    CREATED = "created"  # made, never trained
    STARTING = "starting"  # a trainer process is on its way (spawned, or holding the lock)
    RUNNING = "running"
    FINISHED = "finished"
    EARLY_STOPPED = "early-stopped"
    PRUNED = "pruned"  # a sweep's pruner ended it after epochs_done epochs
    STOPPED = "stopped"  # asked to stop (x, Ctrl-C): finished epochs kept
    INTERRUPTED = "interrupted"  # its trainer died
    FAILED = "failed"  # an error, or a trainer that died before it began
    DAMAGED = "damaged"  # its files cannot be trusted (a summary's status; see Run.damage)
    UNKNOWN = "unknown"  # state.json says nothing readable

    @classmethod
    def read(cls, value: object) -> RunStatus:
        """state.json's "status" as a status; anything else (a hand edit) is UNKNOWN."""
        try:
            return cls(value) if isinstance(value, str) else cls.UNKNOWN
        except ValueError:
            return cls.UNKNOWN

    @property
    def live(self) -> bool:
        """Some process trains the run, or is on its way to."""
        return self in _LIVE

    @property
    def ended(self) -> bool:
        """No trainer will change the run any more (until someone resumes it)."""
        return self in _ENDED

    @property
    def complete(self) -> bool:
        """Trained to its end (all its epochs, or early stopping's): nothing left to resume,
        and it was evaluated if evaluation was asked for."""
        return self in _COMPLETE

    @property
    def cut_short(self) -> bool:
        """Ended from outside before its end (a stop asked for, a dead trainer): a resume
        continues it exactly."""
        return self in _CUT_SHORT

    @property
    def resumable(self) -> bool:
        """Can be trained further (R, --resume), once no one trains it."""
        return self in _RESUMABLE


_LIVE = frozenset({RunStatus.RUNNING, RunStatus.STARTING})
_COMPLETE = frozenset({RunStatus.FINISHED, RunStatus.EARLY_STOPPED})
_CUT_SHORT = frozenset({RunStatus.STOPPED, RunStatus.INTERRUPTED})
_ENDED = _COMPLETE | _CUT_SHORT | {RunStatus.PRUNED, RunStatus.FAILED}
_RESUMABLE = _CUT_SHORT | {RunStatus.CREATED, RunStatus.PRUNED, RunStatus.FAILED}
