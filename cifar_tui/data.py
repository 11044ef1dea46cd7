"""Loading, validating, caching and preparing a data set (a ``Dataset`` value). No UI code.

Sources, in order of precedence: an explicit path, ``$CIFAR_TUI_DATA``, Keras's own download
(CIFAR-10, or CIFAR-100 when the source is the name ``cifar100``). A path may be the official
``cifar-10-python.tar.gz`` or ``cifar-100-python.tar.gz``, their extracted folders, or an
image-folder tree / ``.tar.gz`` / ``.zip`` holding ``train/<class>/*.jpg|png`` and
``test/<class>/...``, or only ``<class>/*.jpg|png`` (a share of each class is held out for
testing). Class names come from the folders; images of any size and mode are resized to the
chosen square size. Decoded arrays are cached as ``.npy`` files in a folder keyed by the source
and those options, so the second load is four plain reads.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import stat
import tarfile
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import CLASSES
from .config import DATA_OPTIONS, LABELS, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
from .paths import cache_dir
from .procs import pid_alive

ENV_DATA = "CIFAR_TUI_DATA"
KERAS_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
KERAS_ORIGIN_100 = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
CACHE_VERSION = 2
MIN_CLASSES, MAX_CLASSES = 2, 1000
# Decoded images are held in memory: a source that would decode to more is refused before it
# does (CIFAR-10 at 32x32 is 184 MB; at 256x256, 11.8 GB).
MAX_DECODED_BYTES = 6 << 30
# Larger pictures are skipped rather than decoded (a 1 MB PNG may declare a gigapixel image).
MAX_SOURCE_PIXELS = 50_000_000
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
# Size caps, so that no source can make the loader read or allocate without bound: a CIFAR-10
# image file is a few KB and a pickled batch 31 MB.
MAX_IMAGE_BYTES = 1 << 20
MAX_BATCH_BYTES = 256 << 20
OFFLINE_HINT = (
    f"Pass a local copy with --data PATH or set {ENV_DATA}=PATH "
    "(cifar-10-python.tar.gz or cifar-100-python.tar.gz, their extracted folders, or an "
    "image-folder tree/archive with train/<class>/ and test/<class>/, or <class>/ folders "
    "alone)."
)


class DataError(Exception):
    """A data source is missing, malformed or unsafe; the message says what and how to fix it."""


class UnsafePickleError(DataError):
    """A pickle asked for something other than plain arrays, lists and dicts."""


class LoadCancelled(DataError):
    """The caller asked the load to stop (a stop request during a training's first load)."""


class _Stop:
    """Anything with ``is_set()`` (a threading.Event): checked between files. If it also has
    ``files_read(n)``, that is told how many files have been read, every PROGRESS_EVERY."""

    PROGRESS_EVERY = 500

    def __init__(self, stop: object | None) -> None:
        self.stop = stop
        self.report = getattr(stop, "files_read", None)
        self.files = 0

    def check(self, where: str) -> None:
        if self.stop is not None and self.stop.is_set():
            raise LoadCancelled(f"{where}: loading stopped on request")
        self.files += 1
        if self.report is not None and self.files % self.PROGRESS_EVERY == 0:
            self.report(self.files)


@dataclass(frozen=True)
class Dataset:
    """A data set: uint8 images (N, S, S, 3), integer labels (N,) indexing ``class_names``,
    where they came from, and the files that could not be read (skipped, by name)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    cache_path: Path | None = None
    class_names: tuple[str, ...] = CLASSES
    name: str = "CIFAR-10"
    skipped: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[1])

    def spec(self) -> dict:
        """What a run records of its data (config.json's "dataset"), to refuse other data."""
        return {"name": self.name, "classes": list(self.class_names),
                "image_size": self.image_size}

    def summary(self, normalized: bool = True) -> dict:
        """Shapes, class counts and pixel range as the model will see them."""
        x = self.x_train
        lo, hi = int(x.min()), int(x.max())
        k = len(self.class_names)
        return {
            "name": self.name,
            "source": self.source,
            "cache": str(self.cache_path) if self.cache_path else None,
            "classes": list(self.class_names),
            "image_size": self.image_size,
            "x_train": [*x.shape],
            "y_train": [len(self.y_train), k],
            "x_test": [*self.x_test.shape],
            "y_test": [len(self.y_test), k],
            "dtype": "float32" if normalized else "uint8",
            "pixel_range": [lo / 255, hi / 255] if normalized else [lo, hi],
            "train_counts": class_counts(self.y_train, self.class_names),
            "test_counts": class_counts(self.y_test, self.class_names),
            "skipped": len(self.skipped),
            "skipped_files": list(self.skipped[:20]),
        }


Cifar10 = Dataset  # its name from when CIFAR-10 was the only data set


def check_matches(spec: dict | None, ds: Dataset, what: str) -> None:
    """Raise DataError when ``ds`` is not the data set ``spec`` (a run's recorded "dataset")
    describes: other classes, in another order, or another image size. A run recorded before
    data sets were recorded was trained on CIFAR-10 at 32x32."""
    want = spec if isinstance(spec, dict) else {"name": "CIFAR-10", "classes": list(CLASSES),
                                                 "image_size": 32}
    classes, size = list(want.get("classes") or []), want.get("image_size")
    if classes != list(ds.class_names):
        shown = ", ".join(classes[:6]) + (", ..." if len(classes) > 6 else "")
        raise DataError(
            f"{what} was trained on {want.get('name', '?')} ({len(classes)} classes: {shown}); "
            f"the data loaded ({ds.name}, {ds.source}) has {ds.num_classes} other classes. "
            "Load the run's own data (--data PATH, as it was trained).")
    if size != ds.image_size:
        raise DataError(f"{what} takes {size}x{size} images, the data loaded is "
                        f"{ds.image_size}x{ds.image_size}: load it with --image-size {size}.")


# -- safe unpickling -------------------------------------------------------------------------


class _NdarrayName:
    """What ``numpy.ndarray`` resolves to in a batch: a name _reconstruct accepts, never a
    callable. Called (pickle's REDUCE) numpy's ndarray would allocate any shape a 100-byte
    file asks for, with no data behind it."""

    def __call__(self, *args: object) -> None:
        raise UnsafePickleError("pickle called numpy.ndarray directly, which a genuine batch "
                                "never does (it would allocate memory the file does not hold)")


_NDARRAY = _NdarrayName()
PLAIN_DTYPE_KINDS = "biuf"  # bool, int, uint, float: what a batch's arrays hold


def _plain_dtype(name: object, align: object = False, copy: object = True) -> np.dtype:
    # numpy pickles a dtype as dtype("u1", False, True) then its state; allow only plain
    # numeric types (no objects, records or sub-arrays, whose sizes a file could inflate).
    if isinstance(name, bytes):  # Python 2's pickles (the original batches) carry bytes
        name = name.decode("latin1")
    try:
        dtype = np.dtype(name) if isinstance(name, str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in PLAIN_DTYPE_KINDS or dtype.fields is not None \
            or dtype.subdtype is not None:
        raise UnsafePickleError(f"pickle asked for the array type {name!r}; a batch holds "
                                "plain numbers only")
    return dtype


def _bounded_arrays(obj: object, limit: int, depth: int = 0) -> None:
    """Check every array in an unpickled batch: plain numbers, and no more bytes than the file
    holds (numpy's __setstate__ checks data against shape; this is the belt to those braces)."""
    if depth > 4:  # a batch is a dict of arrays and lists: deeper is not one
        return
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in PLAIN_DTYPE_KINDS or obj.nbytes > limit:
            raise UnsafePickleError(f"pickle holds a {obj.dtype} array of {obj.nbytes} bytes "
                                    f"in a file of {limit}: not a genuine batch")
    elif isinstance(obj, dict):
        for value in obj.values():
            _bounded_arrays(value, limit, depth + 1)
    elif isinstance(obj, list | tuple):
        for value in obj:
            if isinstance(value, np.ndarray | dict | list | tuple):
                _bounded_arrays(value, limit, depth + 1)


def _reconstruct_ndarray(cls, shape=(0,), dtype=b"b", *args):  # noqa: ANN001, ANN202
    # numpy's _reconstruct would build any class it is handed; allow plain ndarrays only.
    if cls is not _NDARRAY:
        raise UnsafePickleError(f"pickle tried to build {cls!r} instead of a numpy array")
    # numpy pickles an empty array here and its data next (__setstate__, which checks that the
    # bytes fill the shape). A non-empty shape here would allocate memory no data backs.
    if shape not in ((0,), 0, [0]) or args:
        raise UnsafePickleError("pickle declared an array without carrying its data")
    return np.ndarray.__new__(np.ndarray, (0,), dtype)


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    # Protocol-2 pickles written by Python 3 store bytes as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding != "latin1":
        raise UnsafePickleError("pickle used _codecs.encode for something other than bytes")
    return text.encode("latin1")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a CIFAR-10 batch needs."""

    _allowed = {
        ("numpy", "ndarray"): _NDARRAY,
        ("numpy", "dtype"): _plain_dtype,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct_ndarray,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct_ndarray,
        ("_codecs", "encode"): _latin1_bytes,
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused to load {module}.{name}: a CIFAR-10 batch holds only arrays, "
                "lists and dicts, so this file is not a genuine batch and was not executed"
            ) from None


def safe_unpickle(data: bytes, name: str) -> object:
    """Unpickle ``data`` allowing numpy arrays and builtin containers only."""
    try:
        obj = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
        _bounded_arrays(obj, len(data))
        return obj
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{name}: {exc}") from None
    except Exception as exc:  # any other unpickling failure is a corrupt file
        raise DataError(f"{name}: not a readable CIFAR-10 batch ({exc}). Re-download it.") from None


@dataclass(frozen=True)
class _Decoded:
    """What a source decodes to, before it is validated and cached."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    name: str
    skipped: tuple[str, ...] = ()

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.x_train, self.y_train, self.x_test, self.y_test


def _parse_batch(obj: object, name: str, label_key: str = "labels",
                 num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(obj, dict):
        raise DataError(f"{name}: expected a dict batch, found {type(obj).__name__}")
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}
    if "data" not in d or label_key not in d:
        raise DataError(f"{name}: batch lacks 'data' or '{label_key}' "
                        f"(keys: {sorted(map(str, d))})")
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 \
            or data.dtype != np.uint8:
        what = (f"{data.shape} {data.dtype}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise DataError(f"{name}: data is {what}, expected an (N, 3072) uint8 array")
    labels = _labels(d[label_key], name, label_key, num_classes)
    if len(labels) != len(data):
        raise DataError(f"{name}: {len(data)} images but {len(labels)} labels")
    # Rows are channel-planar (R..., G..., B...): to (N, 32, 32, 3).
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), labels


def _labels(value: object, name: str, key: str = "labels",
            num_classes: int = 10) -> np.ndarray:
    """A batch's labels as a 1-D int64 array, or a DataError saying what they are instead."""
    try:
        labels = np.asarray(value, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        labels = None
    if labels is None or labels.ndim != 1:
        what = f"a {labels.ndim}-D array" if labels is not None else type(value).__name__
        raise DataError(f"{name}: {key} are {what}, not a list of class numbers "
                        f"0..{num_classes - 1} (one per image). Re-download the batch.")
    return labels


TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
CIFAR100_FILES = ("train", "test", "meta")  # inside cifar-100-python/
CIFAR100_DIR = "cifar-100-python"


def _assemble_batches(read: dict[str, bytes], where: str) -> _Decoded:
    missing = [n for n in [*TRAIN_BATCHES, TEST_BATCH] if n not in read]
    if missing:
        raise DataError(
            f"{where}: missing {', '.join(missing)}; a complete cifar-10-batches-py has "
            "data_batch_1..5 and test_batch. Re-download or re-extract the archive."
        )
    train = [_parse_batch(safe_unpickle(read[n], f"{where}/{n}"), f"{where}/{n}")
             for n in TRAIN_BATCHES]
    x_test, y_test = _parse_batch(safe_unpickle(read[TEST_BATCH], f"{where}/{TEST_BATCH}"),
                                  f"{where}/{TEST_BATCH}")
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return _Decoded(x_train, y_train, x_test, y_test, CLASSES, "CIFAR-10")


def _assemble_cifar100(read: dict[str, bytes], where: str, labels: str) -> _Decoded:
    """The official cifar-100-python: ``train`` and ``test`` batches with fine and coarse
    labels, ``meta`` with both name lists; ``labels`` picks one."""
    missing = [n for n in CIFAR100_FILES if n not in read]
    if missing:
        raise DataError(f"{where}: missing {', '.join(missing)}; a complete cifar-100-python has "
                        "train, test and meta. Re-download or re-extract the archive.")
    if labels not in LABELS:
        raise DataError(f"unknown CIFAR-100 labels {labels!r}; choose from {', '.join(LABELS)}")
    key = f"{labels}_labels"
    meta = safe_unpickle(read["meta"], f"{where}/meta")
    meta = ({(k.decode() if isinstance(k, bytes) else k): v for k, v in meta.items()}
            if isinstance(meta, dict) else {})
    raw = meta.get(f"{labels}_label_names")
    if not (isinstance(raw, list) and raw and all(isinstance(n, bytes | str) for n in raw)):
        raise DataError(f"{where}/meta: no list of {labels}_label_names. Re-download it.")
    names = tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in raw)
    x_tr, y_tr = _parse_batch(safe_unpickle(read["train"], f"{where}/train"),
                              f"{where}/train", key, len(names))
    x_te, y_te = _parse_batch(safe_unpickle(read["test"], f"{where}/test"),
                              f"{where}/test", key, len(names))
    name = "CIFAR-100" + (" (coarse)" if labels == "coarse" else "")
    return _Decoded(x_tr, y_tr, x_te, y_te, names, name)


def _member_cap(name: str) -> int | None:
    """The size cap of a source member that the loader reads, None for one it skips (decided
    from the name alone, before reading anything)."""
    parts = name.split("/")
    base = parts[-1]
    if base in TRAIN_BATCHES or base == TEST_BATCH:
        return MAX_BATCH_BYTES
    if base in CIFAR100_FILES and len(parts) >= 2 and parts[-2] == CIFAR100_DIR:
        return MAX_BATCH_BYTES
    if base.startswith(".") or Path(base).suffix.lower() not in IMAGE_SUFFIXES:
        return None
    if len(parts) < 2 or any(p.startswith(".") or p == "__MACOSX" for p in parts[:-1]):
        return None  # an image outside any class folder, or in hidden / macOS metadata
    return MAX_IMAGE_BYTES


def _too_big(where: str, name: str, size: int, cap: int) -> DataError:
    if cap == MAX_BATCH_BYTES:
        return DataError(f"{where}: {name} is {size:,} bytes; a CIFAR batch file is at most "
                         f"{cap:,}. Remove it from the source.")
    return DataError(f"{where}: {name} is {size:,} bytes; an image file may be at most {cap:,} "
                     "(the models see 32x32 by default). Shrink it (e.g. to 256 pixels a side) "
                     "or remove it from the source.")


def _read_capped(f: io.BufferedIOBase, where: str, name: str, cap: int) -> bytes:
    data = f.read(cap + 1)
    if len(data) > cap:
        raise _too_big(where, name, len(data), cap)
    return data


def _read_file(path: Path, where: str, name: str, cap: int) -> bytes:
    """Read a regular file of at most ``cap`` bytes (a FIFO or device would block or never
    end, so it is refused before it is opened)."""
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{where}: {name} is not a regular file (a pipe or device?). "
                        "Replace it with the file itself.")
    if st.st_size > cap:
        raise _too_big(where, name, st.st_size, cap)
    with open(path, "rb") as f:
        return _read_capped(f, where, name, cap)

def _load_batches_dir(path: Path, stop: _Stop, labels: str) -> _Decoded:
    read = {}
    cifar100 = path.name == CIFAR100_DIR or (path / "meta").is_file()
    wanted = CIFAR100_FILES if cifar100 else (*TRAIN_BATCHES, TEST_BATCH)
    for p in path.iterdir():
        if p.name in wanted:
            stop.check(str(path))
            read[p.name] = _read_file(p, str(path), p.name, MAX_BATCH_BYTES)
    if cifar100:
        return _assemble_cifar100(read, str(path), labels)
    return _assemble_batches(read, str(path))


# -- archives and image folders --------------------------------------------------------------


def _member_name(name: str) -> str:
    """An archive member's path without the ``./`` that ``tar -czf x.tar.gz .`` (run inside
    the data folder) puts before every name: read as written, each image was in a hidden
    folder (``.``) and skipped, and the class folders looked empty."""
    while name.startswith("./"):
        name = name[2:]
    return name


def _iter_archive(path: Path, stop: _Stop) -> Iterator[tuple[str, bytes | None]]:
    """Yield (member path, bytes) for the regular files of a tar/zip archive that the loader
    wants (by name), each read up to its size cap, and (folder path, None) for its folders
    (an empty class folder is an error the user should hear about)."""
    where = str(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    stop.check(where)
                    name = _member_name(info.filename)
                    if info.is_dir():
                        yield name.rstrip("/"), None
                        continue
                    cap = _member_cap(name)
                    if cap is None:
                        continue
                    if info.file_size > cap:
                        raise _too_big(where, name, info.file_size, cap)
                    with zf.open(info) as f:  # the declared size may lie: read at most cap
                        yield name, _read_capped(f, where, name, cap)
            return
        with tarfile.open(path, "r:*") as tf:
            for member in tf:
                stop.check(where)
                name = _member_name(member.name)
                if member.isdir():
                    yield name.rstrip("/"), None
                    continue
                cap = _member_cap(name) if member.isfile() else None
                if cap is None:
                    continue
                if member.size > cap:
                    raise _too_big(where, name, member.size, cap)
                f = tf.extractfile(member)
                if f is not None:
                    yield name, _read_capped(f, where, name, cap)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError,
            NotImplementedError) as exc:
        raise DataError(
            f"{path}: the archive is corrupt or truncated ({exc}). "
            "Download it again, or extract it and pass the folder."
        ) from None


def _iter_tree(path: Path, stop: _Stop) -> Iterator[tuple[str, bytes | None]]:
    for p in sorted(path.rglob("*")):
        name = p.relative_to(path).as_posix()
        if p.is_dir():
            yield name, None
            continue
        cap = _member_cap(name)
        if cap is None:
            continue
        stop.check(str(path))
        yield name, _read_file(p, str(path), name, cap)


def image_to_array(im: object, size: int) -> np.ndarray:
    """A PIL image of any size and mode -> (size, size, 3) uint8: upright (EXIF), CMYK /
    palette / greyscale / 16-bit to RGB (alpha dropped), the centre square resized.

    The one conversion for training images and photos to classify, so both look alike."""
    from PIL import Image, ImageOps

    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a * 255.0 / top, 0, 255).astype(np.uint8), "L")
    if im.mode in ("1", "P", "PA"):  # reduce() needs these converted
        im = im.convert("RGBA" if "transparency" in im.info or "A" in im.mode else "RGB")
    factor = min(im.size) // (2 * size)
    if factor > 1:  # shrink before the copies below (rotate, convert, crop)
        im = im.reduce(factor) if im.mode in ("RGB", "RGBA", "L", "LA", "CMYK") else im
    im = ImageOps.exif_transpose(im).convert("RGB")
    side = min(im.size)
    if im.size[0] != im.size[1]:
        im = ImageOps.fit(im, (side, side))
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(im, dtype=np.uint8)


