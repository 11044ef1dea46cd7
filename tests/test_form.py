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


def test_a_model_option_the_architecture_does_not_take_is_refused_not_ignored():
    """``train resnet9 --batch-norm`` used to train without batch norm and say nothing."""
    assert TrainConfig.for_arch("resnet9", batch_norm=True).problems() == {
        "batch_norm": "resnet9 does not take batch norm (it takes dropout)"}
    assert "spec" in TrainConfig.for_arch("fast", spec="C8-F").problems()
    assert TrainConfig.for_arch("transfer", weights="none", dropout=0.2).problems() == {}
    # a run saved before the check, with an option its model ignored, still loads and resumes
    old = TrainConfig.from_dict({"arch": "resnet9", "batch_norm": False, "dropout": 0.1})
    assert (old.batch_norm, old.dropout, old.problems()) == (None, 0.1, {})


def test_a_hyperparameter_added_in_one_place_reaches_the_form_the_cli_and_its_help(tmp_path):
    """The README's recipe: one TrainConfig field with ``_param`` (its help and its limits) is a
    Model-form row with that help, a ``train`` and ``code`` flag whose --help shows the range,
    a value in the run's config, and a check that refuses a value out of range in the form and
    on the command line. Run in a fresh interpreter with the field added to TrainConfig, as an
    edit of config.py would add it."""
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
                                         label="mixup alpha", limits=config.Limits(0, 1))

        config.TrainConfig = TrainConfig  # what adding the field in config.py does
        from cifar_tui import cli, form

        row = form.BY_NAME["mixup"]
        values = {**form.preset_values("cnn"), "mixup": "0.4"}
        typed = {k: form.display(v) if k != "arch" else v for k, v in values.items()}
        from_form = form.config_from_form(typed).mixup
        try:
            form.config_from_form({**typed, "mixup": "2"})
            form_error = None
        except form.FormError as exc:
            form_error = exc.errors
        parser = cli._parser()
        args = parser.parse_args(["train", "cnn", "--mixup", "0.2", "--epochs", "1"])
        code_args = parser.parse_args(["code", "cnn", "--mixup", "0.3"])
        too_big = cli._config_from_args(parser.parse_args(["train", "cnn", "--mixup", "1.5"]))
        help_text = io.StringIO()
        with contextlib.redirect_stdout(help_text), contextlib.suppress(SystemExit):
            parser.parse_args(["train", "--help"])
        print(json.dumps({
            "form": [row.label, row.help, row.kind, row.parse.__name__], "from_form": from_form,
            "form_error": form_error, "train": cli._config_from_args(args).to_dict()["mixup"],
            "code": cli.config_flags(code_args, trained_only=True).get("mixup"),
            "cli_problems": too_big.problems(),
            "help": "--mixup MIXUP mixup alpha: blend pairs of training images; in [0, 1]"
                    in " ".join(help_text.getvalue().split()),
        }))
    ''')
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout.splitlines()[-1]) == {
        "form": ["mixup alpha", "mixup alpha: blend pairs of training images; in [0, 1]", "text",
                 "float"],
        "from_form": 0.4, "form_error": {"mixup": "mixup must be in [0, 1]"}, "train": 0.2,
        "code": 0.3, "cli_problems": {"mixup": "mixup must be in [0, 1]"}, "help": True}


def test_an_architecture_added_in_one_place_reaches_the_form_the_cli_and_the_builder():
    """The README's recipe: one ``ArchInfo`` line in config.py's ARCHS (naming its builder and
    the model options it takes) plus the builder itself in models.py. The architecture is then
    a choice in the form, which shows only the fields it takes, a ``train``/``params``/``code``
    target, and built by ``build_model`` with its preset options. Run in a fresh interpreter
    whose config.py has the line inserted, as the edit would."""
    import json
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent('''
        import contextlib, importlib.util, io, json, pathlib, sys
        import cifar_tui

        path = pathlib.Path(cifar_tui.__file__).parent / "config.py"
        anchor = "    ]\\n}\\nDEFAULT_ARCH"
        line = ('        ArchInfo("tiny", "One conv, global pool, dropout", "build_tiny", '
                'frozenset({"dropout"}), {"dropout": 0.1}, {"epochs": 2}),\\n')
        source = path.read_text()
        assert source.count(anchor) == 1
        spec = importlib.util.spec_from_loader("cifar_tui.config", loader=None)
        config = importlib.util.module_from_spec(spec)
        config.__file__ = str(path)
        sys.modules["cifar_tui.config"] = config
        exec(compile(source.replace(anchor, line + anchor), str(path), "exec"), config.__dict__)

        from cifar_tui import cli, codegen, form, models
        from cifar_tui.models import _classifier, _inputs, layers

        def build_tiny(dropout=0.0, num_classes=10, stage=None):  # as written in models.py
            inputs, x = _inputs(stage)
            x = layers.Conv2D(8, 3, activation="relu", name="conv")(x)
            x = layers.GlobalAveragePooling2D(name="gap")(x)
            x = layers.Dropout(dropout, name="dropout")(x)
            return models.keras.Model(inputs, _classifier(x, num_classes), name="tiny")

        models.build_tiny = build_tiny
        arch_row = form.BY_NAME["arch"]
        typed = {k: form.display(v) if k != "arch" else v
                 for k, v in form.preset_values("tiny").items()}
        cfg = form.config_from_form(typed)
        parser = cli._parser()
        train = cli._config_from_args(parser.parse_args(["train", "tiny", "--dropout", "0.3"]))
        model = models.build_model("tiny", **cfg.model_options())
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            cli.main(["params", "tiny", "--json"])
        print(json.dumps({
            "choice": "tiny" in arch_row.choices,
            "shown": sorted(n for n in ("spec", "weights", "dropout", "batch_norm")
                            if form.visible(n, "tiny")),
            "form": [cfg.arch, cfg.epochs, cfg.model_options()],
            "train": [train.arch, train.dropout],
            "built": [model.name, float(model.get_layer("dropout").rate)],
            "params": json.loads(out.getvalue())["total"] == model.count_params(),
            "code": "GlobalAveragePooling2D" in codegen.export_script(cfg, None),
        }))
    ''')
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout.splitlines()[-1]) == {
        "choice": True, "shown": ["dropout"], "form": ["tiny", 2, {"dropout": 0.1}],
        "train": ["tiny", 0.3], "built": ["tiny", 0.1], "params": True, "code": True}


def _train_help() -> str:
    """``cifar-tui train --help`` with its line breaks undone."""
    import contextlib
    import io

    from cifar_tui.cli import _parser

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        _parser().parse_args(["train", "--help"])
    return " ".join(out.getvalue().split())


def _limited_fields() -> list:
    return [f for f in fields(TrainConfig) if f.metadata.get("limits")]


@pytest.mark.parametrize("f", _limited_fields(), ids=lambda f: f.name)
def test_each_fields_limits_are_checked_and_shown_where_people_type_it(f):
    """A field's ``Limits`` are its only check: a value just past either end is refused with a
    message naming the field, the ends themselves follow the open/closed rule, and the range is
    in the form's help and the flag's --help."""
    limits, integer = f.metadata["limits"], str(f.type).startswith("int")
    step = 1 if integer else 1e-9
    noun = f.metadata.get("noun") or f.name.replace("_", " ")
    for end, past, is_open in [(limits.low, -step, limits.low_open),
                               (limits.high, step, limits.high_open)]:
        if end is None:
            continue
        wrong = TrainConfig(**{f.name: end + past}).problems()
        assert set(wrong) == {f.name} and wrong[f.name].startswith(noun.split()[0]), wrong
        assert (f.name in TrainConfig(**{f.name: end}).problems()) == is_open
    assert f.name in TrainConfig(**{f.name: float("nan")}).problems()
    described = limits.describe(integer)
    if f.metadata.get("form"):
        assert {r.name: r for r in FORM}[f.name].help.endswith("; " + described)
    option = (f.metadata.get("flags") or ("--" + f.name.replace("_", "-"),))[-1]
    assert "; " + described in _train_help().rsplit(option, 1)[1].split(" --")[0]


def test_the_subset_help_says_it_cuts_train_images_and_keeps_the_test_set_whole():
    """Issue 12: --subset 400 silently evaluated on 800 test images, and its help said only
    "train images". Both its helps (``train``'s flag and the global option, which the TUI
    takes) say it is per class of the training images and that the test set stays whole."""
    import contextlib
    import io

    from cifar_tui.cli import _parser

    train = _train_help().rsplit("--subset N", 1)[1].split(" --")[0].strip()
    assert train.startswith("train images per class"), train
    assert "the test accuracy still uses all test images" in train, train
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        _parser().parse_args(["--help"])
    top = " ".join(out.getvalue().split()).rsplit("--subset N", 1)[1].split(" --")[0]
    assert "train images per class" in top, top
    assert "the test accuracy still uses all test images" in top, top


def test_the_cli_help_says_what_leaving_a_flag_out_means_not_blank():
    """A CLI user cannot leave a field blank: the flag's help says what leaving it out does;
    the form's tooltip says what a blank box does."""
    text = _train_help()
    assert "blank" not in text
    assert "dropout rate (left out: the preset's own)" in text
    assert {r.name: r for r in FORM}["dropout"].help.startswith(
        "dropout rate (blank: the preset's own)")


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


def test_derived_values_follow_the_form_but_not_what_the_user_typed():
    """fast's learning rate and weight decay follow its batch size and momentum in the form;
    one the user typed stays, and a form that is wrong changes nothing."""
    from cifar_tui.form import derived_values

    assert derived_values(form_values("fast"), set()) == {"learning_rate": "1.5",
                                                          "weight_decay": "0.0089"}
    values = form_values("fast", batch_size="512", momentum="0.9")
    assert derived_values(values, set()) == {"learning_rate": "0.52", "weight_decay": "0.013"}
    assert derived_values(values, {"learning_rate"}) == {"weight_decay": "0.013"}
    assert derived_values({**values, "batch_size": "lots"}, set()) == {}
    assert derived_values(form_values("cnn", batch_size="512"), set()) == {}  # none derived
