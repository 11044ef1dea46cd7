"""The exported Keras script: it runs on its own, trains, and builds the app's very model."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from conftest import make_arrays

from cifar_tui.cli import main
from cifar_tui.codegen import export_script
from cifar_tui.config import ARCHS, TrainConfig
from cifar_tui.models import build_model
from cifar_tui.runs import RunStore

EXPORTABLE = [a for a in ARCHS if a != "fast"]
FLAGS = ["--epochs", "1", "--batch-size", "16", "--patience", "1"]


def _keras_arrays() -> tuple:
    """Tiny data in keras.datasets.cifar10's own format: labels as (N, 1) uint8."""
    x_tr, y_tr, x_te, y_te = make_arrays(4, 2)
    return (x_tr, y_tr[:, None].astype(np.uint8)), (x_te, y_te[:, None].astype(np.uint8))


def _script(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert main(["code", *argv]) == 0
    return capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("arch", EXPORTABLE)
def test_exported_script_trains_the_apps_model(arch, tmp_path, capsys, monkeypatch):
    extra = ["--weights", "none"] if arch == "transfer" else []  # no download in a test
    src = _script(capsys, arch, *FLAGS, *extra)
    assert "cifar_tui" not in src.replace('"cifar_tui"', "")  # registered names aside
    compile(src, "train.py", "exec")
    path = tmp_path / "train.py"
    path.write_text(src)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", _keras_arrays)
    scope = runpy.run_path(str(path), run_name="__main__")
    cfg = TrainConfig.for_arch(arch, weights="none" if arch == "transfer" else None)
    options = cfg.model_options()
    app_model = build_model(arch, **options)
    assert scope["model"].count_params() == app_model.count_params()
    assert len(scope["history"].history["loss"]) == 1  # one epoch trained
    assert np.isfinite(scope["history"].history["loss"][0])
    assert "test accuracy" in capsys.readouterr().out


def test_a_backbones_weights_are_spelled_one_way_into_the_script():
    """"imagenet", "none" or a file, as the config says them (no "" or None for "none")."""
    from cifar_tui.codegen import model_code

    model = build_model("transfer", weights="none")
    code = {w: "\n".join(model_code(model, w)) for w in ("imagenet", "none", "/w/base.h5")}
    assert 'weights="imagenet"' in code["imagenet"] and "load_weights" not in code["imagenet"]
    assert "weights=None" in code["none"] and "load_weights" not in code["none"]
    assert ("weights=None" in code["/w/base.h5"]
            and 'backbone.load_weights("/w/base.h5")' in code["/w/base.h5"])


def test_chains_are_sequential_graphs_functional(capsys):
    cnn = _script(capsys, "cnn-dropout")
    assert "keras.Sequential([" in cnn and 'layers.Dropout(0.25, name="dropout1")' in cnn
    assert 'layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")' in cnn
    res = _script(capsys, "resnet9")
    assert "keras.Model(inputs, x" in res and "layers.Add(name=\"res1_add\")([x, y])" in res
    assert "label_smoothing=0.2" in res and "nesterov=True" in res and "CosineDecay" in res
    assert 'layers.RandomFlip("horizontal")' in res


def test_run_config_and_overrides(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    cfg = TrainConfig.for_arch("custom", spec="C8-P-F-FC16", learning_rate=0.05, epochs=7)
    run = store.create(cfg.to_dict())
    src = _script(capsys, run.id, "--runs", str(store.root))
    assert f"from run {run.id}" in src and "EPOCHS = 7" in src
    assert "learning_rate = 0.05" in src and "layers.Dense(16" in src
    src = _script(capsys, run.id, "--runs", str(store.root), "--epochs", "2")
    assert "EPOCHS = 2" in src


def test_own_schedule_is_inlined(capsys):
    src = _script(capsys, "cnn", "--schedule", "warmup-linear")
    assert "class WarmupLinear(" in src and "learning_rate = WarmupLinear(" in src


def test_fast_says_plainly_it_cannot_be_exported(capsys):
    assert main(["code", "fast"]) == 1
    err = capsys.readouterr().err
    assert "cannot be exported" in err and "ScaledBias" in err
    with pytest.raises(ValueError, match="cannot be exported"):
        export_script(TrainConfig.for_arch("fast"))


def test_alternating_flips_are_refused_with_the_way_out(capsys):
    assert main(["code", "cnn", "--flip", "--alternate-flip"]) == 1
    assert "--no-alternate-flip" in capsys.readouterr().err
    assert "RandomFlip" in _script(capsys, "cnn", "--flip", "--no-alternate-flip")


@pytest.mark.slow
def test_script_runs_without_cifar_tui(tmp_path, capsys):
    """A fresh interpreter in which importing cifar_tui fails, CIFAR-10 stubbed."""
    path = tmp_path / "train.py"
    path.write_text(_script(capsys, "cnn", "--epochs", "1", "--subset", "2"))
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] == "cifar_tui":
                    raise ImportError("the exported script must not need cifar_tui")
        sys.meta_path.insert(0, Block())
        import numpy as np, keras
        def load_data():
            rng = np.random.default_rng(0)
            x = rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
            y = (np.arange(60) % 10)[:, None].astype(np.uint8)
            return (x[:40], y[:40]), (x[40:], y[40:])
        keras.datasets.cifar10.load_data = load_data
    """))
    env = {**os.environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "3"}
    res = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "test accuracy" in res.stdout and "Total params: 890,410" in res.stdout
