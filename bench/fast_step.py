"""Seconds per training step of the `fast` net alone: ``train_on_batch`` on one fixed batch of
1,024 random images, in the precision and compiled as a run does it (on TensorFlow, bfloat16
without XLA on a CPU that has bfloat16, else XLA; XLA on JAX; PyTorch eager, as Keras leaves it
on a CPU), no batch pipeline, no callbacks (no lookahead). Seeded as a run is: with TensorFlow's op
determinism on unless XLA compiles the step (before 2026-12-08 this bench left it off, where a
run without XLA had it on).

    python bench/fast_step.py [--steps 9] [--batch 512] [--mixed-precision off] [--jit on]
        [--warmup 3] [--augment] [--net KEY=VALUE ...] [--determinism on|off] [--json]

Against a whole run's seconds per step (history.csv), it says whether time goes to the compiled
step itself or to what surrounds it. The backend is Keras's (``KERAS_BACKEND``); XLA's own
options go in ``XLA_FLAGS``. ``--profile`` (PyTorch backend) adds ``torch.profiler``'s table of one
more step, by operator. ``--augment`` builds the net with a run's in-model translation (2 pixels;
the alternating flip is the batch pipeline's), ``--net`` overrides a constant of the recipe's
"net" table, and ``--json`` ends with one ``RESULT {json}`` line (bench/airbench_step.py reads it).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=9, help="timed steps after the first")
    ap.add_argument("--batch", type=int, default=0,
                    help="images a step (default: the recipe's batch size)")
    ap.add_argument("--mixed-precision", choices=("auto", "on", "off"), default="auto",
                    help="16-bit compute as the trainer picks it (auto), or on/off")
    ap.add_argument("--jit", choices=("auto", "on", "off"), default="auto",
                    help="XLA as the trainer picks it (auto), or on/off")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed steps first (the first compiles)")
    ap.add_argument("--augment", action="store_true",
                    help="the run's in-model translation in the step, as training has it")
    ap.add_argument("--net", action="append", default=[], metavar="KEY=VALUE",
                    help="override one of recipe.FAST['net'] (a Python literal or a string)")
    ap.add_argument("--determinism", choices=("auto", "on", "off"), default="auto",
                    help="TensorFlow's op determinism as a seeded run sets it (auto: on, but "
                         "off with XLA), or on/off")
    ap.add_argument("--json", action="store_true", help="end with a RESULT {json} line")
    ap.add_argument("--profile", action="store_true",
                    help="PyTorch backend: time one more step by operator")
    args = ap.parse_args()

    import keras
    import numpy as np

    from cifar_tui import backend
    from cifar_tui.config import TrainConfig
    from cifar_tui.models import InputStage, build_fast, compile_model, make_optimizer
    from cifar_tui.recipe import FAST
    from cifar_tui.trainer import jit_compile, mixed_policy

    hyp = FAST["train"]
    cfg = TrainConfig.for_arch("fast", mixed_precision=args.mixed_precision,
                              jit_compile=args.jit)
    policy = mixed_policy(cfg)  # the trainer's choices for this machine and backend
    keras.mixed_precision.set_global_policy(policy or "float32")
    net = {}
    for item in args.net:
        key, _, value = item.partition("=")
        try:
            net[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            net[key] = value
    stage = InputStage(pixels=hyp["crop_pixels"] if args.augment else 0, seed=0)
    model = build_fast(stage=stage, **net)  # build_model("fast") with the overrides
    opt = make_optimizer(hyp["optimizer"], hyp["learning_rate"], hyp["weight_decay"],
                         hyp["momentum"])
    jit = jit_compile(cfg)
    deterministic = jit is not True if args.determinism == "auto" else args.determinism == "on"
    backend.set_seed(0, deterministic=deterministic)  # as trainer.train seeds a run
    compile_model(model, opt, hyp["label_smoothing"], jit_compile=jit)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.batch or hyp["batch_size"], 32, 32, 3), dtype=np.uint8)
    y = keras.utils.to_categorical(rng.integers(0, 10, len(x)), 10)
    t = time.perf_counter()
    model.train_on_batch(x, y)
    print(f"{keras.backend.backend()}, {policy or 'float32'}, jit_compile={jit}, "
          f"deterministic ops {deterministic}: first step "
          f"(compile) {time.perf_counter() - t:.1f} s", flush=True)
    for _ in range(args.warmup - 1):
        model.train_on_batch(x, y)
    steps = []
    for _ in range(args.steps):
        t = time.perf_counter()
        model.train_on_batch(x, y)
        steps.append(time.perf_counter() - t)
    print("s per step:", " ".join(f"{s:.2f}" for s in steps),
          f"({len(steps)} steps: {sum(steps):.1f} s; "
          f"{len(x) * len(steps) / sum(steps):.1f} img/s)", flush=True)
    if args.json:
        print("RESULT " + json.dumps({
            "what": "fast", "backend": keras.backend.backend(), "precision": policy or "float32",
            "jit_compile": jit, "deterministic": deterministic, "augment": args.augment,
            "net": net, "batch": len(x),
            "steps": steps, "median_s": statistics.median(steps)}), flush=True)
        return
    if args.profile and keras.backend.backend() == "torch":
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model.train_on_batch(x, y)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    t = time.perf_counter()
    model.predict(x, batch_size=len(x), verbose=0)
    model.predict(x, batch_size=len(x), verbose=0)
    print(f"forward only, two batches: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
