"""The project's own Keras layers, written with ``keras.ops`` only so every backend runs them
(and on the accelerator). Registered, so saved models load with ``safe_mode=True``."""

from __future__ import annotations

from typing import Any

from .backend import gpu_count, import_keras

keras = import_keras()
ops = keras.ops


@keras.saving.register_keras_serializable("cifar_tui")
class ScaledBias(keras.layers.Layer):
    """A per-channel offset stored as ``bias / multiplier``: plain SGD then moves it as if its
    learning rate were ``multiplier**2`` times the others' (airbench trains BN offsets 64x faster;
    Keras optimizers have no per-variable learning rate), while decoupled weight decay shrinks it
    at the same relative rate as every other weight, as in airbench."""

    def __init__(self, multiplier: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.multiplier = float(multiplier)

    def build(self, input_shape: tuple) -> None:
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="bias")

    def call(self, x):  # noqa: ANN001, ANN201
        return x + ops.cast(self.bias * self.multiplier, x.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "multiplier": self.multiplier}


@keras.saving.register_keras_serializable("cifar_tui")
class FreezableBias(keras.layers.Layer):
    """A per-channel offset that learns until the ``FreezeBiases`` callback turns its ``live``
    flag off (airbench trains its whitening bias for the first 3 epochs only).

    The flag is a weight, so a run resumed after the freeze stays frozen; it is an integer, so
    the lookahead's average of the float weights leaves it alone. Frozen, the offset gets no
    gradient, and ``FreezeBiases`` zeroes its SGD momentum at the freeze so it stops at once
    (Keras optimizers have no per-variable switch); the trainer exempts it from weight decay.
    """

    def __init__(self, epochs: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epochs = int(epochs)

    def build(self, input_shape: tuple) -> None:
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer="zeros",
                                    name="freezable_bias")
        self.live = self.add_weight(shape=(), initializer="ones", dtype="int32",
                                    trainable=False, name="live")

    def call(self, x):  # noqa: ANN001, ANN201
        bias, live = ops.convert_to_tensor(self.bias), ops.convert_to_tensor(self.live)
        bias = ops.where(live > 0, bias, ops.stop_gradient(bias))
        return x + ops.cast(bias, x.dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "epochs": self.epochs}


@keras.saving.register_keras_serializable("cifar_tui")
class FlipTranslate(keras.layers.Layer):
    """Training-time augmentation: a random horizontal mirror (``flip``) and a random
    translation of up to ``pixels`` pixels each way (reflect-pad, then crop back to the input
    size), drawn per image. Identity at inference.

    It is the old tf.data augmentation (``tf.image.random_flip_left_right``, ``tf.pad(...,
    "REFLECT")`` + ``tf.image.random_crop``) in ``keras.ops``, so it runs inside the compiled
    training step on any backend.
    """

    def __init__(self, flip: bool = True, pixels: int = 0, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flip, self.pixels, self.seed = bool(flip), int(pixels), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training: bool = False):  # noqa: ANN001, ANN201
        if not training or not (self.flip or self.pixels):
            return x
        n = ops.shape(x)[0]
        if self.flip:
            coin = keras.random.uniform((n, 1, 1, 1), seed=self.seed_generator) < 0.5
            x = ops.where(coin, ops.flip(x, axis=2), x)
        if self.pixels:
            p = self.pixels
            h, w = x.shape[1], x.shape[2]
            padded = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")
            # One offset pair per image; gather its rows, then its columns.
            dy = keras.random.randint((n, 1), 0, 2 * p + 1, seed=self.seed_generator)
            dx = keras.random.randint((n, 1), 0, 2 * p + 1, seed=self.seed_generator)
            if keras.backend.backend() == "tensorflow":
                # The same gathers by batch: Keras's take_along_axis broadcasts its indices to
                # the whole tensor and transposes first (the translation took 0.22 s of `fast`'s
                # 2.9 s step on a 2-core Zen 4 that way, 0.14 s this way: bench/RESULTS.md).
                import tensorflow as tf

                padded = tf.gather(padded, dy + ops.arange(h), axis=1, batch_dims=1)
                return tf.gather(padded, dx + ops.arange(w), axis=2, batch_dims=1)
            rows = ops.expand_dims(ops.expand_dims(dy + ops.arange(h), -1), -1)
            padded = ops.take_along_axis(padded, rows, axis=1)
            cols = ops.expand_dims(ops.expand_dims(dx + ops.arange(w), 1), -1)
            x = ops.take_along_axis(padded, cols, axis=2)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "flip": self.flip, "pixels": self.pixels,
                "seed": self.seed}


