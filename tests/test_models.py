from __future__ import annotations

import json

import keras
import pytest

from cifar_tui.cli import main
from cifar_tui.config import ARCHS as PRESETS
from cifar_tui.models import SpecError, build_custom, build_model, build_transfer
from cifar_tui.params import param_table

KNOWN_TOTALS = {"dense": 9_050_378, "cnn": 890_410, "cnn-dropout": 890_410}


@pytest.mark.parametrize("arch", [a for a in PRESETS if a != "transfer"])
def test_every_preset_builds_and_table_matches_keras(arch):
    model = build_model(arch)
    assert model.output_shape == (None, 10)
    # named by the project, so a rebuild reads the same (Keras's names count up per process)
    assert [layer.name for layer in build_model(arch).layers] == [
        layer.name for layer in model.layers]
    table = param_table(model)
    assert table.matches_keras
    assert table.total == model.count_params()
    assert table.trainable + table.non_trainable == table.total
    if arch in KNOWN_TOTALS:
        assert table.total == KNOWN_TOTALS[arch]


def rows_by_type(table, kind):
    return [r for r in table.rows if r.type == kind]


def test_dense_formulas():
    table = param_table(build_model("dense"))
    dense = rows_by_type(table, "Dense")
    assert [r.formula for r in dense] == ["(3072+1)*2048", "(2048+1)*1024", "(1024+1)*512",
                                          "(512+1)*256", "(256+1)*10"]
    assert dense[0].count == 6_293_504
    assert rows_by_type(table, "Flatten")[0].formula == "0"


def test_conv_same_and_valid_formulas_and_shapes():
    table = param_table(build_model("cnn"))
    convs = rows_by_type(table, "Conv2D")
    assert [r.formula for r in convs] == ["(3*3*3+1)*32", "(3*3*32+1)*32", "(3*3*32+1)*64",
                                          "(3*3*64+1)*64"]
    assert [r.output_shape for r in convs] == ["(None, 32, 32, 32)", "(None, 30, 30, 32)",
                                               "(None, 13, 13, 64)", "(None, 11, 11, 64)"]
    assert all(r.count == 0 for r in rows_by_type(table, "MaxPooling2D"))


def test_batch_norm_is_two_trainable_two_not():
    table = param_table(build_model("cnn-dropout-bn"))
    bn = rows_by_type(table, "BatchNormalization")
    assert len(bn) == 3
    assert bn[0].formula == "2*32 + 2*32"
    assert (bn[0].count, bn[0].trainable, bn[0].non_trainable) == (128, 64, 64)
    assert all(r.count == 0 for r in rows_by_type(table, "Dropout"))
    # Dropout comes before the pool, BN right after each dropout.
    types = [r.type for r in table.rows]
    i = types.index("Dropout")
    assert types[i + 1 : i + 3] == ["BatchNormalization", "MaxPooling2D"]


def test_dropout_cnn_places_dropout_before_pools_and_last_layer():
    types = [type(layer).__name__ for layer in build_model("cnn-dropout").layers]
    assert types.count("Dropout") == 3
    assert types[types.index("Dropout") + 1] == "MaxPooling2D"
    assert types[-2:] == ["Dropout", "Dense"]
    assert build_model("cnn-dropout").get_layer("dropout1").rate == 0.25


def test_option_overrides_and_unknown_option():
    assert any(isinstance(layer, keras.layers.BatchNormalization)
               for layer in build_model("cnn", batch_norm=True).layers)
    with pytest.raises(ValueError, match="does not take batch_norm"):
        build_model("resnet9", batch_norm=True)
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("vgg99")


def test_custom_spec_builds():
    model = build_custom("C32-C32v-P-D.25-B-C64k5-AP-F-FC128-D.5")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[1:5] == ["Rescaling", "Conv2D", "Conv2D", "MaxPooling2D"]
    assert model.layers[3].padding == "valid" and model.layers[7].kernel_size == (5, 5)
    assert param_table(model).matches_keras
    assert build_custom("C8-GAP").output_shape == (None, 10)


