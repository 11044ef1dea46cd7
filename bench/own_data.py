"""Real data that is not CIFAR-10, as a person would bring it: image folders with their own
class names (issue 33).

    python bench/own_data.py write [--out /tmp/cifar-tui-own]
    python bench/own_data.py train [--out /tmp/cifar-tui-own] [--arch cnn] [--epochs 3]

``write`` makes two sources under ``--out`` (never inside the project):

- ``digits/``: scikit-learn's handwritten digits (``load_digits``: 1,797 8x8 greyscale images,
  10 classes, shipped with sklearn, no download), as one folder of PNGs per digit, named
  ``zero`` .. ``nine``, with no train/ and test/: the loader holds out ``--test-fraction`` of
  each class.
- ``cifar3.tar.gz``: three classes of the shared CIFAR-10 JPEG archive, their folders renamed
  (cat -> kitty, ship -> boat, frog -> toad), in ``train/<class>/`` and ``test/<class>/``.

``train`` trains ``--arch`` on each through the command line (``cifar-tui train ... --data``)
into ``--out``/runs and prints, per source, the command and its test accuracy.
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


def train(out: Path, arch: str, epochs: int) -> None:
    import json

    sources = {"digits (sklearn, 10 classes, 8x8 grey -> 32x32)": out / "digits",
               "CIFAR-10 subset (kitty/boat/toad)": out / "cifar3.tar.gz"}
    runs = out / "runs"
    for what, data in sources.items():
        cmd = [sys.executable, "-m", "cifar_tui", "train", arch, "--data", str(data),
               "--epochs", str(epochs), "--runs", str(runs)]
        t = time.perf_counter()
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if res.returncode:
            print(f"{what}: failed ({res.stderr.strip()[-300:]})")
            continue
        listed = json.loads(subprocess.run(
            [sys.executable, "-m", "cifar_tui", "runs", "--runs", str(runs), "--json"],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout)
        latest = max(listed, key=lambda r: r["id"])
        print(f"{what}\n  command: {' '.join(['cifar-tui', *cmd[3:]])}\n"
              f"  run {latest['id']}: test accuracy {latest['test_accuracy']:.4f} on "
              f"{latest.get('test_images') or '?'} test images, best val "
              f"{latest.get('best_val_accuracy') or 0:.4f}, {wall:.0f} s wall")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=("write", "train"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/cifar-tui-own"))
    ap.add_argument("--arch", default="cnn")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    if ROOT in args.out.resolve().parents:
        sys.exit("--out must be outside the project (the data is not the project's)")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step == "write":
        print(f"wrote {write_digits(args.out)} and {write_cifar3(args.out)}")
    else:
        train(args.out, args.arch, args.epochs)


if __name__ == "__main__":
    main()
