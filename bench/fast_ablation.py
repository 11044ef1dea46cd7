"""What each trick of the `fast` preset is worth: the full recipe, then one trick off at a time.

    python bench/fast_ablation.py --data ../shared/data/cifar10-jpg.tar.gz [--epochs 13]
        [--per-class N] [--val-split 0.1] [--only full,no-lookahead] [--seeds 0,1,2]
        [--jit auto|on|off]

Prints test accuracy, best validation accuracy, training seconds and images/s per variant and
seed, then each variant's mean and spread (sample standard deviation) over the seeds.
A variant changes the run's config, a constant of the recipe's table (``recipe.FAST``, patched
for that run only: keys "table:section.name"), or, for airbench's coupled weight decay, which
the recipe does not offer, how the trainer compiles the model ("hook:coupled_decay"), or, to
keep the short last batch, how it batches the training images ("hook:keep_last_batch").
Test-time augmentation costs no training, so the full run's model (every variant's, with
--tta-forms) is also scored without it, with the mirror only, and with the six views averaged
as logits (the recipe's way) and as probabilities.
A full-data run is 35-80 minutes of training on 2 CPU cores (4,699 s on the AMD EPYC VM in
bench/RESULTS.md): meant for a GPU box, or --per-class 1000 for the 15-minute proxy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cifar_tui.config import TrainConfig  # noqa: E402
from cifar_tui.data import load_cifar10, subset  # noqa: E402

VARIANTS = {
    "full": {},
    "no-lookahead": {"lookahead": False},
    "no-label-smoothing": {"label_smoothing": 0.0},
    "no-flip": {"augment_flip": False},
    "no-translate": {"augment_crop": False},
    "no-weight-decay": {"weight_decay": 0.0},
    "constant-lr": {"schedule": "constant", "learning_rate": 0.75},  # the triangle's mean lr
    "plain-sgd-momentum": {"optimizer": "momentum", "momentum": 0.9, "learning_rate": 0.2},
    "random-flip": {"alternate_flip": False},
    "whiten-bias-never-trained": {"table:whitening.bias_epochs": 0},
    "lookahead-from-epoch-0": {"table:lookahead.start_epoch": 0},
    "lr-decays-to-0": {"table:schedule.end": 0.0},
    "lookahead-keeps-epoch-ends": {"table:lookahead.end_epochs_on_average": False},
    # airbench's weight decay, through the gradient and so the momentum, instead of Keras's
    # decoupled decay (issue 17, item 7): the same shrink per step once momentum has settled.
    "coupled-weight-decay": {"weight_decay": 0.0, "hook:coupled_decay": True},
    # The short last batch of each epoch trained too (issue 17, item 3: the recipe drops it as
    # airbench does): one more step an epoch, 10 of 9 on the proxy, 49 of 48 on all the data.
    "keep-last-batch": {"hook:keep_last_batch": True},
    # Half the batch (issue 17's idea list: 1.05-1.09x the images a second on 2 cores): airbench
    # sets its lr per 1024 examples of a summed loss, so a mean-loss lr of half; the decoupled
    # decay (lr * wd a step) then shrinks weights half as much a step, twice as many steps.
    "batch-512": {"batch_size": 512, "learning_rate": 0.75},
    # The recipe before airbench's alternating flips, whitening-bias training and lookahead
    # start and epoch-end reset (XLA and the rest as now).
    "as-before": {"alternate_flip": False, "table:whitening.bias_epochs": 0,
                  "table:lookahead.start_epoch": 0,
                  "table:lookahead.end_epochs_on_average": False},
}


@contextmanager
def patched_recipe(changes: dict):
    """The recipe table with ``changes`` ("section.name": value) for the duration."""
    from cifar_tui.recipe import FAST

    old = {}
    for key, value in changes.items():
        section, name = key.split(".")
        old[key] = FAST[section][name]
        FAST[section][name] = value
    try:
        yield
    finally:
        for key, value in old.items():
            section, name = key.split(".")
            FAST[section][name] = value


@contextmanager
def coupled_decay(on: bool):
    """While on, the trainer compiles its model with an L2 term on every trainable weight but
    the whitening bias (which the recipe never decays), sized so that the gradient step shrinks
    a weight as the recipe's decoupled decay does once momentum has settled:
    lr * 2 * l2 / (1 - momentum) = lr * weight_decay."""
    if not on:
        yield
        return
    import keras

    import cifar_tui.trainer as trainer
    from cifar_tui.layers import FreezableBias
    from cifar_tui.recipe import FAST

    hyp = FAST["train"]
    l2 = hyp["weight_decay"] * (1 - hyp["momentum"]) / 2
    compile_model = trainer.compile_model

    def compile_with_l2(model, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        frozen = {id(layer.bias) for layer in model.layers if isinstance(layer, FreezableBias)}
        for v in model.trainable_weights:
            if id(v) not in frozen:
                v.regularizer = keras.regularizers.L2(l2)
        return compile_model(model, *args, **kwargs)

    trainer.compile_model = compile_with_l2
    try:
        yield
    finally:
        trainer.compile_model = compile_model


@contextmanager
def keep_last_batch(on: bool):
    """While on, the trainer's training batches keep the short last batch of each epoch (its
    steps per epoch, and so the schedule's and the lookahead's, count it)."""
    if not on:
        yield
        return
    import cifar_tui.trainer as trainer

    batches = trainer.ArrayBatches

    def keeping(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        return batches(*args, **{**kwargs, "drop_remainder": False})

    trainer.ArrayBatches = keeping
    try:
        yield
    finally:
        trainer.ArrayBatches = batches


def _tta_scores(run, data) -> dict[str, float]:  # noqa: ANN001
    """Test accuracy of a finished run's model without TTA, with the mirror only, and with the
    recipe's six views averaged two ways: as logits (the recipe's and airbench's way, which
    should equal the run's own score) and as probabilities (the way before issue 17)."""
    import numpy as np

    from cifar_tui.evaluation import predict_probs, tta_views
    from cifar_tui.trainer import load_run_model

    model = load_run_model(run)
    views = tta_views(data.x_test)
    probs = [predict_probs(model, v) for _, v in views]

    def mix(f) -> np.ndarray:  # noqa: ANN001
        return sum(weight * f(p) for (weight, _), p in zip(views, probs))

    scores = {"no TTA": probs[0], "mirror TTA": (probs[0] + probs[1]) / 2,
              "TTA, logits": mix(lambda p: np.log(np.clip(p.astype(np.float64), 1e-30, None))),
              "TTA, probabilities": mix(lambda p: p)}
    return {k: float((v.argmax(1) == data.y_test).mean()) for k, v in scores.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    ap.add_argument("--per-class", type=int, default=None)
    ap.add_argument("--val-split", type=float, default=0.1)
    ap.add_argument("--only", default=",".join(VARIANTS))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--jit", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--tta-forms", action="store_true",
                    help="score every variant's model four ways (as the full run's always is)")
    args = ap.parse_args()

    from cifar_tui.runs import RunStore
    from cifar_tui.trainer import train

    seeds = [int(s) for s in args.seeds.split(",")]
    data = subset(load_cifar10(args.data), args.per_class, test_per_class=1000)  # whole test set
    base = TrainConfig.for_arch("fast", val_split=args.val_split, jit_compile=args.jit,
                                **({"epochs": args.epochs} if args.epochs else {}))
    print(f"fast preset, {len(data.y_train)} train+val images (val split {args.val_split}), "
          f"{base.epochs} epochs, test on {len(data.y_test)}, jit {args.jit}, seeds {seeds}")
    print(f"{'variant':<26}{'seed':>5}{'test acc':>9}{'best val':>9}{'train s':>9}{'img/s':>7}")
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            changes = VARIANTS[name]
            table = {k.removeprefix("table:"): v for k, v in changes.items()
                     if k.startswith("table:")}
            config = {k: v for k, v in changes.items() if ":" not in k}
            for seed in seeds:
                cfg = replace(base, seed=seed, **config)
                t = time.perf_counter()
                with patched_recipe(table), coupled_decay("hook:coupled_decay" in changes), \
                        keep_last_batch("hook:keep_last_batch" in changes):
                    run = train(cfg, data=data, store=RunStore(tmp))
                hist = run.history()
                seconds = sum(h["seconds"] for h in hist)
                rate = sum(h["images_per_sec"] for h in hist) / len(hist)
                best_val = max(h.get("val_accuracy", float("nan")) for h in hist)
                acc = run.metrics["accuracy"]
                results.setdefault(name, []).append(acc)
                print(f"{name:<26}{seed:>5}{acc:>9.4f}{best_val:>9.4f}{seconds:>9.0f}{rate:>7.0f}"
                      f"   ({time.perf_counter() - t:.0f} s wall)", flush=True)
                if name == "full" or args.tta_forms:
                    for form, score in _tta_scores(run, data).items():
                        label = f"{name}, {form}"
                        results.setdefault(label, []).append(score)
                        print(f"{label:<26}{seed:>5}{score:>9.4f}", flush=True)
    print(f"\n{'variant':<26}{'runs':>5}{'mean':>9}{'sd':>8}  test accuracy over seeds")
    for name, accs in results.items():
        sd = statistics.stdev(accs) if len(accs) > 1 else float("nan")
        print(f"{name:<26}{len(accs):>5}{statistics.mean(accs):>9.4f}{sd:>8.4f}")


if __name__ == "__main__":
    main()
