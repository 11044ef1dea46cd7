"""The Model form, described from TrainConfig's fields; pure functions, no Textual.

A field of TrainConfig declared with ``config._param`` becomes a row of the form: a switch for a
bool, a choice list where it has ``choices``, else a text box parsed as its type. Fields an
architecture does not take (its ``ArchInfo.fields``) are hidden for it.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any

from .config import (
    ARCHS,
    DEFAULT_ARCH,
    MODEL_OPTIONS,
    TrainConfig,
    arch_info,
    field_help,
    field_kind,
)


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    help: str
    kind: str  # "switch", "choice" or "text"
    parse: type | None  # int, float or str for a text box
    optional: bool  # blank allowed (None)
    choices: tuple[str, ...] = ()


def _form_field(f: Any) -> FormField:
    meta = f.metadata
    optional = "None" in str(f.type)
    base = field_kind(f)
    if base == "bool":
        kind, parse = "switch", None
    elif meta.get("choices"):
        kind, parse = "choice", None
    else:
        kind, parse = "text", {"int": int, "float": float}.get(base, str)
    return FormField(f.name, meta.get("label") or f.name.replace("_", " "),
                     field_help(f, "blank"), kind, parse, optional,
                     tuple(meta.get("choices") or ()))


FORM: tuple[FormField, ...] = tuple(_form_field(f) for f in fields(TrainConfig)
                                    if f.metadata.get("form", False))
BY_NAME = {f.name: f for f in FORM}


class FormError(ValueError):
    """Which fields of the form are wrong, and why (``errors``: field name -> reason)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{BY_NAME[k].label if k in BY_NAME else k}: {v}"
                                   for k, v in errors.items()))


def visible(name: str, arch: str) -> bool:
    """Whether the form shows field ``name`` for architecture ``arch``."""
    return name not in MODEL_OPTIONS or name in arch_info(arch).fields


def preset_values(arch: str, subset: int | None = None) -> dict[str, Any]:
    """The form's values for a fresh ``arch``: its preset over TrainConfig's defaults."""
    info = arch_info(arch)
    cfg = TrainConfig.for_arch(arch, subset=subset)
    return {**cfg.to_dict(), "dropout": 0.0, **info.options}


def display(value: Any) -> Any:
    """A config value as its widget holds it: text for text boxes, bools and choices as is."""
    if isinstance(value, bool) or value is None:
        return value if value is not None else ""
    return value if isinstance(value, str) else str(value)


def derived_values(values: dict[str, Any], user_set: set[str]) -> dict[str, Any]:
    """The settings the form's architecture derives from others (fast: the learning rate and
    weight decay from the batch size and momentum) at what ``values`` say, as their widgets hold
    them, but for those in ``user_set`` (typed by hand: they stay). Empty while the form is
    wrong."""
    try:
        cfg = config_from_form(values)
    except FormError:
        return {}
    derive = arch_info(cfg.arch).derived
    if derive is None:
        return {}
    return {k: display(v) for k, v in derive(cfg).items() if k not in user_set}


def config_from_form(values: dict[str, Any]) -> TrainConfig:
    """The form's raw values (text, bools, choices; keyed by field name) as a TrainConfig.

    Fields the architecture does not take are ignored; a blank optional field means "none" (the
    preset's own, or all images). Raises FormError naming every wrong field.
    """
    arch = values.get("arch", DEFAULT_ARCH)
    if arch not in ARCHS:
        raise FormError({"arch": f"unknown architecture {arch!r}"})
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for f in FORM:
        if f.name == "arch" or not visible(f.name, arch) or f.name not in values:
            continue
        raw = values[f.name]
        if f.kind != "text":
            parsed[f.name] = raw
            continue
        text = "" if raw is None else str(raw).strip()
        if text == "":
            if not f.optional:
                errors[f.name] = "enter a value"
            continue  # None: the preset's own
        if f.parse is str:
            parsed[f.name] = text
            continue
        try:
            parsed[f.name] = f.parse(text)
        except ValueError:
            errors[f.name] = f"{text!r} is not {'a whole number' if f.parse is int else 'a number'}"
    if visible("spec", arch) and not parsed.get("spec"):
        errors["spec"] = "enter the layers, e.g. C32-P-F-FC64"  # not silently a default model
    if errors:
        raise FormError(errors)
    defaults = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
    cfg = TrainConfig(**{**defaults, **arch_info(arch).training, **parsed, "arch": arch})
    if visible("batch_norm", arch) and cfg.batch_norm is None:
        cfg.batch_norm = False  # the switch is off: not "the preset's own"
    if problems := cfg.problems():
        raise FormError(problems)
    return cfg