def _decode_image(data: bytes, size: int) -> np.ndarray | None:
    """The image in ``data`` as (size, size, 3) uint8, or None when it cannot be read (a
    corrupt or truncated file, an unknown format, more than MAX_SOURCE_PIXELS)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            with im:
                im.draft("RGB", (2 * size, 2 * size))  # JPEG: decode at a reduced scale
                w, h = im.size
                if w * h > MAX_SOURCE_PIXELS:
                    return None
                im.load()
                return image_to_array(im, size)
    except Exception:  # noqa: BLE001 - PIL raises many kinds for damaged files: all skipped
        return None


def _split_classes(items: list[tuple[str, str, np.ndarray]], fraction: float,
                   where: str) -> tuple[list, list]:
    """One folder per class: hold out ``fraction`` of each class (at least one image) for
    testing, the same images on every load (drawn from a fixed seed, by sorted name)."""
    if not 0 < fraction < 1:
        raise DataError(f"test fraction must be in (0, 1), got {fraction:g}")
    by_class: dict[str, list] = {}
    for item in sorted(items, key=lambda t: t[1]):
        by_class.setdefault(item[0], []).append(item)
    rng = np.random.default_rng(0)
    train, test = [], []
    for cls, members in by_class.items():
        if len(members) < 2:
            raise DataError(f"{where}: {cls}/ has only {len(members)} readable image; holding "
                            "out test images needs 2 per class at least. Add images, or give "
                            "train/<class>/ and test/<class>/ folders.")
        n_test = min(len(members) - 1, max(1, round(fraction * len(members))))
        order = rng.permutation(len(members))
        test += [members[i] for i in order[:n_test]]
        train += [members[i] for i in order[n_test:]]
    return train, test


def _images_from_members(members: Iterator[tuple[str, bytes | None]], where: str,
                         image_size: int = 32, labels: str = "fine",
                         test_fraction: float = 0.2) -> _Decoded:
    """Collect ``<split>/<class>/<file>`` members (at any depth) into arrays, or, without
    train/ and test/ folders, ``<class>/<file>`` members with a held-out test share."""
    # (class, member name, image) by split; "" holds images outside train/ and test/
    found: dict[str, list[tuple[str, str, np.ndarray]]] = {"train": [], "test": [], "": []}
    folders: dict[str, set[str]] = {"train": set(), "test": set(), "": set()}
    unreadable: dict[str, list[str]] = {}  # class folder -> its unreadable files
    batches: dict[str, bytes] = {}
    per_image = image_size * image_size * 3
    for name, data in members:
        parts = name.split("/")
        if data is None:  # a folder: train/<class> or test/<class> is a class folder
            if len(parts) >= 2 and parts[-2] in ("train", "test"):
                folders[parts[-2]].add(parts[-1])
            continue
        base = parts[-1]
        if (base in TRAIN_BATCHES or base == TEST_BATCH
                or base in CIFAR100_FILES and len(parts) >= 2 and parts[-2] == CIFAR100_DIR):
            batches[base] = data
            continue
        if _member_cap(name) != MAX_IMAGE_BYTES:
            continue
        split = parts[-3] if len(parts) >= 3 and parts[-3] in ("train", "test") else ""
        cls = parts[-2]
        folders[split].add(cls)
        if sum(len(v) for v in found.values()) * per_image > MAX_DECODED_BYTES:
            raise DataError(
                f"{where}: more images than fit in memory at {image_size}x{image_size} "
                f"({MAX_DECODED_BYTES / 2**30:.0f} GB decoded). Use a smaller --image-size "
                "or fewer images.")
        img = _decode_image(data, image_size)
        if img is None:
            unreadable.setdefault(f"{split}/{cls}" if split else cls, []).append(name)
        else:
            found[split].append((cls, name, img))
    if batches and not any(found.values()):
        if set(batches) & set(CIFAR100_FILES):
            return _assemble_cifar100(batches, where, labels)
        return _assemble_batches(batches, where)
    skipped = tuple(n for names in unreadable.values() for n in names)
    if found["train"] or found["test"] or folders["train"] or folders["test"]:
        return _from_split_folders(found, folders, unreadable, where, skipped)
    if not found[""]:
        if unreadable:
            raise DataError(f"{where}: none of its {len(skipped)} image files could be read "
                            f"(e.g. {skipped[0]}). Check that they are JPEG, PNG, BMP, GIF or "
                            "WebP files.")
        raise DataError(
            f"{where}: no images found. An image-folder source holds train/<class>/*.jpg|png "
            "and test/<class>/*.jpg|png, or one <class>/ folder of images per class "
            "(or use cifar-10-python.tar.gz / cifar-100-python.tar.gz).")
    empty = sorted(folders[""] - {c for c, _, _ in found[""]})
    if empty:
        raise DataError(f"{where}: {empty[0]}/ has no readable images "
                        f"({len(unreadable.get(empty[0], []))} unreadable files). Add images or "
                        "remove the folder.")
    classes = tuple(sorted(folders[""]))
    _check_class_count(classes, where)
    train, test = _split_classes(found[""], test_fraction, where)
    return _stack(train, test, classes, _source_name(where), skipped)


def _check_class_count(classes: tuple[str, ...], where: str) -> None:
    if not MIN_CLASSES <= len(classes) <= MAX_CLASSES:
        raise DataError(
            f"{where}: found {len(classes)} class folder{'s' if len(classes) != 1 else ''} "
            f"({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''}); a classifier "
            f"needs {MIN_CLASSES} to {MAX_CLASSES:,} classes, one folder of images each.")


def _from_split_folders(found: dict, folders: dict, unreadable: dict, where: str,
                        skipped: tuple[str, ...]) -> _Decoded:
    train_classes = folders["train"]
    if not train_classes:
        raise DataError(f"{where}: no train/<class>/ folders found. An image-folder source "
                        "needs train/<class>/*.jpg|png and test/<class>/*.jpg|png.")
    if not folders["test"]:
        raise DataError(f"{where}: no test/<class>/ folders found. Add test/<class>/ images, "
                        "or put the class folders at the top (no train/) to hold out a "
                        "test share (--test-fraction).")
    extra = sorted(folders["test"] - train_classes)
    if extra:
        raise DataError(f"{where}: test/{extra[0]}/ has no train/{extra[0]}/: a class must be "
                        "trained to be tested. Add train images for it or remove "
                        f"test/{extra[0]}/.")
    for split in ("train", "test"):
        have = {c for c, _, _ in found[split]}
        for cls in sorted(train_classes):
            if cls not in have:
                bad = len(unreadable.get(f"{split}/{cls}", []))
                why = f" ({bad} unreadable files)" if bad else ""
                raise DataError(f"{where}: {split}/{cls}/ has no readable images{why}. Add "
                                f"some, or remove {cls} from train/ and test/.")
    classes = tuple(sorted(train_classes))
    _check_class_count(classes, where)
    return _stack(found["train"], found["test"], classes, _source_name(where), skipped)


def _source_name(where: str) -> str:
    """A data set's name from its folder or archive: ``leaves.tar.gz`` -> ``leaves``."""
    name = Path(where).name
    for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return name


