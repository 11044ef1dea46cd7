"""Architecture presets and the training configuration: plain data, no TensorFlow import.

The UI reads these to fill its forms before TensorFlow has loaded.
"""

from __future__ import annotations

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
                      "crop_pixels": 2, "weight_decay": 0.0089, "patience": 0, "ema": True,
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


@dataclass
class TrainConfig:
    arch: str = "cnn"
    spec: str | None = None  # custom architecture text
    weights: str | None = None  # transfer: imagenet, a file, or none
    dropout: float | None = None  # None: the preset's own
    batch_norm: bool | None = None
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    schedule: str = "constant"
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 10
    patience: int = 2  # early stopping on val_accuracy; 0 disables
    val_split: float = 0.1
    augment_flip: bool = False
    augment_crop: bool = False
    crop_pixels: int = 4  # translation range of the crop augmentation
    label_smoothing: float = 0.0
    normalize: bool = True
    ema: bool = False  # lookahead: a moving average of the weights copied in every 5 steps
    tta: bool = False  # test-time augmentation: mirror and 1-pixel shifts
    seed: int = 0
    subset: int | None = None  # train images per class, for quick demos
    data: str | None = None
    devices: list[str] | None = None  # several -> MirroredStrategy
    mixed_precision: str = "auto"  # auto (on with a GPU), on, off
    jit_compile: str = "auto"  # auto (Keras: XLA on GPU), on, off

    @classmethod
    def for_arch(cls, arch: str, **overrides: Any) -> TrainConfig:
        """The preset's training defaults, then ``overrides`` (None values are ignored)."""
        info = arch_info(arch)
        values = {**info.training, **{k: v for k, v in overrides.items() if v is not None}}
        return cls(arch=arch, **values)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        arch_info(self.arch)
        checks = [
            (self.batch_size >= 1, "batch size must be at least 1"),
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.learning_rate > 0, "learning rate must be positive"),
            (0 <= self.val_split < 1, "validation split must be in [0, 1)"),
            (self.patience >= 0, "patience must be 0 (off) or more"),
            (0 <= self.label_smoothing < 1, "label smoothing must be in [0, 1)"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.dropout is None or 0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (self.subset is None or self.subset >= 1, "subset must be at least 1 per class"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)

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
