"""Export a configuration as a standalone Keras script a student could have written. No UI code.

Nothing here restates an architecture: the model the app would train is built with
``models.build_model`` and its layers are walked, each written as the constructor call that makes
it (only the arguments that differ from Keras's defaults). A chain of layers becomes a
``keras.Sequential``; anything else (residual additions, a nested backbone) the functional API.
The optimizer and loss are read back from a model compiled by ``models.compile_model``. The
script needs TensorFlow/Keras and numpy only, and loads CIFAR-10 with
``keras.datasets.cifar10``.
"""

from __future__ import annotations

import contextvars
import importlib
import inspect
import json
import math
import os
import re
import shlex
from typing import Any

from .config import TrainConfig, command_flags

# What the fast recipe needs beyond built-in Keras, so its export is refused with these reasons.
NOT_EXPORTABLE = {
    "fast": "the fast recipe fills its whitening layer from the training data, starts its "
            "convolutions as identities, trains BN offsets through the project's ScaledBias "
            "layer, averages weights with a lookahead callback and averages test predictions "
            "over flips and shifts; a plain Keras script would not train the same thing. Train "
            "it with `cifar-tui train fast`, or export `resnet9`, the closest built-in recipe.",
}


# Classes of this project an export uses (a learning-rate schedule): name -> source, written
# into the script so that it needs nothing of cifar_tui.
_INLINE: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("inline")


class ExportError(ValueError):
    """This configuration cannot be written as a standalone Keras script."""


# -- values and constructor calls ------------------------------------------------------------


def _value(v: Any) -> str:
    """Python source for a config value."""
    if isinstance(v, dict) and "class_name" in v and "config" in v:
        return _serialized_call(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, float) and v == 1 / 255:
        return "1 / 255"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else f"float({str(v)!r})"
    if isinstance(v, list | tuple):
        inner = ", ".join(_value(x) for x in v)
        return f"({inner},)" if isinstance(v, tuple) and len(v) == 1 else (
            f"({inner})" if isinstance(v, tuple) else f"[{inner}]")
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_value(k)}: {_value(x)}" for k, x in v.items()) + "}"
    return repr(v)


def _keras_path(module: str, name: str) -> str:
    """A public spelling of a Keras class: ``keras.initializers.VarianceScaling``."""
    module = re.sub(r"^keras\.src\.", "keras.", module)
    return f"{module}.{name}" if module.startswith("keras") else name


def _serialized_call(d: dict) -> str:
    """A serialized Keras object (initializer, schedule, dtype policy) as a constructor call."""
    module, name = d.get("module") or "keras", d["class_name"]
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        cls = None
    config = d["config"]
    if cls is not None and not module.startswith("keras"):  # the project's own: inline it
        _INLINE.get().setdefault(name, inspect.getsource(cls))
        return _call(name, cls, config)
    if cls is not None:
        return _call(_keras_path(module, name), cls, config)
    args = ", ".join(f"{k}={_value(x)}" for k, x in config.items() if x is not None)
    return f"{_keras_path(module, name)}({args})"