def _stack(train: list, test: list, classes: tuple[str, ...], name: str,
           skipped: tuple[str, ...]) -> _Decoded:
    """Arrays of the (class, member name, image) items, labelled by ``classes``' order: the
    folder names sorted as Python sorts strings (by code point), which is the order Keras's
    ``image_dataset_from_directory`` numbers them in; CIFAR-10's ten folders so get CIFAR's own
    labels, airplane 0 to truck 9 (its canonical order is alphabetical)."""
    if set(classes) == set(CLASSES):
        classes = CLASSES  # the same order, said outright: labels as the official batches'
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for items in (train, test):
        items = sorted(items, key=lambda t: (index[t[0]], t[1]))
        out.append(np.stack([img for _, _, img in items]))
        out.append(np.array([index[c] for c, _, _ in items], dtype=np.int64))
    if set(classes) == set(CLASSES):
        name = "CIFAR-10"  # the class names say what it is better than a folder name
    return _Decoded(*out, classes, name or "images", skipped)


# -- cache -----------------------------------------------------------------------------------


def _source_key(path: Path, options: str = "") -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}|{path.resolve()}|{options}".encode())
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                st = p.stat()
                h.update(f"|{p.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}".encode())
    else:
        st = path.stat()
        h.update(f"|{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")
META = "meta.json"  # class names, data set name, skipped files


