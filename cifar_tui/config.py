"""Architecture presets and the training configuration: plain data, no TensorFlow import.

The UI reads these to fill its forms before TensorFlow has loaded.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "warmup-cosine", "linear", "warmup-linear")


SPEC_HELP = (
    "Tokens joined by '-': C32 conv 3x3 same, C32v valid, C32k5 5x5 kernel, P max-pool 2, "
    "AP avg-pool 2, GAP global average pool, D.25 dropout, B batch norm, F flatten, "
    "FC256 dense ReLU. A softmax-10 layer is added at the end. e.g. C32-C32-P-D.25-C64-P-F-FC256"
)


@dataclass(frozen=True)
class ArchInfo:
    """A named architecture: what it is, its model options and its training defaults."""

    name: str
    description: str
    options: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)


MAX_LEARNING_RATE = 10.0  # above this every optimizer here diverges at once
_SGD = {"optimizer": "sgd", "learning_rate": 0.01}
ARCHS: dict[str, ArchInfo] = {
    a.name: a
    for a in [
        ArchInfo("dense", "Flatten, Dense 2048-1024-512-256 ReLU, softmax 10 (SGD)",
                 {"batch_norm": False}, _SGD),
        ArchInfo("dense-bn", "The dense baseline with batch norm after each hidden layer",
                 {"batch_norm": True}, _SGD),
        ArchInfo("cnn", "Conv 32 same, 32 valid, pool, 64 valid, 64 valid, pool, dense 512",
                 {"dropout": 0.0, "batch_norm": False}, _SGD),
        ArchInfo("cnn-dropout", "The CNN with dropout 0.25 before each pool and the last layer",
                 {"dropout": 0.25, "batch_norm": False}, _SGD),
        ArchInfo("cnn-dropout-bn", "The dropout CNN with batch norm after each dropout",
                 {"dropout": 0.25, "batch_norm": True}, _SGD),
        ArchInfo("resnet9", "ResNet-9: conv-BN-ReLU stages with two residual blocks",
                 {}, {"optimizer": "nesterov", "learning_rate": 0.2, "schedule": "warmup-cosine",
                      "batch_size": 512, "epochs": 16, "label_smoothing": 0.2,
                      "augment_flip": True, "augment_crop": True, "weight_decay": 5e-4,
                      "patience": 0}),
        ArchInfo("fast", "airbench-style: patch whitening, 3 conv groups, lookahead, TTA",
                 # airbench94 divides lr 11.5 and weight decay 0.0153 by 1024 * (1 + 1/(1 - 0.85))
                 # and sums the loss over the batch: that is lr 1.5 on Keras's mean loss, and a
                 # decay of 1.33 % of each weight per step at peak once momentum has amplified it,
                 # i.e. Keras's decoupled weight_decay = 0.0133 / 1.5.
                 {}, {"optimizer": "nesterov", "learning_rate": 1.5, "momentum": 0.85,
                      "schedule": "warmup-linear", "batch_size": 1024, "epochs": 10,
                      "label_smoothing": 0.2, "augment_flip": True, "augment_crop": True,
                      "crop_pixels": 2, "weight_decay": 0.0089, "patience": 0, "lookahead": True,
                      "tta": True}),
        ArchInfo("transfer", "MobileNetV2 from keras.applications on 96x96 upsampled input",
                 {"base": "mobilenetv2", "weights": "imagenet"},
                 {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64, "epochs": 5,
                  "augment_flip": True}),
        ArchInfo("custom", "Your own architecture. " + SPEC_HELP,
                 {"spec": "C32-C32-P-D.25-C64-C64-P-D.25-F-FC256-D.5"},
                 {"optimizer": "adam", "learning_rate": 1e-3}),
    ]
}
# Which model options each architecture accepts (the UI enables only these fields).
ARCH_FIELDS = {"dense": {"batch_norm", "dropout"}, "dense-bn": {"batch_norm", "dropout"},
               "cnn": {"batch_norm", "dropout"}, "cnn-dropout": {"batch_norm", "dropout"},
               "cnn-dropout-bn": {"batch_norm", "dropout"}, "resnet9": {"dropout"},
               "fast": set(), "transfer": {"dropout", "weights"}, "custom": {"spec"}}


def arch_info(name: str) -> ArchInfo:
    try:
        return ARCHS[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; "
                         f"choose from {', '.join(ARCHS)}") from None


def _param(default: Any, help: str, label: str | None = None,
           choices: tuple[str, ...] | None = None, form: bool = True,
           flags: tuple[str, ...] | None = None, metavar: str | None = None, cli: bool = True,
           trained: bool = True) -> Any:
    """A TrainConfig field described once: the Model form (form.py), the ``train``/``code``
    flags and their --help (cli.py) are generated from this.

    ``label``: a short name for the form (default: the field name with spaces); ``choices``: the
    allowed strings; ``form=False``: a setting that is not a hyperparameter of the Model form;
    ``flags``: the CLI option strings (default ``--field-name``); ``cli=False``: no flag of its
    own; ``trained=False``: says where or how a run goes, not what is trained (``cifar-tui code``
    leaves it out). Limits go in ``TrainConfig.problems``.
    """
    return field(default=default, metadata={
        "help": help, "label": label, "choices": choices, "form": form, "flags": flags,
        "metavar": metavar, "cli": cli, "trained": trained})


MAX_CROP_PIXELS = 16


def _coerce(name: str, kind: str, value: object) -> object:
    """``value`` as the field's type ``kind`` (its annotation), or ValueError."""
    if value is None:
        if "None" in kind:
            return None
        raise ValueError(f"config value {name} is missing (null)")
    base = kind.split("|")[0].strip()
    ok: object = None
    if base == "bool":
        ok = value if isinstance(value, bool) else None
        expected = "true or false"
    elif base == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            ok = value
        elif isinstance(value, float) and value.is_integer():
            ok = int(value)
        expected = "a whole number"
    elif base == "float":
        ok = float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
            else None
        expected = "a number"
    elif base == "str":
        ok = value if isinstance(value, str) else None
        expected = "a string"
    else:  # list[str]
        ok = value if isinstance(value, list) and all(isinstance(v, str) for v in value) \
            else None
        expected = "a list of strings"
    if ok is None:
        raise ValueError(f"config value {name} is {value!r}, expected {expected}")
    return ok


