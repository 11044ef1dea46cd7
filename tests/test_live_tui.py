"""The TUI and runs that outlive it: a hangup during a training started in the TUI."""

from __future__ import annotations

import asyncio
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
from cifar_tui.panes.runs import short_id
from cifar_tui.runs import RunStore

RUNS_HELP = "R resume"  # on the Runs pane's help line


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

    def screen_has(self, text: str, since: int = 0) -> bool:
        """Whether ``text`` has been drawn (since the output was ``since`` bytes long)."""
        return text.encode() in self.output[since:]

    def press(self, keys: str, then_shows: tuple[str, ...], what: str,
              timeout: float = 30) -> None:
        """Send ``keys`` and wait until the screen draws each of ``then_shows`` in answer."""
        mark = len(self.output)
        self.send(keys)
        wait_until(lambda: all(self.screen_has(text, mark) for text in then_shows),
                   timeout=timeout, what=what)

    def assert_silent_while(self, condition, what: str) -> None:  # noqa: ANN001
        """Nothing written to the terminal from now until ``condition`` is true."""
        written = len(self.output)
        wait_until(condition, timeout=60, what=what)
        assert len(self.output) == written, f"wrote to the terminal after the hangup ({what})"

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


# Epochs enough to be still training when the terminal goes: ``signal`` watches the terminal for
# 3 s first (~15 epochs on a 2-core VM), ``close`` hangs up as soon as the first epoch lands. Each
# test checks that the run was live at the hangup, so too few epochs fail it, never pass it.
HANGUP_EPOCHS = {"signal": 30, "close": 12}


def assert_training_at_hangup(run, epochs: int) -> None:  # noqa: ANN001
    assert run.status == "running" and run.epochs_done < epochs, \
        f"the training ended before the hangup ({run.epochs_done}/{epochs}): make it longer"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["signal", "close"])
def test_hangup_during_a_tui_training_does_not_stop_it(tmp_path, how):
    """``signal``: SIGHUP with the terminal still readable, so any later write would be seen;
    ``close``: only the master side closes, as on an SSH drop (the kernel sends SIGHUP and
    SIGCONT, and writes fail with EIO)."""
    epochs = HANGUP_EPOCHS[how]
    data, runs, run = tiny_run(tmp_path, epochs)
    app = PtyApp(["--runs", str(runs), "--data", str(data)])
    try:
        wait_until(lambda: app.screen_has("Runs"), timeout=60, what="the TUI's first frame")
        # Runs pane: the one run is highlighted (its row drawn)
        app.press("6", then_shows=(RUNS_HELP, short_id(run.id)), what="the run in Runs")
        app.send("R")  # resume it, i.e. train it from its start, in the TUI
        wait_until(lambda: run.epochs_done >= 1, what="a first epoch trained in the TUI")
        assert run.status == "running" and run.state["pid"] == app.pid
        assert run.epochs_done < epochs, "the training ended before the hangup: make it longer"

        if how == "signal":
            os.kill(app.pid, signal.SIGHUP)
            # the screen closes (its last writes), then two more epochs land with nothing drawn
            done = run.epochs_done
            wait_until(lambda: run.epochs_done >= done + 1, what="an epoch after the hangup")
            done = run.epochs_done
            app.assert_silent_while(lambda: run.epochs_done >= done + 2, "two more epochs")
        assert_training_at_hangup(run, epochs)
        app.hang_up()  # the terminal is gone: writes would fail with EIO

        assert app.exit_code(timeout=180) is not None, "the process did not end after training"
        assert run.status == "finished", run.state
        assert [h["epoch"] for h in run.history()] == list(range(1, epochs + 1))
        assert (run.path / "metrics.json").exists()
    finally:
        app.kill()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["signal", "close"])
