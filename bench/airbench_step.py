"""airbench94's training step against `fast`'s on this CPU, side by side: the same batch (1,024
random 32x32 images), the same network shapes, each in its own process, interleaved.

    python bench/airbench_step.py --airbench PATH/airbench94.py --torch-python VENV/bin/python
        [--rounds 2] [--steps 8] [--warmup 3] [--variants airbench:bfloat16,fast,...]

airbench94's code is not part of this project: give the path of its ``airbench94.py``
(KellerJordan/cifar10-airbench, ``legacy/airbench94.py``) and a Python that has PyTorch. Its
step is its own ``make_net()`` and its ``main()``'s loop body (forward, summed label-smoothed
cross-entropy, backward, Nesterov SGD with its two parameter groups), adapted to a CPU from
outside its code only where it must be: ``.cuda()`` is a no-op, and for ``bfloat16`` its
``.half()`` is too, the step running under ``torch.autocast("cpu", torch.bfloat16)`` (weights
in float32, as Keras's mixed policy keeps them; batch norm in float32 as airbench keeps it).
Its inputs are already normalised, flipped and translated: airbench does that once an epoch for
the whole data set, outside the step (a cost of its own, not in this figure).

`fast`'s step is ``bench/fast_step.py`` (``train_on_batch`` as a run compiles it), with
``--augment``: the in-model translation a run has, unless a variant says ``noaug``.

Each round runs every variant once, in the order given (A, B, A, B with two variants), each in
a fresh process: ``--warmup`` untimed steps, then ``--steps`` timed ones. Printed: each run's
median, and per variant the median of all its timed steps and its ratio to the first variant.

Variants: ``airbench:bfloat16``, ``airbench:float32``, ``fast`` (its defaults), and ``fast``
with options after colons: ``bf16``/``f32`` (--mixed-precision on/off), ``xla``/``noxla``
(--jit on/off), ``det``/``nodet`` (TensorFlow's op determinism on/off; by default as a seeded
run sets it: on, but off with XLA), ``noaug``, ``key=value`` (a recipe "net" override, e.g.
``gelu=grad``),
``NAME=value`` (an upper-case name: an environment variable of its process), ``torch`` (Keras
on PyTorch, in ``--torch-python``, which then needs Keras and the project's dependencies), e.g.
``fast:f32:noxla``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def airbench_worker(path: str, precision: str, steps: int, warmup: int, batch: int) -> None:
    """Runs in the PyTorch interpreter: time airbench94's own step."""
    import torch
    from torch import nn

    sys.path.insert(0, str(HERE))
    from airbench_run import _torchvision_stand_in

    _torchvision_stand_in()
    spec = importlib.util.spec_from_file_location("airbench94", path)
    airbench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(airbench)
    nn.Module.cuda = lambda self, *a, **k: self  # CPU only
    nn.Module.half = lambda self: self  # float32 weights; bfloat16: autocast computes in it
    torch.manual_seed(0)
    model = airbench.make_net()
    hyp = airbench.hyp["opt"]
    # main()'s optimizer, as it builds it.
    kilostep_scale = 1024 * (1 + 1 / (1 - hyp["momentum"]))
    lr = hyp["lr"] / kilostep_scale
    wd = hyp["weight_decay"] * hyp["batch_size"] / kilostep_scale
    lr_biases = lr * hyp["bias_scaler"]
    norm_biases = [p for k, p in model.named_parameters() if "norm" in k and p.requires_grad]
    other = [p for k, p in model.named_parameters() if "norm" not in k and p.requires_grad]
    groups = [dict(params=norm_biases, lr=lr_biases, weight_decay=wd / lr_biases),
              dict(params=other, lr=lr, weight_decay=wd / lr)]
    optimizer = torch.optim.SGD(groups, momentum=hyp["momentum"], nesterov=True)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=hyp["label_smoothing"], reduction="none")
    inputs = torch.randn(batch, 3, 32, 32).to(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch,))
    model.train()

    def step() -> float:
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            outputs = model(inputs)
            loss = loss_fn(outputs, labels).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - t

    first = [step() for _ in range(warmup)]
    times = [step() for _ in range(steps)]
    print(f"airbench94, {precision}: warm-up {' '.join(f'{s:.2f}' for s in first)}; "
          f"s per step: {' '.join(f'{s:.2f}' for s in times)}", flush=True)
    print("RESULT " + json.dumps({"what": "airbench94", "precision": precision,
                                  "torch": torch.__version__, "threads": torch.get_num_threads(),
                                  "batch": batch, "steps": times,
                                  "median_s": statistics.median(times)}), flush=True)


