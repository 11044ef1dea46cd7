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
    monkeypatch.setattr(sys, "argv", ["train.py"])
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


# -- names are data, the run's data source, split and backend (issues 30, 31, 35) ------------

HOSTILE_IDS = [
    'x""" if __import__("os").system("touch PWNED") else """',
    "x''' if __import__('os').system('touch PWNED') else '''",
    "a\\u00zz\\N{bad}\\x",  # escapes that do not parse in a plain string
    "line\nbreak\r\x1b[31mred",
    "q'uo\"te (paren, comma) # hash",
]


def _names(src: str) -> set[str]:
    """Every identifier the script's code mentions."""
    import ast

    tree = ast.parse(src)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_hostile_names_stay_data_in_the_export(hostile, tmp_path):
    """A run id, data path and class names that are code in disguise parse as strings and add
    no name to the script (issue 30, item 3)."""
    import ast

    cfg = TrainConfig.for_arch("cnn", epochs=1)
    plain = export_script(cfg, "run1", backend="jax", data="/d/x.tar.gz", classes=("a", "b"))
    src = export_script(cfg, hostile, backend="jax", data=f"/d/{hostile}",
                        classes=(hostile, "b"), dataset=hostile)
    assert _names(src) == _names(plain)
    consts = {n.value for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Constant)}
    assert hostile in consts and f"/d/{hostile}" in consts
    scope: dict = {}
    exec(src.split("\nimport io")[0], scope)  # the docstring alone: no command runs
    assert not (tmp_path / "PWNED").exists() and not os.path.exists("PWNED")


