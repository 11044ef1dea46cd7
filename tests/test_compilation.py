"""The persistent compilation cache (JAX) and compile time recorded apart from training time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cifar_tui import compilation
from cifar_tui.compilation import CompileClock, cache_folder
from cifar_tui.events import EpochEnd, Finished, describe
from cifar_tui.runs import RunStore

HERE = Path(__file__).parent


def test_the_cache_folder_is_the_projects_keyed_by_jax_version_and_host(monkeypatch, tmp_path):
    import jax

    monkeypatch.setenv("CIFAR_TUI_CACHE", str(tmp_path))
    monkeypatch.delenv(compilation.ENV, raising=False)
    folder = cache_folder("jax")
    assert folder.parent == tmp_path / "compiled"
    assert folder.name.startswith(f"jax-{jax.__version__}-")  # another version: another folder
    monkeypatch.setenv(compilation.ENV, str(tmp_path / "mine"))
    assert cache_folder("jax") == tmp_path / "mine"
    monkeypatch.setenv(compilation.ENV, "off")
    assert cache_folder("jax") is None
    monkeypatch.delenv(compilation.ENV)
    # TensorFlow's XLA cache fails a run on a damaged entry; PyTorch compiles nothing
    assert cache_folder("tensorflow") is None and cache_folder("torch") is None


def test_a_graph_backend_estimates_the_first_epochs_compile_from_its_first_calls() -> None:
    times = iter([0.0, 9.0, 10.0, 11.0, 20.0, 21.0, 22.0, 23.0])
    clock = CompileClock("tensorflow", now=lambda: next(times))
    assert clock.compiles
    clock.start()                          # t=0
    for _ in range(3):                     # calls of 9 s (tracing + 1 s), 1 s, 1 s
        clock.call_ended()
    assert clock.epoch_seconds() == pytest.approx(8.0)
    clock.start()                          # the next epoch: compiled already
    clock.call_ended()
    assert clock.epoch_seconds() == 0.0
    one_call = CompileClock("tensorflow", now=lambda: next(times))  # nothing to compare with
    one_call.start()
    one_call.call_ended()
    assert one_call.epoch_seconds() is None
    eager = CompileClock("torch")
    assert not eager.compiles and eager.cache_counts() is None
    eager.start()
    assert eager.epoch_seconds() == 0.0
    assert CompileClock("torch", jit=True).compiles  # torch.compile


def test_compile_time_is_shown_apart_in_the_run_line_and_the_result_line() -> None:
    row = {"epoch": 1, "loss": 2.3, "accuracy": 0.1, "seconds": 19.0, "images_per_sec": 52.0,
           "compile_seconds": 7.3}
    assert "19.0 s (7.3 s compiling)  52 img/s" in describe(EpochEnd("r", 1, 2, row, [row],
                                                                     None, True))
    del row["compile_seconds"]  # a run from before, or not measured
    assert "compiling" not in describe(EpochEnd("r", 1, 2, row, [row], None, True))
    line = describe(Finished("r", "finished", 2, 0.16, None, 41.9, None, None, 7.4, (0, 9)))
    assert line.startswith("finished after 2 epochs in 41.9 s of training, 7.4 s of it "
                           "compiling (cache: 0 of 9 loaded); best val acc 0.1600")
    warm = describe(Finished("r", "finished", 2, None, None, 30.0, None, None, 1.2, (9, 0)))
    assert "1.2 s of it compiling (cache: 9 of 9 loaded)" in warm


def test_the_runs_files_list_and_report_carry_the_compile_seconds(tmp_path, capsys) -> None:
    from cifar_tui.cli import main
    from cifar_tui.compare import timings

    store = RunStore(tmp_path)
    run = store.create({"arch": "cnn", "epochs": 2, "batch_size": 32})
    rows = [{"epoch": 1, "accuracy": 0.1, "loss": 2.3, "seconds": 19.0, "images_per_sec": 52.0,
             "compile_seconds": 7.25},
            {"epoch": 2, "accuracy": 0.2, "loss": 2.2, "seconds": 9.0, "images_per_sec": 100.0,
             "compile_seconds": 0.05}]
    run.write_history(rows)
    run.update_state(epochs_done=2, status="finished", train_seconds=28.0)
    assert run.history()[0]["compile_seconds"] == 7.25  # history.csv keeps it
    assert run.compile_seconds == pytest.approx(7.3)
    assert run.summary()["compile_seconds"] == pytest.approx(7.3)
    assert timings(run)["compile_s"] == pytest.approx(7.3)
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[-1] == "compile" and "7.3 s" in out.splitlines()[1]
    older = store.create({"arch": "cnn", "epochs": 1})
    older.write_history([{k: v for k, v in rows[0].items() if k != "compile_seconds"}])
    assert older.compile_seconds is None and timings(older)["compile_s"] is None


CHILD = textwrap.dedent("""
    import errno, json, os, sys
    sys.path.insert(0, {tests!r})
    if os.environ.get("FULL_DISK"):  # every cache write fails as on a full disk
        from jax._src import lru_cache

        def full(self, key, value):
            raise OSError(errno.ENOSPC, "No space left on device")
        lru_cache.LRUCache.put = full
    from conftest import make_arrays
    from cifar_tui.config import TrainConfig
    from cifar_tui.data import Cifar10
    from cifar_tui.runs import RunStore
    from cifar_tui.trainer import train

    config = TrainConfig.for_arch("custom", spec="C8-P-F", optimizer="adam", batch_size=16,
                                  epochs=1, val_split=0.2, patience=0)
    run = train(config, data=Cifar10(*make_arrays(8, 2), source="generated"),
                store=RunStore(sys.argv[1]))
    print(json.dumps({{"status": run.status, "cache": run.state.get("compile_cache"),
                      "compile": run.compile_seconds}}))