def test_hangup_during_a_foreground_train_does_not_stop_it(tmp_path, how):
    """`cifar-tui train` in a terminal that goes away: the run carries on to its end (it used to
    be recorded as failed, "[Errno 5] Input/output error", at its next line of output), and what
    it prints from then on goes to the run's train.log."""
    epochs = {"signal": 40, "close": 12}[how]  # ``signal`` also waits for the notice first
    data = write_batches(tmp_path / "batches", make_arrays(6, 2))
    runs = tmp_path / "runs"
    term = PtyApp(["--runs", str(runs), "train", "custom", "--spec", SMALL, "--epochs",
                   str(epochs), "--batch-size", "4", "--patience", "0", "--data", str(data)])
    try:
        run = wait_until(lambda: next((r for r in RunStore(runs).list() if r.epochs_done), None),
                         what="a first epoch")
        # the epoch's line is printed just after its commit, and read from the pty after that
        wait_until(lambda: term.screen_has("epoch 1/"), timeout=10, what="the epoch's line")
        assert run.epochs_done < epochs, "the training ended before the hangup: make it longer"
        if how == "signal":  # the terminal is still there: it is told, then left alone
            os.kill(term.pid, signal.SIGHUP)
            wait_until(lambda: term.screen_has("goes on without this terminal"), timeout=10,
                       what="the hangup notice")
            done = run.epochs_done  # the notice's write may still be read: one epoch for it
            wait_until(lambda: run.epochs_done >= done + 1, what="an epoch after the notice")
            done = run.epochs_done
            term.assert_silent_while(lambda: run.epochs_done >= done + 2, "two more epochs")
        assert_training_at_hangup(run, epochs)
        term.hang_up()
        assert term.exit_code(timeout=180) == 0
        assert run.status == "finished", run.state
        assert [h["epoch"] for h in run.history()] == list(range(1, epochs + 1))
        log = (run.path / "train.log").read_text()
        assert f"epoch {epochs}/{epochs}" in log and f"saved in {run.path}" in log
    finally:
        term.kill()


# -- attaching to a run another process trains ------------------------------------------------


async def wait_for(pilot, condition, timeout: float = 90.0) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.1)


def count_polls(follower) -> list[int]:  # noqa: ANN001 - a live.Follower
    """From now on, how many times the app has polled ``follower`` (a list of one count)."""
    count = [0]
    poll = follower.poll

    def counted() -> list[object]:
        count[0] += 1
        return poll()

    follower.poll = counted
    return count


def log_lines(app) -> list[str]:  # noqa: ANN001
    from textual.widgets import RichLog

    return [line.text for line in app.query_one("#train-log", RichLog).lines]


@pytest.mark.slow
async def test_tui_follows_a_run_of_another_process_and_x_stops_it(tmp_path):
    """Two viewers at once: this TUI (Pilot) and a second TUI on a pty; x in the first stops
    the trainer process after the batch, and both show the end."""
    from conftest import static_text
    from test_live import start_trainer
    from textual.widgets import Static

    from cifar_tui.app import CifarApp
    from cifar_tui.data import Cifar10

    arrays = make_arrays(6, 2)
    data = write_batches(tmp_path / "batches", arrays)
    runs = tmp_path / "runs"
    proc = start_trainer(runs, data)
    other = None
    try:
        run = wait_until(lambda: (RunStore(runs).list() or [None])[0], what="the run folder")
        app = CifarApp(runs_root=runs,
                       loader=lambda source, stop=None: Cifar10(*arrays, source="gen"))
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.press("6")
            # "... running, epoch 2/400, 150 img/s, ETA 3 min (pid N)", refreshed as it goes
            await wait_for(pilot, lambda: f"(pid {proc.pid})" in static_text(
                app.query_one("#runs-live", Static)) and "running, epoch" in static_text(
                app.query_one("#runs-live", Static)))
            assert str(app.query_one("#runs-table").get_row_at(0)[3]).strip() == "running"
            await pilot.press("enter")  # open the live run: the Train view follows it
            await wait_for(pilot, lambda: app.follower is not None)
            assert app.query_one("TabbedContent").active == "train"
            other = PtyApp(["--runs", str(runs), "--data", str(data)])
            await wait_for(pilot, lambda: other.screen_has("Runs"), timeout=60)
            await asyncio.to_thread(other.press, "6", then_shows=(RUNS_HELP, short_id(run.id)),
                                    what="the run in the second TUI's Runs pane")
            # enter: the Train view follows the run; its progress line names the step
            await asyncio.to_thread(other.press, "\r", then_shows=("step",),
                                    what="the second TUI following the run")
            other.send("v")  # the log, behind the plot: the followed run's epochs land there
            await wait_for(pilot, lambda: other.screen_has("val_acc"), timeout=30)

            def epochs_logged() -> int:
                return sum(line.startswith("epoch ") for line in log_lines(app))

            await wait_for(pilot, lambda: epochs_logged() >= 1)
            before = epochs_logged()
            await wait_for(pilot, lambda: epochs_logged() >= before + 2)  # they land live
            # it catches up with every epoch committed (the trainer runs on meanwhile, so a
            # fixed lag would race it) and logs no epoch that is not committed
            committed = run.epochs_done
            await wait_for(pilot, lambda: epochs_logged() >= committed)
            logged = epochs_logged()
            assert logged <= run.epochs_done
            pane = app.query_one("#train")
            assert len(pane.history) >= before + 2  # the live plot's data
            await wait_for(pilot, lambda: "step" in static_text(
                app.query_one("#train-status", Static)))  # batch-level progress
            await wait_for(pilot, lambda: "CPU" in static_text(
                app.query_one("#train-system", Static)))  # the trainer's CPU, not ours
            assert app.monitor.pid == proc.pid

            await pilot.press("x")
            await wait_for(pilot, lambda: proc.poll() is not None, timeout=60)
            assert proc.returncode == 130 and run.status == "stopped"
            await wait_for(pilot, lambda: any(line.startswith("stopped after")
                                              for line in log_lines(app)))
            assert app.follower.done
        wait_until(lambda: other.screen_has("stopped after"), timeout=15,
                   what="the second TUI showing the end")
    finally:
        proc.kill()
        if other is not None:
            other.kill()


