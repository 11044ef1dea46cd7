"""Architecture presets and the training configuration: plain data, no TensorFlow import.

The UI reads these to fill its forms before TensorFlow has loaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .recipe import FAST, keras_rates

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "warmup-cosine", "linear", "warmup-linear")


SPEC_HELP = (
    "Tokens joined by '-': C32 conv 3x3 same, C32v valid, C32k5 5x5 kernel, P max-pool 2, "
    "AP avg-pool 2, GAP global average pool, D.25 dropout, B batch norm, F flatten, "
    "FC256 dense ReLU. A softmax layer, one unit per class, is added at the end. "
    "e.g. C32-C32-P-D.25-C64-P-F-FC256"
)


@dataclass(frozen=True)
class ArchInfo:
    """A named architecture, described in one place: what it is, the function in models.py
    that builds it, the model options it takes (the form shows those fields, the flags pass
    them on), their preset values, and its training defaults. ``derived``: the training
    settings that follow from others (fast: the learning rate and weight decay from the batch
    size and momentum), given a config; see ``TrainConfig.retune``."""

    name: str
    description: str
    builder: str  # a build_* function of models.py (named, so this module needs no Keras)
    fields: frozenset[str] = frozenset()  # of MODEL_OPTIONS
    options: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    derived: Callable[[TrainConfig], dict[str, Any]] | None = None


# The TrainConfig fields that shape the model rather than its training: the form shows one
# only for the architectures whose ArchInfo.fields name it, and the preset sets it.
MODEL_OPTIONS = ("spec", "weights", "dropout", "batch_norm")
DATA_OPTIONS = ("image_size", "labels", "test_fraction")  # how the data set is read
LABELS = ("fine", "coarse")  # CIFAR-100's two label sets: 100 classes, or 20 superclasses
# The image sizes a data set may be resized to: the models' pooling needs 16; 256 bounds memory.
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 256
MAX_LEARNING_RATE = 10.0  # above this every optimizer here diverges at once
_SGD = {"optimizer": "sgd", "learning_rate": 0.01}
_PLAIN = frozenset({"batch_norm", "dropout"})
ARCHS: dict[str, ArchInfo] = {
    a.name: a
    for a in [
        ArchInfo("dense", "Flatten, Dense 2048-1024-512-256 ReLU, softmax (SGD)",
                 "build_dense", _PLAIN, {"batch_norm": False}, _SGD),
        ArchInfo("dense-bn", "The dense baseline with batch norm after each hidden layer",
                 "build_dense", _PLAIN, {"batch_norm": True}, _SGD),
        ArchInfo("cnn", "Conv 32 same, 32 valid, pool, 64 valid, 64 valid, pool, dense 512",
                 "build_cnn", _PLAIN, {"dropout": 0.0, "batch_norm": False}, _SGD),
        ArchInfo("cnn-dropout", "The CNN with dropout 0.25 before each pool and the last layer",
                 "build_cnn", _PLAIN, {"dropout": 0.25, "batch_norm": False}, _SGD),
        ArchInfo("cnn-dropout-bn", "The dropout CNN with batch norm after each dropout",
                 "build_cnn", _PLAIN, {"dropout": 0.25, "batch_norm": True}, _SGD),
        ArchInfo("resnet9", "ResNet-9: conv-BN-ReLU stages with two residual blocks",
                 "build_resnet9", frozenset({"dropout"}), {},
                 {"optimizer": "nesterov", "learning_rate": 0.2, "schedule": "warmup-cosine",
                  "batch_size": 512, "epochs": 16, "label_smoothing": 0.2,
                  "augment_flip": True, "augment_crop": True, "weight_decay": 5e-4,
                  "patience": 0}),
        ArchInfo("fast", "airbench-style: patch whitening, 3 conv groups, lookahead, TTA",
                 "build_fast", frozenset(), {}, FAST["train"],  # the recipe: recipe.py
                 lambda cfg: keras_rates(cfg.batch_size, cfg.momentum)),
        ArchInfo("transfer", "MobileNetV2 from keras.applications on 96x96 upsampled input",
                 "build_transfer", frozenset({"dropout", "weights"}),
                 {"base": "mobilenetv2", "weights": "imagenet"},
                 {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64, "epochs": 5,
                  "augment_flip": True}),
        ArchInfo("custom", "Your own architecture. " + SPEC_HELP,
                 "build_custom", frozenset({"spec"}),
                 {"spec": "C32-C32-P-D.25-C64-C64-P-D.25-F-FC256-D.5"},
                 {"optimizer": "adam", "learning_rate": 1e-3}),
    ]
}
DEFAULT_ARCH = "cnn"  # what the app and the form start on


def arch_info(name: str) -> ArchInfo:
    try:
        return ARCHS[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; "
                         f"choose from {', '.join(ARCHS)}") from None


@dataclass(frozen=True)
class Limits:
    """The numbers a field accepts: ``low`` to ``high`` (None: no bound on that side), each end
    included unless ``low_open``/``high_open``; never NaN or infinity. ``zero`` says what 0
    means ("off"), ``unit`` follows the bound ("per class"). ``too_high``, when given, is the
    message for a value past ``high`` (formatted with ``value`` and ``high``), and the plain
    message then speaks of the low end only."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    zero: str = ""
    unit: str = ""
    too_high: str = ""

    def describe(self, integer: bool, low_only: bool = False) -> str:
        """The range in words ('at least 1', 'in [0, 1)', 'in 0..16', 'positive',
        '0 (off) or more'); ``low_only``: the low end's alone."""
        low, high = self.low, None if low_only else self.high
        if low is not None and high is not None:
            text = (f"in {low:.0f}..{high:.0f}" if integer and not (self.low_open or
                                                                   self.high_open)
                    else f"in {'(' if self.low_open else '['}{low:g}, {high:g}"
                         f"{')' if self.high_open else ']'}")
            if self.zero and low == 0:
                text += f" (0: {self.zero})"
        elif low is not None:
            if low == 0 and self.low_open:
                text = "positive"
            elif low == 0:
                text = f"0 ({self.zero}) or more" if self.zero else "0 or more"
            else:
                text = f"{'more than' if self.low_open else 'at least'} {low:g}"
        elif high is not None:
            text = f"{'less than' if self.high_open else 'at most'} {high:g}"
        else:
            text = "a finite number"
        return f"{text} {self.unit}" if self.unit else text

    def problem(self, noun: str, value: float, integer: bool) -> str | None:
        """Why ``value`` is refused, or None when it is allowed."""
        if self.too_high and self.high is not None and (
                value > self.high or (self.high_open and value == self.high)):
            return self.too_high.format(value=value, high=self.high)
        ok = math.isfinite(value) and (
            self.low is None or value > self.low or (value == self.low and not self.low_open)
        ) and (
            self.high is None or value < self.high or (value == self.high and not self.high_open))
        if ok:
            return None
        text = self.describe(integer, bool(self.too_high))
        if not integer and text == "0 or more":
            text = "a number, " + text  # what NaN and infinity are not
        return f"{noun} must be {text}"