""").format(tests=str(HERE))


def _train_on_jax(tmp_path: Path, cache: Path, **env: str) -> dict:
    """A tiny training in a fresh JAX process (JAX sets its cache up once per process)."""
    child = {**os.environ, "KERAS_BACKEND": "jax", compilation.ENV: str(cache), **env}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "runs")], env=child,
                          cwd=HERE.parent, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # nothing about the cache reaches the terminal (the TUI draws there)
    assert "compilation cache" not in done.stderr.lower(), done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "finished" and result["compile"] > 0
    return result


@pytest.mark.slow
def test_a_second_run_loads_its_compiled_steps_and_a_damaged_cache_is_ignored(tmp_path):
    pytest.importorskip("jax")
    cache = tmp_path / "compiled"
    cold = _train_on_jax(tmp_path, cache)
    assert cold["cache"]["loaded"] == 0 and cold["cache"]["compiled"] > 0
    entries = [p for p in cache.iterdir() if p.is_file()]
    assert entries
    warm = _train_on_jax(tmp_path, cache)
    assert warm["cache"] == {"loaded": cold["cache"]["compiled"], "compiled": 0}
    # foreign or damaged entries: junk under every name, and files of no program of ours
    for path in entries:
        path.write_bytes(os.urandom(200))
    (cache / "jit_train_step-0123abcd-cache").write_bytes(b"from another jax")
    (cache / "notes.txt").write_text("not a cache entry")
    damaged = _train_on_jax(tmp_path, cache)
    assert damaged["cache"]["loaded"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("how", ["not a folder", "full disk"])
def test_an_unusable_cache_folder_costs_only_the_compile(tmp_path, how):
    pytest.importorskip("jax")
    cache = tmp_path / "compiled"
    if how == "not a folder":  # cannot be made or written (as root too, unlike a chmod)
        cache.write_text("a file where the folder should be")
        result = _train_on_jax(tmp_path, cache / "sub")
    else:
        result = _train_on_jax(tmp_path, cache, FULL_DISK="1")
        assert not [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert result["cache"]["loaded"] == 0