def _required(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.default is p.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _defaults(cls: type, config: dict) -> dict:
    """The config an instance with only the required arguments has."""
    try:
        return cls(**{k: config[k] for k in _required(cls)}).get_config()
    except Exception:  # noqa: BLE001 - an odd class: then every argument is written out
        return {}


def _simplify(key: str, v: Any) -> Any:
    # (3, 3) -> 3 where Keras accepts either, as people write it
    if key in ("kernel_size", "pool_size", "strides") and isinstance(v, list | tuple) \
            and len(set(v)) == 1:
        return v[0]
    return v


def _call(path: str, cls: type, config: dict, skip: tuple[str, ...] = (),
          extra: tuple[str, ...] = ()) -> str:
    """``path(required..., key=value...)`` for the arguments that differ from the defaults."""
    defaults = _defaults(cls, config)
    required = _required(cls)
    args = [_value(_simplify(k, config[k])) for k in required if k in config]
    for key, v in sorted(config.items(), key=lambda kv: kv[0] == "name"):  # name last
        if key in required or key in skip or (key in defaults and defaults[key] == v):
            continue
        if key == "name" and isinstance(v, str) and _auto_name(cls, v):
            continue
        if key in ("trainable", "dtype") and key not in defaults:
            continue
        args.append(f"{key}={_value(_simplify(key, v))}")
    return f"{path}({', '.join([*args, *extra])})"


def _auto_name(cls: type, name: str) -> bool:
    """Keras's own generated name (``conv2d_3``): not worth writing out."""
    snake = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", cls.__name__).lower()
    snake = re.sub(r"([a-z])([0-9]+d)$", r"\1\2", snake)
    return re.fullmatch(rf"{re.escape(snake)}(_\d+)?", name) is not None


# -- the model -------------------------------------------------------------------------------


def _inputs_of(layer: Any) -> list[Any]:
    if not layer._inbound_nodes:
        return []
    return [t._keras_history.operation for t in layer._inbound_nodes[0].input_tensors]


def _backbone_call(layer: Any, weights: str) -> list[str]:
    """A nested keras.applications model, as the application constructor call."""
    from .models import TRANSFER_BASES

    ctor = next((c for c, _ in TRANSFER_BASES.values() if layer.name.lower()
                 .startswith(c.lower())), None)
    if ctor is None:
        raise ExportError(f"the nested model {layer.name!r} is not a keras.applications model")
    shape = tuple(layer.input.shape[1:])
    pooling = {"GlobalAveragePooling2D": "avg", "GlobalMaxPooling2D": "max"}.get(
        type(layer.layers[-1]).__name__)
    source = '"imagenet"' if weights == "imagenet" else "None"  # a file: loaded after
    lines = [f"backbone = keras.applications.{ctor}(include_top=False, weights={source}, "
             f"input_shape={_value(shape)}, pooling={_value(pooling)})"]
    if weights not in ("none", "imagenet"):
        lines.append(f"backbone.load_weights({json.dumps(weights)})")
    if not layer.trainable:
        lines.append("backbone.trainable = False  # train only the new head")
    return lines


def layer_call(layer: Any) -> str:
    """``layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")``."""
    cls = type(layer)
    module = cls.__module__
    if not module.startswith("keras"):
        raise ExportError(f"layer {layer.name!r} is the project's own {cls.__name__}, which "
                          "plain Keras does not have")
    return _call(f"layers.{cls.__name__}", cls, layer.get_config())


def model_code(model: Any, weights: str = "none") -> list[str]:
    """Source lines that build ``model`` as ``model``: Sequential for a chain of built-in
    layers, the functional API otherwise. ``weights``: a backbone's "imagenet", "none" or
    file."""
    import keras

    layers = model.layers
    first = layers[0]
    shape = tuple(first.output.shape[1:]) if hasattr(first, "output") else tuple(
        model.input_shape[1:])
    input_name = first.name if not _auto_name(type(first), first.name) \
        and not first.name.startswith("input_layer") else None
    dtype = str(getattr(model.inputs[0], "dtype", "float32")).rsplit(".", 1)[-1]
    input_src = f"keras.Input(shape={_value(shape)}" + (
        f", dtype={json.dumps(dtype)}" if dtype != "float32" else "") + (
        f", name={json.dumps(input_name)})" if input_name else ")")
    body = layers[1:]
    nested = [lay for lay in body if isinstance(lay, keras.Model)]
    chain = all(_inputs_of(lay) == [prev] for prev, lay in zip(layers, body))
    if chain and not nested:
        lines = ["model = keras.Sequential(["]
        lines.append(f"    {input_src},")
        lines += [f"    {layer_call(lay)}," for lay in body]
        lines.append(f"], name={json.dumps(model.name)})")
        return lines

    # Functional: each output goes in the first variable whose value is no longer needed.
    order = {id(lay): i for i, lay in enumerate(layers)}
    last_use: dict[int, int] = {}
    for i, lay in enumerate(body, start=1):
        for src in _inputs_of(lay):
            last_use[id(src)] = i
    var_of = {id(first): "inputs"}
    holder: dict[str, int] = {}  # variable -> index of the layer whose value it holds
    lines = []
    for lay in nested:
        lines += _backbone_call(lay, weights)
    lines.append(f"inputs = {input_src}")
    for i, lay in enumerate(body, start=1):
        srcs = [var_of[id(s)] for s in _inputs_of(lay)]
        arg = srcs[0] if len(srcs) == 1 else "[" + ", ".join(srcs) + "]"
        for name in ("x", "y", "z", *(f"t{n}" for n in range(len(layers)))):
            held = holder.get(name)
            if held is None or last_use.get(id(layers[held]), 0) <= i:
                break
        var_of[id(lay)], holder[name] = name, order[id(lay)]
        if isinstance(lay, keras.Model):
            lines.append(f"{name} = backbone({arg}, training=False)")
        else:
            lines.append(f"{name} = {layer_call(lay)}({arg})")
    lines.append(f"model = keras.Model(inputs, {var_of[id(layers[-1])]}, "
                 f"name={json.dumps(model.name)})")
    return lines


# -- the script ------------------------------------------------------------------------------


def _object_call(obj: Any, skip: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> str:
    cls = type(obj)
    return _call(_keras_path(cls.__module__.rsplit(".", 1)[0], cls.__name__), cls,
                 obj.get_config(), skip, extra)


def _wrap(line: str, width: int = 99) -> list[str]:
    """A long ``name = call(a, b, ...)`` line as one argument per line, as a formatter would."""
    if len(line) <= width or "(" not in line or line.lstrip().startswith("#"):
        return [line]
    start = line.index("(")
    if "'" in line[:start] or '"' in line[:start]:  # the first "(" is inside a string
        return [line]
    depth, quote, parts, cur, escaped = 0, None, [], "", False
    for i, ch in enumerate(line[start + 1:], start + 1):
        if quote:
            quote = None if ch == quote and not escaped else quote
            escaped = ch == "\\" and not escaped
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                parts.append(cur.strip())
                indent = " " * (len(line) - len(line.lstrip()) + 4)
                return ([line[:start + 1]] + [f"{indent}{p}," for p in parts if p]
                        + [line[:len(line) - len(line.lstrip())] + line[i:]])
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    return [line]


def _train_size(cfg: TrainConfig, train_images: int | None = None) -> int:
    """Training images after the subset and the validation split, as the app counts them."""
    if train_images:
        return train_images
    n = 50_000 if not cfg.subset else 10 * min(cfg.subset, 5000)
    n_val = max(round(cfg.val_split * n), 10) if cfg.val_split else 0
    return n - n_val


# A run id goes into the docstring only when it is plain; any other goes in RUN_ID, as repr().
_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}")


def _docstring_safe(name: str) -> str:
    """A data set's name (from a folder on disk) for the docstring when it is plain; another
    says only "Image" (its classes are in CLASSES, as repr())."""
    return name if _PLAIN_NAME.fullmatch(name) else "Image"


def dataset_export(ds: Any, cfg: TrainConfig) -> dict:
    """export_script's data arguments for the data set ``ds`` (a data.Dataset) loaded in the
    app: its source, classes, image size and name, and the training images ``cfg`` takes of it
    (its subset less its validation split, by the app's own rules)."""
    from .data import per_class_subset, stratified_split

    y = ds.y_train[per_class_subset(ds.y_train, cfg.subset)] if cfg.subset else ds.y_train
    return {"data": script_source(ds.source), "classes": tuple(ds.class_names),
            "image_size": ds.image_size, "dataset": ds.name,
            "train_images": len(stratified_split(y, cfg.val_split, cfg.seed)[0])}

# What the script needs besides Keras, by backend ("pip install ..." spelling).
_BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

# The data loader of every exported script: the same sources, order and rules as data.py, in
# plain Python (no cifar_tui), so the script reads what the run trained on, offline.
_LOADER = '''
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
           "test_batch")
CIFAR100 = ("train", "test", "meta")  # in cifar-100-python/


def read_files(path, wanted):
    """(name, bytes) of the files whose name ``wanted`` accepts, from a folder, .tar(.gz) or
    .zip, sorted by name."""
    path = pathlib.Path(path)
    if path.is_dir():
        names = sorted(f.relative_to(path).as_posix() for f in path.rglob("*") if f.is_file())
        return [(n, (path / n).read_bytes()) for n in names if wanted(n)]
    def plain(name):  # `tar czf x.tar.gz .` writes ./train/...
        return name[2:] if name.startswith("./") else name

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            return sorted((plain(i.filename), z.read(i)) for i in z.infolist()
                          if not i.is_dir() and wanted(plain(i.filename)))
    with tarfile.open(path) as t:
        return sorted((plain(m.name), t.extractfile(m).read()) for m in t
                      if m.isfile() and wanted(plain(m.name)))


class BatchUnpickler(pickle.Unpickler):
    """Builds numpy arrays and nothing else: a pickle from elsewhere could run any code."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
               ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name}: not in a CIFAR batch")
        return super().find_class(module, name)


def resized(x):
    """CIFAR's 32x32 images at IMAGE_SIZE pixels (bicubic), as the app resizes them."""
    if x.shape[1] == IMAGE_SIZE:
        return x
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(im).resize((IMAGE_SIZE, IMAGE_SIZE),
                                                           Image.Resampling.BICUBIC))
                     for im in x])


def from_batches(files):
    """cifar-10-batches-py or cifar-100-python: pickled dicts of (N, 3072) channel-planar
    rows and their labels (CIFAR-100: LABELS, fine or coarse)."""
    def batch(name, key):
        d = BatchUnpickler(io.BytesIO(files[name]), encoding="bytes").load()
        x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return resized(x), np.asarray(d[key], dtype=np.int64)

    if "data_batch_1" not in files:  # CIFAR-100
        key = f"{LABELS}_labels".encode()
        return batch("train", key), batch("test", key)
    train = [batch(n, b"labels") for n in BATCHES[:5]]
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return (x_train, y_train), batch("test_batch", b"labels")


def to_array(data):
    """An image file's bytes as the app makes them: upright, RGB, the centre square resized
    to IMAGE_SIZE (bicubic); None when it cannot be read (skipped, as the app skips it). The
    app also decodes big JPEGs at a reduced scale first: their pixels may differ slightly."""
    from PIL import Image, ImageOps  # pillow: for image folders only

    try:
        with Image.open(io.BytesIO(data)) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
    except Exception:
        return None
    side = min(im.size)
    if im.size[0] != im.size[1]:
        im = ImageOps.fit(im, (side, side))
    if im.size != (IMAGE_SIZE, IMAGE_SIZE):
        im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)
    return np.asarray(im, dtype=np.uint8)


def hold_out(items):
    """Class folders alone: TEST_FRACTION of each class (one image at least) is the test
    set, the images the app holds out (drawn with seed 0, the files in name order)."""
    by_class = {}
    for item in sorted(items, key=lambda t: t[1]):
        by_class.setdefault(item[0], []).append(item)
    rng = np.random.default_rng(0)
    train, test = [], []
    for members in by_class.values():
        n_test = min(len(members) - 1, max(1, round(TEST_FRACTION * len(members))))
        order = rng.permutation(len(members))
        test += [members[i] for i in order[:n_test]]
        train += [members[i] for i in order[n_test:]]
    return train, test


def load_data(path):
    """train/<class>/<image> and test/<class>/<image>, or <class>/<image> folders alone, in a
    folder or an archive; or the pickled batches. Classes numbered as CLASSES lists them."""
    def is_image(name):
        parts = name.split("/")
        return (len(parts) >= 2 and parts[-1].lower().endswith(IMAGE_SUFFIXES)
                and not any(p.startswith(".") or p == "__MACOSX" for p in parts))

    def wanted(name):
        parts = name.split("/")
        return (parts[-1] in BATCHES or parts[-1] in CIFAR100 and parts[-2:-1] == [
            "cifar-100-python"] or is_image(name))

    def split_of(name):
        parts = name.split("/")
        return parts[-3] if len(parts) >= 3 and parts[-3] in ("train", "test") else ""

    files = read_files(path, wanted)
    images = [(n, data) for n, data in files if is_image(n)]
    if not images:
        return from_batches({n.split("/")[-1]: data for n, data in files})
    split = any(split_of(n) for n, _ in images)  # else class folders alone
    found = {"train": [], "test": [], "": []}
    skipped = 0
    for name, data in images:
        if split and not split_of(name):
            continue  # the app reads train/ and test/ only, when there are some
        cls = name.split("/")[-2]
        if cls not in CLASSES:
            raise SystemExit(f"{path}: class folder {cls!r} is not one of CLASSES")
        image = to_array(data)
        if image is None:
            skipped += 1
        else:
            found[split_of(name)].append((CLASSES.index(cls), name, image))
    if skipped:
        print(f"{skipped} image files could not be read: skipped")
    sets = (found["train"], found["test"]) if split else hold_out(found[""])
    out = []
    for what, items in zip(("train", "test"), sets):
        if not items:
            raise SystemExit(f"{path}: no {what} images")
        items.sort(key=lambda t: t[:2])  # by class, then by file name: as the app orders them
        out.append((np.stack([im for _, _, im in items]),
                    np.array([c for c, _, _ in items], dtype=np.int64)))
    return tuple(out)


def first_per_class(y, n):
    """The first n images of each class (the app's --subset rule)."""
    return np.sort(np.concatenate([np.flatnonzero(y == c)[:n] for c in range(len(CLASSES))]))


def stratified_split(y, fraction, seed):
    """(train, validation) indices: every class in its share (the app's split)."""
    idx = np.arange(len(y))
    if not fraction:
        return idx, idx[:0]
    n_val = max(round(fraction * len(y)), len(np.unique(y)))
    tr, val = train_test_split(idx, test_size=n_val, stratify=y, random_state=seed)
    return np.sort(tr), np.sort(val)
'''


def script_source(source: object) -> str | None:
    """The source a script reads for data loaded from ``source`` (a run's recorded
    ``data_source``, or a Dataset's): None for Keras's own download, which the script
    downloads itself, or for no source at all."""
    if not isinstance(source, str) or not source or f"{os.sep}.keras{os.sep}" in source:
        return None
    return source


def export_script(cfg: TrainConfig, run_id: str | None = None, *, backend: str | None = None,
                  data: str | None = None, classes: tuple[str, ...] | None = None,
                  train_images: int | None = None, image_size: int = 32,
                  dataset: str | None = None) -> str:
    """The standalone training script for ``cfg`` (the run's config, or an arch + flags).

    For a run, or the data loaded in the app: ``backend`` it trained on (the script selects
    it), ``data`` the source it read (the script reads it too; None: Keras's download),
    ``classes`` its class names in label order, ``train_images`` its training-set size (for a
    schedule's step count), ``image_size`` the side of its images (the model's input),
    ``dataset`` the data set's name (for the header; default CIFAR-10's)."""
    if cfg.arch in NOT_EXPORTABLE:
        raise ExportError(f"{cfg.arch} cannot be exported as a plain Keras script: "
                          f"{NOT_EXPORTABLE[cfg.arch]}")
    if getattr(cfg, "lookahead", getattr(cfg, "ema", False)):
        raise ExportError("lookahead weight averaging (--ema) is the project's own callback, "
                          "which plain Keras does not have; export without --ema")
    if cfg.augment_flip and cfg.alternate_flip:
        raise ExportError("alternating flips (--alternate-flip) are the project's own batch "
                          "pipeline, which plain Keras does not have; export with "
                          "--no-alternate-flip (random flips, a RandomFlip layer)")
    cfg.validate()
    from . import CLASSES
    from .models import InputStage, build_model, compile_model, make_optimizer
    from .schedules import learning_rate as _learning_rate

    weights = cfg.model_options().get("weights", "none")
    # the app's input stage: scaling inside the model (augmentation is written as Keras layers)
    stage = InputStage(scale=1 / 255 if cfg.normalize else 1.0)
    # the run's head and input: one unit per class of its data set, its image size
    model = build_model(cfg.arch, stage=stage, num_classes=len(classes or CLASSES),
                        image_size=image_size,
                        **cfg.model_options(download=False))  # the script downloads
    steps = math.ceil(_train_size(cfg, train_images) / cfg.batch_size)
    opt = make_optimizer(cfg.optimizer, _learning_rate(cfg, steps), cfg.weight_decay,
                         cfg.momentum)
    compile_model(model, opt, cfg.label_smoothing)
    inline_token = _INLINE.set({})
    try:
        return _script(cfg, model, weights, steps, run_id, backend, data,
                       tuple(classes or CLASSES), dataset or "CIFAR-10", image_size)
    finally:
        _INLINE.reset(inline_token)


def _augment_lines(cfg: TrainConfig) -> list[str]:
    aug = []
    if cfg.augment_flip:
        aug.append('layers.RandomFlip("horizontal")')
    if cfg.augment_crop:
        aug.append(f"layers.RandomTranslation({cfg.crop_pixels} / 32, {cfg.crop_pixels} / 32, "
                   'fill_mode="reflect")')
    return aug


def _with_augmentation(model_lines: list[str], aug: list[str]) -> list[str]:
    """Put the augmentation layers right after the scaling layer (they act in training only,
    as the app's), whether the model is Sequential or functional."""
    if not aug:
        return model_lines
    for i, line in enumerate(model_lines):
        if "layers.Rescaling(" not in line:
            continue
        if line.startswith("    "):  # an entry of keras.Sequential([...])
            return model_lines[:i + 1] + [f"    {a}," for a in aug] + model_lines[i + 1:]
        var = line.split("=", 1)[0].strip()
        return (model_lines[:i + 1] + [f"{var} = {a}({var})" for a in aug]
                + model_lines[i + 1:])
    raise ExportError("the model has no scaling layer to put the augmentation after")


def _script(cfg: TrainConfig, model: Any, weights: str, steps: int, run_id: str | None,
            backend: str | None, data: str | None, classes: tuple[str, ...],
            dataset: str, image_size: int) -> str:
    lr = model.optimizer.get_config()["learning_rate"]
    lr_src = _value(lr) if isinstance(lr, dict) else repr(cfg.learning_rate)
    model_lines = _with_augmentation(model_code(model, weights), _augment_lines(cfg))
    optimizer_src = _object_call(model.optimizer, skip=("learning_rate",),
                                 extra=("learning_rate=learning_rate",))
    loss_src = _object_call(model.loss)
    if run_id is None:
        command = shlex.join(["cifar-tui", "code", cfg.arch, *command_flags(cfg)])
        # one line, nothing that could end or escape the docstring (a spec is checked text)
        plain = len(command) <= 200 and not {'"', "\\", "\n"} & set(command)
        what = f"`{command}`" if plain else f"`cifar-tui code {cfg.arch}` with its flags"
    else:
        what = f"run {run_id}" if _PLAIN_ID.fullmatch(run_id) else "the run in RUN_ID below"
    lr_note = (f"# {cfg.schedule} schedule over {cfg.epochs} epochs of {steps} steps"
               if cfg.schedule != "constant" else "")
    backend_pkg = _BACKEND_PACKAGES.get(backend or "", None)
    needs = ["keras>=3", backend_pkg or "a Keras backend (tensorflow, jax or torch)", "numpy",
             "scikit-learn", "pillow"]
    out = [
        f'"""{_docstring_safe(dataset)} {cfg.arch}: exported by cifar-tui from {what}.',
        "",
        f"Needs {', '.join(needs)}:",
        f"    pip install {' '.join(n.split(' ')[0] for n in needs if ' (' not in n)}",
        "Run: python train.py [DATA]  (DATA: an image-folder tree or archive with",
        "train/<class>/ and test/<class>/ or <class>/ folders alone, or cifar-10-batches-py /",
        "cifar-100-python; default: DATA below)",
        '"""',
        "",
        "import io",
        "import os",
        "import pathlib",
        "import pickle",
        "import sys",
        "import tarfile",
        "import zipfile",
        "",
    ]
    if backend_pkg:
        out += [f"os.environ.setdefault(\"KERAS_BACKEND\", {backend!r})  # the run's backend",
                ""]
    out += [
        "import keras",
        "import numpy as np",
        "from keras import layers",
        "from sklearn.model_selection import train_test_split",
        "",
        "INLINE",
        *([f"RUN_ID = {run_id!r}"] if run_id is not None else []),
        f"DATA = {data!r}  # what the run trained on; None: Keras's download",
        f"CLASSES = {classes!r}",
        f"IMAGE_SIZE = {image_size}  # pixels a side: images are centre-cropped and resized",
        f"TEST_FRACTION = {cfg.test_fraction!r}  # held out of class folders without train/",
        f"LABELS = {cfg.labels!r}  # CIFAR-100's label set: fine (100) or coarse (20)",
        f"EPOCHS = {cfg.epochs}",
        f"BATCH_SIZE = {cfg.batch_size}",
        f"VAL_SPLIT = {cfg.val_split!r}",
        f"PATIENCE = {cfg.patience}  # early stopping on validation accuracy; 0: off",
        f"SUBSET = {cfg.subset!r}  # training images per class; None: all",
        f"TEST_SUBSET = {cfg.test_subset!r}  # test images per class; None: all",
        f"SEED = {cfg.seed}",
    ]
    out += _LOADER.split("\n")
    out += [
        "",
        "# -- data: the run's source, subset and split --",
        "keras.utils.set_random_seed(SEED)",
        "if len(sys.argv) > 1:",
        "    DATA = sys.argv[1]",
    ]
    out += [
        "if DATA:",
        "    (x_train, y_train), (x_test, y_test) = load_data(DATA)",
        "else:  # needs the internet once",
        ("    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar100.load_data("
         "label_mode=LABELS)" if dataset.startswith("CIFAR-100") else
         "    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()"),
        "    x_train, x_test = resized(x_train), resized(x_test)",
    ]
    out += [
        "y_train, y_test = y_train.ravel().astype(\"int64\"), y_test.ravel().astype(\"int64\")",
        "if SUBSET:",
        "    keep = first_per_class(y_train, SUBSET)",
        "    x_train, y_train = x_train[keep], y_train[keep]",
        "if TEST_SUBSET:",
        "    keep = first_per_class(y_test, TEST_SUBSET)",
        "    x_test, y_test = x_test[keep], y_test[keep]",
        "tr, val = stratified_split(y_train, VAL_SPLIT, SEED)",
        "y_train_1hot = keras.utils.to_categorical(y_train, len(CLASSES))",
        "y_test_1hot = keras.utils.to_categorical(y_test, len(CLASSES))",
        "",
        "# -- model: uint8 images in; it scales them" + (
            " and augments them in training" if _augment_lines(cfg) else "") + " itself --",
        *model_lines,
        "model.summary()",
        "",
        *([lr_note] if lr_note else []),
        f"learning_rate = {lr_src}",
        f"optimizer = {optimizer_src}",
        f"loss = {loss_src}",
        "model.compile(optimizer=optimizer, loss=loss, metrics=[\"accuracy\"])",
        "",
        "callbacks = []",
        "if PATIENCE and len(val):",
        "    callbacks.append(keras.callbacks.EarlyStopping(",
        "        monitor=\"val_accuracy\", mode=\"max\", patience=PATIENCE, "
        "restore_best_weights=True))",
        "",
        "history = model.fit(x_train[tr], y_train_1hot[tr], batch_size=BATCH_SIZE, "
        "epochs=EPOCHS,",
        "                    validation_data=(x_train[val], y_train_1hot[val]) if len(val) "
        "else None,",
        "                    shuffle=True, callbacks=callbacks)",
        "",
        "test_loss, test_accuracy = model.evaluate(x_test, y_test_1hot, verbose=0)",
        "print(f\"test accuracy {test_accuracy:.4f}  loss {test_loss:.4f}\")",
    ]
    if cfg.tta:
        out.insert(-2, "# (the app also averages test predictions over flips and shifts: "
                       "--tta; this script does not)")
    lines = [w for line in out for w in _wrap(line)]
    inline = [line for src in _INLINE.get().values() for line in ("", src.rstrip(), "")]
    at = lines.index("INLINE")
    return "\n".join(lines[:at] + inline + lines[at + 1:]) + "\n"
