"""The model zoo: the assignment's models, better ones, and user-typed architectures. No UI code.

Every builder returns an uncompiled ``keras.Model`` made of built-in layers only, so saved models
load with ``safe_mode=True``. ``compile_model`` attaches the optimizer, loss and metrics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .quiet import native_stderr_to_log

with native_stderr_to_log():
    import keras
    from keras import layers

INPUT_SHAPE = (32, 32, 3)
NUM_CLASSES = 10


class SpecError(ValueError):
    """A custom architecture spec is malformed; ``str()`` points at the bad token."""

    def __init__(self, spec: str, start: int, length: int, reason: str) -> None:
        self.spec, self.start, self.length, self.reason = spec, start, length, reason
        caret = " " * start + "^" * max(1, length)
        super().__init__(f"{reason}\n  {spec}\n  {caret}")


def _classifier(x, num_classes: int):  # noqa: ANN001, ANN202
    # float32 output keeps softmax stable under mixed precision.
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)


def build_dense(batch_norm: bool = False, dropout: float = 0.0,
                num_classes: int = NUM_CLASSES) -> keras.Model:
    """Flatten, Dense 2048-1024-512-256 ReLU (optionally BN after each), softmax."""
    inputs = keras.Input(INPUT_SHAPE)
    x = layers.Flatten()(inputs)
    for units in (2048, 1024, 512, 256):
        x = layers.Dense(units, activation="relu")(x)
        if batch_norm:
            x = layers.BatchNormalization()(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
    name = "dense_bn" if batch_norm else "dense"
    return keras.Model(inputs, _classifier(x, num_classes), name=name)


def build_cnn(dropout: float = 0.0, batch_norm: bool = False,
              num_classes: int = NUM_CLASSES) -> keras.Model:
    """The course CNN; dropout before each pool and the last layer, BN after each dropout."""
    inputs = keras.Input(INPUT_SHAPE)

    def regularize(x):  # noqa: ANN001, ANN202
        if dropout:
            x = layers.Dropout(dropout)(x)
            if batch_norm:
                x = layers.BatchNormalization()(x)
        elif batch_norm:
            x = layers.BatchNormalization()(x)
        return x

    x = layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(32, 3, padding="valid", activation="relu")(x)
    x = layers.MaxPooling2D(2)(regularize(x))
    x = layers.Conv2D(64, 3, padding="valid", activation="relu")(x)
    x = layers.Conv2D(64, 3, padding="valid", activation="relu")(x)
    x = layers.MaxPooling2D(2)(regularize(x))
    x = layers.Flatten()(x)
    x = layers.Dense(512, activation="relu")(x)
    x = regularize(x)
    return keras.Model(inputs, _classifier(x, num_classes), name="cnn")


def _conv_bn(x, filters: int, name: str):  # noqa: ANN001, ANN202
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def build_resnet9(width: int = 64, num_classes: int = NUM_CLASSES,
                  dropout: float = 0.0) -> keras.Model:
    """ResNet-9 (Myrtle / DAWNBench style): conv-BN-ReLU blocks, two residual stages."""
    w = (width, width * 2, width * 4, width * 8)
    inputs = keras.Input(INPUT_SHAPE)
    x = _conv_bn(inputs, w[0], "prep")
    x = layers.MaxPooling2D(2, name="pool1")(_conv_bn(x, w[1], "layer1"))
    r = _conv_bn(_conv_bn(x, w[1], "res1a"), w[1], "res1b")
    x = layers.Add(name="res1_add")([x, r])
    x = layers.MaxPooling2D(2, name="pool2")(_conv_bn(x, w[2], "layer2"))
    x = layers.MaxPooling2D(2, name="pool3")(_conv_bn(x, w[3], "layer3"))
    r = _conv_bn(_conv_bn(x, w[3], "res3a"), w[3], "res3b")
    x = layers.Add(name="res3_add")([x, r])
    x = layers.GlobalMaxPooling2D(name="pool4")(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, _classifier(x, num_classes), name="resnet9")


TRANSFER_BASES = {
    # name: (constructor, input size its ImageNet weights expect)
    "mobilenetv2": ("MobileNetV2", 96),
    "efficientnetb0": ("EfficientNetB0", 96),
    "resnet50": ("ResNet50", 96),
}


def build_transfer(base: str = "mobilenetv2", weights: str | None = "imagenet",
                   dropout: float = 0.2, trainable_base: bool = False,
                   num_classes: int = NUM_CLASSES) -> keras.Model:
    """A keras.applications backbone on upsampled CIFAR images, with a new softmax head.

    ``weights``: "imagenet" (downloaded by Keras, needs the internet once), a local ``.h5`` /
    ``.weights.h5`` file of the backbone without its top, or None for random initialisation.
    """
    if base not in TRANSFER_BASES:
        raise ValueError(f"unknown transfer base {base!r}; choose from {', '.join(TRANSFER_BASES)}")
    ctor_name, size = TRANSFER_BASES[base]
    ctor = getattr(keras.applications, ctor_name)
    local = None
    if weights not in (None, "", "none", "imagenet"):
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
    inputs = keras.Input(INPUT_SHAPE)
    x = layers.Resizing(size, size, name="upsample")(inputs)
    # Inputs arrive in [0, 1]; the applications expect 0..255 and do their own preprocessing.
    x = layers.Rescaling(255.0, name="to_0_255")(x)
    x = _preprocess_layer(base)(x)
    x = backbone(x, training=False)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, _classifier(x, num_classes), name=f"transfer_{base}")


def _preprocess_layer(base: str) -> layers.Layer:
    if base == "mobilenetv2":  # x / 127.5 - 1
        return layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")
    if base == "resnet50":  # caffe mode: BGR, mean-subtracted; approximated by centring
        return layers.Normalization(mean=[123.68, 116.78, 103.94], variance=[1.0, 1.0, 1.0],
                                    name="preprocess")
    return layers.Identity(name="preprocess")  # EfficientNet rescales inside the model


# -- custom architectures from a text spec ---------------------------------------------------

SPEC_HELP = (
    "Tokens joined by '-': C32 conv 3x3 same, C32v valid, C32k5 5x5 kernel, P max-pool 2, "
    "AP avg-pool 2, GAP global average pool, D.25 dropout, B batch norm, F flatten, "
    "FC256 dense ReLU. A softmax-10 layer is added at the end. e.g. C32-C32-P-D.25-C64-P-F-FC256"
)
_TOKEN = re.compile(r"[^-\s]+")
_CONV = re.compile(r"^C(\d+)(v)?(?:k(\d+))?$", re.I)
_FC = re.compile(r"^FC(\d+)$", re.I)
_DROP = re.compile(r"^D(0?\.\d+)$", re.I)


def build_custom(spec: str, num_classes: int = NUM_CLASSES) -> keras.Model:
    """Build a model from a spec such as ``C32-C32-P-D.25-C64-P-F-FC256`` (see SPEC_HELP)."""
    tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(spec)]
    if not tokens:
        raise SpecError(spec, 0, 1, f"empty architecture. {SPEC_HELP}")
    inputs = keras.Input(INPUT_SHAPE)
    x = inputs
    h = w = 32
    flat = False
    for tok, pos in tokens:
        def fail(reason: str, tok: str = tok, pos: int = pos) -> SpecError:
            return SpecError(spec, pos, len(tok), f"token {tok!r}: {reason}")

        if m := _CONV.match(tok):
            if flat:
                raise fail("a convolution needs an image, but the input was already flattened")
            filters, valid, k = int(m.group(1)), bool(m.group(2)), int(m.group(3) or 3)
            if filters < 1 or k < 1:
                raise fail("filters and kernel size must be at least 1")
            if valid:
                h, w = h - k + 1, w - k + 1
                if h < 1:
                    raise fail(f"a valid {k}x{k} convolution does not fit the {h + k - 1}x"
                               f"{w + k - 1} input; use same padding (drop the 'v')")
            x = layers.Conv2D(filters, k, padding="valid" if valid else "same",
                              activation="relu")(x)
        elif tok.upper() in ("P", "AP"):
            if flat:
                raise fail("pooling needs an image, but the input was already flattened")
            if h < 2:
                raise fail(f"cannot pool a {h}x{w} feature map")
            h, w = h // 2, w // 2
            pool = layers.MaxPooling2D if tok.upper() == "P" else layers.AveragePooling2D
            x = pool(2)(x)
        elif tok.upper() == "GAP":
            if flat:
                raise fail("global pooling needs an image, but the input was already flat")
            x, flat = layers.GlobalAveragePooling2D()(x), True
        elif m := _DROP.match(tok):
            rate = float(m.group(1))
            if not 0 < rate < 1:
                raise fail("dropout rate must be between 0 and 1, e.g. D.25")
            x = layers.Dropout(rate)(x)
        elif tok.upper() in ("B", "BN"):
            x = layers.BatchNormalization()(x)
        elif tok.upper() == "F":
            if flat:
                raise fail("already flat")
            x, flat = layers.Flatten()(x), True
        elif m := _FC.match(tok):
            if not flat:
                raise fail("a dense layer needs a flat input: put F or GAP before it")
            x = layers.Dense(int(m.group(1)), activation="relu")(x)
        else:
            raise fail(f"unknown token. {SPEC_HELP}")
    if not flat:
        x = layers.Flatten()(x)
    return keras.Model(inputs, _classifier(x, num_classes), name="custom")


# -- presets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """A named architecture with its default training settings."""

    name: str
    description: str
    build: Any
    options: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)


_SGD = {"optimizer": "sgd", "learning_rate": 0.01}
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("dense", "Flatten, Dense 2048-1024-512-256 ReLU, softmax 10 (SGD)",
               build_dense, {"batch_norm": False}, _SGD),
        Preset("dense-bn", "The dense baseline with batch norm after each hidden layer",
               build_dense, {"batch_norm": True}, _SGD),
        Preset("cnn", "Conv 32 same, 32 valid, pool, 64 valid, 64 valid, pool, dense 512",
               build_cnn, {"dropout": 0.0, "batch_norm": False}, _SGD),
        Preset("cnn-dropout", "The CNN with dropout 0.25 before each pool and the last layer",
               build_cnn, {"dropout": 0.25, "batch_norm": False}, _SGD),
        Preset("cnn-dropout-bn", "The dropout CNN with batch norm after each dropout",
               build_cnn, {"dropout": 0.25, "batch_norm": True}, _SGD),
        Preset("resnet9", "ResNet-9 with batch norm and two residual stages (best on a GPU)", build_resnet9, {},
               {"optimizer": "nesterov", "learning_rate": 0.2, "schedule": "onecycle",
                "batch_size": 512, "epochs": 16, "label_smoothing": 0.2, "augment_flip": True,
                "augment_crop": True, "weight_decay": 5e-4, "patience": 0}),
        Preset("transfer", "MobileNetV2 from keras.applications on 96x96 upsampled input",
               build_transfer, {"base": "mobilenetv2", "weights": "imagenet"},
               {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64, "epochs": 5,
                "augment_flip": True}),
        Preset("custom", "Your own architecture from a text spec (see --spec)", build_custom,
               {"spec": "C32-C32-P-D.25-C64-C64-P-D.25-F-FC256-D.5"},
               {"optimizer": "adam", "learning_rate": 1e-3}),
    ]
}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(PRESETS)}") from None


def build_model(arch: str, **options: Any) -> keras.Model:
    """Build preset ``arch``; ``options`` override its defaults (None means keep the default)."""
    p = preset(arch)
    merged = {**p.options, **{k: v for k, v in options.items() if v is not None}}
    import inspect

    accepted = inspect.signature(p.build).parameters
    unknown = sorted(set(merged) - set(accepted))
    if unknown:
        raise ValueError(f"{arch} does not take {', '.join(unknown)}")
    return p.build(**merged)


# -- compilation -----------------------------------------------------------------------------

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")


def make_optimizer(name: str, learning_rate: Any, weight_decay: float = 0.0,
                   momentum: float = 0.9) -> keras.optimizers.Optimizer:
    """SGD (plain, momentum, Nesterov), Adam or AdamW; ``learning_rate`` may be a schedule."""
    wd = weight_decay or None
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, weight_decay=wd)
    if name in ("momentum", "nesterov"):
        return keras.optimizers.SGD(learning_rate, momentum=momentum,
                                    nesterov=name == "nesterov", weight_decay=wd)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, weight_decay=wd)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay or 1e-4)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")


def compile_model(model: keras.Model, optimizer: keras.optimizers.Optimizer,
                  label_smoothing: float = 0.0, jit_compile: bool | str = "auto") -> keras.Model:
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    return model
