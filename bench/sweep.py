"""Sweeps: median pruning against none, and two workers against one, on one journal study.

    python bench/sweep.py --data PATH [--arch cnn] [--subset 300] [--trials 12] [--epochs 10]
                          [--patience 0] [--workers 2] [--runs DIR]
                          [--only pruned,unpruned,parallel] [--tag TAG]

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

``--only`` runs some of the studies, so that a shared machine can be given back between them:
with the same ``--runs`` and ``--tag``, a later call finds the studies an earlier one made
(``unpruned`` needs ``pruned``'s trials) and the table shows every study of that tag so far.
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


STUDIES = ("pruned", "unpruned", "parallel")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--arch", default="cnn")
    ap.add_argument("--subset", type=int, default=300, help="train images per class")
    ap.add_argument("--test-subset", type=int, default=100, help="test images per class")
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--patience", type=int, default=0,
                    help="early stopping (default 0, off: only the pruner cuts a trial short)")
    ap.add_argument("--workers", type=int, default=2, help="workers of the parallel study")
    ap.add_argument("--runs", type=Path, default=None, help="run store (default: a temp dir)")
    ap.add_argument("--only", default=",".join(STUDIES),
                    help="studies to run now, of: " + ", ".join(STUDIES))
    ap.add_argument("--tag", default=None,
                    help="names the studies (default: the time); reuse it with --only")
    args = ap.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    if not only or set(only) - set(STUDIES):
        ap.error(f"--only takes {', '.join(STUDIES)}")
    if args.runs is None and set(only) != set(STUDIES):
        ap.error("--only needs --runs (the later calls find the earlier studies there)")
    root = args.runs or Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    base = TrainConfig.for_arch(args.arch, subset=args.subset, test_subset=args.test_subset,
                                epochs=args.epochs, patience=args.patience,
                                data=str(Path(args.data).resolve()))
    tag = args.tag or time.strftime("%H%M%S")
    names = {kind: f"{kind}-{tag}" for kind in STUDIES}
    workers = {"pruned": 1, "unpruned": 1, "parallel": args.workers}
    seconds_file = root / f"bench-sweep-{tag}.json"
    seconds = json.loads(seconds_file.read_text()) if seconds_file.exists() else {}

    for kind in (k for k in STUDIES if k in only):
        if kind == "unpruned":
            if "pruned" not in seconds:
                ap.error(f"unpruned repeats study {names['pruned']}'s trials: run --only pruned "
                         "first (same --runs and --tag)")
            # the same parameters, in the same order, without pruning
            import optuna

            sweep.create(root, base, [], name=names[kind], pruner="none", trials=args.trials)
            study, _, _ = sweep.load(root, names[kind])
            for t in sorted(sweep.load(root, names["pruned"])[0].get_trials(),
                            key=lambda t: t.number):
                if t.state in (optuna.trial.TrialState.COMPLETE,
                               optuna.trial.TrialState.PRUNED):
                    study.enqueue_trial(t.params)
        else:
            sweep.create(root, base, [], name=names[kind], trials=args.trials)
        seconds[kind] = run_workers(root, names[kind], workers[kind])
        seconds_file.write_text(json.dumps(seconds))

    print(f"{args.arch}, {args.subset} images/class, {args.epochs} epochs, patience "
          f"{args.patience}, {args.trials} trials; runs in {root}")
    print(f"{'study':<18}{'workers':>8}{'wall s':>9}{'trials/h':>10}{'complete':>10}"
          f"{'pruned':>8}{'failed':>8}{'epochs':>8}{'best val':>10}")
    for kind in (k for k in STUDIES if k in seconds):
        row = summary(root, names[kind], seconds[kind])
        best = f"{row['best']:.4f}" if row["best"] is not None else "-"
        print(f"{row['study']:<18}{workers[kind]:>8}{row['seconds']:>9.0f}"
              f"{row['per_hour']:>10.1f}{row['complete']:>10}{row['pruned']:>8}"
              f"{row['failed']:>8}{row['epochs']:>8}{best:>10}")


if __name__ == "__main__":
    main()
