"""The model zoo: the assignment's models, better ones, and user-typed architectures. No UI code.

Every builder returns an uncompiled ``keras.Model`` made of built-in layers and the project's
registered layers (layers.py), so saved models load with ``safe_mode=True``.
``compile_model`` attaches the optimizer, loss and metrics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .backend import import_keras
from .config import OPTIMIZERS, SPEC_HELP, arch_info
from .layers import GELU, FlipTranslate, FreezableBias, FusedBatchNorm, ScaledBias
from .recipe import FAST

keras = import_keras()
layers = keras.layers

INPUT_SHAPE = (32, 32, 3)
NUM_CLASSES = 10


@dataclass(frozen=True)
class InputStage:
    """What every model does first: take uint8 images, scale them (``scale``: 1/255 gives
    [0, 1]; 1.0 leaves 0..255), and in training only, mirror / translate them.

    Scaling inside the model means training, evaluation, prediction and export cannot disagree
    about it; augmenting inside the model runs it on the accelerator on every backend.
    """

    scale: float = 1 / 255
    flip: bool = False
    pixels: int = 0  # translation range; 0: none
    seed: int | None = None
    size: int = INPUT_SHAPE[0]  # the images' side: the data set's, 32 for CIFAR


def _inputs(stage: InputStage | None):  # noqa: ANN202
    """(keras.Input of uint8 images, the scaled and augmented tensor the layers start from)."""
    stage = stage or InputStage()
    inputs = keras.Input((stage.size, stage.size, INPUT_SHAPE[-1]), dtype="uint8", name="image")
    x = layers.Rescaling(stage.scale, name="scale")(inputs)
    if stage.flip or stage.pixels:
        x = FlipTranslate(stage.flip, stage.pixels, stage.seed, name="augment")(x)
    return inputs, x


def takes_uint8(model: keras.Model) -> bool:
    """True for models that scale their own input (all models built since scaling moved in);
    older saved models take float images scaled as their run's config says."""
    return "uint8" in str(model.inputs[0].dtype)


class SpecError(ValueError):
    """A custom architecture spec is malformed; ``str()`` points at the bad token."""

    def __init__(self, spec: str, start: int, length: int, reason: str) -> None:
        self.spec, self.start, self.length, self.reason = spec, start, length, reason
        caret = " " * start + "^" * max(1, length)
        super().__init__(f"{reason}\n  {spec}\n  {caret}")


def _classifier(x, num_classes: int):  # noqa: ANN001, ANN202
    # float32 output keeps softmax stable under mixed precision.
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)


def _scaled_head(x, num_classes: int, scale: float, **dense: Any):  # noqa: ANN001, ANN202
    """A bias-free linear head whose logits are multiplied by ``scale`` (airbench's and Myrtle's
    temperature), then a float32 softmax."""
    x = layers.Dense(num_classes, use_bias=False, name="head", **dense)(x)
    x = layers.Rescaling(scale, name="logit_scale")(x)
    return layers.Activation("softmax", dtype="float32", name="predictions")(x)


def build_dense(batch_norm: bool = False, dropout: float = 0.0,
                num_classes: int = NUM_CLASSES, stage: InputStage | None = None) -> keras.Model:
    """Flatten, Dense 2048-1024-512-256 ReLU (optionally BN after each), softmax."""
    inputs, x = _inputs(stage)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate((2048, 1024, 512, 256), start=1):
        x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"bn{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout{i}")(x)
    name = "dense_bn" if batch_norm else "dense"
    return keras.Model(inputs, _classifier(x, num_classes), name=name)