def _read_cache(path: Path) -> _Decoded | None:
    # Plain .npy files: one read() each, which releases the GIL (an .npz is read in small
    # zipfile chunks and crawls while the UI thread runs).
    try:
        arrays = tuple(np.load(path / f"{name}.npy", allow_pickle=False) for name in ARRAY_NAMES)
        meta = json.loads((path / META).read_text())
        return _Decoded(*arrays, tuple(str(c) for c in meta["classes"]), str(meta["name"]),
                        tuple(str(n) for n in meta.get("skipped", [])))
    except Exception:  # a damaged cache is rebuilt, never trusted
        return None


def _sweep_cache_temps(folder: Path) -> None:
    """Remove the temp folders of cache writers that died mid-write (their pid is in the name;
    older versions' have none and are removed once an hour old)."""
    import shutil

    for p in folder.glob(".tmp-*"):
        pid = p.name.split("-")[1]
        try:
            dead = (not pid_alive(int(pid))) if pid.isdigit() else (
                time.time() - p.stat().st_mtime > 3600)
        except OSError:
            continue
        if dead:
            shutil.rmtree(p, ignore_errors=True)


def _write_cache(path: Path, decoded: _Decoded) -> bool:
    """Write into a temp folder, then rename it into place; on a full disk skip caching."""
    import shutil

    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _sweep_cache_temps(path.parent)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".tmp-{os.getpid()}-"))
        for name, array in zip(ARRAY_NAMES, decoded.arrays):
            np.save(tmp / f"{name}.npy", array, allow_pickle=False)
        (tmp / META).write_text(json.dumps({"classes": list(decoded.class_names),
                                            "name": decoded.name,
                                            "skipped": list(decoded.skipped)}))
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
        return True
    except OSError:
        return False
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# -- public loading --------------------------------------------------------------------------