def test_a_rebuilt_model_reads_the_same(monkeypatch):
    """The same settings give the same layer names, table and summary however many models the
    process built before (Keras's own names count up: conv2d_15 after a few form edits)."""
    from cifar_tui.params import keras_summary

    spec = "C16-C16v-P-D.25-B-C32k5-AP-F-FC64-D.5"

    def built(arch, **options):
        model = build_model(arch, **options)
        return [layer.name for layer in model.layers], param_table(model).to_dict(), \
            keras_summary(model)

    first = built("custom", spec=spec)
    assert built("custom", spec=spec) == first
    assert first[0][2:] == ["conv1", "conv2", "pool1", "dropout1", "bn1", "conv3", "pool2",
                            "flatten", "fc1", "dropout2", "predictions"]
    assert [name for name in built("custom", spec="C8-GAP")[0]][2:] == ["conv1", "gap",
                                                                      "predictions"]
    resnet = built("resnet9", width=8, dropout=0.1)
    assert built("resnet9", width=8, dropout=0.1) == resnet and "dropout" in resnet[0]


@pytest.mark.parametrize(
    "spec, bad, reason",
    [
        ("C32-X9-P", "X9", "unknown token"),
        ("C32-FC64", "FC64", "needs a flat input"),
        ("C32-F-C32", "C32", "already flattened"),
        ("C8-P-P-P-P-P-P", "P", "cannot pool"),
        ("C8-D1.5", "D1.5", "between 0 and 1"),
        ("C8k40v", "C8k40v", "does not fit"),
    ],
)
def test_custom_spec_errors_point_at_the_token(spec, bad, reason):
    with pytest.raises(SpecError) as info:
        build_custom(spec)
    err = info.value
    assert reason in str(err)
    assert spec[err.start : err.start + err.length] == bad
    caret_line = str(err).splitlines()[-1]
    assert caret_line.index("^") - 2 == err.start


def test_transfer_from_local_weights_file(tmp_path):
    backbone = keras.applications.MobileNetV2(include_top=False, weights=None,
                                              input_shape=(96, 96, 3), pooling="avg", alpha=1.0)
    path = tmp_path / "mnv2.weights.h5"
    backbone.save_weights(path)
    model = build_transfer("mobilenetv2", weights=str(path))
    loaded = model.get_layer(backbone.name).weights[0].numpy()
    assert (loaded == backbone.weights[0].numpy()).all()
    table = param_table(model)
    assert table.matches_keras and table.non_trainable > 2_000_000  # frozen backbone
    assert model.get_layer("upsample").output.shape[1:3] == (96, 96)


def test_transfer_offline_names_the_options(monkeypatch):
    def offline(*a, **k):
        raise Exception("URL fetch failure")

    monkeypatch.setattr(keras.applications, "MobileNetV2", offline)
    with pytest.raises(RuntimeError, match=r"--weights PATH.*--weights none"):
        build_transfer("mobilenetv2", weights="imagenet")