def build_cnn(dropout: float = 0.0, batch_norm: bool = False,
              num_classes: int = NUM_CLASSES, stage: InputStage | None = None) -> keras.Model:
    """The course CNN; dropout before each pool and the last layer, BN after each dropout."""
    inputs, x = _inputs(stage)

    def regularize(x, i: int):  # noqa: ANN001, ANN202
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"bn{i}")(x)
        return x

    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.Conv2D(32, 3, padding="valid", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool1")(regularize(x, 1))
    x = layers.Conv2D(64, 3, padding="valid", activation="relu", name="conv3")(x)
    x = layers.Conv2D(64, 3, padding="valid", activation="relu", name="conv4")(x)
    x = layers.MaxPooling2D(2, name="pool2")(regularize(x, 2))
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(512, activation="relu", name="fc1")(x)
    x = regularize(x, 3)
    return keras.Model(inputs, _classifier(x, num_classes), name="cnn")


def _conv_bn(x, filters: int, name: str):  # noqa: ANN001, ANN202
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def build_resnet9(width: int = 64, num_classes: int = NUM_CLASSES,
                  dropout: float = 0.0, stage: InputStage | None = None) -> keras.Model:
    """ResNet-9 (Myrtle / DAWNBench style): conv-BN-ReLU blocks, two residual stages."""
    w = (width, width * 2, width * 4, width * 8)
    inputs, x = _inputs(stage)
    x = _conv_bn(x, w[0], "prep")
    x = layers.MaxPooling2D(2, name="pool1")(_conv_bn(x, w[1], "layer1"))
    r = _conv_bn(_conv_bn(x, w[1], "res1a"), w[1], "res1b")
    x = layers.Add(name="res1_add")([x, r])
    x = layers.MaxPooling2D(2, name="pool2")(_conv_bn(x, w[2], "layer2"))
    x = layers.MaxPooling2D(2, name="pool3")(_conv_bn(x, w[3], "layer3"))
    r = _conv_bn(_conv_bn(x, w[3], "res3a"), w[3], "res3b")
    x = layers.Add(name="res3_add")([x, r])
    x = layers.GlobalMaxPooling2D(name="pool4")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    # Myrtle's head: logits x 0.125. Without the scale the max-pooled features' logits grow in
    # the warm-up and the first epoch blows up (bench/RESULTS.md).
    return keras.Model(inputs, _scaled_head(x, num_classes, 0.125), name="resnet9")


# PyTorch's default conv/linear init, U(+-1/sqrt(fan_in)), which airbench's hyper-parameters
# (learning rate against weight decay on BN-normalised weights) were tuned with.
_TORCH_INIT = {"class_name": "VarianceScaling",
               "config": {"scale": 1 / 3, "mode": "fan_in", "distribution": "uniform"}}


def _dirac_init(conv: layers.Conv2D) -> None:
    """airbench: the first ``c_in`` filters start as the identity (centre tap 1), the rest
    random."""
    kernel = conv.get_weights()[0]
    kh, kw, c_in, _ = kernel.shape
    kernel[:, :, :, :c_in] = 0.0
    kernel[kh // 2, kw // 2, np.arange(c_in), np.arange(c_in)] = 1.0
    conv.set_weights([kernel])


def build_fast(num_classes: int = NUM_CLASSES, stage: InputStage | None = None,
               **net: Any) -> keras.Model:
    """airbench94-style net: frozen 2x2 patch-whitening conv with an offset that trains for the
    first epochs, three conv-pool-BN-GELU groups, global max pool, a bias-free linear head with
    scaled logits. Every constant is in ``recipe.FAST`` (``net`` overrides its "net" part).

    The whitening kernel is filled from the training data by ``init_whitening``. BN learns only
    its offset (a ``ScaledBias`` whose learning rate is ``bias_multiplier**2`` times the rest).
    """
    hyp = {**FAST["net"], **net}
    inputs, x = _inputs(stage)
    x = layers.Conv2D(hyp["whiten_filters"], 2, padding="valid", use_bias=False, name="whiten",
                      trainable=False)(x)
    x = FreezableBias(FAST["whitening"]["bias_epochs"], name="whiten_bias")(x)
    x = GELU(hyp["gelu"], name="whiten_gelu")(x)
    convs = []

    def bn(x, name: str):  # noqa: ANN001, ANN202
        # BN scale fixed at 1, only the offset is learned, as in airbench.
        x = FusedBatchNorm(momentum=hyp["bn_momentum"], epsilon=hyp["bn_epsilon"],
                           center=False, scale=False, name=f"{name}_bn")(x)
        x = ScaledBias(hyp["bias_multiplier"], name=f"{name}_offset")(x)
        return GELU(hyp["gelu"], name=f"{name}_gelu")(x)

    for i, w in enumerate(hyp["widths"], start=1):
        conv1 = layers.Conv2D(w, 3, padding="same", use_bias=False,
                              kernel_initializer=_TORCH_INIT, name=f"group{i}_conv1")
        conv2 = layers.Conv2D(w, 3, padding="same", use_bias=False,
                              kernel_initializer=_TORCH_INIT, name=f"group{i}_conv2")
        convs += [conv1, conv2]
        x = bn(layers.MaxPooling2D(2, name=f"group{i}_pool")(conv1(x)), f"group{i}_1")
        x = bn(conv2(x), f"group{i}_2")
    x = layers.GlobalMaxPooling2D(name="pool")(x)
    outputs = _scaled_head(x, num_classes, hyp["logit_scale"], kernel_initializer=_TORCH_INIT)
    model = keras.Model(inputs, outputs, name="fast")
    for conv in convs:
        _dirac_init(conv)
    return model


# airbench divides images by CIFAR's channel std before whitening; eps below is in those units.
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616])


