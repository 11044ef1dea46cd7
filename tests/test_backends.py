"""The backend-parametrised subset: the same core tests on JAX and on PyTorch.

Keras picks its backend once per process, so each backend runs the subset in a child pytest
with KERAS_BACKEND set. JAX comes with the test extras; PyTorch's wheel is large, so its run
skips unless torch is installed (``pip install -e ".[test,torch]"``, see the README).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
# Every preset built and counted, a tiny training, a stop and a resume from the checkpoint
# (weights and optimizer steps), safe loading, evaluation, TTA, the lookahead's arithmetic, the
# schedules. Killing a trainer process and resuming it (test_training's killed-run test: two
# child processes, 45 s on JAX and PyTorch together) checks the run files, which no backend
# changes: it runs once, on TensorFlow, in the main suite.
SUBSET = [
    "test_models.py::test_every_preset_builds_and_table_matches_keras",
    "test_models.py::test_custom_spec_builds",
    "test_training.py::test_run_files_history_and_events",
    "test_training.py::test_tiny_model_learns_and_evaluation_is_stored",
    "test_training.py::test_model_loads_with_safe_mode",
    "test_training.py::test_stop_request_keeps_finished_epochs_then_resume",
    "test_training.py::test_scaling_and_augmentation_live_in_the_model",
    "test_training.py::test_fast_recipe_lookahead_tta_and_warmup_linear_schedule",
    "test_recipe.py",
    "backend_guard.py",  # last: the backend was the one asked for, TensorFlow never imported
]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_core_subset_on_backend(backend: str) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (pip install -e '.[test,{backend}]')")
    env = {**os.environ, "KERAS_BACKEND": backend}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
           *[str(HERE / case) for case in SUBSET]]
    done = subprocess.run(cmd, env=env, cwd=HERE.parent, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"on {backend}:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"


def test_the_backend_is_named_while_another_thread_imports_keras(monkeypatch) -> None:
    """s pressed while the Model pane's thread was still importing keras (a module in
    sys.modules without its attributes yet) raised AttributeError and closed the app."""
    import types

    from cifar_tui import backend

    monkeypatch.setitem(sys.modules, "keras", types.ModuleType("keras"))  # mid-import
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert backend.requested() == "jax"


def test_a_seeded_run_on_a_cpu_makes_tensorflows_ops_deterministic():
    """Issue 34 item 15: two runs with one config and seed 0 parted from epoch 3 on a CPU.
    Seeding turns TensorFlow's op determinism on where there is no GPU (a fresh process: it is
    process-wide)."""
    code = ("from cifar_tui import backend\n"
            "from tensorflow.python.framework import config\n"  # the public API has no getter
            "before = config.is_op_determinism_enabled()\n"
            "backend.set_seed(0)\n"
            "print(before, config.is_op_determinism_enabled(), bool(backend.device_names()))\n")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": "",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120, check=True).stdout.split()
    assert out == ["False", "True", "False"]
