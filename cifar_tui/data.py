"""Loading, validating, caching and preparing CIFAR-10. No UI code.

Sources, in order of precedence: an explicit path, ``$CIFAR_TUI_DATA``, Keras's own download.
A path may be the official ``cifar-10-python.tar.gz``, its extracted ``cifar-10-batches-py``
folder, or an image-folder tree / ``.tar.gz`` / ``.zip`` holding ``train/<class>/*.jpg|png`` and
``test/<class>/...``. Decoded arrays are cached as ``.npy`` files in a folder keyed by the
source, so the second load is four plain reads.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import stat
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import CLASSES
from .procs import pid_alive

ENV_DATA = "CIFAR_TUI_DATA"
ENV_CACHE = "CIFAR_TUI_CACHE"
KERAS_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CACHE_VERSION = 1
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
# Size caps, so that no source can make the loader read or allocate without bound: a CIFAR-10
# image file is a few KB and a pickled batch 31 MB.
MAX_IMAGE_BYTES = 1 << 20
MAX_BATCH_BYTES = 256 << 20
OFFLINE_HINT = (
    f"Pass a local copy with --data PATH or set {ENV_DATA}=PATH "
    "(cifar-10-python.tar.gz, its extracted cifar-10-batches-py folder, or an image-folder "
    "tree/archive with train/<class>/ and test/<class>/)."
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
class Cifar10:
    """Raw CIFAR-10: uint8 images (N, 32, 32, 3) and integer labels (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    cache_path: Path | None = None
    class_names: tuple[str, ...] = CLASSES

    def summary(self, normalized: bool = True) -> dict:
        """Shapes, class counts and pixel range as the model will see them."""
        x = self.x_train
        lo, hi = int(x.min()), int(x.max())
        return {
            "source": self.source,
            "cache": str(self.cache_path) if self.cache_path else None,
            "classes": list(self.class_names),
            "x_train": [*x.shape],
            "y_train": [len(self.y_train), len(self.class_names)],
            "x_test": [*self.x_test.shape],
            "y_test": [len(self.y_test), len(self.class_names)],
            "dtype": "float32" if normalized else "uint8",
            "pixel_range": [lo / 255, hi / 255] if normalized else [lo, hi],
            "train_counts": class_counts(self.y_train),
            "test_counts": class_counts(self.y_test),
        }


# -- safe unpickling -------------------------------------------------------------------------


def _reconstruct_ndarray(cls, shape=(0,), dtype=b"b", *args):  # noqa: ANN001, ANN202
    # numpy's _reconstruct would build any class it is handed; allow plain ndarrays only.
    if cls is not np.ndarray:
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
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
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
        return _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{name}: {exc}") from None
    except Exception as exc:  # any other unpickling failure is a corrupt file
        raise DataError(f"{name}: not a readable CIFAR-10 batch ({exc}). Re-download it.") from None


def _parse_batch(obj: object, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(obj, dict):
        raise DataError(f"{name}: expected a dict batch, found {type(obj).__name__}")
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}
    if "data" not in d or "labels" not in d:
        raise DataError(f"{name}: batch lacks 'data' or 'labels' (keys: {sorted(map(str, d))})")
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 \
            or data.dtype != np.uint8:
        what = (f"{data.shape} {data.dtype}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise DataError(f"{name}: data is {what}, expected an (N, 3072) uint8 array")
    try:
        labels = np.asarray(d["labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{name}: labels are not a list of class numbers 0..9") from None
    if labels.ndim != 1 or len(labels) != len(data):
        raise DataError(f"{name}: {len(data)} images but {len(labels)} labels")
    # Rows are channel-planar (R..., G..., B...): to (N, 32, 32, 3).
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), labels


TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"


def _assemble_batches(read: dict[str, bytes], where: str) -> tuple[np.ndarray, ...]:
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
    return x_train, y_train, x_test, y_test


def _member_cap(name: str) -> int | None:
    """The size cap of a source member that the loader reads, None for one it skips (decided
    from the name alone, before reading anything)."""
    parts = name.split("/")
    base = parts[-1]
    if base in TRAIN_BATCHES or base == TEST_BATCH:
        return MAX_BATCH_BYTES
    if base.startswith(".") or Path(base).suffix.lower() not in IMAGE_SUFFIXES:
        return None
    if len(parts) < 3 or parts[-3] not in ("train", "test"):
        return None
    return MAX_IMAGE_BYTES


def _too_big(where: str, name: str, size: int, cap: int) -> DataError:
    return DataError(f"{where}: {name} is {size:,} bytes; a CIFAR-10 "
                     f"{'batch' if cap == MAX_BATCH_BYTES else 'image'} file is at most "
                     f"{cap:,}. Remove it from the source.")


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


def _load_batches_dir(path: Path, stop: _Stop) -> tuple[np.ndarray, ...]:
    read = {}
    for p in path.iterdir():
        if p.name in TRAIN_BATCHES or p.name == TEST_BATCH:
            stop.check(str(path))
            read[p.name] = _read_file(p, str(path), p.name, MAX_BATCH_BYTES)
    return _assemble_batches(read, str(path))


# -- archives and image folders --------------------------------------------------------------


def _iter_archive(path: Path, stop: _Stop) -> Iterator[tuple[str, bytes]]:
    """Yield (member path, bytes) for the regular files of a tar/zip archive that the loader
    wants (by name), each read up to its size cap."""
    where = str(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    stop.check(where)
                    cap = None if info.is_dir() else _member_cap(info.filename)
                    if cap is None:
                        continue
                    if info.file_size > cap:
                        raise _too_big(where, info.filename, info.file_size, cap)
                    with zf.open(info) as f:  # the declared size may lie: read at most cap
                        yield info.filename, _read_capped(f, where, info.filename, cap)
            return
        with tarfile.open(path, "r:*") as tf:
            for member in tf:
                stop.check(where)
                cap = _member_cap(member.name) if member.isfile() else None
                if cap is None:
                    continue
                if member.size > cap:
                    raise _too_big(where, member.name, member.size, cap)
                f = tf.extractfile(member)
                if f is not None:
                    yield member.name, _read_capped(f, where, member.name, cap)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError,
            NotImplementedError) as exc:
        raise DataError(
            f"{path}: the archive is corrupt or truncated ({exc}). "
            "Download it again, or extract it and pass the folder."
        ) from None


def _iter_tree(path: Path, stop: _Stop) -> Iterator[tuple[str, bytes]]:
    for p in sorted(path.rglob("*")):
        name = p.relative_to(path).as_posix()
        cap = _member_cap(name)
        if cap is None or p.is_dir():
            continue
        stop.check(str(path))
        yield name, _read_file(p, str(path), name, cap)


def _decode_image(data: bytes, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.size != (32, 32):
                raise DataError(
                    f"{name}: image is {im.size[0]}x{im.size[1]}, CIFAR-10 images are 32x32. "
                    "Remove it or resize it to 32x32."
                )
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Image.DecompressionBombError:
        raise DataError(f"{name}: declares a gigantic image (a decompression bomb?); CIFAR-10 "
                        "images are 32x32. Remove it.") from None
    except UnidentifiedImageError:  # its message names a BytesIO object, not the file
        raise DataError(f"{name}: not a readable image (unknown format). Remove or replace "
                        "it.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{name}: not a readable image ({exc}). Remove or replace it.") from None


def _images_from_members(members: Iterator[tuple[str, bytes]],
                         where: str) -> tuple[np.ndarray, ...]:
    """Collect ``<split>/<class>/<file>`` members (at any depth) into arrays."""
    found: dict[str, list[tuple[int, str, np.ndarray]]] = {"train": [], "test": []}
    batches: dict[str, bytes] = {}
    for name, data in members:
        parts = name.split("/")
        base = parts[-1]
        if base in TRAIN_BATCHES or base == TEST_BATCH:
            batches[base] = data
            continue
        if Path(base).suffix.lower() not in IMAGE_SUFFIXES or base.startswith("."):
            continue
        if len(parts) < 3 or parts[-3] not in found:
            continue
        split, cls = parts[-3], parts[-2]
        if cls not in CLASSES:
            raise DataError(
                f"{where}: unknown class folder {split}/{cls}/ (in {name}). "
                f"CIFAR-10 classes are: {', '.join(CLASSES)}. Rename or remove that folder."
            )
        found[split].append((CLASSES.index(cls), name, _decode_image(data, f"{where}:{name}")))
    if batches and not (found["train"] or found["test"]):
        return _assemble_batches(batches, where)
    out = []
    for split in ("train", "test"):
        items = found[split]
        if not items:
            raise DataError(
                f"{where}: no {split}/<class>/ images found. An image-folder source needs both "
                "train/<class>/*.jpg|png and test/<class>/*.jpg|png "
                "(or use cifar-10-python.tar.gz)."
            )
        missing = sorted(set(CLASSES) - {CLASSES[c] for c, _, _ in items})
        if missing:
            raise DataError(f"{where}: {split}/ has no images for {', '.join(missing)}.")
        items.sort(key=lambda t: (t[0], t[1]))
        out.append(np.stack([img for _, _, img in items]))
        out.append(np.array([c for c, _, _ in items], dtype=np.int64))
    return tuple(out)


# -- cache -----------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where decoded datasets are cached (``$CIFAR_TUI_CACHE`` or ``~/.cache/cifar-tui``)."""
    env = os.environ.get(ENV_CACHE)
    return Path(env) if env else Path.home() / ".cache" / "cifar-tui"


def _source_key(path: Path) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}|{path.resolve()}".encode())
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


def _read_cache(path: Path) -> tuple[np.ndarray, ...] | None:
    # Plain .npy files: one read() each, which releases the GIL (an .npz is read in small
    # zipfile chunks and crawls while the UI thread runs).
    try:
        return tuple(np.load(path / f"{name}.npy", allow_pickle=False) for name in ARRAY_NAMES)
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


def _write_cache(path: Path, arrays: tuple[np.ndarray, ...]) -> bool:
    """Write into a temp folder, then rename it into place; on a full disk skip caching."""
    import shutil

    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _sweep_cache_temps(path.parent)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".tmp-{os.getpid()}-"))
        for name, array in zip(ARRAY_NAMES, arrays):
            np.save(tmp / f"{name}.npy", array, allow_pickle=False)
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
             where: str) -> None:
    """Raise DataError unless the arrays are well-formed CIFAR-10."""
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 4 or x.shape[1:] != (32, 32, 3) or x.dtype != np.uint8:
            raise DataError(f"{where}: {name} images are {x.shape} {x.dtype}, "
                            "expected (N, 32, 32, 3) uint8")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{where}: {name} has {len(x)} images but labels of shape {y.shape}")
        if len(y) and (y.min() < 0 or y.max() >= len(CLASSES)):
            raise DataError(f"{where}: {name} labels range {y.min()}..{y.max()}, expected 0..9")


