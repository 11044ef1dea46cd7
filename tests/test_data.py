from __future__ import annotations

import io
import json
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import image_members, png_bytes, write_batches, write_targz, write_tree, write_zip

from cifar_tui import CLASSES, data
from cifar_tui.cli import main
from cifar_tui.data import DataError, UnsafePickleError, load_cifar10


def assert_same(ds: data.Cifar10, arrays) -> None:
    x_tr, y_tr, x_te, y_te = arrays
    np.testing.assert_array_equal(ds.x_train, x_tr)
    np.testing.assert_array_equal(ds.y_train, y_tr)
    np.testing.assert_array_equal(ds.x_test, x_te)
    np.testing.assert_array_equal(ds.y_test, y_te)
    assert ds.x_train.dtype == np.uint8 and ds.x_train.shape[1:] == (32, 32, 3)


def test_batches_folder_and_parent(tmp_path, arrays):
    folder = write_batches(tmp_path / "cifar-10-batches-py", arrays)
    assert_same(load_cifar10(folder), arrays)
    assert_same(load_cifar10(tmp_path, use_cache=False), arrays)


def test_official_targz(tmp_path, arrays):
    folder = write_batches(tmp_path / "src" / "cifar-10-batches-py", arrays)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder, arcname="cifar-10-batches-py")
    assert_same(load_cifar10(archive), arrays)


@pytest.mark.parametrize("kind", ["tree", "targz", "zip"])
def test_image_folder_formats(tmp_path, arrays, kind):
    members = image_members(arrays)
    members["README.txt"] = b"not an image, ignored"
    writer = {"tree": lambda: write_tree(tmp_path / "imgs", members),
              "targz": lambda: write_targz(tmp_path / "imgs.tar.gz", members),
              "zip": lambda: write_zip(tmp_path / "imgs.zip", members)}[kind]
    # PNG is lossless and files sort by class then name, so the arrays come back exactly.
    assert_same(load_cifar10(writer()), arrays)


def test_nested_prefix_in_archive(tmp_path, arrays):
    members = {f"cifar10/{k}": v for k, v in image_members(arrays).items()}
    assert_same(load_cifar10(write_targz(tmp_path / "x.tgz", members)), arrays)


def test_second_load_comes_from_cache(tmp_path, arrays, monkeypatch):
    src = write_targz(tmp_path / "imgs.tar.gz", image_members(arrays))
    first = load_cifar10(src)
    assert first.cache_path is not None and first.cache_path.exists()

    def no_decode(path):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(data, "_decode_source", no_decode)
    assert_same(load_cifar10(src), arrays)


def test_damaged_cache_is_rebuilt(tmp_path, arrays):
    src = write_batches(tmp_path / "b", arrays)
    first = load_cifar10(src)
    (first.cache_path / "x_train.npy").write_bytes(b"garbage")
    assert_same(load_cifar10(src), arrays)


def test_cache_write_failure_still_loads(tmp_path, arrays, monkeypatch):
    monkeypatch.setenv("CIFAR_TUI_CACHE", "/proc/no-such-place")
    ds = load_cifar10(write_batches(tmp_path / "b", arrays))
    assert ds.cache_path is None
    assert_same(ds, arrays)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_not_run(tmp_path, arrays):
    folder = write_batches(tmp_path / "b", arrays)
    marker = tmp_path / "pwned"
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": _Exploit(marker)}))
    with pytest.raises(UnsafePickleError, match=r"data_batch_3.*refused to load"):
        load_cifar10(folder)
    assert not marker.exists()


class Evil(np.ndarray):
    pass


def test_array_subclass_is_refused():
    with pytest.raises(UnsafePickleError, match="refused"):
        data.safe_unpickle(pickle.dumps(np.zeros(3).view(Evil)), "x")


def test_reconstruct_hook_builds_plain_arrays_only():
    with pytest.raises(UnsafePickleError, match="instead of a numpy array"):
        data._reconstruct_ndarray(Evil, (0,), b"b")
    with pytest.raises(UnsafePickleError, match="instead of a numpy array"):
        data._reconstruct_ndarray(np.ndarray, (0,), b"b")  # only the batch's own name for it
    assert isinstance(data._reconstruct_ndarray(data._NDARRAY, (0,), b"b"), np.ndarray)


def test_truncated_archive(tmp_path, arrays):
    src = write_targz(tmp_path / "imgs.tar.gz", image_members(arrays))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(DataError, match=r"cut\.tar\.gz.*corrupt or truncated"):
        load_cifar10(cut)


def test_other_image_sizes_are_resized(tmp_path, arrays):
    members = image_members(arrays)
    members["train/cat/9999.png"] = png_bytes(np.full((40, 56, 3), 200, np.uint8))
    ds = load_cifar10(write_tree(tmp_path / "t", members))
    assert ds.x_train.shape[1:] == (32, 32, 3) and len(ds.y_train) == len(arrays[1]) + 1
    assert (ds.x_train[ds.y_train == CLASSES.index("cat")] == 200).all(axis=(1, 2, 3)).any()


def test_undecodable_image_is_skipped_and_counted(tmp_path, arrays):
    members = image_members(arrays)
    members["test/dog/0005.jpg"] = b"this is not a jpeg"
    ds = load_cifar10(write_tree(tmp_path / "t", members))
    assert ds.skipped == ("test/dog/0005.jpg",)
    assert len(ds.y_test) == len(arrays[3])
    assert ds.summary()["skipped"] == 1
    # the count survives the cache
    assert load_cifar10(tmp_path / "t").skipped == ("test/dog/0005.jpg",)


