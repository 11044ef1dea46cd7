"""The TUI and runs that outlive it: a hangup during a training started in the TUI."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
from conftest import make_arrays, write_batches
from test_live import ENV, SMALL, wait_until

from cifar_tui.config import TrainConfig
from cifar_tui.runs import RunStore


class PtyApp:
    """``python -m cifar_tui`` on a pseudo-terminal of its own (80x24, its controlling tty)."""

    def __init__(self, args: list[str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # child: a new session whose controlling terminal is the pty
            os.execve(sys.executable, [sys.executable, "-m", "cifar_tui", *args],
                      {**ENV, "TERM": "xterm-256color"})
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.output = bytearray()
        self.closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:  # keep draining, or the app blocks on a full pty buffer
        while not self.closed:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def screen_has(self, text: str) -> bool:
        return text.encode() in self.output

    def hang_up(self) -> None:
        """What an SSH drop does: the terminal's master side goes away."""
        self.closed = True
        os.close(self.fd)

    def exit_code(self, timeout: float) -> int | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.1)
        return None

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def tiny_run(tmp_path: Path, epochs: int):  # noqa: ANN201
    data = write_batches(tmp_path / "batches", make_arrays(6, 2))
    runs = tmp_path / "runs"
    cfg = TrainConfig.for_arch("custom", spec=SMALL, epochs=epochs, batch_size=4, patience=0,
                               optimizer="adam", learning_rate=3e-3, data=str(data))
    return data, runs, RunStore(runs).create(cfg.to_dict())


@pytest.mark.parametrize("how", ["signal", "close"])
def test_hangup_during_a_tui_training_does_not_stop_it(tmp_path, how):
    """``signal``: SIGHUP with the terminal still readable, so any later write would be seen;
    ``close``: only the master side closes, as on an SSH drop (the kernel sends SIGHUP and
    SIGCONT, and writes fail with EIO)."""
    epochs = 30
    data, runs, run = tiny_run(tmp_path, epochs)
    app = PtyApp(["--runs", str(runs), "--data", str(data)])
    try:
        wait_until(lambda: app.screen_has("Runs"), timeout=60, what="the TUI's first frame")
        time.sleep(1.0)
        app.send("6")  # Runs pane: the one run is highlighted
        time.sleep(1.0)
        app.send("R")  # resume it, i.e. train it from its start, in the TUI
        wait_until(lambda: run.epochs_done >= 1, what="a first epoch trained in the TUI")
        assert run.status == "running" and run.state["pid"] == app.pid
        assert run.epochs_done < epochs, "the training ended before the hangup: make it longer"

        if how == "signal":
            os.kill(app.pid, signal.SIGHUP)
            time.sleep(1.0)
            written = len(app.output)
            time.sleep(2.0)
            assert len(app.output) == written, "wrote to the terminal after the hangup"
        app.hang_up()  # the terminal is gone: writes would fail with EIO

        assert app.exit_code(timeout=180) is not None, "the process did not end after training"
        assert run.status == "finished", run.state
        assert [h["epoch"] for h in run.history()] == list(range(1, epochs + 1))
        assert (run.path / "metrics.json").exists()
    finally:
        app.kill()
