"""Sweeps with the real engine and real storage: Optuna studies in a journal file and in a real
PostgreSQL server, trained by real workers (processes) on tiny generated data."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import conftest
import pytest
from conftest import SUBPROCESS_ENV, make_arrays, write_batches

from cifar_tui import sweep
from cifar_tui.cli import main
from cifar_tui.config import TrainConfig
from cifar_tui.runs import Run, RunStore
from cifar_tui.space import SpecError

SMALL = "C8-P-C16-P-F-FC32"
ENV = SUBPROCESS_ENV


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_batches(tmp_path / "batches", make_arrays(6, 2))


def base(data: Path, epochs: int = 2, **kw) -> TrainConfig:
    return TrainConfig.for_arch("custom", **{"spec": SMALL, "epochs": epochs, "batch_size": 8,
                                             "patience": 0, "data": str(data), **kw})


def wait_until(condition, timeout: float = 240.0, what: str = "condition"):  # noqa: ANN001, ANN201
    return conftest.wait_until(condition, timeout, what, every=0.2)


def trials_of(root: Path, name: str, storage: str | None = None) -> list:
    study, _, _ = sweep.load(root, name, storage)
    return sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)


def check_consistent(root: Path, name: str, trials: list, target: int) -> None:
    """Every finished trial has its own run, tagged with it, undamaged; no run is trained by
    two trials except a retry resuming the run of the trial it retries."""
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == target, [(t.number, t.state.name) for t in trials]
    runs = {r.id: r for r in RunStore(root).list()}
    owners: dict[str, list[int]] = {}
    for t in trials:
        if "run" in t.user_attrs:
            owners.setdefault(t.user_attrs["run"], []).append(t.number)
    for numbers in owners.values():
        if len(numbers) > 1:  # only a retry chain may share a run
            retry = next(t for t in trials if t.number == max(numbers))
            assert set(numbers[:-1]) <= set(retry.system_attrs.get("retry_history", [])), numbers
    for t in done:
        run = runs[t.user_attrs["run"]]
        assert run.damage() is None, run.damage()
        assert run.state["study"] == name and run.state["trial"] == t.number
    for run in runs.values():
        assert run.state.get("study") == name and run.id in owners


# -- in one process ---------------------------------------------------------------------------


def test_bad_specs_and_setups_are_refused_before_anything_is_made(tmp_path, data, capsys):
    root = tmp_path / "runs"
    assert main(["--runs", str(root), "sweep", "cnn", "--param", "dropout=0..1.5"]) == 1
    assert capsys.readouterr().err.strip() == \
        "cifar-tui sweep: --param dropout=0..1.5: dropout must be in [0, 1)"
    assert main(["--runs", str(root), "sweep", "fast", "--param", "dropout=0..0.5"]) == 1
    assert "fast does not take dropout" in capsys.readouterr().err
    with pytest.raises(SpecError, match="needs a list for every --param; learning_rate"):
        sweep.create(root, base(data), ["lr=0.01..0.1"], sampler="grid")
    with pytest.raises(ValueError, match="--val-split must be above 0"):
        sweep.create(root, base(data, val_split=0.0), [])
    assert main(["--runs", str(root), "sweep", "--status", "nope"]) == 1
    assert "no study 'nope'" in capsys.readouterr().err
    assert not (root / "studies").exists() or not sweep.list_studies(root)


def test_a_pruned_trial_is_pruned_in_optuna_and_in_the_run_store(tmp_path, data, capsys):
    import optuna

    root = tmp_path / "runs"
    name, setup = sweep.create(root, base(data, epochs=3), ["lr=0.001,0.01"], name="p",
                               sampler="grid")
    assert setup.trials == 2 and setup.sampler == "grid"
    # a pruner that gives up on every trial after its first epoch: Optuna's, not ours
    ran = sweep.work(root, name, pruner=optuna.pruners.ThresholdPruner(lower=1.01),
                     say=lambda text: None)
    assert ran == 2
    trials = trials_of(root, name)
    assert [t.state.name for t in trials] == ["PRUNED", "PRUNED"]
    for t in trials:
        assert list(t.intermediate_values) == [1]
        run = Run(root / t.user_attrs["run"])
        assert run.status == "pruned" and run.epochs_done == 1
        assert [h["epoch"] for h in run.history()] == [1] and run.checkpoint_path.exists()
        assert run.metrics == {}  # a pruned run is not tested
    check_consistent(root, name, trials, 2)
    # the run store's views show the state as any run's
    assert main(["--runs", str(root), "runs"]) == 0
    listed = capsys.readouterr().out
    assert listed.count("pruned") == 2
    run_ids = [t.user_attrs["run"] for t in trials]
    assert main(["--runs", str(root), "runs", "--compare", *run_ids, "--json"]) == 0
    assert main(["--runs", str(root), "sweep", "--status", name, "--json"]) == 0
    capsys.readouterr()
    status = sweep.status(root, name)
    assert [r["state"] for r in status["trials"]] == ["pruned", "pruned"]
    assert [r["epoch"] for r in status["trials"]] == [1, 1]
    assert status["counts"]["done"] == 2 and status["best"] is None


def test_status_of_a_study_whose_best_trial_ran_on_another_machine(tmp_path, data):
    """A study in a database is trained into each machine's own runs folder: this one's
    ``--status`` says the best trial's run is elsewhere (it said 'run None')."""
    import optuna

    root = tmp_path / "runs"
    name, _ = sweep.create(root, base(data), ["lr=0.01,0.02"], name="elsewhere")
    study, _, _ = sweep.load(root, name)
    trial = study.ask({"learning_rate": optuna.distributions.CategoricalDistribution(
        [0.01, 0.02])})
    trial.set_user_attr("run", "20261207-231318-cnn")  # in the other machine's folder
    study.tell(trial, 0.5)
    s = sweep.status(root, name)
    assert s["best"]["number"] == 0 and s["best"]["run"] is None
    text = sweep.status_text(s)
    assert "None" not in text and "its run in another runs folder" in text