def test_extra_class_folder_must_be_in_both_splits(tmp_path, arrays):
    members = image_members(arrays)
    members["train/unicorn/0000.png"] = png_bytes(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(DataError, match=r"test/unicorn/ has no readable images"):
        load_cifar10(write_tree(tmp_path / "t", members))


def test_missing_split(tmp_path, arrays):
    members = {k: v for k, v in image_members(arrays).items() if not k.startswith("test/")}
    with pytest.raises(DataError, match=r"no test/<class>/ folders found.*--test-fraction"):
        load_cifar10(write_tree(tmp_path / "t", members))


def test_missing_class_in_split(tmp_path, arrays):
    members = {k: v for k, v in image_members(arrays).items() if not k.startswith("test/frog")}
    with pytest.raises(DataError, match=r"test/frog/ has no readable images"):
        load_cifar10(write_tree(tmp_path / "t", members))


def test_missing_batch_file(tmp_path, arrays):
    folder = write_batches(tmp_path / "b", arrays)
    (folder / "data_batch_4").unlink()
    with pytest.raises(DataError, match="missing data_batch_4"):
        load_cifar10(folder)


def test_labels_out_of_range(tmp_path, arrays):
    x_tr, y_tr, x_te, y_te = arrays
    bad = y_tr.copy()
    bad[0] = 12
    folder = write_batches(tmp_path / "b", (x_tr, bad, x_te, y_te))
    with pytest.raises(DataError, match="labels range 0..12"):
        load_cifar10(folder)


def test_missing_path_names_the_options(tmp_path):
    with pytest.raises(DataError, match=r"no such file.*--data PATH.*CIFAR_TUI_DATA"):
        load_cifar10(tmp_path / "nope")


def test_offline_keras_download_names_the_options(monkeypatch):
    import keras

    def offline(*a, **k):
        raise Exception("URL fetch failure: Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(DataError, match=r"Could not download.*--data PATH.*CIFAR_TUI_DATA"):
        load_cifar10(None)


def test_env_var_source(tmp_path, arrays, monkeypatch):
    folder = write_batches(tmp_path / "b", arrays)
    monkeypatch.setenv("CIFAR_TUI_DATA", str(folder))
    assert_same(load_cifar10(), arrays)


def test_normalize_and_one_hot(arrays):
    x = arrays[0]
    xn = data.normalize(x)
    assert xn.dtype == np.float32 and 0 <= xn.min() and xn.max() <= 1
    np.testing.assert_allclose(xn * 255, x, atol=1e-4)
    oh = data.one_hot(np.array([0, 3, 9]))
    assert oh.shape == (3, 10) and oh.sum() == 3 and oh[1, 3] == 1


def test_stratified_split_is_deterministic_and_balanced():
    y = np.repeat(np.arange(10), 50)
    tr, va = data.stratified_split(y, 0.1, seed=3)
    tr2, va2 = data.stratified_split(y, 0.1, seed=3)
    np.testing.assert_array_equal(va, va2)
    assert len(va) == 50 and set(np.bincount(y[va])) == {5}
    assert not set(tr) & set(va) and len(tr) + len(va) == len(y)
    assert len(data.stratified_split(y, 0.0)[1]) == 0


def test_per_class_subset(tiny):
    small = data.subset(tiny, 2, 1)
    assert np.bincount(small.y_train).tolist() == [2] * 10
    assert np.bincount(small.y_test).tolist() == [1] * 10
    again = data.subset(small, 2, 1)  # evaluate_run re-applies a run's subset to cut data
    np.testing.assert_array_equal(again.x_train, small.x_train)
    np.testing.assert_array_equal(again.y_test, small.y_test)
    gallery = data.first_per_class(tiny.y_train, 3)
    assert all(len(v) == 3 and (tiny.y_train[v] == c).all() for c, v in gallery.items())


def test_summary_shapes_and_counts(tiny):
    s = tiny.summary()
    assert s["x_train"] == [60, 32, 32, 3] and s["y_train"] == [60, 10]
    assert s["train_counts"] == dict.fromkeys(CLASSES, 6)
    assert s["pixel_range"][1] <= 1.0
    assert tiny.summary(normalized=False)["pixel_range"][1] > 1


def test_cli_data_json(tmp_path, arrays, capsys):
    folder = write_batches(tmp_path / "b", arrays)
    assert main(["data", "--data", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["x_test"] == [20, 32, 32, 3]
    assert out["test_counts"]["ship"] == 2


def test_cli_data_text_and_global_option(tmp_path, arrays, capsys):
    folder = write_batches(tmp_path / "b", arrays)
    assert main(["--data", str(folder), "data"]) == 0
    out = capsys.readouterr().out
    assert "x_train    (60, 32, 32, 3)" in out and "truck" in out


def test_cli_data_error_exit_code(tmp_path, capsys):
    assert main(["data", "--data", str(tmp_path / "missing")]) == 1
    assert "--data PATH" in capsys.readouterr().err


def test_unpickle_garbage_is_a_data_error():
    with pytest.raises(DataError, match="not a readable CIFAR-10 batch"):
        data.safe_unpickle(io.BytesIO(b"\x80\x02garbage").getvalue(), "f")


def test_codecs_encode_only_makes_latin1_bytes():
    assert data._latin1_bytes("\xff\x00") == b"\xff\x00"
    with pytest.raises(UnsafePickleError):
        data._latin1_bytes("x", "utf-7")


def test_a_train_subset_keeps_the_whole_test_set_unless_asked(tiny):
    small = data.subset(tiny, 2)
    assert len(small.y_train) == 20 and len(small.y_test) == len(tiny.y_test)
    fewer = data.subset(tiny, None, 1)
    assert len(fewer.y_train) == len(tiny.y_train) and len(fewer.y_test) == 10
    assert "test 1/class" in fewer.source