def _param(default: Any, help: str, label: str | None = None,
           choices: tuple[str, ...] | None = None, limits: Limits | None = None,
           unset: str | None = None, noun: str | None = None, form: bool = True,
           flags: tuple[str, ...] | None = None, metavar: str | None = None, cli: bool = True,
           trained: bool = True, sweep: str | None = None) -> Any:
    """A TrainConfig field described once: the Model form (form.py), the ``train``/``code``
    flags and their --help (cli.py), and the checks of ``TrainConfig.problems`` are generated
    from this.

    ``label``: a short name for the form (default: the field name with spaces); ``choices``: the
    allowed strings; ``limits``: the allowed numbers (``Limits``); ``unset``: what None means
    (the form says "blank: ...", the CLI "left out: ..."); ``noun``: what error messages call it
    (default: the field name with spaces); ``form=False``: a setting that is not a
    hyperparameter of the Model form; ``flags``: the CLI option strings (default
    ``--field-name``); ``cli=False``: no flag of its own; ``trained=False``: says where or how a
    run goes, not what is trained (``cifar-tui code`` leaves it out); ``sweep``: its range in a
    sweep that names no ``--param`` (space.py's syntax: ``1e-4..1e-1:log``, ``32,64,128``).
    Every trained field can be swept with ``--param``; ``sweep`` only puts it in the default.
    """
    return field(default=default, metadata={
        "help": help, "label": label, "choices": choices, "limits": limits, "unset": unset,
        "noun": noun, "form": form, "flags": flags, "metavar": metavar, "cli": cli,
        "trained": trained, "sweep": sweep})


