"""GELU's forward and backward alone, in each of ``layers.GELU``'s forms, on the seven tensors it
sees in `fast`'s training step (TensorFlow, one ``tf.function``, no XLA around it).

    python bench/gelu_forms.py [--batch 1024] [--dtype bfloat16] [--repeat 5]

Per form: the median seconds of ``--repeat`` calls that each take GELU's output and its gradient
over all seven tensors (batch x 24 x 31 x 31, 2 x 64 x 15 x 15, 2 x 256 x 7 x 7, 2 x 256 x 3 x 3,
channels last), interleaved form by form. ReLU is the floor: the same call with the cheapest
activation (it includes the sums that make the loss).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHAPES = [(31, 31, 24), (15, 15, 64), (15, 15, 64), (7, 7, 256), (7, 7, 256), (3, 3, 256),
          (3, 3, 256)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    import numpy as np
    import tensorflow as tf

    from cifar_tui.layers import GELU

    rng = np.random.default_rng(0)
    xs = [tf.cast(rng.standard_normal((args.batch, *s)).astype("float32"), args.dtype)
          for s in SHAPES]

    def timed(activation):  # noqa: ANN001, ANN202
        @tf.function
        def call(xs):  # noqa: ANN001, ANN202
            with tf.GradientTape() as tape:
                tape.watch(xs)
                loss = tf.add_n([tf.reduce_sum(tf.cast(activation(x), "float32")) for x in xs])
            return tf.add_n([tf.reduce_sum(tf.cast(g, "float32"))
                             for g in tape.gradient(loss, xs)])
        return call

    forms = {f: timed(GELU(f)) for f in GELU.FORMS}
    forms["relu"] = timed(tf.nn.relu)
    for f in forms.values():  # trace and compile
        f(xs)
    times: dict[str, list[float]] = {name: [] for name in forms}
    for _ in range(args.repeat):
        for name, f in forms.items():
            t = time.perf_counter()
            f(xs).numpy()
            times[name].append(time.perf_counter() - t)
    print(f"batch {args.batch}, {args.dtype}: GELU forward + backward over fast's 7 tensors")
    for name, ts in times.items():
        print(f"{name:<6} median {statistics.median(ts):.3f} s  "
              f"({' '.join(f'{t:.3f}' for t in ts)})")


if __name__ == "__main__":
    main()
