"""Bounded memory and no hangs: odd sources, huge members, bombs, giant models, missing GPUs."""

from __future__ import annotations

import io
import os
import pickle
import threading
import zipfile

import numpy as np
import pytest
from conftest import image_members, png_bytes, write_tree, write_zip

import cifar_tui.data as data_mod
import cifar_tui.evaluation as evaluation
from cifar_tui.data import DataError, LoadCancelled, UnsafePickleError, load_cifar10, safe_unpickle

pytestmark = pytest.mark.timeout(120)  # a hang fails the test instead of the suite


def test_fifo_and_device_sources_are_refused_without_reading(tmp_path, arrays):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for source in (fifo, "/dev/zero"):
        with pytest.raises(DataError, match="not a regular file or folder"):
            load_cifar10(source)
    tree = write_tree(tmp_path / "imgs", image_members(arrays))
    os.mkfifo(tree / "train" / "cat" / "zz.png")
    with pytest.raises(DataError, match="zz.png is not a regular file"):
        load_cifar10(tree)


def test_archive_members_are_filtered_by_name_and_capped(tmp_path, arrays, monkeypatch):
    members = image_members(arrays)
    path = write_zip(tmp_path / "imgs.zip", {**members, "notes/big.txt": b"\0" * 5_000_000,
                                             "train/cat/.hidden.png": b"x"})
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *a, **k):  # noqa: ANN001, ANN202
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    ds = load_cifar10(path, use_cache=False)
    assert len(ds.y_train) == len(arrays[1])
    assert "notes/big.txt" not in opened and "train/cat/.hidden.png" not in opened

    big = write_zip(tmp_path / "big.zip", {**members, "train/cat/huge.png": b"\0" * 5000})
    monkeypatch.setattr(data_mod, "MAX_IMAGE_BYTES", 4096)
    with pytest.raises(DataError, match="huge.png is 5,000 bytes.*at most 4,096"):
        load_cifar10(big, use_cache=False)
    tree = write_tree(tmp_path / "tree", {**members, "train/cat/huge.png": b"\0" * 5000})
    with pytest.raises(DataError, match="huge.png is 5,000 bytes"):
        load_cifar10(tree, use_cache=False)


class _Hollow:
    """Pickles as numpy's _reconstruct of a huge array, with no data after it."""

    def __reduce__(self):  # noqa: ANN204
        from numpy._core.multiarray import _reconstruct

        return _reconstruct, (np.ndarray, (10**7, 3072), np.dtype("uint8"))


def test_pickled_array_without_its_data_is_refused():
    blob = pickle.dumps({b"data": _Hollow(), b"labels": [0]}, protocol=2)
    assert len(blob) < 500
    with pytest.raises(UnsafePickleError, match="without carrying its data"):
        safe_unpickle(blob, "data_batch_1")
    ok = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2)
    assert safe_unpickle(ok, "x")[b"data"].shape == (2, 3072)


def test_stop_request_ends_a_first_load(tmp_path, arrays):
    tree = write_tree(tmp_path / "imgs", image_members(arrays))
    stop = threading.Event()
    stop.set()
    with pytest.raises(LoadCancelled, match="stopped"):
        load_cifar10(tree, stop=stop)


# -- photos to classify ----------------------------------------------------------------------


def _save(path, size, fmt):  # noqa: ANN001, ANN202
    from PIL import Image

    Image.new("RGB", size, (200, 30, 30)).save(path, format=fmt)
    return path