def test_a_trial_is_never_pruned_at_its_last_epoch(tmp_path, data):
    """Pruning after the last epoch saves nothing: the trial trained in full keeps its value
    (complete in Optuna) and its run its test evaluation."""
    import optuna

    root = tmp_path / "runs"
    name, _ = sweep.create(root, base(data, epochs=2), ["lr=0.01"], name="last",
                           sampler="grid")
    # would prune every trial from epoch 2 on, which is the last
    ran = sweep.work(root, name, pruner=optuna.pruners.ThresholdPruner(lower=1.01,
                                                                       n_warmup_steps=2),
                     say=lambda text: None)
    assert ran == 1
    [trial] = trials_of(root, name)
    assert trial.state.name == "COMPLETE" and list(trial.intermediate_values) == [1, 2]
    run = Run(root / trial.user_attrs["run"])
    assert run.status == "finished" and run.epochs_done == 2 and run.metrics
    assert trial.value == run.summary()["best_val_accuracy"]
    check_consistent(root, name, [trial], 1)


def test_the_median_pruner_waits_for_epoch_2_and_three_complete_trials(tmp_path, data):
    """As the README says: a trial below the median is stopped from its second epoch on (one
    epoch's accuracy says little), and only once three trials are complete."""
    import optuna

    name, setup = sweep.create(tmp_path / "runs", base(data), [], name="median")
    pruner = sweep._pruner(setup)
    study = optuna.create_study(direction="maximize", pruner=pruner)

    def low_trial(epochs: int) -> bool:
        trial = study.ask()
        for epoch in range(1, epochs + 1):
            trial.report(0.1, epoch)
        pruned = trial.should_prune()
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return pruned

    for _ in range(3):
        assert not low_trial(2)  # fewer than three complete trials: no median yet
        trial = study.ask()
        for epoch in (1, 2, 3):
            trial.report(0.5 + epoch / 10, epoch)
        study.tell(trial, 0.8)
    assert not low_trial(1)  # below the median, but after one epoch only
    assert low_trial(2)


def test_a_study_report_has_the_best_trials_report_trials_and_importances(tmp_path, data):
    from cifar_tui.study_report import write_study_report

    root = tmp_path / "runs"
    name, _ = sweep.create(root, base(data), ["lr=0.001,0.01,0.05"], name="r",
                           pruner="none")
    sweep.work(root, name, say=lambda text: None)
    s = sweep.status(root, name)
    assert s["counts"]["complete"] == 3 and s["best"] is not None
    assert [r["best_so_far"] for r in s["trials"]] == sorted(r["best_so_far"]
                                                             for r in s["trials"])
    report = write_study_report(root, name, tmp_path / "out")
    md = report.markdown.read_text()
    assert f"Best trial: {s['best']['number']} (run {s['best']['run']})" in md
    assert "## Trials" in md and "## Parameter importances" in md
    assert all(r["run"] in md for r in s["trials"])
    assert report.figures and all((tmp_path / "out" / f).exists() or f.exists()
                                  for f in report.figures)


# -- workers in other processes ---------------------------------------------------------------


