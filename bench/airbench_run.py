"""airbench94's own PyTorch script on this project's data, for a side-by-side on one GPU.

Its code is not part of this project: give the path of ``airbench94.py`` (KellerJordan/
cifar10-airbench, ``legacy/airbench94.py``; ``airbench94.py`` at the root before it moved).
Only its data loading is adapted, and from outside its code: its ``CifarLoader`` reads
``cifar10/train.pt`` and ``test.pt`` (uint8 NHWC images, int64 labels) and downloads them with
torchvision when absent; this writes both from the archive given (through ``cifar_tui.data``),
with the training images shuffled once (rng 0: the archive is stored by class, and airbench
whitens from its first 5,000). Without torchvision it gets a stand-in module with the one thing
it uses once the files exist, ``transforms.Normalize`` (the same arithmetic). Each seed runs its
``main()`` after ``torch.manual_seed(seed)``; ``--warmup`` first runs its own warm-up (random
labels, untimed here), as its compiled variant does.

Prints one ``RESULT {json}`` line per seed: TTA accuracy on the test set, airbench's own
``total_time_seconds`` (CUDA-event timed training plus its final TTA evaluation), and the wall
seconds of ``main()``.

    python bench/airbench_run.py --airbench PATH/airbench94.py --data ARCHIVE [--seeds 0,1,2]
        [--warmup] [--subset N --epochs E]   # the last two: a short dry run
        [--cpu float32|bfloat16]

``--cpu`` runs it on the CPU, adapted from outside its code where it must be: its loader's
``map_location`` (the GPU) becomes the CPU, ``.cuda()`` and CUDA synchronisation are no-ops, its
CUDA-event clock is a ``perf_counter`` stand-in (the same intervals), and its ``.half()`` (of the
images and the net, batch norm kept in float32 as it keeps it) gives float32 or bfloat16: a CPU
has no float16 kernels to speak of. Run it with the threads the CPU has (PyTorch's default).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def write_data(archive: str, folder: Path, per_class: int | None) -> None:
    import numpy as np
    import torch

    from cifar_tui import CLASSES
    from cifar_tui.data import load_cifar10, subset

    data = subset(load_cifar10(archive), per_class)
    order = np.random.default_rng(0).permutation(len(data.y_train))
    folder.mkdir(parents=True, exist_ok=True)
    for name, x, y in (("train.pt", data.x_train[order], data.y_train[order]),
                       ("test.pt", data.x_test, data.y_test)):
        torch.save({"images": torch.tensor(x), "labels": torch.tensor(y, dtype=torch.int64),
                    "classes": list(CLASSES)}, folder / name)


def _torchvision_stand_in() -> None:
    """The part of torchvision airbench94 uses once its data files exist."""
    try:
        import torchvision  # noqa: F401
        return
    except ImportError:
        pass

    class Normalize:
        def __init__(self, mean, std) -> None:  # noqa: ANN001
            self.mean, self.std = mean, std

        def __call__(self, x):  # noqa: ANN001, ANN204 - (N, C, H, W) tensor
            mean = x.new_tensor(self.mean).view(-1, 1, 1)
            std = x.new_tensor(self.std).view(-1, 1, 1)
            return (x - mean) / std

    tv = types.ModuleType("torchvision")
    tv.transforms = types.ModuleType("torchvision.transforms")
    tv.transforms.Normalize = Normalize
    sys.modules["torchvision"], sys.modules["torchvision.transforms"] = tv, tv.transforms


class _CpuEvent:
    """``torch.cuda.Event(enable_timing=True)`` on a CPU: ``record`` notes the time."""

    def __init__(self, enable_timing: bool = False) -> None:
        self.t = 0.0

    def record(self) -> None:
        self.t = time.perf_counter()

    def elapsed_time(self, end: _CpuEvent) -> float:  # milliseconds, as CUDA's
        return 1e3 * (end.t - self.t)


def _on_cpu(precision: str) -> None:
    """airbench94's GPU calls, made to run on the CPU in ``precision`` (see --cpu)."""
    import torch
    from torch import nn

    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[precision]
    load = torch.load
    torch.load = lambda *a, **k: load(*a, **{**k, "map_location": "cpu"})
    torch.cuda.Event = _CpuEvent
    torch.cuda.synchronize = lambda *a, **k: None
    nn.Module.cuda = lambda self, *a, **k: self
    nn.Module.half = lambda self: self.to(dtype)
    torch.Tensor.half = lambda self, *a, **k: self.to(dtype)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--airbench", required=True, help="path of airbench94.py")
    ap.add_argument("--data", required=True)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--warmup", action="store_true")
    ap.add_argument("--subset", type=int, help="training images per class (dry run)")
    ap.add_argument("--epochs", type=float, help="airbench's train_epochs (dry run; its own: 9.9)")
    ap.add_argument("--cpu", choices=("float32", "bfloat16"),
                    help="run on the CPU in this precision (see above)")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("airbench94 needs PyTorch, which is not installed here", flush=True)
        return 2
    if args.cpu:
        _on_cpu(args.cpu)
    elif not torch.cuda.is_available():
        print("airbench94 needs a CUDA GPU (it calls .cuda() and times with CUDA events)",
              flush=True)
        return 2
    work = Path(tempfile.mkdtemp(prefix="airbench-"))
    write_data(args.data, work / "cifar10", args.subset)
    _torchvision_stand_in()
    spec = importlib.util.spec_from_file_location("airbench94", args.airbench)
    airbench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(airbench)  # its __main__ block (25 runs) does not run
    if args.cpu:  # its loaders' gpu=0 default: torch.device(0) fails without a GPU
        init = airbench.CifarLoader.__init__
        init.__defaults__ = (*init.__defaults__[:-1], "cpu")
    if args.epochs:
        airbench.hyp["opt"]["train_epochs"] = args.epochs
    timed: list[float] = []
    report = airbench.print_training_details

    def keep_time(variables: dict, is_final_entry: bool) -> None:
        if is_final_entry:
            timed.append(float(variables["total_time_seconds"]))
        report(variables, is_final_entry)

    airbench.print_training_details = keep_time
    os.chdir(work)  # its loaders read ./cifar10/
    info = {"device": (_cpu_name() + f", {torch.get_num_threads()} threads, {args.cpu}"
                       if args.cpu else torch.cuda.get_device_name(0)),
            "torch": torch.__version__}
    print("device:", json.dumps(info), flush=True)
    if args.warmup:
        airbench.main("warmup")
    for seed in (int(s) for s in args.seeds.split(",")):
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        acc = float(airbench.main(seed))
        wall = time.perf_counter() - t0
        print("RESULT " + json.dumps({"what": "airbench94", "seed": seed, "tta_accuracy": acc,
                                      "airbench_seconds": timed[-1], "wall_s": wall, **info}),
              flush=True)
    return 0


def _cpu_name() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        return next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                    "CPU")


if __name__ == "__main__":
    sys.exit(main())