def validate(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
             where: str, num_classes: int = len(CLASSES), image_size: int | None = None) -> None:
    """Raise DataError unless the arrays are well-formed: (N, S, S, 3) uint8 images (S:
    ``image_size``, any when None) and labels in 0..num_classes-1."""
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        s = image_size or (x.shape[1] if x.ndim == 4 else 0)
        if x.ndim != 4 or x.shape[1:] != (s, s, 3) or x.dtype != np.uint8 or not s:
            raise DataError(f"{where}: {name} images are {x.shape} {x.dtype}, "
                            f"expected (N, {image_size or 'S'}, {image_size or 'S'}, 3) uint8")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{where}: {name} has {len(x)} images but labels of shape {y.shape}")
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise DataError(f"{where}: {name} labels range {y.min()}..{y.max()}, expected "
                            f"0..{num_classes - 1}")


def _resized(decoded: _Decoded, size: int, stop: _Stop, where: str) -> _Decoded:
    """CIFAR's 32x32 arrays at another size (image folders are resized as they decode)."""
    if decoded.x_train.shape[1] == size:
        return decoded
    from PIL import Image

    n = len(decoded.x_train) + len(decoded.x_test)
    if n * size * size * 3 > MAX_DECODED_BYTES:
        raise DataError(f"{where}: {n:,} images at {size}x{size} would not fit in memory "
                        f"({MAX_DECODED_BYTES / 2**30:.0f} GB). Use a smaller --image-size.")

    def resize(x: np.ndarray) -> np.ndarray:
        out = np.empty((len(x), size, size, 3), np.uint8)
        for i, img in enumerate(x):
            if i % 1000 == 0:
                stop.check(where)
            out[i] = np.asarray(Image.fromarray(img).resize((size, size),
                                                            Image.Resampling.BICUBIC))
        return out

    return replace(decoded, x_train=resize(decoded.x_train), x_test=resize(decoded.x_test))