def init_whitening(model: keras.Model, x: np.ndarray, scale: float | None = None,
                   eps: float | None = None) -> bool:
    """Fill a ``whiten`` layer with the eigenbasis of 2x2 patches of ``x * scale`` (the images
    as the model sees them; ``scale`` defaults to the model's own input scaling).

    The patches are centred and scaled by CIFAR's channel std, as airbench's normalised inputs
    are; each eigenvector, divided by sqrt(eigenvalue + eps), appears with both signs, and the bias
    removes the patch mean, so the layer maps the data to decorrelated, zero-mean features.
    Returns False if the model has no such layer.
    """
    try:
        layer = model.get_layer("whiten")
    except ValueError:
        return False
    if scale is None:
        scale = _input_scale(model)
    if eps is None:
        eps = FAST["whitening"]["eps"]
    c = x.shape[-1]
    std = np.resize(CIFAR_STD * (255.0 * scale), 4 * c)  # per patch entry, (h, w, c) order
    patches = np.lib.stride_tricks.sliding_window_view(x.astype(np.float32) * scale, (2, 2),
                                                       axis=(1, 2))
    patches = patches.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 2 * 2 * c).astype(np.float64)
    mean = patches.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(np.cov(patches / std, rowvar=False))
    basis = (eigvec / np.sqrt(eigval + eps)).T[::-1] / std  # strongest first; raw-input units
    half = layer.filters // 2
    basis = np.concatenate([basis[:half], -basis[:half]])
    kernel = basis.reshape(-1, 2, 2, c).transpose(1, 2, 3, 0)
    bias = (-basis @ mean).astype("float32")
    if layer.use_bias:  # models saved before the bias became its own, trainable layer
        layer.set_weights([kernel.astype("float32"), bias])
    else:
        layer.set_weights([kernel.astype("float32")])
        model.get_layer("whiten_bias").bias.assign(bias)
    return True


def _input_scale(model: keras.Model) -> float:
    try:
        return float(model.get_layer("scale").scale)
    except ValueError:
        return 1.0


TRANSFER_BASES = {
    # name: (constructor, input size its ImageNet weights expect)
    "mobilenetv2": ("MobileNetV2", 96),
    "efficientnetb0": ("EfficientNetB0", 96),
    "resnet50": ("ResNet50", 96),
}


def build_transfer(base: str = "mobilenetv2", weights: str = "imagenet",
                   dropout: float = 0.2, trainable_base: bool = False,
                   num_classes: int = NUM_CLASSES, stage: InputStage | None = None) -> keras.Model:
    """A keras.applications backbone on upsampled CIFAR images, with a new softmax head.

    ``weights``: "imagenet" (downloaded by Keras, needs the internet once), a local ``.h5`` /
    ``.weights.h5`` file of the backbone without its top, or "none" for random initialisation.
    """
    if base not in TRANSFER_BASES:
        raise ValueError(f"unknown transfer base {base!r}; choose from {', '.join(TRANSFER_BASES)}")
    ctor_name, size = TRANSFER_BASES[base]
    ctor = getattr(keras.applications, ctor_name)
    local = None
    if weights not in ("none", "imagenet"):
        local = Path(weights).expanduser()
        if not local.is_file():
            raise ValueError(f"transfer weights file {local} does not exist")
    try:
        backbone = ctor(include_top=False, weights="imagenet" if weights == "imagenet" else None,
                        input_shape=(size, size, 3), pooling="avg")
    except Exception as exc:
        raise RuntimeError(
            f"could not get ImageNet weights for {ctor_name} ({exc}). Offline, pass a local "
            "weights file with --weights PATH, or --weights none to train from scratch."
        ) from None
    if local is not None:
        backbone.load_weights(str(local))
    backbone.trainable = trainable_base
    # The applications expect 0..255 and do their own preprocessing, whatever the scaling
    # chosen for the other models.
    inputs, x = _inputs(replace(stage or InputStage(), scale=1.0))
    x = layers.Resizing(size, size, name="upsample")(x)
    x = _preprocess_layer(base)(x)
    x = backbone(x, training=False)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _classifier(x, num_classes), name=f"transfer_{base}")