def test_cli_params_json(capsys):
    assert main(["params", "cnn", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"] == 890_410 and out["matches_keras"]
    assert out["rows"][1]["name"] == "scale" and out["rows"][1]["count"] == 0
    assert out["rows"][2]["formula"] == "(3*3*3+1)*32"


def test_cli_params_table_and_bad_spec(capsys):
    assert main(["params", "dense"]) == 0
    assert "9,050,378" in capsys.readouterr().out
    assert main(["params", "custom", "--spec", "C32-Q"]) == 1
    assert "token 'Q'" in capsys.readouterr().err


def test_fast_preset_whitening_decorrelates_and_centres_patches():
    import numpy as np

    from cifar_tui.models import init_whitening

    rng = np.random.default_rng(0)
    # Correlated pixels (a smooth random field plus a little noise) and channels, mean not 0.
    base = rng.normal(size=(64, 17, 17, 1)).repeat(2, 1).repeat(2, 2)[:, :32, :32]
    base = np.concatenate([base, 0.5 * base, rng.normal(size=base.shape)], axis=-1)
    x = np.clip(128 + 30 * (base + 0.1 * rng.normal(size=base.shape)), 0, 255).astype("uint8")
    model = build_model("fast")
    assert not model.get_layer("whiten").trainable
    assert init_whitening(model, x, scale=1 / 255)
    (kernel,) = model.get_layer("whiten").get_weights()
    bias = model.get_layer("whiten_bias").bias.numpy()
    assert kernel.shape == (2, 2, 3, 24)
    np.testing.assert_allclose(kernel[..., 12:], -kernel[..., :12])
    patches = np.lib.stride_tricks.sliding_window_view(x / 255, (2, 2), axis=(1, 2))
    patches = patches.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 12)
    out = patches @ kernel[..., :12].reshape(12, 12) + bias[:12]
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-3)
    cov = np.cov(out, rowvar=False)
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0, atol=1e-4)  # decorrelated
    # Unit variance, except that eps (5e-4 in CIFAR-normalised units) damps the weakest
    # directions, which come last: variance lambda / (lambda + eps) falls along the diagonal.
    var = np.diag(cov)
    assert var[0] == pytest.approx(1, abs=0.01) and np.all(np.diff(var) <= 1e-6)
    assert var.min() > 0.5
    assert param_table(model).matches_keras
    assert not init_whitening(build_model("cnn"), x)  # no whitening layer: nothing to do


def test_cli_params_transfer_needs_no_download(capsys, monkeypatch):
    def offline(*a, **k):
        raise AssertionError("tried to download weights just to count parameters")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    assert main(["params", "transfer", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["matches_keras"] and out["total"] > 2_000_000


def test_keras_and_its_backend_are_set_aside_from_the_garbage_collector():
    """Once Keras is loaded, its objects live as long as the process: full collections must not
    walk them again (they paused the TUI's drawing thread, bench/pane_switch.py)."""
    import gc

    from cifar_tui.backend import import_keras

    gc.unfreeze()
    import_keras()
    assert gc.get_freeze_count() > 50_000


def test_resnet9_has_myrtles_scaled_bias_free_head():
    # Without logits x 0.125 its first epoch on all the data blew up (loss 7.0, val 14 %;
    # bench/RESULTS.md): the head must scale what the max-pooled features give it.
    model = build_model("resnet9", width=8)
    head, scale = model.get_layer("head"), model.get_layer("logit_scale")
    assert not head.use_bias and scale.scale == 0.125
    assert model.layers[-1].name == "predictions" and model.output.dtype == "float32"
    names = [layer.name for layer in model.layers]
    assert names.index("pool4") < names.index("head") < names.index("logit_scale")


@pytest.mark.parametrize("decay", [0.0, 0.05])
def test_adamw_trains_with_the_weight_decay_the_config_records(decay):
    """--optimizer adamw --weight-decay 0 trained with 1e-4 while config.json said 0.0."""
    from cifar_tui.models import make_optimizer

    opt = make_optimizer("adamw", 1e-3, decay)
    assert opt.get_config()["weight_decay"] == decay


def test_a_preset_run_records_and_names_what_it_trains():
    """Issue 34 item 9: g runs (each preset with its own model options) stored dropout and
    batch norm as null, shown as "-" in h and in the report, and model.summary() was titled
    "cnn" for cnn-dropout and cnn-dropout-bn."""
    from cifar_tui.config import MODEL_OPTIONS, TrainConfig

    unset = dict.fromkeys(MODEL_OPTIONS)
    for arch, dropout, batch_norm in (("cnn", 0.0, False), ("cnn-dropout", 0.25, False),
                                      ("cnn-dropout-bn", 0.25, True)):
        config = TrainConfig.for_arch(arch, **unset)
        stored = TrainConfig(**{**config.to_dict(), **unset}).resolved().to_dict()
        assert (stored["dropout"], stored["batch_norm"]) == (dropout, batch_norm), arch
        assert build_model(arch).name == arch
    assert TrainConfig(arch="cnn", dropout=0.5).resolved().dropout == 0.5  # the user's kept
    assert TrainConfig(arch="fast").resolved().dropout is None  # an option it does not take