def _decode_source(path: Path, stop: _Stop, image_size: int = 32, labels: str = "fine",
                   test_fraction: float = 0.2) -> _Decoded:
    if path.is_dir():
        for batches in (path, path / "cifar-10-batches-py", path / CIFAR100_DIR):
            if (batches / "data_batch_1").exists() or (batches / TEST_BATCH).exists() or (
                    (batches / "meta").is_file() and (batches / "train").is_file()):
                return _resized(_load_batches_dir(batches, stop, labels), image_size, stop,
                                str(path))
        decoded = _images_from_members(_iter_tree(path, stop), str(path), image_size, labels,
                                       test_fraction)
    else:
        decoded = _images_from_members(_iter_archive(path, stop), str(path), image_size,
                                       labels, test_fraction)
    return _resized(decoded, image_size, stop, str(path))


KERAS_DOWNLOADS = {
    # name: (the folder name and hash keras.datasets uses, so either one's download is reused)
    "cifar10": ("cifar-10-batches-py-target", KERAS_ORIGIN,
                "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    "cifar100": ("cifar-100-python-target", KERAS_ORIGIN_100,
                 "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),
}


def _keras_download(which: str = "cifar10") -> Path:
    """Fetch (or reuse) Keras's CIFAR-10 or CIFAR-100 download; its pickles are read with the
    safe reader."""
    from .quiet import quiet_tensorflow

    quiet_tensorflow()
    fname, origin, sha = KERAS_DOWNLOADS[which]
    title = "CIFAR-100" if which == "cifar100" else "CIFAR-10"
    try:
        import keras

        extracted = keras.utils.get_file(fname=fname, origin=origin, extract=True,
                                         file_hash=sha)
    except Exception as exc:
        raise DataError(f"Could not download {title} ({exc}). {OFFLINE_HINT}") from None
    p = Path(extracted)
    for cand in (p, p / "cifar-10-batches-py", p / CIFAR100_DIR):
        if (cand / "data_batch_1").exists() or (cand / "meta").is_file():
            return cand
    raise DataError(f"Keras's download at {p} has no {title} batches. {OFFLINE_HINT}")


def resolve_source(source: str | os.PathLike | None) -> Path | str | None:
    """The path to load from; None for Keras's CIFAR-10 download, "cifar10"/"cifar100" for
    that named download (when no file or folder has that name)."""
    chosen = source if source not in (None, "") else os.environ.get(ENV_DATA) or None
    if chosen is None:
        return None
    path = Path(chosen).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        named = str(chosen).lower().replace("-", "")
        if named in KERAS_DOWNLOADS:
            return named
        raise DataError(f"{path}: no such file or folder. {OFFLINE_HINT}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror}). {OFFLINE_HINT}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DataError(f"{path}: not a regular file or folder (a pipe or device would be read "
                        f"forever). {OFFLINE_HINT}")
    return path


def load_data(source: str | os.PathLike | None = None, *, image_size: int = 32,
              labels: str = "fine", test_fraction: float = 0.2, use_cache: bool = True,
              stop: object | None = None) -> Dataset:
    """Load a data set from ``source`` (see module doc), validated and cached.

    ``image_size``: the side images are resized to; ``labels``: CIFAR-100's fine or coarse
    classes; ``test_fraction``: the share of each class held out for testing when the source
    has no train/ and test/ folders. ``stop``: an event (anything with ``is_set()``); once set,
    decoding stops between files with LoadCancelled. If it has a ``files_read(n)`` method, that
    follows the decoding (see ``_Stop``): the first load of the JPEG archive takes 20 s.
    """
    if not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise DataError(f"image size {image_size} is out of range: use {MIN_IMAGE_SIZE} to "
                        f"{MAX_IMAGE_SIZE} (--image-size).")
    if labels not in LABELS:
        raise DataError(f"unknown labels {labels!r}; choose from {', '.join(LABELS)}")
    path = resolve_source(source)
    if path is None or isinstance(path, str):
        path = _keras_download(path or "cifar10")
    options = f"size={image_size}|labels={labels}|test={test_fraction!r}"
    key = _source_key(path, options)
    cpath = cache_dir() / f"data-{key}"
    decoded = _read_cache(cpath) if use_cache and cpath.exists() else None
    where = str(path)
    if decoded is None:
        decoded = _decode_source(path, _Stop(stop), image_size, labels, test_fraction)
        validate(*decoded.arrays, where=where, num_classes=len(decoded.class_names),
                 image_size=image_size)
        if not (use_cache and _write_cache(cpath, decoded)):
            cpath = None
    else:
        validate(*decoded.arrays, where=str(cpath), num_classes=len(decoded.class_names),
                 image_size=image_size)
    return Dataset(*decoded.arrays, source=where, cache_path=cpath,
                   class_names=decoded.class_names, name=decoded.name, skipped=decoded.skipped)


def load_cifar10(source: str | os.PathLike | None = None, *, use_cache: bool = True,
                 stop: object | None = None, **options: object) -> Dataset:
    """``load_data`` under its older name (any source, not only CIFAR-10)."""
    return load_data(source, use_cache=use_cache, stop=stop, **options)


def data_options(config: object) -> dict:
    """The ``load_data`` options a TrainConfig asks for (its DATA_OPTIONS fields)."""
    return {name: getattr(config, name) for name in DATA_OPTIONS}


# -- preparation -----------------------------------------------------------------------------


def class_counts(y: np.ndarray, class_names: tuple[str, ...] = CLASSES) -> dict[str, int]:
    counts = np.bincount(y, minlength=len(class_names))
    return {name: int(n) for name, n in zip(class_names, counts)}


def normalize(x: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [0, 1]."""
    return x.astype(np.float32) / 255.0


def one_hot(y: np.ndarray, num_classes: int = len(CLASSES)) -> np.ndarray:
    """Integer labels -> float32 one-hot rows."""
    return np.eye(num_classes, dtype=np.float32)[y]


def stratified_split(y: np.ndarray, val_fraction: float = 0.1,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified (train, val) index arrays; ``val_fraction=0`` gives no val."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"validation fraction must be in [0, 1), got {val_fraction}")
    idx = np.arange(len(y))
    if val_fraction == 0:
        return idx, idx[:0]
    from sklearn.model_selection import train_test_split

    # Stratifying needs one validation image per class at least (matters for tiny subsets).
    n_val = max(round(val_fraction * len(y)), len(np.unique(y)))
    if n_val >= len(y):
        raise ValueError(f"{len(y)} images are too few for a stratified validation split")
    tr, va = train_test_split(idx, test_size=n_val, stratify=y, random_state=seed)
    return np.sort(tr), np.sort(va)


def balanced_sample(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of about ``n`` items of ``y`` drawn at random with every class in its share.

    The data is stored sorted by class, so "the first n" would be one or two classes.
    """
    rng = np.random.default_rng(seed)
    if n >= len(y):
        return np.arange(len(y))
    picks = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        k = max(1, round(n * len(members) / len(y)))
        picks.append(rng.choice(members, size=min(k, len(members)), replace=False))
    return np.sort(np.concatenate(picks))


def per_class_subset(y: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` examples of each class (for quick demos)."""
    if per_class < 1:
        raise ValueError("per-class subset size must be at least 1")
    picks = [np.flatnonzero(y == c)[:per_class] for c in np.unique(y)]
    return np.sort(np.concatenate(picks))


def subset(ds: Dataset, per_class: int | None, test_per_class: int | None = None) -> Dataset:
    """A smaller Dataset: ``per_class`` train images of each class, and the whole test set
    unless ``test_per_class`` asks for fewer (a test accuracy on 800 images is no CIFAR-10 test
    accuracy)."""
    if not per_class and not test_per_class:
        return ds
    tr = per_class_subset(ds.y_train, per_class) if per_class else np.arange(len(ds.y_train))
    te = (per_class_subset(ds.y_test, test_per_class) if test_per_class
          else np.arange(len(ds.y_test)))
    what = ", ".join(part for part in (per_class and f"{per_class}/class",
                                       test_per_class and f"test {test_per_class}/class") if part)
    return replace(ds, x_train=ds.x_train[tr], y_train=ds.y_train[tr], x_test=ds.x_test[te],
                   y_test=ds.y_test[te], source=f"{ds.source} (subset {what})")


def first_per_class(y: np.ndarray, n: int = 8, classes: range | None = None
                    ) -> dict[int, np.ndarray]:
    """For the gallery: the indices of the first ``n`` images of each class (of ``classes``:
    a page of them; default: every class present)."""
    chosen = classes if classes is not None else range(int(y.max()) + 1 if len(y) else 0)
    return {c: np.flatnonzero(y == c)[:n] for c in chosen}
