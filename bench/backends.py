"""Images/s and accuracy per Keras backend on this machine (issue 14).

    python bench/backends.py speed --data ../shared/data/cifar10-jpg.tar.gz [--per-class 2000]
    python bench/backends.py accuracy --data ../shared/data/cifar10-jpg.tar.gz [--epochs 3]

``speed``: the course CNN at batch 32 and ``fast`` at batch 1024, trained by cifar-tui's own
trainer for ``--epochs`` epochs on ``--per-class`` images per class (10% held out); the figure is
the mean images/s of the epochs after the first (the first includes tracing/compiling). On
TensorFlow the same trainer also runs with its batches from a tf.data pipeline (from_tensor_slices,
shuffle, batch, one-hot map, prefetch: the loader before the Keras-3-only core) in place of the
PyDataset, so the ratio PyDataset / tf.data answers "is the backend-neutral path slower?".
``accuracy``: one course-CNN run per backend on all 50,000 images (45,000 train, 5,000 val),
``--epochs`` epochs (``--per-class`` for fewer images), test accuracy on the 10,000 test images.

Each backend runs in its own process (Keras picks its backend once per process); backends that
are not installed are skipped. Run nothing else CPU-heavy meanwhile.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BACKENDS = ("tensorflow", "jax", "torch")
CASES = (("cnn", 32), ("fast", 1024))


def tfdata_batches(x, y, batch_size, *, shuffle=False, seed=0, epoch=0,  # noqa: ANN001, ANN201
                   drop_remainder=False):
    """The loader before the Keras-3-only core, minus the scaling/augmenting the model now does."""
    import numpy as np
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed + epoch, reshuffle_each_iteration=True)
    drop = drop_remainder and len(x) >= batch_size
    ds = ds.batch(batch_size, drop_remainder=drop)
    ds = ds.map(lambda img, label: (img, tf.one_hot(label, 10)),
                num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    ds.num_batches = len(x) // batch_size if drop else -(-len(x) // batch_size)
    return ds


def child(args: argparse.Namespace) -> None:
    from cifar_tui.backend import select

    select(args.backend)
    from cifar_tui import trainer
    from cifar_tui.config import TrainConfig
    from cifar_tui.data import load_cifar10
    from cifar_tui.runs import RunStore

    data = load_cifar10(args.data)
    out: dict = {"backend": args.backend}
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp))
        if args.mode == "speed":
            for arch, batch in CASES:
                cfg = replace(TrainConfig.for_arch(arch), batch_size=batch, epochs=args.epochs,
                              patience=0, val_split=0.1, subset=args.per_class)
                loaders = {"pydataset": trainer.ArrayBatches}
                if args.backend == "tensorflow":
                    loaders["tfdata"] = tfdata_batches
                for name, loader in loaders.items():
                    trainer.ArrayBatches = loader
                    run = trainer.train(cfg, data=data, store=store, evaluate=False)
                    rates = [h["images_per_sec"] for h in run.history()[1:]]
                    out[f"{arch}/{batch}/{name}"] = sum(rates) / len(rates)
                    print("RESULT " + json.dumps(out), flush=True)  # kept if a later case dies
        else:
            cfg = replace(TrainConfig.for_arch("cnn"), epochs=args.epochs, patience=0,
                          subset=args.per_class)
            run = trainer.train(cfg, data=data, store=store, evaluate=True)
            hist = run.history()
            out.update(test_accuracy=run.metrics["accuracy"],
                       val_accuracy=hist[-1]["val_accuracy"],
                       seconds=sum(h["seconds"] for h in hist))
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=("speed", "accuracy"))
    p.add_argument("--data", default=str(ROOT.parent / "shared/data/cifar10-jpg.tar.gz"))
    p.add_argument("--per-class", type=int, default=None,
                   help="train images per class (speed: 1000; accuracy: all)")
    p.add_argument("--epochs", type=int, default=None, help="speed: 3, accuracy: 3")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--backend", help=argparse.SUPPRESS)  # set in the child processes
    args = p.parse_args()
    args.epochs = args.epochs or 3
    if args.mode == "speed":
        args.per_class = args.per_class or 1000
    if args.backend:
        child(args)
        return
    results = []
    for name in args.backends.split(","):
        if importlib.util.find_spec(name) is None:
            print(f"{name}: not installed, skipped")
            continue
        cmd = [sys.executable, __file__, args.mode, "--data", args.data, "--epochs",
               str(args.epochs), "--backend", name]
        if args.per_class:
            cmd += ["--per-class", str(args.per_class)]
        env = {**os.environ, "KERAS_BACKEND": name, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            print(f"{name}: failed\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
            continue
        results.append(json.loads(line[-1][7:]))
        print(json.dumps(results[-1]), "" if done.returncode == 0 else
              f"(partial: the child ended with {done.returncode})", flush=True)
    if args.mode == "speed":
        print(f"\nimages/s, mean of epochs 2..{args.epochs}, {args.per_class} per class "
              "(90% trained on)")
        print(f"{'backend':<11} {'cnn b32':>9} {'fast b1024':>11}")
        for r in results:
            cells = [r.get(f"{arch}/{batch}/pydataset") for arch, batch in CASES]
            print(f"{r['backend']:<11} " + " ".join(f"{c:>9.0f}" if c else f"{'-':>9}"
                                                    for c in cells))
        for r in results:
            for arch, batch in CASES:
                ours, old = r.get(f"{arch}/{batch}/pydataset"), r.get(f"{arch}/{batch}/tfdata")
                if ours and old:
                    print(f"tensorflow {arch} b{batch}: PyDataset {ours:.0f} / tf.data "
                          f"{old:.0f} = {ours / old:.2f}x")
    else:
        what = f"{args.per_class} per class" if args.per_class else "all 50,000 images"
        print(f"\ncourse CNN, {args.epochs} epochs, {what} (90% trained on), all 10,000 test")
        for r in results:
            print(f"{r['backend']:<11} test {100 * r['test_accuracy']:.2f}%  val "
                  f"{100 * r['val_accuracy']:.2f}%  {r['seconds']:.0f} s of training")


if __name__ == "__main__":
    main()
