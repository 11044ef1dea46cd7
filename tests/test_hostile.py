"""Issue 30's attacks as fixtures: hostile pickles, names, lock links, progress and state files.
Each test is one attack that once broke; the comment says what it did."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

from cifar_tui import data
from cifar_tui.cli import main
from cifar_tui.data import DataError, UnsafePickleError
from cifar_tui.runs import Run, RunLockedError, RunStore

# -- data: pickles that allocate what the file does not hold --------------------------------


class _Alloc:
    """Pickles as ``numpy.ndarray(shape, uint8)``: REDUCE on the allowed ndarray name."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def __reduce__(self):
        return (np.ndarray, (self.shape, np.dtype("u1")))


def test_a_tiny_pickle_cannot_allocate_a_huge_array(tmp_path, arrays):
    # Was: 123 bytes became 200,080 images (588 MB cache); 1M images were OOM-killed at 4 GB.
    from conftest import write_batches

    folder = write_batches(tmp_path / "b", arrays)
    bomb = pickle.dumps({b"data": _Alloc((200_080, 3072)), b"labels": _Alloc((200_080,))},
                        protocol=2)
    assert len(bomb) < 300
    (folder / "data_batch_2").write_bytes(bomb)
    with pytest.raises(UnsafePickleError, match="data_batch_2.*called numpy.ndarray directly"):
        data.load_cifar10(folder)


@pytest.mark.parametrize("dtype", ["O", "V8", [("a", "u1")], "U4", "c8"])
def test_a_pickle_asking_for_a_non_numeric_array_type_is_refused(dtype):
    arr = np.zeros(2, dtype=dtype)
    with pytest.raises(UnsafePickleError, match="array type|refused"):
        data.safe_unpickle(pickle.dumps({b"data": arr}, protocol=2), "f")


def test_every_array_is_bounded_by_the_bytes_in_the_file():
    with pytest.raises(UnsafePickleError, match="array of 80 bytes in a file of 40"):
        data._bounded_arrays({b"data": [np.zeros(10)]}, 40)
    data._bounded_arrays({b"data": [np.zeros(5)]}, 40)  # within: fine


def test_a_genuine_batch_still_loads(tmp_path, arrays):
    from conftest import write_batches

    ds = data.load_cifar10(write_batches(tmp_path / "b", arrays), use_cache=False)
    assert ds.x_train.shape == arrays[0].shape and (ds.y_test == arrays[3]).all()


@pytest.mark.parametrize("labels", [7, 2.5, {b"x": 1}, [[1, 2]]])
def test_labels_that_are_not_a_list_are_a_data_error(tmp_path, arrays, labels):
    # Was: a scalar exited 70 (TypeError: len() of unsized object).
    from conftest import write_batches

    folder = write_batches(tmp_path / "b", arrays)
    rows = arrays[0][:2].transpose(0, 3, 1, 2).reshape(2, -1)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": rows, b"labels": labels},
                                                     protocol=2))
    with pytest.raises(DataError, match="test_batch: labels are .*not a list of class numbers"):
        data.load_cifar10(folder, use_cache=False)
