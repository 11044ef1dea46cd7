"""A sweep's search space: --param specs read against TrainConfig's fields (no Optuna, no
TensorFlow)."""

from __future__ import annotations

import dataclasses

import pytest

from cifar_tui import config as config_module
from cifar_tui.config import Limits, TrainConfig, _param
from cifar_tui.space import (
    Param,
    SpecError,
    apply,
    default_space,
    grid_size,
    is_grid,
    parse_param,
    parse_space,
)


def test_ranges_lists_and_flag_names():
    assert parse_param("lr=1e-4..1e-1:log") == Param("learning_rate", low=1e-4, high=0.1,
                                                      log=True)
    assert parse_param("batch_size=32,64,128") == Param("batch_size", choices=(32, 64, 128))
    assert parse_param("batch-size=16..64") == Param("batch_size", low=16, high=64,
                                                      integer=True)
    assert parse_param("dropout=0..0.5") == Param("dropout", low=0.0, high=0.5)
    assert parse_param("batch_norm=true,false").choices == (True, False)
    assert parse_param("optimizer=sgd,adam").choices == ("sgd", "adam")
    assert parse_param("lr=1e-4..1e-1:log").spec == "learning_rate=0.0001..0.1:log"
    assert parse_param(parse_param("batch_size=32,64").spec) == parse_param("batch_size=32,64")


@pytest.mark.parametrize(("spec", "says"), [
    ("dropout=0..1.5", "--param dropout=0..1.5: dropout must be in [0, 1)"),
    ("batch_size=0,32", "--param batch_size=0,32: batch size must be in 1..8192"),
    ("lr=0..1:log", "a log scale needs a low end above 0 (learning_rate takes in (0, 10])"),
    ("lr=1e-4..20", "learning rate 20 would diverge: use at most 10"),
    ("lr=0.1..0.01", "the low end must be below the high end (learning_rate takes in (0, 10])"),
    ("optimizer=0..1", "optimizer is one of sgd, momentum, nesterov, adam, adamw, not a number"),
    ("optimizer=sgd,lion", "unknown optimizer 'lion'; choose from sgd, momentum"),
    ("batch_size=32.5,64", "batch_size takes whole numbers, not 32.5"),
    ("batch_norm=maybe", "batch_norm is true or false, not 'maybe'"),
    ("epochz=1..3", "no hyperparameter 'epochz'; sweepable: "),
    ("devices=a,b", "no hyperparameter 'devices'"),  # where a run goes, not what is trained
    ("lr", "write NAME=LOW..HIGH[:log] or NAME=A,B,C"),
    ("lr=1e-3,1e-2:log", ":log goes with a range"),
    ("dropout=0.1,,0.2", "an empty value in the list"),
])
def test_a_bad_spec_is_one_line_naming_the_field_and_its_range(spec, says):
    with pytest.raises(SpecError) as err:
        parse_param(spec)
    text = str(err.value)
    assert says in text and "\n" not in text and text.startswith(f"--param {spec}")


def test_a_field_the_architecture_does_not_take_is_refused():
    with pytest.raises(SpecError, match="fast does not take dropout"):
        parse_param("dropout=0..0.5", TrainConfig.for_arch("fast"))
    with pytest.raises(SpecError, match="given twice"):
        parse_space(["lr=0.01,0.1", "learning_rate=0.001..0.1"], TrainConfig())


def test_the_default_space_is_the_fields_sweep_ranges_the_preset_takes():
    assert [p.spec for p in default_space("cnn")] == [
        "dropout=0..0.5", "batch_norm=true,false", "learning_rate=0.0001..0.1:log",
        "weight_decay=1e-05..0.01:log", "batch_size=32,64,128"]
    # resnet9 takes dropout but not batch norm; fast takes no model option
    assert [p.name for p in default_space("resnet9")] == [
        "dropout", "learning_rate", "weight_decay", "batch_size"]
    assert "dropout" not in [p.name for p in default_space("fast")]
    assert parse_space([], TrainConfig.for_arch("cnn")) == default_space("cnn")


def test_a_new_hyperparameter_is_sweepable_without_touching_the_sweep_code(monkeypatch):
    """Describe once: a field added to TrainConfig with its Limits is a --param at once, its
    range checked, and with ``sweep=`` it is in the default space."""
    extra = dataclasses.make_dataclass(
        "TrainConfig", [("ema_decay", "float", _param(0.99, "EMA decay", sweep="0.9..0.999",
                                                    limits=Limits(0, 1, high_open=True)))],
        bases=(TrainConfig,))
    for module in ("cifar_tui.space", "cifar_tui.config"):
        monkeypatch.setattr(f"{module}.TrainConfig", extra)
    assert config_module.TrainConfig is extra
    assert parse_param("ema_decay=0.9..0.99") == Param("ema_decay", low=0.9, high=0.99)
    with pytest.raises(SpecError, match="ema decay must be in"):
        parse_param("ema_decay=0.5..1.5")
    assert "ema_decay=0.9..0.999" in [p.spec for p in default_space("cnn")]


def test_grids_and_applying_values():
    space = parse_space(["batch_size=32,64,128", "batch_norm=true,false"], TrainConfig())
    assert is_grid(space) and grid_size(space) == 6
    assert not is_grid(parse_space(["lr=0.01..0.1"], TrainConfig()))
    base = TrainConfig.for_arch("cnn", dropout=0.1, batch_norm=True, learning_rate=0.05)
    assert apply(base, {"batch_size": 64}) == dataclasses.replace(base, batch_size=64)
    # a swept architecture takes its preset's model options; the rest of the base stays
    swept = apply(base, {"arch": "cnn-dropout"})
    assert (swept.arch, swept.dropout, swept.batch_norm, swept.learning_rate) == \
        ("cnn-dropout", None, None, 0.05)
    assert apply(base, {"arch": "cnn", "dropout": 0.3}).dropout == 0.3