@pytest.mark.slow
def test_two_detached_workers_share_a_journal_study_and_run_no_trial_twice(tmp_path, data,
                                                                           capsys):
    root = tmp_path / "runs"
    assert main(["--runs", str(root), "sweep", "custom", "--spec", SMALL, "--epochs", "2",
                 "--batch-size", "8", "--patience", "0", "--data", str(data), "--name", "j",
                 "--param", "lr=1e-3..1e-1:log", "--trials", "4", "--pruner", "none",
                 "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("worker pid") == 2
    wait_until(lambda: sweep.status(root, "j", with_importances=False)["counts"]["done"] >= 4,
               what="4 trials done")
    logs = sorted((root / "studies" / "j").glob("worker-*.log"))
    assert len(logs) == 2
    pids = [int(line.split()[2].rstrip(",")) for line in out.splitlines()
            if line.startswith("worker pid")]
    wait_until(lambda: not any(sweep.Owner(p, socket.gethostname(), "").alive() for p in pids),
               what="the workers to leave")
    trials = trials_of(root, "j")
    assert len(trials) >= 4
    check_consistent(root, "j", trials, 4)
    assert len({t.user_attrs["run"] for t in trials if t.state.name == "COMPLETE"}) == 4
    workers = {t.user_attrs["worker"]["pid"] for t in trials if "worker" in t.user_attrs}
    assert workers == set(pids), (workers, pids, [p.read_text()[-2000:] for p in logs])


@pytest.mark.slow
def test_a_worker_killed_mid_trial_leaves_it_failed_and_retried_from_its_last_epoch(tmp_path,
                                                                                    data):
    root = tmp_path / "runs"
    name, _ = sweep.create(root, base(data, epochs=30, batch_size=4),
                           ["lr=0.002,0.004,0.006"], name="k", pruner="none")
    workers = [subprocess.Popen([sys.executable, "-m", "cifar_tui", "--runs", str(root),
                                 "sweep", "--join", name, "--foreground"], env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(2)]
    try:
        def victim():
            for t in trials_of(root, name):
                run_id = t.user_attrs.get("run")
                if t.state.name == "RUNNING" and run_id and \
                        Run(root / run_id).epochs_done >= 2:
                    return t
            return None

        killed = wait_until(victim, what="a trial two epochs in")
        pid = killed.user_attrs["worker"]["pid"]
        os.kill(pid, signal.SIGKILL)
        for w in workers:
            if w.pid == pid:
                w.wait(10)
        epochs_then = Run(root / killed.user_attrs["run"]).epochs_done
        for w in workers:
            w.wait(300)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    trials = trials_of(root, name)
    states = {t.number: t.state.name for t in trials}
    assert states[killed.number] == "FAIL"
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == killed.number)
    assert retry.state.name == "COMPLETE" and retry.params == killed.params
    # the retry resumed the killed trial's run: its epochs were kept, not trained again
    run = Run(root / retry.user_attrs["run"])
    assert run.id == killed.user_attrs["run"] and run.status == "finished"
    assert [h["epoch"] for h in run.history()] == list(range(1, 31)) and epochs_then >= 2
    check_consistent(root, name, trials, 3)
    assert len(RunStore(root).list()) == 3


# -- a real PostgreSQL server ------------------------------------------------------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _pg_tool(name: str) -> str | None:
    for folder in (PG_BIN, *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)):
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    """A PostgreSQL server of its own on a free loopback port, stopped after. It refuses to
    run as root: as root (CI) it runs as the ``postgres`` user, in a folder that user owns."""
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL is not installed (.ci/run installs it: apt-get install "
                    "postgresql)")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="cifar-tui-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres", "postgres")
    port = _free_port()
    data = folder / "data"

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=120)

    run(initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    run(pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "60", "-o",
        f"-h 127.0.0.1 -p {port} -k {folder} -F", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"  # as the README writes it
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_two_workers_join_one_study_in_a_postgresql_server(tmp_path, data, postgres, capsys):
    """Two processes against one server stand in for two machines: each joins by name and URL,
    with runs folders of their own."""
    first, second = tmp_path / "machine-a", tmp_path / "machine-b"
    assert main(["--runs", str(first), "sweep", "custom", "--spec", SMALL, "--epochs", "2",
                 "--batch-size", "8", "--patience", "0", "--data", str(data), "--name", "pg",
                 "--param", "batch_size=4,8,16,32", "--storage", postgres, "--workers",
                 "1"]) == 0
    assert main(["--runs", str(second), "sweep", "--join", "pg", "--storage", postgres,
                 "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("worker pid") == 2 and "postgres@" in out and "--storage URL" in out
    record = json.loads((second / "studies" / "pg" / "study.json").read_text())
    assert record["storage"] == postgres  # --status pg works there from now on
    wait_until(lambda: sweep.status(first, "pg", with_importances=False)["counts"]["done"] >= 4,
               what="the grid's 4 trials done")
    wait_until(lambda: all(t.state.name != "RUNNING" for t in trials_of(first, "pg")),
               what="no trial running")
    trials = trials_of(first, "pg", postgres)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.params["batch_size"] for t in complete) == [4, 8, 16, 32]
    assert len({t.user_attrs["worker"]["pid"] for t in complete}) == 2  # both machines worked
    runs = RunStore(first).list() + RunStore(second).list()
    assert sorted(r.id for r in runs) == sorted(t.user_attrs["run"] for t in complete)
    assert all(r.status == "finished" and r.damage() is None for r in runs)
    assert main(["--runs", str(second), "sweep", "--status", "pg"]) == 0
    assert "4/4 trials done" in capsys.readouterr().out
