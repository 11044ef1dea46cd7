"""Test-set evaluation, calibration, confusion analysis and single-image prediction. No UI code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
)

from . import CLASSES
from .data import image_to_array
from .recipe import FAST


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    loss: float
    ece: float
    per_class: list[dict]
    confusion: list[list[int]]
    confused_pairs: list[dict]
    n: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_metrics(cls, metrics: dict) -> Evaluation:
        """From a run's metrics.json, which also says which weights were evaluated
        (``weights``, ``weights_epoch``). Raises TypeError if a field is missing."""
        return cls(**{f.name: metrics[f.name] for f in fields(cls) if f.name in metrics})


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def most_confused_pairs(cm: np.ndarray, k: int = 5,
                        classes: Sequence[str] = CLASSES) -> list[dict]:
    """The ``k`` largest off-diagonal cells: true class mistaken for predicted class."""
    off = cm.astype(np.int64).copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1][:k]
    pairs = []
    for flat in order:
        t, p = divmod(int(flat), cm.shape[1])
        if off[t, p] == 0:
            break
        row = cm[t].sum()
        pairs.append({"true": classes[t], "predicted": classes[p], "count": int(off[t, p]),
                      "rate": float(off[t, p] / row) if row else 0.0})
    return pairs


def worst_of_pair(probs: np.ndarray, labels: np.ndarray, true: int, predicted: int) -> np.ndarray:
    """Indices of test images of class ``true`` predicted as ``predicted``, the most confident
    mistakes first (fastai's ``most_confused`` then ``plot_top_losses`` for one pair)."""
    pred = probs.argmax(axis=1)
    idx = np.flatnonzero((labels == true) & (pred == predicted))
    return idx[np.argsort(-probs[idx, predicted], kind="stable")]


# Confused pairs kept in metrics.json: the top 5 of CIFAR-10's, and at many classes enough to
# read the confusions from when the full matrix is too big for a terminal.
def pairs_kept(num_classes: int) -> int:
    return 5 if num_classes <= 12 else 20


def evaluate_probs(probs: np.ndarray, labels: np.ndarray,
                   class_names: Sequence[str] = CLASSES) -> Evaluation:
    """All test metrics from predicted probabilities (N, K) and true labels (N,), for the
    K classes ``class_names``."""
    labels = np.asarray(labels)
    pred = probs.argmax(axis=1)
    if probs.shape[1] != len(class_names):
        raise ValueError(f"the model predicts {probs.shape[1]} classes, the data set has "
                         f"{len(class_names)}")
    classes = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, pred, labels=classes, zero_division=0)
    cm = confusion_matrix(labels, pred, labels=classes)
    per_class = [
        {"class": class_names[c], "precision": float(precision[c]), "recall": float(recall[c]),
         "f1": float(f1[c]), "support": int(support[c])}
        for c in classes
    ]
    clipped = np.clip(probs, 1e-7, 1.0)
    return Evaluation(
        accuracy=float(accuracy_score(labels, pred)),
        loss=float(log_loss(labels, clipped / clipped.sum(axis=1, keepdims=True),
                            labels=classes)),
        ece=expected_calibration_error(probs, labels),
        per_class=per_class,
        confusion=cm.tolist(),
        confused_pairs=most_confused_pairs(cm, pairs_kept(len(classes)), class_names),
        n=int(len(labels)),
    )


