"""The `fast` recipe against airbench94 (issue 17) and the GPU path's steps per call (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest


def test_whitening_sample_covers_every_class_and_follows_the_seed():
    from cifar_tui.data import balanced_sample

    y = np.repeat(np.arange(10), 500)  # stored sorted by class, as the archives are
    picked = balanced_sample(y, 1000, seed=0)
    counts = np.bincount(y[picked], minlength=10)
    assert counts.tolist() == [100] * 10  # "the first 1000" would be two classes
    assert len(np.unique(picked)) == len(picked)
    assert not np.array_equal(picked, balanced_sample(y, 1000, seed=1))
    assert np.array_equal(picked, balanced_sample(y, 1000, seed=0))


def test_warmup_linear_is_airbench_triangle():
    from cifar_tui.config import TrainConfig
    from cifar_tui.schedules import learning_rate

    cfg = TrainConfig.for_arch("fast", epochs=10)
    sched = learning_rate(cfg, steps_per_epoch=100)  # 1000 steps, warm-up 230
    lr = cfg.learning_rate

    def at(step: int) -> float:
        return float(np.asarray(sched(step)))

    assert at(0) == pytest.approx(0.2 * lr)
    assert at(115) == pytest.approx(0.6 * lr)  # halfway up
    assert at(230) == pytest.approx(lr)
    assert at(615) == pytest.approx((1 + 0.07) / 2 * lr)  # halfway down
    assert at(1000) == pytest.approx(0.07 * lr)


def test_schedule_saved_before_end_existed_still_decays_to_zero():
    from cifar_tui.schedules import WarmupLinear

    old = WarmupLinear.from_config({"peak": 1.0, "total_steps": 100, "warmup_steps": 20,
                                    "start": 0.2})
    assert float(np.asarray(old(100))) == pytest.approx(0.0)


def test_training_batches_drop_the_short_last_batch():
    from cifar_tui.pipeline import ArrayBatches

    x = np.zeros((2500, 32, 32, 3), np.uint8)
    y = np.zeros(2500, np.int64)
    train = ArrayBatches(x, y, 1024, shuffle=True, drop_remainder=True)
    assert len(train) == 2 and all(len(train[i][0]) == 1024 for i in range(2))
    assert len(ArrayBatches(x, y, 1024)) == 3  # evaluation keeps every image
    tiny = ArrayBatches(x[:10], y[:10], 1024, drop_remainder=True)
    assert len(tiny) == 1 and len(tiny[0][0]) == 10  # fewer images than a batch: keep them


def _lookahead_on(kernel_value: float, epochs: int, steps: int, every: int, rate: float,
                  start_epoch: int = 0):
    import keras

    from cifar_tui.callbacks import Lookahead

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer="sgd", loss="mse")
    la = Lookahead(epochs, steps, every=every, rate=rate, start_epoch=start_epoch)
    la.set_model(model)
    model.layers[0].kernel.assign(np.full((2, 1), kernel_value, np.float32))
    la.on_train_begin()
    return model, la


def _value(model) -> float:
    return float(model.layers[0].kernel.numpy()[0, 0])


def _set(model, value: float) -> None:
    model.layers[0].kernel.assign(np.full((2, 1), value, np.float32))


def test_lookahead_averages_on_its_cubic_ramp():
    model, la = _lookahead_on(0.0, epochs=2, steps=10, every=5, rate=0.5 ** (1 / 5))
    la.on_epoch_begin(0)
    _set(model, 1.0)
    for batch in range(4):
        la.on_train_batch_end(batch)
    assert _value(model) == 1.0  # steps 1-4: nothing yet
    la.on_train_batch_end(4)  # step 5: the average starts here, as a copy
    assert _value(model) == 1.0
    _set(model, 3.0)
    for batch in range(5, 9):
        la.on_train_batch_end(batch)
    assert _value(model) == 3.0
    la.on_train_batch_end(9)  # step 10 of 20: decay 0.5 * 0.5 ** 3 toward the average (1)
    assert _value(model) == pytest.approx(0.0625 * 1 + 0.9375 * 3)


def test_lookahead_waits_for_its_start_epoch_and_ends_each_epoch_on_the_average():
    model, la = _lookahead_on(0.0, epochs=4, steps=10, every=5, rate=0.5 ** (1 / 5),
                              start_epoch=1)
    la.on_epoch_begin(0)
    _set(model, 1.0)
    for batch in range(10):
        la.on_train_batch_end(batch)
    assert _value(model) == 1.0  # epoch 0: before the start, never averaged
    la.on_epoch_begin(1)
    for batch in range(5):  # step 15: the average starts at 1
        la.on_train_batch_end(batch)
    _set(model, 5.0)
    for batch in range(5, 9):
        la.on_train_batch_end(batch)
    la.on_train_batch_end(9)  # step 20 of 40: decay 0.5 * 0.5 ** 3, then the epoch's end
    averaged = 0.0625 * 1 + 0.9375 * 5
    assert _value(model) == pytest.approx(averaged)
    la.on_epoch_begin(2)
    for batch in range(4):
        la.on_train_batch_end(batch)
    _set(model, 100.0)
    for batch in range(4, 9):  # step 25 (decay 0.5 * (25/40) ** 3) then 26-29
        la.on_train_batch_end(batch)
    _set(model, 7.0)  # where training left the model before the epoch's last step
    la.on_train_batch_end(9)  # step 30 is due, and the epoch ends on the average
    d25, d30 = 0.5 * (25 / 40) ** 3, 0.5 * (30 / 40) ** 3
    avg25 = d25 * averaged + (1 - d25) * 100
    assert _value(model) == pytest.approx(d30 * avg25 + (1 - d30) * 7)


def test_lookahead_with_several_steps_per_call_counts_every_step():
    # Five steps per device call: Keras calls back once per call with the last batch index.
    model, la = _lookahead_on(0.0, epochs=2, steps=15, every=5, rate=0.5 ** (1 / 5))
    la.on_epoch_begin(0)
    _set(model, 1.0)
    la.on_train_batch_end(4)  # steps 1-5 in one call: the average starts
    _set(model, 3.0)
    la.on_train_batch_end(9)  # steps 6-10: decay 0.5 * (10 / 30) ** 3, as one step at a time
    d = 0.5 * (10 / 30) ** 3
    assert _value(model) == pytest.approx(d * 1 + (1 - d) * 3)


def test_resumed_lookahead_restarts_from_the_saved_average():
    # A run resumed at epoch 2 (the lookahead began in epoch 1): the saved weights are the
    # average the last epoch ended on, so averaging goes on from them at once.
    model, la = _lookahead_on(2.0, epochs=4, steps=5, every=5, rate=0.5 ** (1 / 5),
                              start_epoch=1)
    la.on_epoch_begin(2)
    _set(model, 4.0)
    la.on_train_batch_end(4)  # step 15 of 20: decay 0.5 * 0.75 ** 3 toward 2
    d = 0.5 * 0.75 ** 3
    assert _value(model) == pytest.approx(d * 2 + (1 - d) * 4)


@pytest.mark.parametrize("per_call", [1, 3])
@pytest.mark.parametrize("resume_at", [2, 3])
def test_a_resumed_lookahead_decays_as_an_unbroken_run(per_call, resume_at):
    # 7 steps an epoch, an update every 5: epochs end between updates, so a resumed run must
    # count its first update's k from the last update of the unbroken run, not from its epoch.
    import keras

    from cifar_tui.callbacks import Lookahead

    epochs, steps = 5, 7

    def decays(first_epoch: int) -> list[tuple[int, float]]:
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        model.compile(optimizer="sgd", loss="mse", steps_per_execution=per_call)
        la = Lookahead(epochs, steps, every=5, rate=0.9, start_epoch=1)
        la.set_model(model)
        seen: list[tuple[int, float]] = []
        la.update = lambda decay: seen.append((la._epoch, decay))
        la.on_train_begin()
        for epoch in range(first_epoch, epochs):
            la.on_epoch_begin(epoch)
            for first in range(0, steps, per_call):  # Keras reports each call's last index
                la.on_train_batch_end(first + per_call - 1)
        return [(epoch, d) for epoch, d in seen if epoch >= resume_at]

    unbroken = decays(0)
    assert len(unbroken) >= 4 and any(d < 1.0 for _, d in unbroken)
    assert decays(resume_at) == unbroken  # the same k and step: the same float


def test_tta_averages_views_in_logit_space():
    from cifar_tui.evaluation import predict_probs

    class Views:  # logits depend on the mean of the left half's red channel
        inputs = [type("I", (), {"dtype": "uint8"})()]

        def predict(self, x, batch_size, verbose):
            left = x[:, :, :16, 0].astype(np.float64).mean(axis=(1, 2)) / 255
            logits = np.stack([4 * left, np.zeros_like(left), np.full_like(left, 1.0)], 1)
            logits = np.concatenate([logits, np.full((len(x), 7), -5.0)], 1)
            p = np.exp(logits)
            return (p / p.sum(1, keepdims=True)).astype(np.float32)

    x = np.zeros((1, 32, 32, 3), np.uint8)
    x[:, :, :17] = 255  # a 17-column band: mirrors and 1-pixel shifts see different amounts
    # left-half fractions: the image 1, its mirror 1/16; shifted by (-1,-1): 16/16 and 2/16;
    # by (+1,+1): 16/16 and 0/16 (reflect padding)
    fracs = [(1.0, 1 / 16), (1.0, 2 / 16), (1.0, 0.0)]
    weights = [0.5, 0.25, 0.25]
    mean_left = sum(w * (a + b) / 2 for w, (a, b) in zip(weights, fracs))
    logits = np.array([4 * mean_left, 0.0, 1.0] + [-5.0] * 7)
    expected = np.exp(logits) / np.exp(logits).sum()
    got = predict_probs(Views(), x, tta=True)[0]
    assert got == pytest.approx(expected, rel=1e-4)


def test_steps_per_execution_auto_and_torch_refusal(monkeypatch):
    from cifar_tui import trainer
    from cifar_tui.config import TrainConfig

    if trainer.keras.backend.backend() == "torch":
        pytest.skip("checks the auto choice of the other backends")
    monkeypatch.setattr(trainer.backend, "gpu_count", lambda: 0)
    assert trainer.steps_per_execution(TrainConfig.for_arch("cnn")) == 1
    monkeypatch.setattr(trainer.backend, "gpu_count", lambda: 1)
    assert trainer.steps_per_execution(TrainConfig.for_arch("cnn")) == 16
    assert trainer.steps_per_execution(TrainConfig.for_arch("fast")) == 5
    assert trainer.steps_per_execution(TrainConfig.for_arch("cnn", steps_per_execution=3)) == 3
    monkeypatch.setattr(trainer.keras.backend, "backend", lambda: "torch")
    assert trainer.steps_per_execution(TrainConfig.for_arch("fast")) == 1
    with pytest.raises(ValueError, match="one step per call"):
        trainer.steps_per_execution(TrainConfig.for_arch("cnn", steps_per_execution=4))


def test_alternating_flip_mirrors_each_image_on_every_other_epoch():
    from cifar_tui.pipeline import ArrayBatches

    n = 64
    x = np.zeros((n, 32, 32, 3), np.uint8)
    x[:, :, 0] = np.arange(n, dtype=np.uint8)[:, None, None] + 1  # left column: the image's id
    y = np.zeros(n, np.int64)

    def mirrored(batches: ArrayBatches) -> np.ndarray:
        """Per image id: was it served mirrored this epoch?"""
        seen = np.full(n, -1)
        for i in range(len(batches)):
            images, _ = batches[i]
            left, right = images[:, 0, 0, 0], images[:, 0, -1, 0]
            ids = np.where(left > 0, left, right).astype(int) - 1
            seen[ids] = right > 0
        assert (seen >= 0).all()
        return seen.astype(bool)

    batches = ArrayBatches(x, y, 16, shuffle=True, seed=3, alternate_flip=True)
    epochs = []
    for _ in range(4):
        epochs.append(mirrored(batches))
        batches.on_epoch_end()
    assert 16 < epochs[0].sum() < 48  # about half, drawn once
    assert (epochs[1] == ~epochs[0]).all() and (epochs[2] == epochs[0]).all()
    assert (epochs[3] == epochs[1]).all()
    resumed = ArrayBatches(x, y, 16, shuffle=True, seed=3, epoch=3, alternate_flip=True)
    assert (mirrored(resumed) == epochs[3]).all()  # a resume sees what a straight run saw
    assert not (mirrored(ArrayBatches(x, y, 16, seed=4, alternate_flip=True)) == epochs[0]).all()
    assert not mirrored(ArrayBatches(x, y, 16, shuffle=True)).any()  # off: untouched
    assert x[:, :, -1].max() == 0  # the caller's array is never flipped in place


def test_fast_trains_with_the_alternating_flip_outside_the_model():
    from cifar_tui.config import TrainConfig

    cfg = TrainConfig.for_arch("fast")
    assert cfg.augment_flip and cfg.alternate_flip  # the pipeline flips; the model must not too


def test_freezable_bias_learns_for_its_epochs_then_stays_frozen():
    import keras

    from cifar_tui.callbacks import FreezeBiases
    from cifar_tui.layers import FreezableBias

    inputs = keras.Input((3,))
    out = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")(
        FreezableBias(2, name="bias_layer")(inputs))
    model = keras.Model(inputs, out)
    opt = keras.optimizers.SGD(0.1, weight_decay=0.5)
    model.compile(optimizer=opt, loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = x.sum(1, keepdims=True) + 6.0  # the best bias is 2 per input
    layer = model.get_layer("bias_layer")
    opt.exclude_from_weight_decay(var_list=[layer.bias])  # as the trainer does
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(np.array(layer.bias.numpy()))

    model.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[FreezeBiases(), Record()])
    assert not np.allclose(seen[0], 0) and not np.allclose(seen[1], seen[0])  # epochs 1-2 learn
    assert np.allclose(seen[2], seen[1]) and np.allclose(seen[4], seen[1])  # then frozen
    assert int(layer.live.numpy()) == 0
    assert layer.live.dtype == "int32"  # the lookahead averages float weights only


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])  # float16: a GPU's default
def test_a_frozen_bias_does_not_coast_on_its_momentum(policy):
    import keras

    from cifar_tui.callbacks import FreezeBiases
    from cifar_tui.layers import FreezableBias

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        inputs = keras.Input((3,))
        layer = FreezableBias(1, name="bias_layer")
        head = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")  # no divergence
        model = keras.Model(inputs, head(layer(inputs)))
        opt = keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True)  # as the fast recipe's
        # mixed_float16: Keras wraps the SGD in a LossScaleOptimizer, which holds no slots
        model.compile(optimizer=opt, loss="mse")
    finally:
        keras.config.set_dtype_policy(before)
    # 16 steps an epoch: the loss scale's first overflowing steps are skipped
    x = np.random.default_rng(0).normal(size=(128, 3)).astype("float32")
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(np.array(layer.bias.numpy()))

    model.fit(x, x.sum(1, keepdims=True) + 6.0, batch_size=8, epochs=3, verbose=0,
              callbacks=[FreezeBiases(), Record()])
    # without the momentum reset, the velocity built in epoch 1 keeps moving it for dozens of steps
    assert not np.allclose(seen[0], 0)
    assert np.array_equal(seen[1], seen[0]) and np.array_equal(seen[2], seen[0])


def test_fast_model_counts_and_loads_its_freezable_whitening_bias(tmp_path):
    import keras

    from cifar_tui.models import build_fast, init_whitening
    from cifar_tui.params import param_table
    from cifar_tui.recipe import FAST

    model = build_fast()
    x = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3)).astype(np.uint8)
    assert init_whitening(model, x)
    bias = model.get_layer("whiten_bias")
    assert bias.epochs == FAST["whitening"]["bias_epochs"] and not np.allclose(bias.bias.numpy(), 0)
    table = param_table(model)
    assert table.matches_keras and table.total == model.count_params()
    path = tmp_path / "fast.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert np.allclose(loaded.get_layer("whiten_bias").bias.numpy(), bias.bias.numpy())


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("affine", [False, True])
def test_fused_batch_norm_is_keras_batch_norm_through_the_fused_kernel(policy, affine):
    import keras

    from cifar_tui.layers import FusedBatchNorm

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the fused kernel is TensorFlow's; elsewhere the layer is Keras's own")
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(1.5, 2.0, (16, 5, 5, 6)).astype("float32"))
    upstream = tf.constant(rng.normal(size=x.shape).astype("float32"))
    kw = dict(momentum=0.6, epsilon=1e-12, center=affine, scale=affine, dtype=policy)
    fused, plain = FusedBatchNorm(**kw), keras.layers.BatchNormalization(**kw)
    for layer in (fused, plain):
        layer.build(x.shape)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in plain.get_weights()]
    fused.set_weights(weights)
    plain.set_weights(weights)

    def train_step(layer):  # noqa: ANN001, ANN202
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.cast(layer(x, training=True), "float32")
            loss = tf.reduce_sum(y * upstream)
        return y.numpy(), tape.gradient(loss, x).numpy()

    tol = dict(rtol=1e-4, atol=1e-4) if policy == "float32" else dict(rtol=0.02, atol=0.05)
    for a, b in zip(train_step(fused), train_step(plain)):
        np.testing.assert_allclose(a, b, **tol)
    for a, b in zip(fused.get_weights(), plain.get_weights()):  # moving mean and variance too
        np.testing.assert_allclose(a, b, rtol=1e-3 if policy == "float32" else 0.02)
    np.testing.assert_allclose(tf.cast(fused(x), "float32").numpy(),
                               tf.cast(plain(x), "float32").numpy(), **tol)
    # ... and it runs as one fused operation where Keras's layer runs a chain of separate ones
    def ops_of(layer, training: bool) -> set[str]:  # noqa: ANN001
        return {op.type for op in tf.function(lambda t: layer(t, training=training))
                .get_concrete_function(tf.TensorSpec(x.shape)).graph.get_operations()}

    assert "FusedBatchNormV3" in ops_of(fused, True) and "FusedBatchNormV3" in ops_of(fused, False)
    assert "FusedBatchNormV3" not in ops_of(plain, True)


def test_fused_batch_norm_leaves_a_gpu_to_keras(monkeypatch):
    import keras

    from cifar_tui.layers import FusedBatchNorm

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the fused kernel is TensorFlow's")
    import tensorflow as tf

    # cuDNN refuses the recipe's epsilon of 1e-12: a GPU takes Keras's own path
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: ["GPU:0"] if kind == "GPU" else [])
    layer = FusedBatchNorm(epsilon=1e-12, center=False, scale=False)
    layer.build((4, 3, 3, 2))
    graph = tf.function(lambda t: layer(t, training=True)).get_concrete_function(
        tf.TensorSpec((4, 3, 3, 2))).graph
    assert "FusedBatchNormV3" not in {op.type for op in graph.get_operations()}


# airbench94.py's own ``hyp`` (github.com/KellerJordan/cifar10-airbench), written out here as
# the independent source the recipe is checked against.
AIRBENCH94 = {"batch_size": 1024, "lr": 11.5, "momentum": 0.85, "weight_decay": 0.0153,
              "label_smoothing": 0.2, "whiten_bias_epochs": 3, "flip": True, "translate": 2,
              "ema": {"start_epochs": 3, "decay_base": 0.95, "decay_pow": 3.0,
                      "every_n_steps": 5},
              "batchnorm_momentum": 0.6, "widths": (64, 256, 256), "scaling_factor": 1 / 9,
              "triangle": {"start": 0.2, "end": 0.07, "peak": 0.23}}


def airbench_keras_rates(batch_size: int, momentum: float) -> tuple[float, float]:
    """airbench's torch SGD rates turned into Keras's: its lr on a summed loss times the batch
    (Keras's loss is the mean), and its momentum-amplified coupled decay per step divided by
    that lr (Keras's decay is decoupled, lr * wd a step)."""
    kilostep_scale = 1024 * (1 + 1 / (1 - momentum))
    torch_lr = AIRBENCH94["lr"] / kilostep_scale
    torch_wd = AIRBENCH94["weight_decay"] * batch_size / kilostep_scale
    keras_lr = torch_lr * batch_size
    return keras_lr, torch_wd / (1 - momentum) / keras_lr


def test_the_fast_run_trains_with_airbench94s_hyperparameters(tiny):
    """What the trainer builds for a `fast` run (optimizer, schedule, loss, net, lookahead) is
    airbench94's hyp, rescaled for Keras; epochs (13, not 9.9) is a documented difference."""
    from cifar_tui import trainer
    from cifar_tui.config import TrainConfig
    from cifar_tui.recipe import FAST

    cfg = TrainConfig.for_arch("fast", epochs=2)
    model = trainer._new_model(cfg, tiny, trainer._Batches.split(tiny, cfg, 0))
    opt = model.optimizer
    lr, wd = airbench_keras_rates(AIRBENCH94["batch_size"], AIRBENCH94["momentum"])
    assert cfg.batch_size == AIRBENCH94["batch_size"]
    assert opt.nesterov and float(opt.momentum) == pytest.approx(AIRBENCH94["momentum"])
    assert opt.weight_decay == pytest.approx(wd, rel=0.01)  # 2 significant figures
    schedule = opt._learning_rate
    tri = AIRBENCH94["triangle"]
    assert schedule.peak == pytest.approx(lr, rel=0.01)
    assert (schedule.start, schedule.end) == (tri["start"], tri["end"])
    assert schedule.warmup_steps == int(tri["peak"] * schedule.total_steps)
    assert model.loss.get_config()["label_smoothing"] == AIRBENCH94["label_smoothing"]
    assert (cfg.augment_flip, cfg.alternate_flip, cfg.crop_pixels) == (True, True, 2)
    widths = [model.get_layer(f"group{i}_conv2").filters for i in (1, 2, 3)]
    assert tuple(widths) == AIRBENCH94["widths"]
    assert model.get_layer("group1_1_bn").momentum == AIRBENCH94["batchnorm_momentum"]
    assert float(model.get_layer("logit_scale").scale) == pytest.approx(
        AIRBENCH94["scaling_factor"])
    assert model.get_layer("whiten_bias").epochs == AIRBENCH94["whiten_bias_epochs"]
    ema = AIRBENCH94["ema"]
    look = trainer.Lookahead(cfg.epochs, 4)
    assert (look.start_epoch, look.rate, look.power, look.every) == (
        ema["start_epochs"], ema["decay_base"], ema["decay_pow"], ema["every_n_steps"])
    # and the table's "net" part is what build_fast builds (overridable)
    from cifar_tui.models import build_fast

    assert build_fast(widths=(32, 48, 48)).get_layer("group3_conv2").filters == 48
    assert FAST["net"]["widths"] == AIRBENCH94["widths"]


def test_fast_keeps_its_tuned_rates_at_the_recipes_batch_size_and_momentum():
    """The derived rates are the numbers `fast` trained with before they were derived: its
    numerics do not change."""
    from cifar_tui.config import TrainConfig
    from cifar_tui.recipe import FAST, keras_rates

    assert keras_rates(1024, 0.85) == {"learning_rate": 1.5, "weight_decay": 0.0089}
    cfg = TrainConfig.for_arch("fast")
    assert (cfg.learning_rate, cfg.weight_decay) == (1.5, 0.0089)
    assert (FAST["train"]["learning_rate"], FAST["train"]["weight_decay"]) == (1.5, 0.0089)


@pytest.mark.parametrize(("batch", "momentum"), [(512, 0.85), (2048, 0.85), (1024, 0.9),
                                                 (256, 0.8)])
def test_a_batch_size_or_momentum_of_your_own_retunes_fasts_lr_and_weight_decay(batch,
                                                                                 momentum):
    """A stale lr 1.5 at batch 512 doubles the per-example step; a stale 0.0089 at momentum 0.9
    decays less than airbench's 0.0153 per 1024 images does."""
    from cifar_tui.config import TrainConfig
    from cifar_tui.space import apply

    lr, wd = airbench_keras_rates(batch, momentum)
    for cfg in (TrainConfig.for_arch("fast", batch_size=batch, momentum=momentum),
                apply(TrainConfig.for_arch("fast"), {"batch_size": batch, "momentum": momentum})):
        assert cfg.learning_rate == pytest.approx(lr, rel=0.05)
        assert cfg.weight_decay == pytest.approx(wd, rel=0.05)
    # a rate given by hand stays, and other presets derive nothing
    mine = TrainConfig.for_arch("fast", batch_size=batch, learning_rate=0.3, weight_decay=0.001)
    assert (mine.learning_rate, mine.weight_decay) == (0.3, 0.001)
    assert TrainConfig.for_arch("resnet9", batch_size=batch).learning_rate == 0.2
    swept = apply(TrainConfig.for_arch("fast", learning_rate=0.3), {"batch_size": batch})
    assert swept.learning_rate == 0.3


def test_fast_compiles_with_xla_on_tensorflow_unless_told_otherwise(monkeypatch):
    from cifar_tui import trainer
    from cifar_tui.config import TrainConfig

    monkeypatch.setattr(trainer.keras.backend, "backend", lambda: "tensorflow")
    # float32 on a CPU here (bfloat16: below); asking a fake "tensorflow" for its GPUs would
    # import TensorFlow under the JAX and PyTorch runs of this file
    monkeypatch.setattr(trainer, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(trainer, "cpu_has_avx512", lambda: False)
    monkeypatch.setattr(trainer.backend, "gpu_count", lambda: 0)
    assert trainer.jit_compile(TrainConfig.for_arch("fast")) is True
    assert trainer.jit_compile(TrainConfig.for_arch("fast", jit_compile="off")) is False
    assert trainer.jit_compile(TrainConfig.for_arch("cnn")) == "auto"  # XLA slows it on a CPU
    assert trainer.jit_compile(TrainConfig.for_arch("cnn", jit_compile="on")) is True
    monkeypatch.setattr(trainer.keras.backend, "backend", lambda: "torch")
    assert trainer.jit_compile(TrainConfig.for_arch("fast")) == "auto"  # not torch.compile


def test_fast_on_a_cpu_picks_xla_by_its_family_and_says_why(monkeypatch, tmp_path):
    """float32 on TensorFlow: XLA only on a CPU without AVX-512 (where it measured faster);
    oneDNN on one with it and in bfloat16; the reason goes in the run's hardware line."""
    from cifar_tui import hardware, trainer
    from cifar_tui.config import TrainConfig

    info = tmp_path / "cpuinfo"
    monkeypatch.setattr(trainer.keras.backend, "backend", lambda: "tensorflow")
    monkeypatch.setattr(trainer.backend, "gpu_count", lambda: 0)
    monkeypatch.setattr(trainer, "cpu_has_bf16", lambda: hardware.cpu_has_bf16(info))
    monkeypatch.setattr(trainer, "cpu_has_avx512", lambda: hardware.cpu_has_avx512(info))
    f32 = TrainConfig.for_arch("fast", mixed_precision="off")
    info.write_text("flags\t\t: fpu avx2 fma\n")  # e.g. Zen 2/3: no AVX-512
    assert trainer.jit_choice(f32) == (True, "XLA on: faster than oneDNN without AVX-512")
    info.write_text("flags\t\t: fpu avx2 avx512f amx_bf16 amx_tile\n")  # a Xeon with AMX
    assert trainer.jit_choice(f32) == (False, "XLA off: oneDNN is faster on AVX-512")
    assert trainer.jit_choice(TrainConfig.for_arch("fast")) == (
        False, "XLA off: oneDNN is faster in bfloat16")
    info.write_text("flags\t\t: fpu avx2 avx512f fma\n")  # AVX-512 without bfloat16
    assert trainer.jit_choice(TrainConfig.for_arch("fast"))[0] is False
    # the user's word and the other presets carry no reason
    assert trainer.jit_choice(TrainConfig.for_arch("fast", jit_compile="on")) == (True, None)
    assert trainer.jit_choice(TrainConfig.for_arch("cnn")) == ("auto", None)
    monkeypatch.setattr(trainer.backend, "gpu_count", lambda: 1)
    assert trainer.jit_choice(f32) == (True, None)
    assert hardware.describe_hardware("bfloat16", "XLA off: oneDNN is faster in bfloat16").endswith(
        "cores); bfloat16 compute; XLA off: oneDNN is faster in bfloat16")


def test_lookahead_can_leave_epoch_ends_alone():
    model, la = _lookahead_on(0.0, epochs=2, steps=7, every=5, rate=0.5 ** (1 / 5))
    la.end_epochs_on_average = False
    la.on_epoch_begin(0)
    _set(model, 1.0)
    for batch in range(5):  # step 5: the average starts at 1
        la.on_train_batch_end(batch)
    _set(model, 2.0)
    la.on_train_batch_end(5)
    la.on_train_batch_end(6)  # the epoch's last step, 2 after the last averaging
    assert _value(model) == 2.0  # kept (airbench's reset would take it back to 1)
    la.end_epochs_on_average = True
    la.on_epoch_begin(1)
    la.on_train_batch_end(2)  # step 10: decay 0.5 * (10 / 14) ** 3 toward the average (1)
    d = 0.5 * (10 / 14) ** 3
    assert _value(model) == pytest.approx(d * 1 + (1 - d) * 2)
    _set(model, 9.0)
    la.on_train_batch_end(6)  # step 14: none due, but the epoch ends: back to the average
    assert _value(model) == pytest.approx(d * 1 + (1 - d) * 2)


def test_cpu_bfloat16_is_read_from_the_cpu_flags(tmp_path):
    from cifar_tui import hardware

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 fma\n\n"
                    "processor\t: 1\nflags\t\t: fpu avx2 avx512f avx512_bf16 fma\n")
    assert "avx512_bf16" in hardware.cpu_flags(info)
    assert hardware.cpu_has_bf16(info)
    info.write_text("flags\t\t: fpu avx2 avx512f amx_bf16 amx_tile\n")
    assert hardware.cpu_has_bf16(info)
    info.write_text("flags\t\t: fpu avx2 fma\n")  # AVX2 only: bfloat16 would be emulated
    assert not hardware.cpu_has_bf16(info)
    assert hardware.cpu_flags(tmp_path / "absent") == set()  # not Linux: no flags, no bfloat16


def test_mixed_precision_picks_float16_on_a_gpu_and_bfloat16_where_a_cpu_has_it(monkeypatch):
    from cifar_tui import trainer
    from cifar_tui.config import TrainConfig

    def machine(gpus: int, bf16: bool, name: str = "tensorflow") -> None:
        monkeypatch.setattr(trainer.backend, "gpu_count", lambda: gpus)
        monkeypatch.setattr(trainer, "cpu_has_bf16", lambda: bf16)
        monkeypatch.setattr(trainer, "cpu_has_avx512", lambda: bf16)  # as every such CPU
        monkeypatch.setattr(trainer.keras.backend, "backend", lambda: name)

    def policy(arch: str = "fast", **kw) -> str | None:
        return trainer.mixed_policy(TrainConfig.for_arch(arch, **kw))

    machine(1, False)
    assert policy() == policy("cnn") == "mixed_float16"
    assert policy(mixed_precision="off") is None
    assert trainer.jit_compile(TrainConfig.for_arch("fast")) is True
    machine(0, True)  # e.g. AMD Zen 4: bfloat16, and oneDNN's kernels rather than XLA's
    assert policy() == policy("cnn") == "mixed_bfloat16"
    assert policy(mixed_precision="off") is None
    assert trainer.jit_compile(TrainConfig.for_arch("fast")) is False
    # float32 on it: oneDNN again, not XLA (AVX-512)
    assert trainer.jit_compile(TrainConfig.for_arch("fast", mixed_precision="off")) is False
    assert trainer.jit_compile(TrainConfig.for_arch("fast", jit_compile="on")) is True
    machine(0, False)  # no bfloat16 in the CPU: float32 unless asked
    assert policy() is None and trainer.jit_compile(TrainConfig.for_arch("fast")) is True
    assert policy(mixed_precision="on") == "mixed_bfloat16"  # never float16 on a CPU
    machine(0, True, "jax")  # measured only under TensorFlow: auto stays float32
    assert policy() is None and policy(mixed_precision="on") == "mixed_bfloat16"


@pytest.mark.parametrize("form", ["grad", "xla", "tanh"])
def test_gelu_forms_compute_keras_gelu(form):
    """"grad" and "xla" are the exact GELU (Keras's, airbench's ``nn.GELU()``) computed faster on
    TensorFlow, values and gradients alike; "tanh" is the approximation, close to it."""
    import keras

    from cifar_tui.layers import GELU

    x = keras.ops.convert_to_tensor(np.linspace(-6, 6, 1201, dtype="float32"))

    def value_and_grad(layer: GELU) -> tuple[np.ndarray, np.ndarray]:
        if keras.backend.backend() != "tensorflow":
            return keras.ops.convert_to_numpy(layer(x)), None
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        return y.numpy(), tape.gradient(y, x).numpy()

    (y, g), (y0, g0) = value_and_grad(GELU(form)), value_and_grad(GELU("exact"))
    tol = dict(atol=1e-3) if form == "tanh" else dict(atol=1e-6)
    np.testing.assert_allclose(y, y0, **tol)
    if g is not None:
        np.testing.assert_allclose(g, g0, **tol)
        import tensorflow as tf

        graph = tf.function(lambda t: GELU(form)(t)).get_concrete_function(
            tf.TensorSpec((4,))).graph
        kinds = {op.type for op in graph.get_operations()}
        compiled = [op for op in graph.get_operations()
                    if "_XlaMustCompile" in op.node_def.attr
                    and op.node_def.attr["_XlaMustCompile"].b]
        # the exact forms run as one custom-gradient call (IdentityN), "xla"'s by XLA
        assert ("IdentityN" in kinds) == (form != "tanh")
        assert bool(compiled) == (form == "xla") and ("Erfc" in kinds) == (form == "grad")
    layer = GELU.from_config(GELU(form, name="g").get_config())
    assert layer.form == form
    with pytest.raises(ValueError, match="GELU form"):
        GELU("erf")


def test_translation_on_tensorflow_gathers_by_batch_with_the_same_result(monkeypatch):
    """On TensorFlow the in-model translation gathers rows and columns by batch (Keras's
    take_along_axis broadcasts its indices to the whole tensor and transposes it first): the
    same images for the same seed, with no broadcast or transpose in the step."""
    import keras

    from cifar_tui.layers import FlipTranslate

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the batch gather is TensorFlow's path")
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(0).integers(0, 256, (8, 6, 6, 3)).astype("float32"))

    def run(backend_name: str) -> tuple[np.ndarray, set[str]]:
        monkeypatch.setattr(keras.backend, "backend", lambda: backend_name)
        out = FlipTranslate(False, 2, seed=3)(x, training=True).numpy()
        layer = FlipTranslate(False, 2, seed=3)
        graph = tf.function(lambda t: layer(t, training=True)).get_concrete_function(
            tf.TensorSpec(x.shape)).graph
        return out, {op.type for op in graph.get_operations()}

    (fast, fast_ops), (generic, generic_ops) = run("tensorflow"), run("keras-ops")
    np.testing.assert_array_equal(fast, generic)
    assert not np.array_equal(fast, x.numpy())  # the images did move
    assert {"BroadcastTo", "Transpose"} <= generic_ops
    assert not {"BroadcastTo", "Transpose"} & fast_ops
