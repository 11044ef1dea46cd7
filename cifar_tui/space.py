"""A sweep's search space, read from TrainConfig's fields. No UI code, no Optuna import.

A ``--param`` spec names a TrainConfig field (or one of its flags: ``lr``) and what to try:

    lr=1e-4..1e-1:log     a number range, sampled on a log scale
    dropout=0..0.5        a number range (a whole-number field: whole numbers)
    batch_size=32,64,128  a list: the sampler picks among these
    batch_norm=true,false

Which fields exist, their types, choices and limits come from ``TrainConfig`` (config.py), so a
new hyperparameter is sweepable without a change here; its ``_param(sweep=...)`` puts it in the
default space of a sweep that names no ``--param``. A space of lists only runs as a grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from .config import MODEL_OPTIONS, TrainConfig, arch_info, field_kind

TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


class SpecError(ValueError):
    """A ``--param`` spec that cannot be swept; the message is one line naming the field."""


@dataclass(frozen=True)
class Param:
    """One swept field: a list of ``choices``, or a number range ``low``..``high``."""

    name: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    @property
    def spec(self) -> str:
        """The spec this was parsed from, in a canonical form (stored with the study)."""
        if self.choices is not None:
            return f"{self.name}=" + ",".join(_text(v) for v in self.choices)
        return f"{self.name}={self.low:g}..{self.high:g}" + (":log" if self.log else "")

    def suggest(self, trial: Any) -> Any:  # noqa: ANN401 - an optuna.Trial; a field's value
        """The value of this field for ``trial`` (an ``optuna.Trial``)."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else f"{value:g}" \
        if isinstance(value, float) else str(value)


def sweepable() -> dict[str, Any]:
    """The fields a sweep may vary, by every name a spec may use for them: the field's own
    name and its flags (``lr``, ``learning-rate``). What is trained, not where it runs."""
    names: dict[str, Any] = {}
    for f in fields(TrainConfig):
        if not f.metadata.get("trained", True) or field_kind(f) == "list[str]":
            continue
        names[f.name] = f
        for flag in f.metadata.get("flags") or ():
            names[flag.lstrip("-").replace("-", "_")] = f
    return names


