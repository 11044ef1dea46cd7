"""Matplotlib figures of a run's results, written as PNG files. No UI code.

Imported only by the report command: matplotlib (Agg, no display) loads on first use. Every
figure has a fixed size in pixels (``figsize * DPI``, no tight bounding box), so callers and
tests know what they get.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import CLASSES
from .evaluation import worst_of_pair
from .names import plot_label
from .render import top_classes

DPI = 100
# (width, height) in inches; pixels are these times DPI.
SIZES = {
    "history": (12.0, 4.5),
    "confusion": (8.0, 7.0),
    "per_class": (10.0, 4.5),
    "confused_pairs": (10.0, 2.2),  # per pair row
    "predictions": (12.0, 2.0),  # per grid row
}


def _plt():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    return plt


def pixel_size(kind: str, rows: int = 1) -> tuple[int, int]:
    """(width, height) in pixels of a figure of ``kind`` with ``rows`` rows."""
    w, h = SIZES[kind]
    if kind in ("confused_pairs", "predictions"):
        h = h * rows
    return round(w * DPI), round(h * DPI)


def _save(fig, path: Path) -> Path:  # noqa: ANN001
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    _plt().close(fig)
    return path


def history_figure(histories: Sequence[tuple[str, list[dict]]], path: Path) -> Path:
    """Accuracy and loss per epoch; train solid, validation dashed, one colour per run."""
    plt = _plt()
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=SIZES["history"])
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, rows) in enumerate(histories):
        colour = colours[i % len(colours)]
        epochs = [r["epoch"] for r in rows]
        for ax, key in ((acc_ax, "accuracy"), (loss_ax, "loss")):
            for prefix, style, what in (("", "-", "train"), ("val_", "--", "val")):
                pts = [(e, r[prefix + key]) for e, r in zip(epochs, rows) if prefix + key in r]
                if pts:
                    ax.plot(*zip(*pts), style, marker="o", markersize=3, color=colour,
                            label=f"{plot_label(label)} {what}")  # a run id: no mathtext
    for ax, title in ((acc_ax, "Accuracy"), (loss_ax, "Loss")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if ax.lines:
            ax.legend(fontsize=7)
    acc_ax.set_ylabel("accuracy")
    loss_ax.set_ylabel("categorical cross-entropy")
    fig.tight_layout()
    return _save(fig, path)


# The data gallery: 8 images of each class, a row per class, up to GALLERY_ROWS rows a column
# and GALLERY_CLASSES classes a figure (more classes: more figures, as the TUI pages them).
GALLERY_PER_CLASS = 8
GALLERY_ROWS = 25
GALLERY_CLASSES = 100


def _gallery_layout(k: int) -> tuple[int, int, float]:
    """(columns of classes, rows a column, tile inches) of a gallery of ``k`` classes."""
    cols = -(-k // GALLERY_ROWS)
    rows = -(-k // cols)
    return cols, rows, 0.6 if k <= 12 else 0.4


def gallery_pixel_size(k: int) -> tuple[int, int]:
    """(width, height) in pixels of the gallery figure of ``k`` classes (up to
    GALLERY_CLASSES)."""
    cols, rows, tile = _gallery_layout(k)
    return (round(cols * (GALLERY_PER_CLASS * tile + 1.6) * DPI),
            round((rows * tile + 0.6) * DPI))


def gallery_figure(x: np.ndarray, y: np.ndarray, path: Path,
                   classes: Sequence[str] = CLASSES, first: int = 0,
                   per_class: int = GALLERY_PER_CLASS) -> Path:
    """The data set at a glance (the assignment's "8 images per class"): a row per class of
    ``classes[first:first + GALLERY_CLASSES]``, its name and its first ``per_class`` images
    (the ones the Data pane's gallery shows), each class's row a mosaic drawn as one image."""
    from .data import first_per_class

    plt = _plt()
    shown = range(first, min(len(classes), first + GALLERY_CLASSES))
    cols, rows, tile = _gallery_layout(len(shown))
    picks = first_per_class(y, per_class, shown)
    size = x.shape[1]
    gap = max(1, size // 16)
    step = size + gap
    fig_w, fig_h = (v / DPI for v in gallery_pixel_size(len(shown)))
    fig, axes = plt.subplots(1, cols, figsize=(fig_w, fig_h), squeeze=False)
    for col, ax in enumerate(axes[0]):
        block = list(shown)[col * rows:(col + 1) * rows]
        mosaic = np.full((rows * step, per_class * step, 3), 255, np.uint8)  # white gaps
        for r, c in enumerate(block):
            for j, i in enumerate(picks[c]):
                mosaic[r * step:r * step + size, j * step:j * step + size] = x[i]
        ax.imshow(mosaic, interpolation="nearest")
        ax.set_yticks([r * step + size / 2 for r in range(len(block))],
                      [plot_label(classes[c]) for c in block],  # folder names: no mathtext
                      fontsize=9 if len(shown) <= 12 else 7)
        ax.set_xticks([])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
    what = (f"classes {shown.start + 1}-{shown.stop} of {len(classes)}"
            if len(shown) < len(classes) else f"{len(classes)} classes")
    fig.suptitle(f"Training images: the first {per_class} of each class ({what})",
                 fontsize=10)
    fig.subplots_adjust(left=1.5 / fig_w / cols if cols == 1 else 0.1, right=0.99,
                        top=1 - 0.45 / fig_h, bottom=0.1 / fig_h, wspace=0.25)
    return _save(fig, path)


def confusion_figure(cm: np.ndarray, path: Path, classes: Sequence[str] = CLASSES) -> Path:
    """Heatmap of the confusion matrix (rows true, columns predicted) with the counts printed."""
    plt = _plt()
    cm = np.asarray(cm)
    k = len(classes)
    # Past CIFAR-10's 10 classes the figure grows with them, and past 12 the counts are left
    # out of the cells (they would not fit): the colour carries the matrix, every class named.
    w, h = SIZES["confusion"]
    grow = min(2.5, max(1.0, k / 12))  # 100 classes: 20x17.5 in, rows of 12 pt
    fig, ax = plt.subplots(figsize=(w * grow, h * grow))
    small = 8 if k <= 30 else 5 if k <= 100 else 3
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)  # colour: row share
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    if k <= 12:
        for t in range(cm.shape[0]):
            for p in range(cm.shape[1]):
                ax.text(p, t, str(cm[t, p]), ha="center", va="center", fontsize=8,
                        color="white" if share[t, p] > 0.5 else "black")
    if k <= 200:  # past that no name is legible: the colours alone
        ax.set_xticks(range(k), classes, rotation=45 if k <= 30 else 90, ha="right",
                      fontsize=small)
        ax.set_yticks(range(k), classes, fontsize=small)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (counts; colour = share of the true class)" if k <= 12
                 else f"Confusion matrix of {k} classes (colour = share of the true class)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _save(fig, path)


def per_class_figure(per_class: Sequence[dict], path: Path) -> Path:
    """Grouped bars of precision, recall and F1 for each class."""
    plt = _plt()
    w, h = SIZES["per_class"]
    fig, ax = plt.subplots(figsize=(w * max(1.0, len(per_class) / 20), h))
    x = np.arange(len(per_class))
    for i, key in enumerate(("precision", "recall", "f1")):
        ax.bar(x + (i - 1) * 0.27, [c[key] for c in per_class], 0.27, label=key)
    ax.set_xticks(x, [c["class"] for c in per_class], rotation=30 if len(x) <= 20 else 90,
                  ha="right", fontsize=None if len(x) <= 40 else 6)
    ax.set_ylim(0, 1)
    ax.set_ylabel("score")
    ax.set_title("Per-class precision, recall and F1 (test set)")
    ax.legend(ncols=3, fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def confused_pairs_figure(pairs: Sequence[dict], images: np.ndarray, probs: np.ndarray,
                          labels: np.ndarray, path: Path, per_pair: int = 6,
                          classes: Sequence[str] = CLASSES) -> Path:
    """One row per confused pair: its name and count, then its worst test images."""
    plt = _plt()
    rows = max(1, len(pairs))
    w, h = SIZES["confused_pairs"]
    fig, axes = plt.subplots(rows, per_pair + 1, figsize=(w, h * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, pair in enumerate(pairs):
        t, p = list(classes).index(pair["true"]), list(classes).index(pair["predicted"])
        axes[r, 0].text(0.5, 0.5, f"{pair['true']}\n-> {pair['predicted']}\n{pair['count']} "
                        f"({pair['rate']:.0%})", ha="center", va="center", fontsize=11)
        for c, i in enumerate(worst_of_pair(probs, labels, t, p)[:per_pair], start=1):
            axes[r, c].imshow(images[i], interpolation="nearest")
            axes[r, c].set_title(f"#{i}  p={probs[i, p]:.2f}", fontsize=8)
    if not pairs:
        axes[0, 0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    fig.suptitle("Most confused pairs (true -> predicted), most confident mistakes first")
    fig.tight_layout()
    return _save(fig, path)


def prediction_picks(probs: np.ndarray, labels: np.ndarray, n: int = 12) -> np.ndarray:
    """Test images for the prediction grid: one per class in turn, right and wrong mixed as
    they come (the first image of each class, then the second...), ``n`` at most."""
    picks: list[int] = []
    by_class = [np.flatnonzero(labels == c) for c in range(probs.shape[1])]
    depth = 0
    while len(picks) < min(n, len(labels)):
        for idx in by_class:
            if depth < len(idx) and len(picks) < n:
                picks.append(int(idx[depth]))
        depth += 1
    return np.array(picks, dtype=int)


def predictions_figure(images: np.ndarray, probs: np.ndarray, labels: np.ndarray,
                       path: Path, per_row: int = 4, classes: Sequence[str] = CLASSES) -> Path:
    """The assignment's view: each test image beside a bar chart of its class probabilities
    (true class green, a wrong top guess red); past 10 classes, the top 5 and the true class."""
    plt = _plt()
    n = len(images)
    rows = max(1, -(-n // per_row))
    w, h = SIZES["predictions"]
    fig, axes = plt.subplots(rows, 2 * per_row, figsize=(w, h * rows), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.6] * per_row})
    for ax in axes.flat:
        ax.axis("off")
    for k in range(n):
        r, c = divmod(k, per_row)
        img_ax, bar_ax = axes[r, 2 * c], axes[r, 2 * c + 1]
        p, true = probs[k], int(labels[k])
        guess = int(p.argmax())
        img_ax.imshow(images[k], interpolation="nearest")
        title = (classes[true] if guess == true
                 else f"{classes[true]}\nguess: {classes[guess]}")
        img_ax.set_title(title, fontsize=8, color="green" if guess == true else "red")
        bar_ax.axis("on")
        shown = top_classes(p, true)
        colours = ["tab:red" if c == guess != true else "tab:green" if c == true
                   else "tab:gray" for c in shown]
        bar_ax.barh(range(len(shown)), p[shown], color=colours)
        bar_ax.set_xlim(0, 1)
        bar_ax.set_yticks(range(len(shown)), [classes[c] for c in shown], fontsize=6)
        bar_ax.invert_yaxis()
        bar_ax.tick_params(axis="x", labelsize=6)
    fig.suptitle("Test predictions: image and class probabilities (green true, red wrong guess)")
    fig.tight_layout()
    return _save(fig, path)
