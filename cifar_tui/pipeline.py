"""Batches for ``model.fit``: uint8 images and one-hot labels from numpy, on every backend.

Images stay uint8 all the way to the model (4x less to copy than float32); the model scales and
augments them itself (models.InputStage), so this is only indexing.
"""

from __future__ import annotations

import math

import numpy as np

from . import CLASSES
from .backend import import_keras

keras = import_keras()


def one_hot(y: np.ndarray, num_classes: int = len(CLASSES)) -> np.ndarray:
    return np.eye(num_classes, dtype=np.float32)[y]


class ArrayBatches(keras.utils.PyDataset):
    """(uint8 images, one-hot labels) batches over numpy arrays.

    ``shuffle``: a new order every epoch, drawn from ``(seed, epoch)``, so a run resumed at
    epoch k sees the same orders as one that never stopped. ``epoch`` is the first epoch's index.
    ``alternate_flip``: airbench's flipping: half the images, drawn once from the seed, are
    mirrored on even epochs and the other half on odd ones, so every image is seen both ways
    in any two epochs in a row (random flips repeat a side for a quarter of the images).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool = False,
                 seed: int = 0, epoch: int = 0, drop_remainder: bool = False,
                 alternate_flip: bool = False, num_classes: int = len(CLASSES),
                 **kwargs: object) -> None:
        super().__init__(**kwargs)
        if len(x) != len(y):
            raise ValueError(f"{len(x)} images but {len(y)} labels")
        self.x, self.y = x, y.astype(np.int64)
        self.num_classes = num_classes  # the one-hot width: the data set's class count
        self.batch_size, self.shuffle, self.seed = int(batch_size), shuffle, int(seed)
        self.epoch = epoch
        self.drop_remainder = drop_remainder
        self._order = self._order_for(epoch)
        self._flipped = (np.random.default_rng([self.seed, 1 << 20]).random(len(x)) < 0.5
                         if alternate_flip else None)

    def _order_for(self, epoch: int) -> np.ndarray | None:
        if not self.shuffle:
            return None
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    @property
    def num_batches(self) -> int:
        # drop_remainder (training): a short last batch would weigh its images more under a
        # mean loss; the order is reshuffled each epoch, so no image is left out for long.
        if self.drop_remainder and len(self.x) >= self.batch_size:
            return len(self.x) // self.batch_size
        return math.ceil(len(self.x) / self.batch_size)

    def __len__(self) -> int:
        return self.num_batches

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self.num_batches:
            raise IndexError(f"batch {index} of {self.num_batches}")
        sl = slice(index * self.batch_size, (index + 1) * self.batch_size)
        idx = self._order[sl] if self._order is not None else sl
        x = self.x[idx]
        if self._flipped is not None:
            mirror = self._flipped[idx] != (self.epoch % 2 == 1)
            x = x.copy() if isinstance(idx, slice) else x  # fancy indexing copied already
            x[mirror] = x[mirror][:, :, ::-1]
        return x, one_hot(self.y[idx], self.num_classes)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._order_for(self.epoch)