def _preprocess_layer(base: str) -> layers.Layer:
    if base == "mobilenetv2":  # x / 127.5 - 1
        return layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")
    if base == "resnet50":  # caffe mode: BGR, mean-subtracted; approximated by centring
        return layers.Normalization(mean=[123.68, 116.78, 103.94], variance=[1.0, 1.0, 1.0],
                                    name="preprocess")
    return layers.Identity(name="preprocess")  # EfficientNet rescales inside the model


# -- custom architectures from a text spec ---------------------------------------------------

_TOKEN = re.compile(r"[^-\s]+")
_CONV = re.compile(r"^C(\d+)(v?)(?:k(\d+))?(v?)$", re.I)
_FC = re.compile(r"^FC(\d+)$", re.I)
_DROP = re.compile(r"^D(\d*\.?\d+)$", re.I)


# What training costs in memory, estimated before anything is built: float32 weights with their
# gradient and two optimizer slots (Adam), and each activation kept for the backward pass with
# its gradient and a working copy, for a batch of SIZE_CHECK_BATCH images.
BYTES_PER_PARAM = 16
BYTES_PER_ACTIVATION = 12
SIZE_CHECK_BATCH = 32


def memory_available() -> int | None:
    """Bytes of memory this machine can still give (MemAvailable), None if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - no psutil: no check
        return None


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def training_bytes(params: int, activations: int, batch_size: int = SIZE_CHECK_BATCH) -> int:
    """Rough memory to train a model with ``params`` weights and ``activations`` values per
    image."""
    return params * BYTES_PER_PARAM + activations * BYTES_PER_ACTIVATION * batch_size


def size_problem(params: int, activations: int) -> str | None:
    """Why a model of this size must not be built here, or None if it fits."""
    need = training_bytes(params, activations)
    avail = memory_available()
    if avail is None or need <= avail // 2:
        return None
    return (f"this model would have {params:,} parameters and {activations:,} activations per "
            f"image: about {_gb(need)} to train with batch {SIZE_CHECK_BATCH}, and this machine "
            f"has {_gb(avail)} of memory free. Use fewer filters or units, or pool before "
            "flattening.")


def build_custom(spec: str, num_classes: int = NUM_CLASSES,
                 stage: InputStage | None = None) -> keras.Model:
    """Build a model from a spec such as ``C32-C32-P-D.25-C64-P-F-FC256`` (see SPEC_HELP).

    Its size is counted token by token before each layer is made; a model too big for this
    machine's memory raises SpecError at the token that made it so. Layers are named by kind
    and position (conv1, pool1, fc1, ...): Keras's own names count up across every model the
    process builds (conv2d_15 after a few rebuilds), so the same spec would read differently.
    """
    tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(spec)]
    if not tokens:
        raise SpecError(spec, 0, 1, f"empty architecture. {SPEC_HELP}")
    inputs, x = _inputs(stage)
    h = w = (stage or InputStage()).size
    c = INPUT_SHAPE[-1]
    flat = False
    params = activations = 0
    counts: dict[str, int] = {}

    def named(kind: str) -> str:
        counts[kind] = counts.get(kind, 0) + 1
        return f"{kind}{counts[kind]}"

    for tok, pos in tokens:
        def fail(reason: str, tok: str = tok, pos: int = pos) -> SpecError:
            return SpecError(spec, pos, len(tok), f"token {tok!r}: {reason}")

        def grow(new_params: int, new_activations: int) -> None:
            nonlocal params, activations
            params, activations = params + new_params, activations + new_activations
            if (why := size_problem(params, activations)) is not None:
                raise fail(why)

        if m := _CONV.match(tok):
            if flat:
                raise fail("a convolution needs an image, but the input was already flattened")
            filters, k = int(m.group(1)), int(m.group(3) or 3)
            valid = bool(m.group(2) or m.group(4))
            if filters < 1 or k < 1:
                raise fail("filters and kernel size must be at least 1")
            if valid:
                h, w = h - k + 1, w - k + 1
                if h < 1:
                    raise fail(f"a valid {k}x{k} convolution does not fit the {h + k - 1}x"
                               f"{w + k - 1} input; use same padding (drop the 'v')")
            grow(k * k * c * filters + filters, h * w * filters)
            c = filters
            x = layers.Conv2D(filters, k, padding="valid" if valid else "same",
                              activation="relu", name=named("conv"))(x)
        elif tok.upper() in ("P", "AP"):
            if flat:
                raise fail("pooling needs an image, but the input was already flattened")
            if h < 2:
                raise fail(f"cannot pool a {h}x{w} feature map")
            h, w = h // 2, w // 2
            grow(0, h * w * c)
            pool = layers.MaxPooling2D if tok.upper() == "P" else layers.AveragePooling2D
            x = pool(2, name=named("pool"))(x)
        elif tok.upper() == "GAP":
            if flat:
                raise fail("global pooling needs an image, but the input was already flat")
            h = w = 1
            x, flat = layers.GlobalAveragePooling2D(name="gap")(x), True
        elif m := _DROP.match(tok):
            rate = float(m.group(1))
            if not 0 < rate < 1:
                raise fail("dropout rate must be between 0 and 1, e.g. D.25")
            grow(0, h * w * c)
            x = layers.Dropout(rate, name=named("dropout"))(x)
        elif tok.upper() in ("B", "BN"):
            grow(4 * c, h * w * c)
            x = layers.BatchNormalization(name=named("bn"))(x)
        elif tok.upper() == "F":
            if flat:
                raise fail("already flat")
            c, h, w = h * w * c, 1, 1
            x, flat = layers.Flatten(name="flatten")(x), True
        elif m := _FC.match(tok):
            if not flat:
                raise fail("a dense layer needs a flat input: put F or GAP before it")
            units = int(m.group(1))
            if units < 1:
                raise fail("a dense layer needs at least 1 unit")
            grow(c * units + units, units)
            c = units
            x = layers.Dense(units, activation="relu", name=named("fc"))(x)
        else:
            raise fail(f"unknown token. {SPEC_HELP}")
    if not flat:
        x = layers.Flatten(name="flatten")(x)
    head = h * w * c * num_classes + num_classes
    if (why := size_problem(params + head, activations + num_classes)) is not None:
        raise SpecError(spec, 0, len(spec), why)
    return keras.Model(inputs, _classifier(x, num_classes), name="custom")


# -- presets ---------------------------------------------------------------------------------

def build_model(arch: str, stage: InputStage | None = None, *, num_classes: int = NUM_CLASSES,
                image_size: int | None = None, **options: Any) -> keras.Model:
    """Build preset ``arch``; ``options`` override its defaults (None means keep the default).

    ``stage``: the input scaling and training-time augmentation (default: scale to [0, 1]).
    ``num_classes`` and ``image_size`` come from the data set (CIFAR: 10 and 32).
    """
    if image_size is not None:
        stage = replace(stage or InputStage(), size=image_size)
    import inspect

    info = arch_info(arch)
    build = globals()[info.builder]  # config.py names it, so config needs no Keras
    merged = {**info.options, **{k: v for k, v in options.items() if v is not None}}
    unknown = sorted(set(merged) - (set(inspect.signature(build).parameters) - {"stage"}))
    if unknown:
        raise ValueError(f"{arch} does not take {', '.join(unknown)}")
    model = build(**merged, num_classes=num_classes, stage=stage)
    model.name = arch  # the preset's name: model.summary() said "cnn" for cnn-dropout
    return model


# -- compilation -----------------------------------------------------------------------------


def make_optimizer(name: str, learning_rate: Any, weight_decay: float = 0.0,
                   momentum: float = 0.9) -> keras.optimizers.Optimizer:
    """SGD (plain, momentum, Nesterov), Adam or AdamW; ``learning_rate`` may be a schedule.

    ``weight_decay`` is Keras's decoupled decay: each step multiplies weights by
    ``1 - learning_rate * weight_decay``.
    """
    common: dict[str, Any] = {"weight_decay": weight_decay or None}
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, **common)
    if name in ("momentum", "nesterov"):
        return keras.optimizers.SGD(learning_rate, momentum=momentum,
                                    nesterov=name == "nesterov", **common)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, **common)
    if name == "adamw":  # the decay config.json records, 0 included (no hidden default)
        return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")


def compile_model(model: keras.Model, optimizer: keras.optimizers.Optimizer,
                  label_smoothing: float = 0.0, jit_compile: bool | str = "auto",
                  steps_per_execution: int = 1) -> keras.Model:
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model