def command(variant: str, args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The variant's command line and environment."""
    kind, *opts = variant.split(":")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for opt in [o for o in opts if "=" in o and o.split("=")[0].isupper()]:
        opts.remove(opt)
        name, _, value = opt.partition("=")
        env[name] = value
    if kind == "airbench":
        return [args.torch_python, __file__, "--worker", opts[0] if opts else "bfloat16",
                "--airbench", args.airbench, "--steps", str(args.steps),
                "--warmup", str(args.warmup), "--batch", str(args.batch)], env
    if kind != "fast":
        raise SystemExit(f"unknown variant {variant!r}")
    python = sys.executable
    if "torch" in opts:
        opts.remove("torch")
        python, env["KERAS_BACKEND"] = args.torch_python, "torch"
    cmd = [python, str(HERE / "fast_step.py"), "--json", "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--batch", str(args.batch)]
    flags = {"bf16": ["--mixed-precision", "on"], "f32": ["--mixed-precision", "off"],
             "xla": ["--jit", "on"], "noxla": ["--jit", "off"],
             "det": ["--determinism", "on"], "nodet": ["--determinism", "off"]}
    if "noaug" not in opts:
        cmd.append("--augment")
    for opt in opts:
        if opt in flags:
            cmd += flags[opt]
        elif "=" in opt:
            cmd += ["--net", opt]
        elif opt != "noaug":
            raise SystemExit(f"unknown option {opt!r} in {variant!r}")
    return cmd, env


def run(variant: str, args: argparse.Namespace) -> dict:
    cmd, env = command(variant, args)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode or not lines:
        raise SystemExit(f"{variant} failed ({out.returncode}):\n{out.stdout}\n"
                         f"{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--airbench", help="path of airbench94.py")
    ap.add_argument("--torch-python", default=sys.executable,
                    help="a Python with PyTorch for airbench94 (default: this one)")
    ap.add_argument("--variants", default="airbench:bfloat16,fast")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # airbench's precision, in its process
    args = ap.parse_args()
    if args.worker:
        airbench_worker(args.airbench, args.worker, args.steps, args.warmup, args.batch)
        return
    variants = args.variants.split(",")
    if any(v.startswith("airbench") for v in variants) and not args.airbench:
        ap.error("--airbench PATH is needed for an airbench variant")
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo", encoding="utf-8")
                if ln.startswith("model name")), "?")
    print(f"{cpu}, {os.cpu_count()} cores; batch {args.batch}, {args.warmup} warm-up + "
          f"{args.steps} timed steps a run, {args.rounds} rounds of {', '.join(variants)}",
          flush=True)
    steps: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(args.rounds):
        for v in variants:
            res = run(v, args)
            steps[v] += res["steps"]
            print(f"round {r + 1} {v:<32} median {res['median_s']:.3f} s  "
                  f"({' '.join(f'{s:.2f}' for s in res['steps'])})", flush=True)
    base = statistics.median(steps[variants[0]])
    print(f"\n{'variant':<34}{'median s/step':>14}{'img/s':>8}{'vs ' + variants[0]:>24}")
    for v in variants:
        m = statistics.median(steps[v])
        print(f"{v:<34}{m:>14.3f}{args.batch / m:>8.0f}{m / base:>23.2f}x")


if __name__ == "__main__":
    main()
