"""Sweeps: median pruning against none, and two workers against one, on one journal study.

    python bench/sweep.py --data PATH [--arch cnn] [--subset 300] [--trials 12] [--epochs 10]
                          [--workers 2] [--runs DIR]

Three studies of ``--arch`` on ``--subset`` training images per class, each trained by
``cifar-tui sweep --join NAME --foreground`` worker processes (the way detached workers run):

    pruned     TPE with median pruning, 1 worker
    unpruned   the same trials (the pruned study's parameters, enqueued in order), no pruning,
               1 worker: what pruning saved, and what it cost in best validation accuracy
    parallel   TPE with median pruning, ``--workers`` workers (default 2; on a GPU machine use
               one per GPU: each worker is given its own through CUDA_VISIBLE_DEVICES)

For each: wall seconds until the study has its trials, trials per hour, complete / pruned /
failed trials, epochs trained in all, and the best validation accuracy. On a 2-core CPU two
workers share the cores that one worker's TensorFlow already uses: expect little or no gain.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cifar_tui import sweep  # noqa: E402
from cifar_tui.config import TrainConfig  # noqa: E402
from cifar_tui.runs import Run  # noqa: E402


def run_workers(root: Path, name: str, workers: int) -> float:
    """Train study ``name`` with ``workers`` worker processes; the wall seconds it took."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    procs = []
    for i in range(workers):
        log = open(root / f"{name}-worker-{i + 1}.log", "wb")  # noqa: SIM115 - closed below
        procs.append((subprocess.Popen(
            [sys.executable, "-m", "cifar_tui", "--runs", str(root), "sweep", "--join", name,
             "--foreground"], env={**env, **sweep.worker_env(i, sweep.gpu_count())},
            stdout=log, stderr=subprocess.STDOUT), log))
    for proc, log in procs:
        proc.wait()
        log.close()
    return time.perf_counter() - t


def summary(root: Path, name: str, seconds: float) -> dict:
    s = sweep.status(root, name, with_importances=False)
    epochs = sum(Run(root / r["run"]).epochs_done for r in s["trials"] if r["run"])
    c = s["counts"]
    return {"study": name, "seconds": seconds, "per_hour": c["done"] * 3600 / seconds,
            "complete": c["complete"], "pruned": c["pruned"], "failed": c["failed"],
            "epochs": epochs, "best": s["best"]["value"] if s["best"] else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--arch", default="cnn")
    ap.add_argument("--subset", type=int, default=300, help="train images per class")
    ap.add_argument("--test-subset", type=int, default=100, help="test images per class")
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2, help="workers of the parallel study")
    ap.add_argument("--runs", type=Path, default=None, help="run store (default: a temp dir)")
    args = ap.parse_args()
    root = args.runs or Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    base = TrainConfig.for_arch(args.arch, subset=args.subset, test_subset=args.test_subset,
                                epochs=args.epochs, patience=0,
                                data=str(Path(args.data).resolve()))
    stamp = time.strftime("%H%M%S")
    rows = []

    pruned, _ = sweep.create(root, base, [], name=f"pruned-{stamp}", trials=args.trials)
    rows.append(summary(root, pruned, run_workers(root, pruned, 1)))

    # the same parameters, in the same order, without pruning
    import optuna

    unpruned, _ = sweep.create(root, base, [], name=f"unpruned-{stamp}", pruner="none",
                               trials=args.trials)
    study, _, _ = sweep.load(root, unpruned)
    for t in sorted(sweep.load(root, pruned)[0].get_trials(), key=lambda t: t.number):
        if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            study.enqueue_trial(t.params)
    rows.append(summary(root, unpruned, run_workers(root, unpruned, 1)))

    parallel, _ = sweep.create(root, base, [], name=f"parallel-{stamp}", trials=args.trials)
    rows.append(summary(root, parallel, run_workers(root, parallel, args.workers)))

    print(f"{args.arch}, {args.subset} images/class, {args.epochs} epochs, {args.trials} trials; "
          f"runs in {root}")
    print(f"{'study':<18}{'workers':>8}{'wall s':>9}{'trials/h':>10}{'complete':>10}"
          f"{'pruned':>8}{'failed':>8}{'epochs':>8}{'best val':>10}")
    for row, workers in zip(rows, (1, 1, args.workers)):
        best = f"{row['best']:.4f}" if row["best"] is not None else "-"
        print(f"{row['study']:<18}{workers:>8}{row['seconds']:>9.0f}{row['per_hour']:>10.1f}"
              f"{row['complete']:>10}{row['pruned']:>8}{row['failed']:>8}{row['epochs']:>8}"
              f"{best:>10}")


if __name__ == "__main__":
    main()