@keras.saving.register_keras_serializable("cifar_tui")
class FusedBatchNorm(keras.layers.BatchNormalization):
    """Keras's ``BatchNormalization`` (the same weights, config and results), computed on
    TensorFlow by its fused kernel, as Keras 2 did: Keras 3 normalises in separate operations
    (mean, variance, rsqrt, scale, shift, each with its backward), in float32 even under a
    bfloat16 policy: on a 2-core Zen 4 without XLA, `fast`'s step is 1.11-1.13x faster fused
    (bench/RESULTS.md). Other backends, masks, renorm and axes other than the last take the
    Keras path, and so does a machine with a GPU: cuDNN refuses an epsilon under 1e-5 (the
    recipe's is 1e-12), and XLA, which `fast` uses there, fuses the chain itself.
    """

    def call(self, inputs, training=None, mask=None):  # noqa: ANN001, ANN201
        if (keras.backend.backend() != "tensorflow" or mask is not None or self.renorm
                or len(inputs.shape) != 4 or self.axis not in (-1, 3) or gpu_count()):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        scale = (ops.cast(self.gamma, "float32") if self.scale
                 else ops.ones((channels,), "float32"))
        offset = (ops.cast(self.beta, "float32") if self.center
                  else ops.zeros((channels,), "float32"))
        if not (training and self.trainable):
            return tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=scale, offset=offset,
                mean=ops.cast(self.moving_mean, "float32"),
                variance=ops.cast(self.moving_variance, "float32"),
                epsilon=self.epsilon, is_training=False)[0]
        empty = ops.zeros((0,), "float32")  # no running statistics in: the batch's come out
        y, mean, variance = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=scale, offset=offset, mean=empty, variance=empty,
            epsilon=self.epsilon, is_training=True)[:3]
        # The kernel's variance is the unbiased one; Keras's moving variance takes the biased.
        shape = ops.shape(inputs)
        n = ops.cast(shape[0] * shape[1] * shape[2], "float32")
        variance = variance * (n - 1.0) / ops.maximum(n, 1.0)
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
        self.moving_variance.assign(self.moving_variance * m + variance * (1.0 - m))
        return y


_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_tf_gelus: dict[str, Any] = {}


def _tf_gelu(form: str):  # noqa: ANN202 - a TensorFlow function of one tensor
    """Exact GELU for TensorFlow without XLA, with its derivative written out.

    TensorFlow differentiates ``x * erfc(-x / sqrt 2) / 2`` op by op: about ten elementwise
    kernels each way. The derivative is ``Phi(x) + x * phi(x)``: "grad" computes it in four.
    "xla" compiles the forward and the backward each into one XLA kernel, inside a step that
    TensorFlow otherwise runs on oneDNN.
    """
    if form in _tf_gelus:
        return _tf_gelus[form]
    import tensorflow as tf

    def forward(x):  # noqa: ANN001, ANN202
        return x * (0.5 * tf.math.erfc(-_SQRT_HALF * x))

    def backward(x, dy):  # noqa: ANN001, ANN202
        cdf = 0.5 * tf.math.erfc(-_SQRT_HALF * x)
        return dy * (cdf + x * (_INV_SQRT_2PI * tf.exp(-0.5 * x * x)))

    if form == "xla":
        forward = tf.function(forward, jit_compile=True, autograph=False)
        backward = tf.function(backward, jit_compile=True, autograph=False)

    @tf.custom_gradient
    def gelu(x):  # noqa: ANN001, ANN202
        return forward(x), lambda dy: backward(x, dy)

    _tf_gelus[form] = gelu
    return gelu


@keras.saving.register_keras_serializable("cifar_tui")
class GELU(keras.layers.Layer):
    """GELU in one of its forms: "exact" (Keras's ``Activation("gelu")``, as airbench's
    ``nn.GELU()``), "tanh" (the tanh approximation), or on TensorFlow the exact function with a
    hand-written gradient ("grad") or compiled by XLA ("xla"), which other backends compute as
    "exact"."""

    FORMS = ("exact", "tanh", "grad", "xla")

    def __init__(self, form: str = "exact", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if form not in self.FORMS:
            raise ValueError(f"GELU form {form!r}: one of {', '.join(self.FORMS)}")
        self.form = form

    def call(self, x):  # noqa: ANN001, ANN201
        if self.form in ("grad", "xla") and keras.backend.backend() == "tensorflow":
            return _tf_gelu(self.form)(x)
        return keras.activations.gelu(x, approximate=self.form == "tanh")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "form": self.form}
