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


def _lookahead_on(kernel_value: float, epochs: int, steps: int, every: int, rate: float):
    import keras

    from cifar_tui.callbacks import Lookahead

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer="sgd", loss="mse")
    la = Lookahead(epochs, steps, every=every, rate=rate)
    la.set_model(model)
    model.layers[0].kernel.assign(np.full((2, 1), kernel_value, np.float32))
    la.on_train_begin()
    return model, la


def test_lookahead_averages_on_its_cubic_ramp():
    model, la = _lookahead_on(0.0, epochs=2, steps=5, every=5, rate=0.5 ** (1 / 5))
    kernel = model.layers[0].kernel
    la.on_epoch_begin(0)
    kernel.assign(np.ones((2, 1), np.float32))
    for batch in range(4):
        la.on_train_batch_end(batch)
    assert float(kernel.numpy()[0, 0]) == 1.0  # steps 1-4: nothing yet
    la.on_train_batch_end(4)  # step 5 of 10: decay 0.5 * 0.5 ** 3
    assert float(kernel.numpy()[0, 0]) == pytest.approx(1 - 0.0625)
    la.on_epoch_begin(1)
    kernel.assign(np.full((2, 1), 3.0, np.float32))
    la.on_train_batch_end(1)  # step 7: untouched
    assert float(kernel.numpy()[0, 0]) == 3.0


def test_lookahead_with_several_steps_per_call_counts_every_step():
    # Five steps per device call: Keras calls back once per call with the last batch index.
    model, la = _lookahead_on(0.0, epochs=2, steps=5, every=5, rate=0.5 ** (1 / 5))
    kernel = model.layers[0].kernel
    la.on_epoch_begin(0)
    kernel.assign(np.ones((2, 1), np.float32))
    la.on_train_batch_end(4)  # steps 1-5 in one call: the same update as one step at a time
    assert float(kernel.numpy()[0, 0]) == pytest.approx(1 - 0.0625)


def test_resumed_lookahead_counts_from_the_resumed_epoch():
    model, la = _lookahead_on(0.0, epochs=2, steps=5, every=5, rate=0.5 ** (1 / 5))
    kernel = model.layers[0].kernel
    la.on_epoch_begin(1)  # a run resumed after epoch 1
    kernel.assign(np.ones((2, 1), np.float32))
    la.on_train_batch_end(4)  # step 10 of 10: decay 0.5 * 1 ** 3, after 5 steps
    assert float(kernel.numpy()[0, 0]) == pytest.approx(0.5)


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
