"""GPU figures for issue 15, in one run: the course CNN (ours vs a notebook-style ``model.fit``),
``fast`` on all 50,000 images over seeds, mixed precision on and off, peak device memory.

Every measurement runs in its own subprocess (so its peak device memory is its own) and appends
one JSON line to ``OUT/gpu.jsonl`` as soon as it ends: a run cut short still returns what it did.

    python bench/gpu.py --data PATH --out DIR [--budget-s 480] [--quick]

``--quick`` is the CPU dry run: a small subset and one epoch, same code paths.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
# Without this JAX takes 75 % of the card at start and the peak says nothing.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def _device_info() -> dict:
    import keras

    info = {"backend": keras.backend.backend(), "keras": keras.__version__}
    if info["backend"] == "jax":
        import jax

        info["jax"] = jax.__version__
        info["devices"] = [str(d) for d in jax.devices()]
        info["device_kind"] = jax.devices()[0].device_kind
    elif info["backend"] == "torch":
        import torch

        info["torch"] = torch.__version__
        info["devices"] = [torch.cuda.get_device_name(0)] if torch.cuda.is_available() else ["cpu"]
    return info


def _peak_bytes() -> int | None:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        return stats.get("peak_bytes_in_use")
    if keras.backend.backend() == "torch":
        import torch

        return torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    return None


class _EpochTimer:
    """Seconds per epoch, as a Keras callback (built lazily so keras loads in the child only)."""

    @staticmethod
    def make():  # noqa: ANN205
        import keras

        class Timer(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []

            def on_epoch_begin(self, epoch, logs=None):  # noqa: ANN001, ANN201
                self._t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):  # noqa: ANN001, ANN201
                self.seconds.append(time.perf_counter() - self._t)

        return Timer()


def notebook_cnn(data, batch_size: int, epochs: int, mixed: bool) -> dict:  # noqa: ANN001
    """The assignment's own way: the course CNN as a student writes it (float input), pixels
    scaled and labels one-hot in numpy, ``fit(validation_split=0.1)``."""
    import keras
    import numpy as np
    from keras import layers

    if mixed:
        keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    x = data.x_train.astype("float32") / 255.0
    y = keras.utils.to_categorical(data.y_train, 10)
    order = np.random.default_rng(0).permutation(len(x))  # validation_split takes the tail
    x, y = x[order], y[order]
    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dense(10, activation="softmax", dtype="float32"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    timer = _EpochTimer.make()
    t0 = time.perf_counter()
    hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, validation_split=0.1,
                     verbose=0, callbacks=[timer])
    wall = time.perf_counter() - t0
    n_train = int(len(x) * 0.9)
    steady = timer.seconds[1:] or timer.seconds
    return {"seconds_per_epoch": timer.seconds, "train_images": n_train,
            "images_per_sec": n_train / (sum(steady) / len(steady)), "wall_s": wall,
            "params": model.count_params(),
            "val_accuracy": float(hist.history["val_accuracy"][-1])}


def ours(data, arch: str, overrides: dict, evaluate: bool) -> dict:  # noqa: ANN001
    """The project's own trainer, then (for ``fast``) test accuracy with and without TTA."""
    from cifar_tui.config import TrainConfig
    from cifar_tui.evaluation import evaluate_probs, predict_probs
    from cifar_tui.runs import RunStore
    from cifar_tui.trainer import evaluate_run, load_run_model, train

    cfg = TrainConfig.for_arch(arch, **overrides)
    store = RunStore(tempfile.mkdtemp(prefix="gpu-bench-"))
    t0 = time.perf_counter()
    run = train(cfg, data=data, store=store, evaluate=False)
    t_train = time.perf_counter() - t0
    hist = run.history()
    secs = [h["seconds"] for h in hist]
    rates = [h["images_per_sec"] for h in hist]
    steady = rates[1:] or rates
    out = {"epochs_done": run.epochs_done, "seconds_per_epoch": secs,
           "images_per_sec": sum(steady) / len(steady), "train_s": t_train,
           "val_accuracy": hist[-1].get("val_accuracy")}
    if evaluate:
        ev = evaluate_run(run, data)
        out["test_accuracy"] = ev.accuracy
        out["wall_train_to_eval_s"] = time.perf_counter() - t0
        if cfg.to_dict().get("tta"):
            model = load_run_model(run)
            probs = predict_probs(model, data.x_test, tta=False) if _takes_no_normalize() \
                else predict_probs(model, data.x_test, normalize=cfg.normalize, tta=False)
            out["test_accuracy_no_tta"] = evaluate_probs(probs, data.y_test).accuracy
    return out


def _takes_no_normalize() -> bool:
    import inspect

    from cifar_tui.evaluation import predict_probs

    return "normalize" not in inspect.signature(predict_probs).parameters


