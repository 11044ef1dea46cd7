"""Real data that is not CIFAR-10, as a person would bring it: image folders with their own
class names (issue 33).

    python bench/own_data.py write [--out /tmp/cifar-tui-own]
    python bench/own_data.py train [--out /tmp/cifar-tui-own] [--arch cnn] [--epochs 3]
        [--only digits|cifar3] [other flags of cifar-tui train, e.g. --batch-size 128]

``write`` makes two sources under ``--out`` (never inside the project):

- ``digits/``: scikit-learn's handwritten digits (``load_digits``: 1,797 8x8 greyscale images,
  10 classes, shipped with sklearn, no download), as one folder of PNGs per digit, named
  ``zero`` .. ``nine``, with no train/ and test/: the loader holds out ``--test-fraction`` of
  each class.
- ``cifar3.tar.gz``: three classes of the shared CIFAR-10 JPEG archive, their folders renamed
  (cat -> kitty, ship -> boat, frog -> toad), in ``train/<class>/`` and ``test/<class>/``.

``train`` trains ``--arch`` on each through the command line (``cifar-tui train ... --data``)
into ``--out``/runs and prints, per source, the command, its test accuracy, the validation
accuracy of each epoch and its times.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CIFAR_JPG = Path("/work/shared/data/cifar10-jpg.tar.gz")
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
RENAMED = {"cat": "kitty", "ship": "boat", "frog": "toad"}


def write_digits(out: Path) -> Path:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder = out / "digits"
    for i, (image, label) in enumerate(zip(digits.images, digits.target)):
        path = folder / DIGITS[label] / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        # 0..16 ink -> 0..255 grey, white digit on black as the data is
        Image.fromarray((image * (255 / 16)).astype(np.uint8), "L").save(path)
    return folder


def write_cifar3(out: Path, source: Path = CIFAR_JPG) -> Path:
    target = out / "cifar3.tar.gz"
    with tarfile.open(source, "r:gz") as src, tarfile.open(target, "w:gz") as dst:
        for member in src:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) < 3 or parts[-2] not in RENAMED:
                continue
            parts[-2] = RENAMED[parts[-2]]
            data = src.extractfile(member).read()
            info = tarfile.TarInfo("/".join(parts))
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return target


SOURCES = {"digits": "digits (sklearn, 10 classes, 8x8 grey -> 32x32)",
           "cifar3": "CIFAR-10 subset (kitty/boat/toad)"}


def train(out: Path, arch: str, epochs: int, only: tuple[str, ...], extra: list[str]) -> None:
    """Train ``arch`` on each source of ``only`` through ``cifar-tui train --json``; the
    figures are read from its ``finished`` event (what a script of the user's would read)."""
    import json

    paths = {"digits": out / "digits", "cifar3": out / "cifar3.tar.gz"}
    runs = out / "runs"
    for key in only:
        what, data = SOURCES[key], paths[key]
        cmd = [sys.executable, "-m", "cifar_tui", "train", arch, "--data", str(data),
               "--epochs", str(epochs), *extra, "--runs", str(runs), "--json"]
        t = time.perf_counter()
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t
        events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
        done = [e for e in events if e.get("event") == "finished"]
        shown = " ".join(["cifar-tui", *cmd[3:-1]])
        if res.returncode or not done:
            why = next((e.get("error") for e in events if e.get("error")), None)
            print(f"{what}: failed, exit {res.returncode} "
                  f"({why or res.stderr.strip()[-300:]})\n  command: {shown}")
            continue
        f = done[-1]
        epochs_seen = [e for e in events if e.get("event") == "epoch"]
        per_epoch = ", ".join(f"{e['val_accuracy']:.4f}" for e in epochs_seen
                              if e.get("val_accuracy") is not None)
        print(f"{what}\n  command: {shown}\n"
              f"  run {f['run']}: {f['status']} after {f['epochs_done']} epochs, test accuracy "
              f"{f['test_accuracy']:.4f} on {f['test_images']} test images, best val "
              f"{f['best_val_accuracy'] or 0:.4f}\n  val accuracy per epoch: {per_epoch}\n"
              f"  {f['train_seconds']:.0f} s of training, {f['wall_seconds']:.0f} s wall "
              f"in cifar-tui, {wall:.0f} s for the whole command")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=("write", "train"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/cifar-tui-own"))
    ap.add_argument("--arch", default="cnn")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--only", choices=tuple(SOURCES), action="append",
                    help="train on this source only (repeatable; default: both)")
    args, extra = ap.parse_known_args()  # the rest goes to cifar-tui train (--batch-size ...)
    if extra and args.step != "train":
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    if ROOT in args.out.resolve().parents:
        sys.exit("--out must be outside the project (the data is not the project's)")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step == "write":
        print(f"wrote {write_digits(args.out)} and {write_cifar3(args.out)}")
    else:
        train(args.out, args.arch, args.epochs, tuple(args.only or SOURCES), extra)


if __name__ == "__main__":
    main()
