"""Tiny generated CIFAR-like data in every supported format; no real images are used."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from cifar_tui import CLASSES
from cifar_tui.data import Cifar10


def make_arrays(per_class: int = 6, test_per_class: int = 2, seed: int = 0):
    """Images whose class is visible in their mean colour, so tiny models can learn it."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(30, 226, size=(len(CLASSES), 3))

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(len(CLASSES)), n)
        noise = rng.integers(-25, 26, size=(len(y), 32, 32, 3))
        x = np.clip(palette[y][:, None, None, :] + noise, 0, 255).astype(np.uint8)
        return x, y.astype(np.int64)

    x_tr, y_tr = split(per_class)
    x_te, y_te = split(test_per_class)
    return x_tr, y_tr, x_te, y_te


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIFAR_TUI_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("CIFAR_TUI_RUNS", str(tmp_path_factory.mktemp("runs")))
    monkeypatch.delenv("CIFAR_TUI_DATA", raising=False)


@pytest.fixture(scope="session")
def arrays():
    return make_arrays()


@pytest.fixture(scope="session")
def tiny(arrays) -> Cifar10:
    return Cifar10(*arrays, source="generated")


def write_batches(folder: Path, arrays) -> Path:
    """The official cifar-10-batches-py layout (channel-planar rows, bytes keys)."""
    x_tr, y_tr, x_te, y_te = arrays
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, x: np.ndarray, y: np.ndarray) -> None:
        rows = x.transpose(0, 3, 1, 2).reshape(len(x), -1)
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in y],
                 b"data": rows, b"filenames": [f"{i}.png".encode() for i in range(len(y))]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))

    parts = np.array_split(np.arange(len(y_tr)), 5)
    for i, idx in enumerate(parts, start=1):
        dump(f"data_batch_{i}", x_tr[idx], y_tr[idx])
    dump("test_batch", x_te, y_te)
    return folder


def png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def image_members(arrays) -> dict[str, bytes]:
    x_tr, y_tr, x_te, y_te = arrays
    members = {}
    for split, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        counters = dict.fromkeys(range(len(CLASSES)), 0)
        for img, label in zip(x, y):
            n = counters[int(label)]
            counters[int(label)] += 1
            members[f"{split}/{CLASSES[label]}/{n:04d}.png"] = png_bytes(img)
    return members


def write_tree(folder: Path, members: dict[str, bytes]) -> Path:
    for name, data in members.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return folder


def write_targz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def image_tree(tmp_path: Path, arrays) -> Path:
    return write_tree(tmp_path / "imgs", image_members(arrays))


def gallery_lines(gallery) -> list[str]:
    """Every line of the Data pane's gallery as text, on screen or scrolled away."""
    return [gallery.render_line(y).text.rstrip() for y in range(gallery.line_count)]


def static_text(widget) -> str:
    """The plain text a Static shows, whatever it was given (markup, Text, Rich renderable)."""
    from rich.console import Console
    from rich.text import Text

    content = widget.content
    if isinstance(content, str):
        return Text.from_markup(content).plain
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(content)
    return console.export_text()


# For tests that start the CLI in other processes (detached trainers, sweep workers): quiet
# TensorFlow, unbuffered output, and this checkout's package first on the path.
SUBPROCESS_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1",
                  "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def wait_until(condition, timeout: float = 120.0, what: str = "condition",  # noqa: ANN001
               every: float = 0.1):  # noqa: ANN201 - the condition's first true value
    """Poll ``condition`` until it is true (its value is returned) or ``timeout`` seconds pass."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not met in {timeout:.0f} s")


SMALL_SPEC = "C8-P-F-FC16"  # a custom net that trains in a blink


def small_run_config(**kw):  # noqa: ANN201 - a TrainConfig
    """A tiny custom net's run (3 epochs, no hold-out) for tests of the run store."""
    from cifar_tui.config import TrainConfig

    base = {"spec": SMALL_SPEC, "optimizer": "adam", "learning_rate": 3e-3,
            "batch_size": 16, "epochs": 3, "val_split": 0.0, "patience": 0}
    return TrainConfig.for_arch("custom", **{**base, **kw})


async def settle(pilot) -> None:  # noqa: ANN001
    """Wait until every worker (data load, training, queued runs, parameter table) is done and
    the messages they posted are handled: no polling, no timeout to tune."""
    app = pilot.app
    while True:
        await app.workers.wait_for_complete()
        await pilot.pause()
        if all(w.is_finished for w in app.workers):
            return