def field_kind(f: Any) -> str:
    """A field's type without ``| None``: "int", "float", "bool", "str" or "list[str]"."""
    return str(f.type).replace("| None", "").strip()


def field_help(f: Any, unset_word: str) -> str:
    """A field's help with what None means (after ``unset_word``: "blank" in the form, "left
    out" on the command line) and its range, from its ``_param`` description."""
    meta = f.metadata
    text = meta.get("help", "")
    if meta.get("unset"):
        text += f" ({unset_word}: {meta['unset']})"
    if meta.get("limits"):
        text += "; " + meta["limits"].describe(field_kind(f) == "int")
    return text


def field_problem(f: Any, value: Any) -> str | None:
    """Why ``value`` is refused for field ``f`` (its choices or limits), or None."""
    meta = f.metadata
    noun = meta.get("noun") or f.name.replace("_", " ")
    if value is None:
        return None  # an optional field left unset; from_dict refuses None elsewhere
    if meta.get("choices") and value not in meta["choices"]:
        return f"unknown {noun} {value!r}; choose from {', '.join(meta['choices'])}"
    if meta.get("limits"):
        return meta["limits"].problem(noun, value, field_kind(f) == "int")
    return None


MAX_CROP_PIXELS = 16
# Every count has a sane upper bound: 36 fours typed into epochs trained "epoch 2/4444...".
MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 8192  # 1/6 of CIFAR-10's training images
MAX_TRAIN_PER_CLASS, MAX_TEST_PER_CLASS = 5000, 1000  # what CIFAR-10 has
MAX_SEED = 2**31 - 1  # what every backend's generator takes


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
    """One training run's settings. Add a hyperparameter here, with ``_param`` (its help, its
    choices or ``Limits``): the Model form, the ``train``/``code`` flags, their --help and
    ``problems`` all follow from it."""

    arch: str = _param(DEFAULT_ARCH, "architecture preset", choices=tuple(ARCHS),
                       noun="architecture", cli=False)
    spec: str | None = _param(None, "custom architecture text", label="custom spec")
    weights: str | None = _param(None, "transfer: imagenet, a weights file, or none",
                                 unset="imagenet")
    dropout: float | None = _param(None, "dropout rate", limits=Limits(0, 1, high_open=True),
                                   unset="the preset's own", sweep="0..0.5")
    batch_norm: bool | None = _param(None, "batch norm after each hidden layer",
                                     sweep="true,false")
    optimizer: str = _param("sgd", "optimizer", choices=OPTIMIZERS)
    learning_rate: float = _param(
        0.01, "initial learning rate (fast: from the batch size and momentum, as airbench's "
        "11.5 per 1024 images, unless given)", flags=("--lr", "--learning-rate"),
        limits=Limits(0, MAX_LEARNING_RATE, low_open=True,
                      too_high="learning rate {value:g} would diverge: use at most {high:g} "
                               "(typical: 0.001 adam, 0.01-0.1 sgd)"),
        sweep="1e-4..1e-1:log")
    schedule: str = _param("constant", "learning-rate schedule", label="lr schedule",
                           choices=SCHEDULES)
    momentum: float = _param(0.9, "momentum (sgd family) or beta 1 (adam); fast retunes its "
                             "learning rate and weight decay to it",
                             limits=Limits(0, 1, high_open=True))
    weight_decay: float = _param(0.0, "decoupled weight decay (fast: airbench's 0.0153 per 1024 "
                                 "images at the momentum, unless given)", limits=Limits(0),
                                 sweep="1e-5..1e-2:log")
    batch_size: int = _param(32, "images per training step; fast retunes its learning rate "
                             "to it", limits=Limits(1, MAX_BATCH_SIZE),
                             sweep="32,64,128")
    epochs: int = _param(10, "passes over the training images", limits=Limits(1, MAX_EPOCHS))
    patience: int = _param(2, "early stopping on val accuracy: epochs without a new best",
                           label="patience (0 off)", limits=Limits(0, MAX_EPOCHS, zero="off"))
    val_split: float = _param(0.1, "fraction of the train images held out for validation",
                              label="validation split", noun="validation split",
                              limits=Limits(0, 1, high_open=True))
    augment_flip: bool = _param(False, "random horizontal flips", label="augment: flip",
                                flags=("--flip",))
    alternate_flip: bool = _param(False, "flip each image on every other epoch (airbench) "
                                  "instead of at random", label="flip: alternate",
                                  flags=("--alternate-flip",))
    augment_crop: bool = _param(False, "random translations (reflect-pad, crop)",
                                label="augment: crop", flags=("--crop",))
    crop_pixels: int = _param(4, "translation range of the crop augmentation",
                              label="crop pixels", limits=Limits(0, MAX_CROP_PIXELS))
    label_smoothing: float = _param(0.0, "label smoothing", limits=Limits(0, 1, high_open=True))
    normalize: bool = _param(True, "scale pixels to [0, 1]", form=False)  # the Data pane's n
    lookahead: bool = _param(False, "a moving average of the weights, copied in every 5 steps",
                             label="lookahead", flags=("--lookahead", "--ema"))
    tta: bool = _param(False, "test-time augmentation: mirror and 1-pixel shifts",
                       label="test-time augment")
    seed: int = _param(0, "random seed", limits=Limits(0, MAX_SEED))
    subset: int | None = _param(None, "train images per class, for quick demos",
                                unset="all; the test accuracy still uses all test images",
                                limits=Limits(1, MAX_TRAIN_PER_CLASS, unit="per class"),
                                label="images/class",
                                metavar="N")
    test_subset: int | None = _param(None, "test images per class for the test accuracy",
                                     unset="all 1,000",
                                     limits=Limits(1, MAX_TEST_PER_CLASS, unit="per class"),
                                     label="test images/class", metavar="N", trained=False)
    data: str | None = _param(None, "dataset path", form=False, cli=False, trained=False)
    # How the data set is read (the CLI's data flags, next to --data): cli=False here, as the
    # data flags are added to every command that loads data (cli._add_data).
    image_size: int = _param(32, "side in pixels the images are resized to (the models' input)",
                             limits=Limits(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE), form=False,
                             cli=False, trained=False,
                             metavar="PIXELS")
    labels: str = _param("fine", "CIFAR-100's classes: fine (100) or coarse (20)",
                         choices=LABELS, form=False, cli=False, trained=False)
    test_fraction: float = _param(0.2, "share of each class held out as the test set, for "
                                  "class folders without train/ and test/",
                                  limits=Limits(0, 1, low_open=True, high_open=True), form=False,
                                  cli=False, trained=False, metavar="F")
    devices: list[str] | None = _param(None, "comma-separated devices to train on; several: "
                                       "MirroredStrategy (tensorflow) or DataParallel (jax)",
                                       form=False, metavar="DEV,DEV", trained=False)
    mixed_precision: str = _param("auto", "16-bit compute, float32 weights: auto (float16 on a "
                                  "GPU; bfloat16 on a CPU with AVX512-BF16 or AMX, under "
                                  "TensorFlow), on, off",
                                  choices=("auto", "on", "off"), form=False, trained=False)
    jit_compile: str = _param("auto", "XLA: auto (Keras's choice: on a GPU; fast on "
                              "TensorFlow: on, but off in bfloat16 on a CPU), on, off",
                              choices=("auto", "on", "off"), form=False, flags=("--jit",),
                              noun="jit", trained=False)
    # Keras's steps_per_execution. Auto is 1 on a CPU (progress every batch) and, on a GPU, where
    # dispatching a small model's step from Python costs more than the step, 16 (5 with the
    # lookahead, its cadence); Keras on PyTorch takes only 1.
    steps_per_execution: int = _param(0, "training steps per device call (auto: 1 on a CPU, "
                                      "16 on a GPU, 5 with the lookahead)",
                                      limits=Limits(0, 1000, zero="auto"), form=False,
                                      metavar="N",
                                      trained=False)

    @classmethod
    def for_arch(cls, arch: str, **overrides: Any) -> TrainConfig:
        """The preset's training defaults, then ``overrides`` (None values are ignored), with
        the settings the preset derives retuned to them (``retune``)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls(arch=arch, **arch_info(arch).training).retune(**given)

    def retune(self, **values: Any) -> TrainConfig:
        """These settings with ``values``, and the settings this architecture derives from
        others (fast: learning rate and weight decay from batch size and momentum) derived again,
        those still at their derived values and not in ``values``: a value set by hand stays."""
        new = replace(self, **values)
        derive = arch_info(self.arch).derived if self.arch in ARCHS else None
        if derive is None or new.arch != self.arch:
            return new
        before = derive(self)
        follow = {k: v for k, v in derive(new).items()
                  if k not in values and getattr(self, k) == before[k]}
        return replace(new, **follow) if follow else new

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
        cfg = cls(**{k: _coerce(k, types[k], v) for k, v in d.items() if k in types})
        if cfg.arch in ARCHS:  # older runs kept options their architecture ignored: drop them
            for name in set(MODEL_OPTIONS) - arch_info(cfg.arch).fields:
                setattr(cfg, name, None)
        return cfg

    def headline(self) -> str:
        """'cnn-dropout (batch 64, sgd lr 0.01)': which run this is, in one phrase."""
        return f"{self.arch} (batch {self.batch_size}, {self.optimizer} lr {self.learning_rate})"

    def to_dict(self) -> dict:
        return asdict(self)

    def unused(self) -> set[str]:
        """Fields these settings make moot: a report or comparison shows them as unused rather
        than as a value that never acted (plain SGD and Adam take no --momentum)."""
        moot = set()
        if self.optimizer not in ("momentum", "nesterov"):
            moot.add("momentum")
        if not self.augment_crop:
            moot.add("crop_pixels")
        if not self.augment_flip:
            moot.add("alternate_flip")
        return moot

    def problems(self) -> dict[str, str]:
        """What is wrong with these settings, by field name (empty when all is well): each
        field's choices or limits, as its ``_param`` describes them."""
        found = {f.name: msg for f in fields(self)
                 if (msg := field_problem(f, getattr(self, f.name))) is not None}
        if self.arch in ARCHS:  # a model option the architecture would silently ignore
            takes = arch_info(self.arch).fields
            for name in MODEL_OPTIONS:
                if getattr(self, name) is not None and name not in takes:
                    found.setdefault(name, f"{self.arch} does not take "
                                     f"{name.replace('_', ' ')} (it takes "
                                     f"{', '.join(sorted(takes)) or 'no model options'})")
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
        # above 1, unless the preset's own rate is (the fast recipe tunes 1.5 on a mean loss,
        # 3 at batch 2048)
        elif self.learning_rate > max(1.0, self._preset_rate()):
            found["learning_rate"] = f"{self.learning_rate:g} is high (typical 0.01-0.1)"
        return found

    def _preset_rate(self) -> float:
        info = arch_info(self.arch) if self.arch in ARCHS else None
        if info is None:
            return 0.0
        preset = info.derived(self) if info.derived is not None else info.training
        return preset.get("learning_rate", 0.0)

    def resolved(self) -> TrainConfig:
        """These settings with each unset model option this architecture takes at its preset's
        value, as a run records them: a g run of cnn-dropout-bn stored dropout and batch norm as
        null, and its table and report showed "-" for both."""
        info = arch_info(self.arch) if self.arch in ARCHS else None
        if info is None:
            return self
        unset = {k: info.options[k] for k in MODEL_OPTIONS
                 if k in info.fields and getattr(self, k) is None and k in info.options}
        return replace(self, **unset) if unset else self

    def model_options(self, download: bool = True) -> dict:
        """Options for models.build_model: only those this architecture takes, unset ones at
        the preset's values. ``download=False``: no pretrained weights (parameter counts do not
        depend on them, so counting never downloads). No weights is spelled "none" throughout;
        None means unset: the preset's."""
        info = arch_info(self.arch)
        opts = {k: getattr(self, k) for k in MODEL_OPTIONS if k in info.fields}
        opts = {k: info.options.get(k) if v is None else v for k, v in opts.items()}
        if "weights" in opts and not download:
            opts["weights"] = "none"
        return opts