async def test_opening_a_starting_run_shows_the_live_view_then_why_it_never_began(tmp_path):
    """A run whose trainer is still loading Keras (its first seconds, no lock or progress yet)
    opens in the Train view, not in Results; when that trainer dies the view says so."""
    import subprocess

    from conftest import static_text
    from test_app import notices
    from textual.widgets import Static

    from cifar_tui.app import CifarApp
    from cifar_tui.data import Cifar10
    from cifar_tui.widgets import plain_error

    arrays = make_arrays(6, 2)
    runs = tmp_path / "runs"
    cfg = TrainConfig.for_arch("custom", spec=SMALL, epochs=3, batch_size=4)
    run = RunStore(runs).create(cfg.to_dict())
    log = run.path / "train.log"
    log.write_text("ImportError: this keras is broken on purpose\n")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run.record_spawn(child.pid, log)  # as --detach does: the child has not begun yet
        app = CifarApp(runs_root=runs, loader=lambda source: Cifar10(*arrays, source="gen"))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("6")
            live = app.query_one("#runs-live", Static)
            await wait_for(pilot, lambda: "starting" in static_text(live), timeout=10)
            assert f"(pid {child.pid})" in static_text(live)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.follower is not None, timeout=10)
            assert app.query_one("TabbedContent").active == "train"
            status = app.query_one("#train-status", Static)
            assert f"is starting in process {child.pid}" in static_text(status)
            polls = count_polls(app.follower)
            await wait_for(pilot, lambda: polls[0] >= 2, timeout=10)  # still starting, no end
            assert not app.follower.done and "starting" in static_text(status)
            child.kill()
            child.wait()
            await wait_for(pilot, lambda: "ended before it began" in static_text(status),
                           timeout=10)
            # The whole reason, the log's last line included; the pane shows it through
            # plain_error, cut at 300 characters, and where it is cut depends on how long this
            # run's path is (longer under pytest-xdist): compare with that, not with a guess.
            why = run.start_error()
            assert why is not None and why.endswith(
                "(last line: ImportError: this keras is broken on purpose)")
            assert " ".join(static_text(status).split()) == \
                " ".join(f"Training failed: {plain_error(why)}".split())
            assert app.follower.done
            assert app.query_one("#train-progress").has_class("-failed")  # not a live bar
            assert any("train.log" in line for line in log_lines(app))
            await pilot.press("6")  # opened again from Runs: it says what happened, not Results
            # the Runs pane's live refresh: the run is no longer shown as starting
            await wait_for(pilot, lambda: "starting" not in static_text(live), timeout=10)
            told = notices(app)
            await pilot.press("enter")
            await wait_for(pilot, lambda: told, timeout=10)
            assert any("ended before it began" in message and severity == "error"
                       for message, severity in told), told
    finally:
        child.kill()
        child.wait()
