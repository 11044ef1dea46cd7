"""The Model form's description and parser, without Textual."""

from __future__ import annotations

from dataclasses import fields

import pytest

from cifar_tui.config import ARCHS, TrainConfig
from cifar_tui.form import FORM, FormError, config_from_form, display, preset_values, visible


def form_values(arch: str, **changes: object) -> dict:
    """What the form's widgets hold for a fresh ``arch``, with ``changes`` typed in."""
    values = {f.name: display(v) if f.kind == "text" else v
              for f in FORM for v in [preset_values(arch).get(f.name)]}
    return {**values, **changes}


def test_every_hyperparameter_of_trainconfig_is_a_form_field():
    names = [f.name for f in FORM]
    wanted = [f.name for f in fields(TrainConfig) if f.metadata.get("form")]
    assert names == wanted  # generated, in TrainConfig's order
    assert {"learning_rate", "batch_size", "momentum", "weight_decay", "lookahead"} <= set(names)
    assert not {"data", "devices", "normalize"} & set(names)
    kinds = {f.name: f.kind for f in FORM}
    assert (kinds["augment_flip"], kinds["optimizer"], kinds["epochs"]) == (
        "switch", "choice", "text")


@pytest.mark.parametrize("arch", list(ARCHS))
def test_a_fresh_preset_parses_to_its_own_config(arch):
    cfg = config_from_form(form_values(arch))
    preset = TrainConfig.for_arch(arch)
    for name in ("optimizer", "learning_rate", "batch_size", "epochs", "schedule", "momentum"):
        assert getattr(cfg, name) == getattr(preset, name), name


def test_typed_values_are_parsed_by_their_field_type():
    cfg = config_from_form(form_values("cnn", batch_size=" 64 ", learning_rate="0.05",
                                       augment_flip=True, subset="", optimizer="adam"))
    assert (cfg.batch_size, cfg.learning_rate, cfg.augment_flip, cfg.subset, cfg.optimizer) == (
        64, 0.05, True, None, "adam")
    assert cfg.batch_norm is False  # the switch is off, not "the preset's own"


def test_every_wrong_field_is_named_with_its_reason():
    with pytest.raises(FormError) as err:
        config_from_form(form_values("cnn", batch_size="abc", epochs="", learning_rate="1e"))
    assert err.value.errors == {"batch_size": "'abc' is not a whole number",
                                "epochs": "enter a value", "learning_rate": "'1e' is not a number"}
    assert "batch size: 'abc' is not a whole number" in str(err.value)


def test_a_learning_rate_of_64_is_refused_and_a_high_one_warned():
    with pytest.raises(FormError) as err:
        config_from_form(form_values("cnn", learning_rate="64"))
    assert "would diverge" in err.value.errors["learning_rate"]
    cfg = config_from_form(form_values("custom", learning_rate="0.1"))
    assert "high for adam" in cfg.warnings()["learning_rate"]
    assert config_from_form(form_values("fast")).warnings() == {}


def test_fields_an_architecture_does_not_take_are_ignored():
    assert not visible("spec", "cnn") and visible("spec", "custom")
    cfg = config_from_form(form_values("cnn", spec="C8-F", weights="x.h5"))
    assert (cfg.spec, cfg.weights) == (None, None)
    cfg = config_from_form(form_values("custom", spec="C8-P-F-FC16"))
    assert cfg.spec == "C8-P-F-FC16"