def _decode_source(path: Path, stop: _Stop) -> tuple[np.ndarray, ...]:
    if path.is_dir():
        if (path / "data_batch_1").exists() or (path / TEST_BATCH).exists():
            return _load_batches_dir(path, stop)
        if (path / "cifar-10-batches-py").is_dir():
            return _load_batches_dir(path / "cifar-10-batches-py", stop)
        return _images_from_members(_iter_tree(path, stop), str(path))
    return _images_from_members(_iter_archive(path, stop), str(path))


def _keras_download() -> Path:
    """Fetch (or reuse) Keras's CIFAR-10 download; its pickles are read with the safe reader."""
    from .quiet import quiet_tensorflow

    quiet_tensorflow()
    try:
        import keras

        # Same name and hash as keras.datasets.cifar10, so either one's download is reused.
        extracted = keras.utils.get_file(
            fname="cifar-10-batches-py-target", origin=KERAS_ORIGIN, extract=True,
            file_hash="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        )
    except Exception as exc:
        raise DataError(f"Could not download CIFAR-10 ({exc}). {OFFLINE_HINT}") from None
    p = Path(extracted)
    for cand in (p, p / "cifar-10-batches-py"):
        if (cand / "data_batch_1").exists():
            return cand
    raise DataError(f"Keras's download at {p} has no cifar-10-batches-py. {OFFLINE_HINT}")


def resolve_source(source: str | os.PathLike | None) -> Path | None:
    """The path to load from, or None for Keras's download."""
    chosen = source if source not in (None, "") else os.environ.get(ENV_DATA) or None
    if chosen is None:
        return None
    path = Path(chosen).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataError(f"{path}: no such file or folder. {OFFLINE_HINT}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror}). {OFFLINE_HINT}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DataError(f"{path}: not a regular file or folder (a pipe or device would be read "
                        f"forever). {OFFLINE_HINT}")
    return path


def load_cifar10(source: str | os.PathLike | None = None, *, use_cache: bool = True,
                 stop: object | None = None) -> Cifar10:
    """Load CIFAR-10 from ``source`` (see module doc), validated and cached.

    ``stop``: an event (anything with ``is_set()``); once set, decoding stops between files
    with LoadCancelled. If it has a ``files_read(n)`` method, that follows the decoding (see
    ``_Stop``): the first load of the JPEG archive takes 20 s.
    """
    path = resolve_source(source)
    if path is None:
        path = _keras_download()
    key = _source_key(path)
    cpath = cache_dir() / f"cifar10-{key}"
    arrays = _read_cache(cpath) if use_cache and cpath.exists() else None
    if arrays is None:
        arrays = _decode_source(path, _Stop(stop))
        validate(*arrays, where=str(path))
        if not (use_cache and _write_cache(cpath, arrays)):
            cpath = None
    else:
        validate(*arrays, where=str(cpath))
    x_train, y_train, x_test, y_test = arrays
    return Cifar10(x_train, y_train, x_test, y_test, source=str(path), cache_path=cpath)


# -- preparation -----------------------------------------------------------------------------


def class_counts(y: np.ndarray) -> dict[str, int]:
    counts = np.bincount(y, minlength=len(CLASSES))
    return {name: int(n) for name, n in zip(CLASSES, counts)}


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
    picks = [np.flatnonzero(y == c)[:per_class] for c in range(len(CLASSES))]
    return np.sort(np.concatenate(picks))


def subset(ds: Cifar10, per_class: int | None, test_per_class: int | None = None) -> Cifar10:
    """A smaller Cifar10: ``per_class`` train images of each class, and the whole test set
    unless ``test_per_class`` asks for fewer (a test accuracy on 800 images is no CIFAR-10 test
    accuracy)."""
    if not per_class and not test_per_class:
        return ds
    tr = per_class_subset(ds.y_train, per_class) if per_class else np.arange(len(ds.y_train))
    te = (per_class_subset(ds.y_test, test_per_class) if test_per_class
          else np.arange(len(ds.y_test)))
    what = ", ".join(part for part in (per_class and f"{per_class}/class",
                                       test_per_class and f"test {test_per_class}/class") if part)
    return Cifar10(ds.x_train[tr], ds.y_train[tr], ds.x_test[te], ds.y_test[te],
                   source=f"{ds.source} (subset {what})", cache_path=ds.cache_path)


def first_per_class(y: np.ndarray, n: int = 8) -> dict[int, np.ndarray]:
    """For the gallery: the indices of the first ``n`` images of each class."""
    return {c: np.flatnonzero(y == c)[:n] for c in range(len(CLASSES))}
