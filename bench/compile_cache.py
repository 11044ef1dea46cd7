"""First and second run of the same preset and shapes, with a cold then a warm compile cache.

Each run is a fresh ``cifar-tui train`` process (as a user starts one), on the backend given
(JAX by default), with ``CIFAR_TUI_COMPILE_CACHE`` pointing at a folder this script empties
first: run 1 compiles everything and fills it, run 2 loads from it. Prints, per run, the wall
seconds of the whole command (Python, Keras, data from the .npy cache, training, evaluation),
the run's training seconds, how many of them the run recorded as compiling, and the programs
loaded from the cache / compiled.

    python bench/compile_cache.py --data PATH [--archs fast,cnn] [--subset 100] [--epochs 1]
        [--seeds 0,0] [--out FILE.jsonl] [-- MORE TRAIN FLAGS]

``--seeds 0,0`` (the default): the same run twice. ``--seeds 0,0,1,2`` adds other seeds on the
warm cache (a seed changes the values, not the programs). ``--subset 0``: all 50,000 images.

Run it alone (``nice flock /tmp/cpu.lock``): other work on the CPU slows compiles and steps
alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_run(arch: str, seed: int, args: argparse.Namespace, cache: Path, runs: Path) -> dict:
    env = {**os.environ, "KERAS_BACKEND": args.backend, "CIFAR_TUI_COMPILE_CACHE": str(cache),
           "CIFAR_TUI_RUNS": str(runs), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "cifar_tui", "train", arch, "--data", args.data,
           "--seed", str(seed), *(["--epochs", str(args.epochs)] if args.epochs else []),
           *(["--subset", str(args.subset)] if args.subset else []),
           *(["--test-subset", str(args.test_subset)] if args.test_subset else []), *args.extra]
    before = set(runs.iterdir()) if runs.exists() else set()
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{arch}: exit {done.returncode}\n{done.stdout[-2000:]}"
                         f"\n{done.stderr[-2000:]}")
    (folder,) = set(runs.iterdir()) - before
    state = json.loads((folder / "state.json").read_text())
    history = _history(folder)
    compile_s = sum(h.get("compile_seconds", 0.0) for h in history)
    cache_counts = state.get("compile_cache") or {}
    metrics_file = folder / "metrics.json"
    test = json.loads(metrics_file.read_text()).get("accuracy") if metrics_file.exists() else None
    return {"arch": arch, "seed": seed, "test_accuracy": test, "wall_s": wall,
            "train_s": state.get("train_seconds"),
            "compile_s": compile_s, "epoch_s": [h["seconds"] for h in history],
            "loaded": cache_counts.get("loaded"), "compiled": cache_counts.get("compiled"),
            "lines": [ln for ln in done.stdout.splitlines() if ln.startswith(("epoch", "fin"))]}


def _history(folder: Path) -> list[dict]:
    import csv

    with open(folder / "history.csv", encoding="utf-8") as f:
        return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(f)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--archs", default="fast,cnn")
    ap.add_argument("--subset", type=int, default=100, help="training images per class")
    ap.add_argument("--test-subset", type=int, default=0, help="test images per class (0: all)")
    ap.add_argument("--epochs", type=int, default=1, help="0: the preset's")
    ap.add_argument("--seeds", default="0,0", help="one run per seed, the first on a cold cache")
    ap.add_argument("--out", help="also append each run as a JSON line to this file")
    ap.add_argument("extra", nargs="*", help="more `cifar-tui train` flags, after --")
    ap.add_argument("--backend", default="jax")
    ap.add_argument("--cache", help="compile cache folder to use (emptied first; default: "
                                    "a temporary one)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="compile-cache-bench-"))
    cache = Path(args.cache) if args.cache else work / "compiled"
    print(f"backend {args.backend}, {args.subset} images/class, {args.epochs} epoch(s); "
          f"cache {cache}", flush=True)
    print(f"{'arch':<6}{'cache':<6}{'seed':>5}{'wall s':>8}{'train s':>9}{'compile s':>11}"
          f"{'train-compile':>15}{'loaded/compiled':>17}{'test acc':>10}  epoch s", flush=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    try:
        for arch in args.archs.split(","):
            shutil.rmtree(cache, ignore_errors=True)
            for i, seed in enumerate(seeds):
                r = one_run(arch, seed, args, cache, work / "runs")
                r["cache"] = "warm" if i else "cold"
                if args.out:
                    with open(args.out, "a", encoding="utf-8") as f:
                        f.write(json.dumps(r) + "\n")
                counts = f"{r['loaded']}/{r['compiled']}" if r["loaded"] is not None else "-"
                test = f"{r['test_accuracy']:.2%}" if r["test_accuracy"] is not None else "-"
                print(f"{arch:<6}{r['cache']:<6}{seed:>5}{r['wall_s']:>8.1f}{r['train_s']:>9.1f}"
                      f"{r['compile_s']:>11.1f}{r['train_s'] - r['compile_s']:>15.1f}"
                      f"{counts:>17}{test:>10}  "
                      + " ".join(f"{s:.1f}" for s in r["epoch_s"]), flush=True)
                for line in r["lines"]:
                    print(f"    {line}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