def predict_probs(model, x_uint8: np.ndarray, normalize: bool = True,  # noqa: ANN001
                  batch_size: int = 256, tta: bool = False) -> np.ndarray:
    """Class probabilities for uint8 images.

    Models built since scaling moved into the model take the uint8 images as they are; older
    saved models take float images, divided by 255 when their run's ``normalize`` was on.
    ``tta``: airbench's test-time augmentation: half the weight on the image and its mirror,
    half on the two 1-pixel diagonal shifts (reflect-padded) of each, averaged as airbench does
    in logit space: the mean of the views' log-probabilities, renormalised, is the softmax of
    their mean logits (each view's log-normaliser is the same for every class).
    """
    x = np.asarray(x_uint8)
    if not _takes_uint8(model):  # a model saved before scaling moved in
        x = x.astype(np.float32)
        if normalize:
            x /= 255.0

    def predict(images: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(images, batch_size=batch_size, verbose=0), np.float32)

    if not tta:
        return predict(x)

    def log_p(images: np.ndarray) -> np.ndarray:
        return np.log(np.clip(predict(images).astype(np.float64), 1e-30, None))

    mean = sum(weight * log_p(view) for weight, view in tta_views(x))
    p = np.exp(mean - mean.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def tta_views(x: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """airbench's test-time views of ``x`` with their weights, which sum to 1: the images and
    their mirrors (1/4 each), then the two diagonal shifts of ``FAST["tta_shift"]`` pixels
    (reflect-padded: up-left, down-right), each with its mirror (1/8 each)."""
    d = FAST["tta_shift"]
    padded = np.pad(x, ((0, 0), (d, d), (d, d), (0, 0)), mode="reflect")
    h, w = x.shape[1:3]
    views = []
    for weight, v in ((1 / 4, x), (1 / 8, padded[:, :h, :w]), (1 / 8, padded[:, 2 * d:, 2 * d:])):
        views += [(weight, v), (weight, v[:, :, ::-1])]
    return views


# A photo is decoded at full size before it is shrunk to 32x32 (JPEG excepted: it decodes at
# 1/8 scale when asked), so its pixel count bounds the memory a prediction takes: 50 MP is
# 150-200 MB, and more than any camera's PNG.
MAX_PHOTO_PIXELS = 50_000_000


def _takes_uint8(model) -> bool:  # noqa: ANN001
    inputs = getattr(model, "inputs", None)
    return bool(inputs) and "uint8" in str(inputs[0].dtype)


def load_image(path: str | Path, size: int = 32) -> np.ndarray:
    """Any photo -> (size, size, 3) uint8, centre-cropped to square then resized (the same
    conversion as the data set's images: data.image_to_array).

    Refuses what is not a regular file (a FIFO would block forever) and images of more than
    MAX_PHOTO_PIXELS once decoded; large JPEGs are decoded at reduced size.
    """
    import stat
    import warnings

    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        if not stat.S_ISREG(p.stat().st_mode):
            raise ValueError(f"{p}: not a regular file (a pipe or device?); give an image file")
        with warnings.catch_warnings():
            # our own pixel cap below replaces PIL's warning for 89-179 MP images
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(p)
        with im:
            im.draft("RGB", (2 * size, 2 * size))  # JPEG: decode at a reduced scale
            w, h = im.size
            if w * h > MAX_PHOTO_PIXELS:
                raise ValueError(
                    f"{p}: {w}x{h} is {w * h / 1e6:.0f} megapixels, more than this tool decodes "
                    f"({MAX_PHOTO_PIXELS / 1e6:.0f} MP). Shrink it first (the model sees "
                    f"{size}x{size} anyway), or save it as JPEG, which decodes at reduced size.")
            im.load()
            return image_to_array(im, size)
    except FileNotFoundError:
        raise ValueError(f"{p}: no such file") from None
    except Image.DecompressionBombError as exc:
        size = str(exc).split(",")[0]  # "Image size (N pixels) exceeds limit of M pixels"
        raise ValueError(f"{p}: {size}, refused as a possible decompression bomb. Shrink the "
                         "image first; the model sees 32x32.") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"{p}: not an image this tool can read ({exc}); "
                         "use a JPEG, PNG, BMP, GIF or WebP file") from None


OVERFIT_EPOCHS = 2  # epochs in a row the train/validation gap must widen before a warning


def _gap_widened(prev: dict, last: dict) -> bool:
    """Train got better while validation got worse, by accuracy or by loss."""
    def moved(key: str) -> tuple[float, float] | None:
        vk = f"val_{key}"
        if key in prev and key in last and vk in prev and vk in last:
            return last[key] - prev[key], last[vk] - prev[vk]
        return None

    acc, loss = moved("accuracy"), moved("loss")
    return bool((acc and acc[0] > 0 and acc[1] < 0) or (loss and loss[0] < 0 and loss[1] > 0))


def detect_overfitting(history: list[dict], epochs: int = OVERFIT_EPOCHS) -> str | None:
    """A warning once the train/validation gap has widened ``epochs`` epochs running.

    One epoch's dip in validation accuracy is noise, not a trend, so it warns of nothing. This
    only warns; early stopping (``patience``) is what stops a run.
    """
    if len(history) < epochs + 1:
        return None
    recent = history[-(epochs + 1):]
    if not all(_gap_widened(a, b) for a, b in zip(recent, recent[1:])):
        return None
    first, last = recent[0], recent[-1]
    # Only the measures that did get worse over the trend are named: "val loss 1.583 -> 1.520"
    # beside "validation got worse" contradicted it. Each epoch can widen the gap by another
    # measure, so over the trend none may have got worse: then there is nothing to warn of.
    detail = []
    if "val_loss" in first and "val_loss" in last and last["val_loss"] > first["val_loss"]:
        detail.append(f"val loss {first['val_loss']:.3f} -> {last['val_loss']:.3f}")
    if "val_accuracy" in first and "val_accuracy" in last \
            and last["val_accuracy"] < first["val_accuracy"]:
        detail.append(f"val acc {first['val_accuracy']:.3f} -> {last['val_accuracy']:.3f}")
    if not detail:
        return None
    return (f"Overfitting trend: for {epochs} epochs (to epoch {last['epoch']}) training improved "
            f"while validation got worse ({', '.join(detail)})")
