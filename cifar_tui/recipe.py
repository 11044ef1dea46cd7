"""The `fast` recipe (airbench94 in Keras): every constant in one table, as airbench keeps its
``hyp``. Plain data, no Keras import: config.py takes the training settings from here before Keras
loads; models.py, schedules.py, callbacks.py, pipeline.py and evaluation.py take the rest.

Where a value differs from airbench94's own, the comment says why.
"""

from __future__ import annotations

from typing import Any, Final

# airbench94's tuned rates, per 1024 examples and independent of the momentum (its ``hyp``):
# Keras's learning rate and weight decay are derived from them (``keras_rates``), so that a
# batch size or momentum other than the recipe's trains at the same per-example rates.
LR_PER_1024: Final = 11.5
WD_PER_1024: Final = 0.0153


def kilostep_scale(momentum: float) -> float:
    """airbench's step scale: with Nesterov momentum a constant gradient moves a weight
    ``1 + 1 / (1 - momentum)`` steps' worth, counted per 1024 examples."""
    return 1024 * (1 + 1 / (1 - momentum))


def keras_rates(batch_size: int, momentum: float) -> dict[str, float]:
    """Keras's ``learning_rate`` and ``weight_decay`` for airbench's per-1024 rates at this batch
    size and momentum, to 2 significant figures (1.5 and 0.0089 at 1024 and 0.85): the exact
    1.536 and 0.00887 would change the numerics every accuracy figure in bench/RESULTS.md was
    measured with.

    airbench divides its lr by ``kilostep_scale`` on a loss summed over the batch; Keras's loss is
    the batch mean, hence the batch size. Its decay per 1024 examples, amplified by momentum
    (``1 / (1 - momentum)``), takes ``wd * batch / kilostep_scale`` a step; Keras's decoupled
    decay takes ``lr * weight_decay``, unamplified: the batch size and scale cancel out."""
    lr = LR_PER_1024 * batch_size / kilostep_scale(momentum)
    wd = WD_PER_1024 / (LR_PER_1024 * (1 - momentum))
    return {"learning_rate": float(f"{lr:.2g}"), "weight_decay": float(f"{wd:.2g}")}


FAST: Final[dict[str, Any]] = {
    # The run's settings: the Model form and `cifar-tui train fast` start from these.
    "train": {
        "batch_size": 1024,
        # airbench: 9.9 (476 steps on all 50,000 images). 13 here goes past airbench on the
        # JPEG copy: +0.9 points on all the data for 1.3x the steps (bench/RESULTS.md).
        "epochs": 13,
        "optimizer": "nesterov",
        "momentum": 0.85,
        # "learning_rate", "weight_decay": keras_rates(batch_size, momentum), added below: 1.5 on
        # Keras's mean loss, and a decay of 1.33 % a step at peak as airbench's (0.0133 / 1.5).
        "schedule": "warmup-linear",  # the triangle below
        "label_smoothing": 0.2,
        "augment_flip": True,
        "alternate_flip": True,  # every image mirrored on every other epoch, not at random
        "augment_crop": True,
        "crop_pixels": 2,  # reflect-padded translation of up to 2 pixels
        "patience": 0,  # no early stopping: the schedule ends the run
        "lookahead": True,
        "tta": True,
    },
    "net": {
        "widths": (64, 256, 256),  # the three conv groups
        "whiten_filters": 24,  # 2 x 12: each of the 12 eigenvectors of 2x2x3 patches, both signs
        "bn_momentum": 0.6,  # Keras keeps 60 % of the running statistics a step (torch: 0.4)
        "bn_epsilon": 1e-12,
        # BN offsets learn 64x faster than the rest: stored as bias / 8, so plain SGD moves the
        # offset 8 * 8 times as far (Keras optimizers have no per-variable learning rate).
        "bias_multiplier": 8.0,
        "logit_scale": 1 / 9,  # airbench's temperature on the bias-free linear head
        # GELU, exact as airbench's; on TensorFlow its forward and backward each compiled by
        # XLA into one kernel (layers.GELU), where oneDNN runs about ten elementwise kernels
        # each way: 2.48-2.60 s a step against 2.83-2.91 on a 2-core Zen 4 (bench/RESULTS.md).
        "gelu": "xla",
    },
    "whitening": {
        "sample": 5000,  # training images, class-balanced, drawn with the run's seed
        "eps": 5e-4,  # added to the eigenvalues, in CIFAR-normalised units as airbench's inputs
        # The whitening bias trains for the first 3 epochs, then its gradient is cut and its SGD
        # momentum zeroed (as requires_grad=False stops it at once); it gets no weight decay
        # (airbench decays it while it trains, but Keras cannot stop the decay of a frozen
        # variable except by excluding it throughout).
        "bias_epochs": 3,
    },
    "schedule": {  # the learning-rate triangle, as fractions of the peak
        "warmup": 0.23,  # share of all steps spent rising
        "start": 0.2,
        "end": 0.07,
    },
    "lookahead": {
        "start_epoch": 3,  # no averaging before the 4th epoch
        "every": 5,  # steps between averagings
        "rate": 0.95,  # per step: decay 0.95 ** 5 per averaging ...
        "power": 3,  # ... times (step / total) ** 3, so averaging is strong only near the end
        # airbench also resets the model to the average at each epoch's end, dropping the steps
        # since the last averaging (up to 4 of 48 an epoch on all the data, of 9 on the proxy).
        "end_epochs_on_average": True,
    },
    # XLA when the config says "auto" and Keras runs on TensorFlow: on a GPU; on a CPU only in
    # float32 and without AVX-512, where it was 2.1x faster for this net on an earlier VM; with
    # AVX-512 or in bfloat16 oneDNN without XLA is faster (trainer.jit_choice, bench/RESULTS.md).
    # JAX always compiles, and PyTorch keeps Keras's choice.
    "xla_on_tensorflow": True,
    # Test-time augmentation: half the weight on the image and its mirror, half on the two
    # diagonal shifts of this many pixels (each with its mirror), averaged in logit space.
    "tta_shift": 1,
}
# The Keras rates of the recipe's batch size and momentum; a run's own batch size or momentum
# retunes them (config.ArchInfo.derived).
FAST["train"].update(keras_rates(FAST["train"]["batch_size"], FAST["train"]["momentum"]))