def _number(text: str, integer: bool, spec: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SpecError(f"--param {spec}: {text!r} is not a number ({name} takes "
                        f"{'whole numbers' if integer else 'numbers'})") from None
    if integer and not value.is_integer():
        raise SpecError(f"--param {spec}: {name} takes whole numbers, not {text}")
    return int(value) if integer else value


def _value(f: Any, text: str, spec: str) -> Any:  # noqa: ANN401 - a field's value
    kind = field_kind(f)
    if kind == "bool":
        if text.lower() in TRUE + FALSE:
            return text.lower() in TRUE
        raise SpecError(f"--param {spec}: {f.name} is true or false, not {text!r}")
    if kind in ("int", "float"):
        return _number(text, kind == "int", spec, f.name)
    return text


def _range_words(f: Any) -> str:
    """What a field takes, for an error message: its choices, its limits or its type."""
    meta, kind = f.metadata, field_kind(f)
    if meta.get("choices"):
        return "one of " + ", ".join(meta["choices"])
    if kind == "bool":
        return "true or false"
    if meta.get("limits"):
        return meta["limits"].describe(kind == "int")
    return {"int": "a whole number", "float": "a number"}.get(kind, "text")


def parse_param(spec: str, base: TrainConfig | None = None) -> Param:
    """The ``--param`` spec as a Param, or SpecError saying in one line what is wrong and what
    the field takes. ``base``: the study's config, whose architecture must take the field."""
    name, sep, what = spec.partition("=")
    name = name.strip().replace("-", "_")
    known = sweepable()
    if not sep or not name or not what.strip():
        raise SpecError(f"--param {spec}: write NAME=LOW..HIGH[:log] or NAME=A,B,C "
                        "(e.g. lr=1e-4..1e-1:log, batch_size=32,64,128)")
    if name not in known:
        choices = sorted({f.name for f in known.values()})
        raise SpecError(f"--param {spec}: no hyperparameter {name!r}; sweepable: "
                        + ", ".join(choices))
    f = known[name]
    kind, what = field_kind(f), what.strip()
    rng, log = what, False
    if what.endswith(":log"):
        rng, log = what[:-4], True
    if ".." in rng:
        if kind not in ("int", "float"):
            raise SpecError(f"--param {spec}: {f.name} is {_range_words(f)}, not a number "
                            f"range: list the values (e.g. {f.name}=A,B)")
        low_text, _, high_text = rng.partition("..")
        low = _number(low_text.strip(), kind == "int", spec, f.name)
        high = _number(high_text.strip(), kind == "int", spec, f.name)
        if not low < high:
            raise SpecError(f"--param {spec}: the low end must be below the high end "
                            f"({f.name} takes {_range_words(f)})")
        if log and low <= 0:
            raise SpecError(f"--param {spec}: a log scale needs a low end above 0 "
                            f"({f.name} takes {_range_words(f)})")
        param = Param(f.name, low=low, high=high, log=log, integer=kind == "int")
        values: tuple = (low, high)
    else:
        if log:
            raise SpecError(f"--param {spec}: :log goes with a range LOW..HIGH, not a list")
        parts = [p.strip() for p in rng.split(",")]
        if any(not p for p in parts):
            raise SpecError(f"--param {spec}: an empty value in the list")
        values = tuple(dict.fromkeys(_value(f, p, spec) for p in parts))
        param = Param(f.name, choices=values)
    for value in values:
        problem = _problem(f, value, base)
        if problem:
            raise SpecError(f"--param {spec}: {problem}")
    return param


def _problem(f: Any, value: object, base: TrainConfig | None) -> str | None:
    """Why ``value`` is refused for field ``f`` in a run of ``base`` (its limits and choices,
    and whether the architecture takes it), as ``TrainConfig.problems`` says it."""
    cfg = apply(base or TrainConfig(), {f.name: value})
    return cfg.problems().get(f.name)


def default_space(arch: str) -> list[Param]:
    """The fields whose ``_param`` gives a ``sweep`` range, those this architecture takes."""
    takes = arch_info(arch).fields
    base = TrainConfig.for_arch(arch)
    return [parse_param(f"{f.name}={f.metadata['sweep']}", base) for f in fields(TrainConfig)
            if f.metadata.get("sweep") and (f.name not in MODEL_OPTIONS or f.name in takes)]


def parse_space(specs: list[str], base: TrainConfig) -> list[Param]:
    """``--param`` specs (none: the architecture's default space), each field once."""
    space = [parse_param(s, base) for s in specs] if specs else default_space(base.arch)
    seen: set[str] = set()
    for p in space:
        if p.name in seen:
            raise SpecError(f"--param {p.name}: given twice; give each field once")
        seen.add(p.name)
    if not space:
        raise SpecError(f"{base.arch} has no hyperparameter with a default range: choose them "
                        "with --param (e.g. --param lr=1e-4..1e-1:log)")
    return space


def is_grid(space: list[Param]) -> bool:
    return all(p.choices is not None for p in space)


def grid_size(space: list[Param]) -> int:
    return math.prod(len(p.choices) for p in space) if is_grid(space) else 0


def apply(base: TrainConfig, values: dict[str, Any]) -> TrainConfig:
    """``base`` with the swept ``values``. A swept architecture takes its preset's model options
    (those not swept too), as a run of that preset would, and keeps the rest of ``base``."""
    values = dict(values)
    if "arch" in values:
        values = {**dict.fromkeys(MODEL_OPTIONS), **values}
        return replace(base, **values)
    return base.retune(**values)  # fast's lr and weight decay follow a swept batch size
