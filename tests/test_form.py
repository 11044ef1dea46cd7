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


def test_a_hyperparameter_added_in_one_place_reaches_the_form_the_cli_and_its_help(tmp_path):
    """The README's recipe: one TrainConfig field with ``_param`` is a Model-form row, a
    ``train`` and ``code`` flag with its help, and a value in the run's config. Run in a fresh
    interpreter with the field added to TrainConfig, as an edit of config.py would add it."""
    import json
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent('''
        from __future__ import annotations  # as in config.py
        import contextlib, dataclasses, io, json
        import cifar_tui.config as config

        @dataclasses.dataclass
        class TrainConfig(config.TrainConfig):
            mixup: float = config._param(0.0, "mixup alpha: blend pairs of training images",
                                         label="mixup alpha")

        config.TrainConfig = TrainConfig  # what adding the field in config.py does
        from cifar_tui import cli, form

        row = form.BY_NAME["mixup"]
        values = {**form.preset_values("cnn"), "mixup": "0.4"}
        from_form = form.config_from_form({k: form.display(v) if k != "arch" else v
                                           for k, v in values.items()}).mixup
        parser = cli._parser()
        args = parser.parse_args(["train", "cnn", "--mixup", "0.2", "--epochs", "1"])
        code_args = parser.parse_args(["code", "cnn", "--mixup", "0.3"])
        help_text = io.StringIO()
        with contextlib.redirect_stdout(help_text), contextlib.suppress(SystemExit):
            parser.parse_args(["train", "--help"])
        print(json.dumps({
            "form": [row.label, row.help, row.kind, row.parse.__name__], "from_form": from_form,
            "train": cli._config_from_args(args).to_dict()["mixup"],
            "code": cli.config_flags(code_args, trained_only=True).get("mixup"),
            "help": "--mixup MIXUP mixup alpha: blend pairs of training images"
                    in " ".join(help_text.getvalue().split()),
        }))
    ''')
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout.splitlines()[-1]) == {
        "form": ["mixup alpha", "mixup alpha: blend pairs of training images", "text", "float"],
        "from_form": 0.4, "train": 0.2, "code": 0.3, "help": True}


def test_every_train_flag_is_a_config_field_and_keeps_its_name():
    """The flags people and scripts use (README, tests) are the generated ones."""
    from cifar_tui.cli import _parser

    args = _parser().parse_args(
        ["train", "cnn", "--lr", "0.1", "--learning-rate", "0.2", "--no-flip", "--crop",
         "--ema", "--jit", "off", "--mixed-precision", "on", "--devices", "/gpu:0,/gpu:1",
         "--batch-size", "64", "--val-split", "0", "--subset", "5", "--test-subset", "2",
         "--steps-per-execution", "3", "--no-normalize", "--batch-norm", "--tta"])
    from cifar_tui.cli import _config_from_args

    cfg = _config_from_args(args)
    assert (cfg.learning_rate, cfg.augment_flip, cfg.augment_crop, cfg.lookahead,
            cfg.jit_compile, cfg.mixed_precision, cfg.devices, cfg.batch_size, cfg.val_split,
            cfg.subset, cfg.test_subset, cfg.steps_per_execution, cfg.normalize,
            cfg.batch_norm, cfg.tta) == (0.2, False, True, True, "off", "on",
                                         ["/gpu:0", "/gpu:1"], 64, 0.0, 5, 2, 3, False, True,
                                         True)
    # left out: the preset's value; a global --subset before the subcommand still counts
    assert _config_from_args(_parser().parse_args(["train", "fast"])).batch_size == 1024
    assert _config_from_args(_parser().parse_args(["--subset", "7", "train", "cnn"])).subset == 7