def child(spec: dict) -> dict:
    """One measurement, in this process."""
    from cifar_tui.data import load_cifar10, subset

    data = subset(load_cifar10(spec["data"]), spec.get("subset"))
    result = {"spec": spec, "device": _device_info()}
    t0 = time.perf_counter()
    if spec["what"] == "notebook":
        result.update(notebook_cnn(data, spec["batch_size"], spec["epochs"], spec["mixed"]))
    else:
        overrides = dict(spec.get("overrides", {}))
        overrides["mixed_precision"] = "on" if spec["mixed"] else "off"
        result.update(ours(data, spec["arch"], overrides, spec.get("evaluate", False)))
    result["process_s"] = time.perf_counter() - t0
    result["peak_device_bytes"] = _peak_bytes()
    return result


def plan(args: argparse.Namespace) -> list[dict]:
    quick = {"subset": 50} if args.quick else {}
    cnn_epochs = 1 if args.quick else 2  # the first epoch compiles; the second is steady state
    fast_epochs = {} if not args.quick else {"epochs": 1}
    specs: list[dict] = []
    for bs in (32, 64, 128):
        for what in ("ours", "notebook"):
            specs.append({"what": what, "arch": "cnn", "batch_size": bs, "epochs": cnn_epochs,
                          "mixed": False, "overrides": {"batch_size": bs, "epochs": cnn_epochs,
                                                        "patience": 0}, **quick})
    for seed in range(args.seeds):
        specs.append({"what": "ours", "arch": "fast", "mixed": True, "evaluate": True,
                      "overrides": {"seed": seed, "val_split": 0.0, **fast_epochs}, **quick})
    specs.append({"what": "ours", "arch": "fast", "mixed": False, "evaluate": True,
                  "overrides": {"seed": 0, "val_split": 0.0, **fast_epochs}, **quick})
    for bs in (32, 128):
        specs.append({"what": "ours", "arch": "cnn", "batch_size": bs, "epochs": cnn_epochs,
                      "mixed": True, "overrides": {"batch_size": bs, "epochs": cnn_epochs,
                                                   "patience": 0}, **quick})
    for spec in specs:
        spec["data"] = args.data
    return specs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=False)
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--budget-s", type=float, default=480.0,
                    help="start no new measurement after this many seconds")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="CPU dry run: tiny subset, one epoch")
    ap.add_argument("--only", help="comma-separated WHAT:ARCH pairs to keep, e.g. notebook:cnn")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "gpu.jsonl"
    t0 = time.perf_counter()
    if not args.quick:  # fail fast: no accelerator, or a broken install, costs seconds not minutes
        probe = subprocess.run([sys.executable, "-c", "import json, sys; sys.path.insert(0, "
                                f"{str(Path(__file__).parent)!r}); import gpu; "
                                "print(json.dumps(gpu._device_info()))"],
                               capture_output=True, text=True)
        print("device:", probe.stdout.strip() or probe.stderr[-2000:], flush=True)
        if probe.returncode or '"cpu' in probe.stdout:
            print("no accelerator visible to the backend: stopping", flush=True)
            return 2
    keep = set(args.only.split(",")) if args.only else None
    for spec in plan(args):
        if keep is not None and f"{spec['what']}:{spec['arch']}" not in keep:
            continue
        if time.perf_counter() - t0 > args.budget_s:
            print(f"budget spent: skipped {spec['what']} {spec.get('arch')}", flush=True)
            continue
        proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                              capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            row = {"spec": spec, "error": proc.stderr[-2000:]}
        else:
            row = json.loads(lines[-1][7:])
        with log.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(_line(row), flush=True)
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


def _line(row: dict) -> str:
    s = row["spec"]
    name = f"{s['what']:8s} {s.get('arch', 'cnn'):5s} bs={s.get('batch_size', '-')!s:4s} " \
           f"mp={'on ' if s['mixed'] else 'off'} seed={s.get('overrides', {}).get('seed', '-')}"
    if "error" in row:
        return f"{name}  ERROR {row['error'].strip().splitlines()[-1] if row['error'] else ''}"
    parts = [f"{row['images_per_sec']:9.0f} img/s",
             "s/ep " + " ".join(f"{x:.1f}" for x in row["seconds_per_epoch"])]
    for k in ("test_accuracy", "test_accuracy_no_tta"):
        if row.get(k) is not None:
            parts.append(f"{k}={row[k]:.4f}")
    if row.get("wall_train_to_eval_s"):
        parts.append(f"wall={row['wall_train_to_eval_s']:.1f}s")
    if row.get("peak_device_bytes"):
        parts.append(f"peak={row['peak_device_bytes'] / 2**20:.0f}MiB")
    return f"{name}  " + "  ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