def test_photo_pixel_cap_bomb_and_fifo(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(evaluation, "MAX_PHOTO_PIXELS", 1_000_000)
    png = _save(tmp_path / "big.png", (1200, 1000), "PNG")
    with pytest.raises(ValueError, match="1200x1000 is 1 megapixels, more than"):
        evaluation.load_image(png)
    # a JPEG decodes at reduced size (draft), so the same pixel count is fine
    jpg = _save(tmp_path / "big.jpg", (1200, 1000), "JPEG")
    img = evaluation.load_image(jpg)
    assert img.shape == (32, 32, 3) and img[..., 0].mean() > 150
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    with pytest.raises(ValueError, match="decompression bomb"):
        evaluation.load_image(_save(tmp_path / "bomb.png", (500, 500), "PNG"))
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        evaluation.load_image(fifo)


def test_large_photo_is_shrunk_before_conversion(tmp_path):
    from PIL import Image

    path = tmp_path / "p.png"
    Image.fromarray(np.full((900, 1300, 4), 120, np.uint8), "RGBA").save(path)
    img = evaluation.load_image(path)
    assert img.shape == (32, 32, 3) and abs(int(img.mean()) - 120) <= 1


def test_decompression_bomb_inside_a_source(tmp_path, arrays, monkeypatch):
    from PIL import Image

    members = image_members(arrays)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1100)  # 32x32 passes, over 2200 is a bomb
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, format="PNG")
    path = write_zip(tmp_path / "z.zip", {**members, "train/cat/bomb.png": buf.getvalue()})
    # skipped and counted, never decoded: the other images load
    ds = load_cifar10(path, use_cache=False)
    assert ds.skipped == ("train/cat/bomb.png",) and len(ds.y_train) == len(arrays[1])
    assert png_bytes  # the conftest helper stays in use


# -- models and devices ----------------------------------------------------------------------


@pytest.mark.parametrize("spec, token", [("C99999-P-F", "C99999"), ("F-FC99999999", "FC99999999")])
def test_giant_custom_models_are_refused_before_building(spec, token, monkeypatch):
    import cifar_tui.models as models

    monkeypatch.setattr(models, "memory_available", lambda: 8 * 10**9)
    with pytest.raises(models.SpecError, match=f"token '{token}': this model would have .* "
                                               r"parameters .* about [\d.]+ GB to train"):
        models.build_custom(spec)
    assert models.build_custom("C32-P-F-FC64").count_params() > 0


def test_missing_gpus_are_an_immediate_error(tmp_path, arrays, capsys):
    import tensorflow as tf

    from cifar_tui.cli import main

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has GPUs")
    tree = write_tree(tmp_path / "imgs", image_members(arrays))
    code = main(["train", "custom", "--spec", "C8-P-F-FC16", "--gpus", "4", "--epochs", "1",
                 "--data", str(tree), "--runs", str(tmp_path / "runs")])
    assert code == 1
    err = capsys.readouterr().err  # by the machine's device files, else by TensorFlow's count
    assert ("--gpus 4: this machine has no GPU" in err
            or "device '/gpu:0' does not exist here: TensorFlow sees 0 GPUs" in err), err


def test_every_count_has_an_upper_bound_and_the_cli_says_so(capsys):
    """Issue 34 item 6: 36 fours in epochs trained "epoch 2/444...4"."""
    from dataclasses import fields

    from cifar_tui.cli import main
    from cifar_tui.config import TrainConfig, field_kind

    counts = [f for f in fields(TrainConfig) if field_kind(f) == "int"]
    assert {f.name for f in counts} >= {"epochs", "batch_size", "patience", "subset", "seed"}
    for f in counts:
        limits = f.metadata["limits"]
        assert limits is not None and limits.high is not None, f.name
        assert TrainConfig(**{f.name: 4 * 10**35}).problems().get(f.name), f.name
    assert main(["train", "cnn", "--epochs", "4" * 36]) == 1
    err = capsys.readouterr().err.strip()
    assert "epochs must be in 1..1000" in err and len(err.splitlines()) == 1


async def test_the_runs_tables_columns_stay_bounded(tmp_path, tiny):
    """A run from before the limits (epochs 444...4) widened the epochs column until best val
    and test fell off every row at 80 columns."""
    from test_app import make_app, region_text, settle
    from test_snapshots import fixed_run

    run = fixed_run(tmp_path / "runs", tiny)
    run.write_config({**run.config, "epochs": int("4" * 36)})
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("6")
        await pilot.pause()
        table = app.query_one("#runs-table")
        row = region_text(app, table).split("\n")[0]
        assert "4/444444\u2026" in row and "55.0%" in row and "65.0%/20" in row, row