# Config keys saved by earlier versions -> their current names.
RENAMED = {"ema": "lookahead"}


@dataclass
class TrainConfig:
    """One training run's settings. Add a hyperparameter here, with ``_param``: the Model form,
    the ``train``/``code`` flags and their --help pick it up (``problems`` is where its limits
    go)."""

    arch: str = _param("cnn", "architecture preset", choices=tuple(ARCHS), cli=False)
    spec: str | None = _param(None, "custom architecture text", label="custom spec")
    weights: str | None = _param(None, "transfer: imagenet, a weights file, or none")
    dropout: float | None = _param(None, "dropout rate (blank: the preset's own)")
    batch_norm: bool | None = _param(None, "batch norm after each hidden layer")
    optimizer: str = _param("sgd", "optimizer", choices=OPTIMIZERS)
    learning_rate: float = _param(0.01, "initial learning rate", flags=("--lr",
                                                                         "--learning-rate"))
    schedule: str = _param("constant", "learning-rate schedule", label="lr schedule",
                           choices=SCHEDULES)
    momentum: float = _param(0.9, "momentum (sgd family) or beta 1 (adam)")
    weight_decay: float = _param(0.0, "decoupled weight decay")
    batch_size: int = _param(32, "images per training step")
    epochs: int = _param(10, "passes over the training images")
    patience: int = _param(2, "early stopping on val accuracy: epochs without a new best; 0 off",
                           label="patience (0 off)")
    val_split: float = _param(0.1, "fraction of the train images held out for validation",
                              label="validation split")
    augment_flip: bool = _param(False, "random horizontal flips", label="augment: flip",
                                flags=("--flip",))
    augment_crop: bool = _param(False, "random translations (reflect-pad, crop)",
                                label="augment: crop", flags=("--crop",))
    crop_pixels: int = _param(4, "translation range of the crop augmentation",
                              label="crop pixels")
    label_smoothing: float = _param(0.0, "label smoothing")
    normalize: bool = _param(True, "scale pixels to [0, 1]", form=False)  # the Data pane's n
    lookahead: bool = _param(False, "a moving average of the weights, copied in every 5 steps",
                             label="lookahead", flags=("--lookahead", "--ema"))
    tta: bool = _param(False, "test-time augmentation: mirror and 1-pixel shifts",
                       label="test-time augment")
    seed: int = _param(0, "random seed")
    subset: int | None = _param(None, "train images per class, for quick demos (blank: all; "
                                "the test accuracy still uses all test images)",
                                label="images/class", metavar="N")
    test_subset: int | None = _param(None, "test images per class for the test accuracy "
                                     "(blank: all 1,000)", label="test images/class",
                                     metavar="N", trained=False)
    data: str | None = _param(None, "dataset path", form=False, cli=False, trained=False)
    devices: list[str] | None = _param(None, "comma-separated devices to train on; several: "
                                       "MirroredStrategy (tensorflow) or DataParallel (jax)",
                                       form=False, metavar="DEV,DEV", trained=False)
    mixed_precision: str = _param("auto", "float16 compute: auto (on with a GPU), on, off",
                                  choices=("auto", "on", "off"), form=False, trained=False)
    jit_compile: str = _param("auto", "XLA: auto (Keras's choice: on a GPU), on, off",
                              choices=("auto", "on", "off"), form=False, flags=("--jit",),
                              trained=False)
    # Keras's steps_per_execution. Auto is 1 on a CPU (progress every batch) and, on a GPU, where
    # dispatching a small model's step from Python costs more than the step, 16 (5 with the
    # lookahead, its cadence); Keras on PyTorch takes only 1.
    steps_per_execution: int = _param(0, "training steps per device call; 0: auto (1 on a CPU, "
                                      "16 on a GPU)", form=False, metavar="N", trained=False)

    @classmethod
    def for_arch(cls, arch: str, **overrides: Any) -> TrainConfig:
        """The preset's training defaults, then ``overrides`` (None values are ignored)."""
        info = arch_info(arch)
        values = {**info.training, **{k: v for k, v in overrides.items() if v is not None}}
        return cls(arch=arch, **values)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """From a config.json's values: unknown keys are ignored, old names are read as their new
        ones (``ema`` was the lookahead's first name), and values of the wrong type
        (``"normalize": "no"``) raise ValueError rather than being used as they are."""
        if not isinstance(d, dict):
            raise ValueError(f"a config is a JSON object, not {type(d).__name__}")
        d = dict(d)
        for old, new in RENAMED.items():
            if old in d:
                d.setdefault(new, d.pop(old))
        types = {f.name: str(f.type) for f in fields(cls)}
        return cls(**{k: _coerce(k, types[k], v) for k, v in d.items() if k in types})

    def to_dict(self) -> dict:
        return asdict(self)

    def problems(self) -> dict[str, str]:
        """What is wrong with these settings, by field name (empty when all is well)."""
        checks = [
            ("arch", self.arch in ARCHS, f"unknown architecture {self.arch!r}; "
                                         f"choose from {', '.join(ARCHS)}"),
            ("batch_size", self.batch_size >= 1, "batch size must be at least 1"),
            ("epochs", self.epochs >= 1, "epochs must be at least 1"),
            ("learning_rate", self.learning_rate > 0, "learning rate must be positive"),
            ("learning_rate", self.learning_rate <= MAX_LEARNING_RATE,
             f"learning rate {self.learning_rate:g} would diverge: use at most "
             f"{MAX_LEARNING_RATE:g} (typical: 0.001 adam, 0.01-0.1 sgd)"),
            ("val_split", 0 <= self.val_split < 1, "validation split must be in [0, 1)"),
            ("patience", self.patience >= 0, "patience must be 0 (off) or more"),
            ("label_smoothing", 0 <= self.label_smoothing < 1,
             "label smoothing must be in [0, 1)"),
            ("schedule", self.schedule in SCHEDULES,
             f"schedule must be one of {', '.join(SCHEDULES)}"),
            ("optimizer", self.optimizer in OPTIMIZERS,
             f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            ("dropout", self.dropout is None or 0 <= self.dropout < 1,
             "dropout must be in [0, 1)"),
            ("subset", self.subset is None or self.subset >= 1,
             "subset must be at least 1 per class"),
            ("test_subset", self.test_subset is None or self.test_subset >= 1,
             "test subset must be at least 1 per class"),
            ("momentum", 0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            ("weight_decay", math.isfinite(self.weight_decay) and self.weight_decay >= 0,
             "weight decay must be a number, 0 or more"),
            ("crop_pixels", 0 <= self.crop_pixels <= MAX_CROP_PIXELS,
             f"crop pixels must be in 0..{MAX_CROP_PIXELS}"),
            ("steps_per_execution", self.steps_per_execution >= 0,
             "steps per execution must be 0 (auto) or more"),
        ]
        found: dict[str, str] = {}
        for name, ok, msg in checks:
            if not ok:
                found.setdefault(name, msg)
        return found

    def validate(self) -> None:
        """Raise ValueError with the first problem (see ``problems``)."""
        for msg in self.problems().values():
            raise ValueError(msg)

    def warnings(self) -> dict[str, str]:
        """Allowed but probably unintended settings, by field name."""
        found = {}
        if self.optimizer in ("adam", "adamw") and self.learning_rate > 0.01:
            found["learning_rate"] = (f"{self.learning_rate:g} is high for {self.optimizer} "
                                      "(typical 0.001)")
        elif self.learning_rate > 1 and self.arch != "fast":
            found["learning_rate"] = f"{self.learning_rate:g} is high (typical 0.01-0.1)"
        return found

    def model_options(self) -> dict:
        """Options for models.build_model: only those this architecture takes."""
        allowed = ARCH_FIELDS.get(self.arch, set())
        opts = {"dropout": self.dropout, "batch_norm": self.batch_norm, "spec": self.spec}
        if self.arch == "transfer":
            opts["weights"] = "imagenet" if self.weights is None else self.weights
        opts = {k: v for k, v in opts.items() if k in allowed}
        if opts.get("weights") == "none":
            opts["weights"] = ""
        return opts