def config_fields(names: tuple[str, ...] | None = None, trained_only: bool = False,
                  cli_only: bool = True) -> list:
    """TrainConfig's fields that are flags (all, or ``names``; ``trained_only``: those that
    change what is trained, for ``cifar-tui code``; ``cli_only=False``: ``names`` even when
    they are not flags of their own, as the data options are added with --data)."""
    return [f for f in fields(TrainConfig)
            if (f.metadata.get("cli", False) or not cli_only)
            and (names is None or f.name in names)
            and (f.metadata.get("trained", True) or not trained_only)]


def command_flags(cfg: TrainConfig) -> list[str]:
    """The fewest ``train``/``code`` flags that make ``cfg`` from its preset
    (``TrainConfig.for_arch``), trained fields only: ``cifar-tui code ARCH FLAGS`` rebuilds it.
    What acts is compared, not how it is spelled: a model option at the preset's value (the
    form's dropout 0.0 for `cnn`, where the preset leaves it unset), a moot setting (momentum
    for Adam), and a derived one that the flags bring back (fast's learning rate from its batch
    size) are left out."""
    cli = {f.name: f for f in config_fields(trained_only=True)}

    def acting(c: TrainConfig) -> dict:
        opts, moot = c.model_options(), c.unused()
        return {k: opts.get(k) if k in MODEL_OPTIONS else getattr(c, k) for k in cli
                if k not in moot and (k not in MODEL_OPTIONS or k in opts)}

    want, preset = acting(cfg), acting(TrainConfig.for_arch(cfg.arch))
    given = {k: getattr(cfg, k) for k, v in want.items() if k not in preset or preset[k] != v}
    for name in list(given):
        rest = {k: v for k, v in given.items() if k != name}
        if acting(TrainConfig.for_arch(cfg.arch, **rest)) == want:
            given = rest
    out: list[str] = []
    for name, value in given.items():
        f = cli[name]
        opt = max(f.metadata.get("flags") or ("--" + name.replace("_", "-"),), key=len)
        kind = field_kind(f)
        if kind == "bool":
            out.append(opt if value else "--no-" + opt[2:])
        elif value is None:
            continue  # a flag cannot say "unset"; the preset's None is what for_arch gives
        elif kind == "list[str]":
            out += [opt, ",".join(value)]
        else:
            out += [opt, str(value)]
    return out