def test_a_hostile_run_folder_exports_as_data(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    run = store.create(TrainConfig.for_arch("cnn", epochs=1).to_dict())
    hostile = HOSTILE_IDS[0]
    (store.root / run.id).rename(store.root / hostile)
    src = _script(capsys, hostile, "--runs", str(store.root))
    import ast

    ast.parse(src)
    assert f"RUN_ID = {hostile!r}" in src and "__import__" not in src.split("RUN_ID")[0]


def test_scaling_is_written_as_people_write_it(capsys):
    src = _script(capsys, "cnn")
    assert "layers.Rescaling(1 / 255" in src and "0.0039" not in src


def _data_part(src: str, data: str) -> dict:
    """Run the script's data section (up to the model) as `python train.py`."""
    head = src.split("# -- model")[0]
    scope: dict = {"__name__": "__main__"}
    argv = sys.argv
    sys.argv = ["train.py"]
    try:
        exec(compile(head, "train.py", "exec"), scope)
    finally:
        sys.argv = argv
    return scope


@pytest.mark.parametrize("flags", [{"subset": 4}, {"subset": 3, "test_subset": 1},
                                   {"val_split": 0.25}, {"val_split": 0.0}])
@pytest.mark.parametrize("fmt", ["targz", "zip", "tree", "batches"])
def test_the_scripts_data_split_and_subset_are_the_apps(flags, fmt, tmp_path, arrays):
    """The exported script reads the run's source and takes the same training, validation and
    test images as the app (issue 31: it tested on SUBSET // 5 images per class, and split
    without stratifying)."""
    from conftest import image_members, write_batches, write_targz, write_tree, write_zip

    from cifar_tui.data import load_cifar10, stratified_split, subset

    members = image_members(arrays)
    source = {"targz": lambda: write_targz(tmp_path / "d.tar.gz", members),
              "zip": lambda: write_zip(tmp_path / "d.zip", members),
              "tree": lambda: write_tree(tmp_path / "tree", members),
              "batches": lambda: write_batches(tmp_path / "cifar-10-batches-py", arrays)}[fmt]()
    cfg = TrainConfig.for_arch("cnn", **flags)
    app = subset(load_cifar10(source), cfg.subset, cfg.test_subset)
    tr, va = stratified_split(app.y_train, cfg.val_split, cfg.seed)
    s = _data_part(export_script(cfg, "r", data=str(source)), str(source))
    np.testing.assert_array_equal(s["x_train"][s["tr"]], app.x_train[tr])
    np.testing.assert_array_equal(s["y_train"][s["tr"]], app.y_train[tr])
    np.testing.assert_array_equal(s["x_train"][s["val"]], app.x_train[va])
    np.testing.assert_array_equal(s["x_test"], app.x_test)
    np.testing.assert_array_equal(s["y_test"], app.y_test)


def _noise_png(rng, size: tuple[int, int], mode: str) -> bytes:
    import io

    from PIL import Image

    im = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    im.convert(mode).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("layout", ["class-folders", "split-24px", "cifar100-coarse",
                                    "class-folders-tarred-inside"])
def test_the_script_reads_own_folders_and_cifar100_as_the_app(layout, tmp_path):
    """A person's own data, as the app reads it (issue 33): class folders alone with a held-out
    test share, photos of other sizes and modes centre-cropped and resized, an unreadable file
    skipped; CIFAR-100's pickles with the run's label set. The script's loader only read
    train/<class>/ trees of 32x32 images and CIFAR-10's batches."""
    from conftest import write_targz, write_tree
    from test_datasets import cifar100_members

    from cifar_tui.codegen import dataset_export
    from cifar_tui.data import load_data, stratified_split

    rng = np.random.default_rng(5)
    if layout == "cifar100-coarse":
        source = write_targz(tmp_path / "cifar-100-python.tar.gz", cifar100_members(200, 100)[0])
        cfg = TrainConfig.for_arch("cnn", labels="coarse", subset=6)
    else:
        split = layout.startswith("split")
        members = {}
        for k, cls in enumerate(("circle", "square", "triangle")):
            for i in range(7 + k):
                where = ("test" if i < 2 else "train") + "/" if split else ""
                members[f"{where}{cls}/{i:03d}.png"] = _noise_png(
                    rng, (40 + 3 * i, 30), ("RGB", "L", "RGBA")[i % 3])
        members["circle/broken.png" if not split else "train/circle/broken.png"] = b"not a png"
        source = write_tree(tmp_path / "shapes", members)
        if layout.endswith("tarred-inside"):  # `tar czf ../shapes.tar.gz .`: ./circle/...
            import tarfile

            with tarfile.open(tmp_path / "shapes.tar.gz", "w:gz") as tf:
                tf.add(source, arcname=".")
            source = tmp_path / "shapes.tar.gz"
        cfg = TrainConfig.for_arch("cnn", image_size=24 if split else 32, val_split=0.2)
    app = load_data(source, use_cache=False, image_size=cfg.image_size, labels=cfg.labels)
    assert len(app.skipped) == (0 if layout.startswith("cifar") else 1)
    src = export_script(cfg, "r", **dataset_export(app, cfg))
    s = _data_part(src, str(source))
    assert s["CLASSES"] == app.class_names
    from cifar_tui.data import subset

    app = subset(app, cfg.subset, cfg.test_subset)
    tr, va = stratified_split(app.y_train, cfg.val_split, cfg.seed)
    np.testing.assert_array_equal(s["x_train"][s["tr"]], app.x_train[tr])
    np.testing.assert_array_equal(s["y_train"][s["val"]], app.y_train[va])
    np.testing.assert_array_equal(s["x_test"], app.x_test)
    np.testing.assert_array_equal(s["y_test"], app.y_test)


def test_the_script_numbers_classes_as_the_run_recorded_them(tmp_path, arrays):
    """Class names come from the run's classes, not a fixed CIFAR-10 list."""
    from conftest import image_members, write_tree

    from cifar_tui import CLASSES

    members = image_members(arrays)
    renamed = {k.replace("/airplane/", "/plane/"): v for k, v in members.items()}
    source = write_tree(tmp_path / "tree", renamed)
    classes = ("plane", *CLASSES[1:])
    s = _data_part(export_script(TrainConfig.for_arch("cnn"), "r", data=str(source),
                                 classes=classes), str(source))
    assert s["CLASSES"] == classes and set(s["y_train"]) == set(range(10))
    with pytest.raises(SystemExit, match="'plane' is not one of CLASSES"):
        _data_part(export_script(TrainConfig.for_arch("cnn"), "r", data=str(source)),
                   str(source))


@pytest.mark.slow
def test_a_runs_script_runs_offline_on_its_archive_without_tensorflow(tmp_path, arrays,
                                                                      capsys):
    """Train a run on a generated archive, export it as a JAX run, and run the script in a
    fresh interpreter where cifar_tui, tensorflow and the network are all out of reach."""
    from conftest import image_members, write_targz

    archive = write_targz(tmp_path / "imgs.tar.gz", image_members(arrays))
    runs = tmp_path / "runs"
    assert main(["train", "cnn", "--data", str(archive), "--runs", str(runs), "--epochs", "1",
                 "--batch-size", "8", "--no-eval"]) == 0
    run = RunStore(runs).list()[0]
    assert run.state["data_source"] == str(archive)
    run.update_state(backend="jax")  # as if trained on JAX: the script must not need TF
    src = _script(capsys, run.id, "--runs", str(runs))
    assert "import tensorflow" not in src and "tensorflow" not in src.split('"""')[1]
    assert 'os.environ.setdefault("KERAS_BACKEND", \'jax\')' in src
    assert "Needs keras>=3, jax, numpy" in src
    path = tmp_path / "train.py"
    path.write_text(src)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys, socket, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in ("cifar_tui", "tensorflow"):
                    raise ImportError(f"the exported script must not need {name}")
        sys.meta_path.insert(0, Block())
        def offline(*a, **k):
            raise OSError("no network in this test")
        socket.socket.connect = offline
        socket.create_connection = offline
    """))
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(PYTHONPATH=str(site), TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "test accuracy" in res.stdout


@pytest.mark.parametrize("overrides", [
    {},
    {"epochs": 5, "batch_size": 64, "learning_rate": 0.003},
    {"arch": "cnn-dropout-bn", "batch_norm": False, "augment_flip": True, "dropout": 0.4},
    {"arch": "custom", "spec": "C8-P-F-FC32", "optimizer": "adam"},
    {"arch": "fast", "batch_size": 512},  # its lr and weight decay follow the batch size
    {"arch": "fast", "batch_size": 512, "learning_rate": 0.3},  # set by hand: said
    {"dropout": 0.0, "batch_norm": False, "momentum": 0.5, "optimizer": "adam"},  # all moot
])
def test_the_scripts_header_names_the_command_that_makes_its_config(overrides, capsys):
    """The script exported from the Model view said `cifar-tui code cnn` whatever the form held
    (epochs 5, batch 64...): that command printed another script. The header's command, given
    back to the CLI, now makes the same config."""
    import shlex

    from cifar_tui.cli import _parser, config_flags
    from cifar_tui.config import command_flags, config_fields

    arch = overrides.pop("arch", "cnn")
    cfg = TrainConfig.for_arch(arch, **overrides)
    command = ["cifar-tui", "code", arch, *command_flags(cfg)]
    args = _parser().parse_args(command[1:])
    back = TrainConfig.for_arch(arch, **config_flags(args, trained_only=True))
    moot = cfg.unused() | {"dropout", "batch_norm"}  # the Model form's spelling of cnn's
    for f in config_fields(trained_only=True):
        if f.name not in moot:
            assert getattr(back, f.name) == getattr(cfg, f.name), f.name
    assert back.model_options() == cfg.model_options()
    assert len(command) - 3 <= 2 * len(overrides)  # no flag the preset already gives
    if "momentum" in overrides:  # the last case
        assert command[3:] == ["--optimizer", "adam"]  # the rest acts as the preset's
    if arch != "fast":  # fast is not exported (it says why)
        assert f"from `{shlex.join(command)}`." in export_script(cfg)
