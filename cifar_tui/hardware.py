"""What a run trained on, in one line for its state file and report. No UI code.

Only backends already imported are asked about their devices: describing never loads one.
"""

from __future__ import annotations

import os
import platform
import sys


def _cpuinfo(field: str, cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> str | None:
    """The first CPU's ``field`` as Linux lists it (None elsewhere, or if unreadable)."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags as Linux lists them (empty elsewhere, or if unreadable)."""
    return set((_cpuinfo("flags", cpuinfo) or "").split())


def cpu_has_bf16(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes bfloat16 itself (AVX512-BF16 or AMX, e.g. AMD Zen 4, Intel
    Sapphire Rapids); elsewhere oneDNN emulates it, slower than float32."""
    return bool(cpu_flags(cpuinfo) & {"avx512_bf16", "amx_bf16"})


def cpu_has_avx512(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool:
    """Whether the CPU has AVX-512 (its foundation, ``avx512f``): where oneDNN, TensorFlow's own
    CPU kernels, beats XLA's for the `fast` net in float32 (bench/RESULTS.md)."""
    return "avx512f" in cpu_flags(cpuinfo)


def machine_gpus(dev: str | os.PathLike = "/dev") -> int:
    """How many GPUs this machine has by its device files (NVIDIA's /dev/nvidiaN; AMD's render
    nodes when /dev/kfd is there), without loading a framework: what a GPU count asked for is
    checked against before anything is built for it. The backend may see fewer (the trainer
    checks that too)."""
    try:
        names = os.listdir(dev)
    except OSError:
        return 0
    count = sum(1 for n in names if n.startswith("nvidia") and n[6:].isdigit())
    if "kfd" in names:
        try:
            count += sum(1 for n in os.listdir(os.path.join(dev, "dri"))
                         if n.startswith("renderD"))
        except OSError:
            pass
    return count


def accelerators() -> list[str]:
    """Names of the GPUs the loaded backend sees ([] on CPU only)."""
    names: list[str] = []
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            for dev in tf.config.list_physical_devices("GPU"):
                details = tf.config.experimental.get_device_details(dev)
                names.append(details.get("device_name") or dev.name)
        except Exception:  # noqa: BLE001 - a description must never fail a training
            pass
    jax = sys.modules.get("jax")
    if jax is not None and not names:
        try:
            names = [d.device_kind for d in jax.devices() if d.platform != "cpu"]
        except Exception:  # noqa: BLE001
            pass
    torch = sys.modules.get("torch")
    if torch is not None and not names:
        try:
            names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        except Exception:  # noqa: BLE001
            pass
    return names


def describe_hardware(compute: str | None = None, compiler: str | None = None) -> str:
    """e.g. ``1x NVIDIA H100 80GB HBM3; AMD EPYC 7R13 (16 cores)``, and ``; bfloat16 compute``
    when ``compute`` names the 16-bit type a run computed in, then ``; `` and ``compiler`` (why
    XLA is on or off) when given: its timings depend on both."""
    gpus = accelerators()
    cpu = f"{cpu_name()} ({os.cpu_count() or '?'} cores)"
    tail = (f"; {compute} compute" if compute else "") + (f"; {compiler}" if compiler else "")
    if not gpus:
        return f"CPU only: {cpu}{tail}"
    counts: dict[str, int] = {}
    for g in gpus:
        counts[g] = counts.get(g, 0) + 1
    return "; ".join([*(f"{n}x {g}" for g, n in counts.items()), cpu]) + tail
