"""System monitor for a training process: its CPU and memory (psutil), and GPU utilisation and
memory (NVIDIA's own bindings, nvidia-ml-py, when they and a GPU are there). No UI code.

Whatever cannot be measured here (no GPU, no NVML library, a process on another host) is None
or empty, and views simply leave it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psutil


@dataclass(frozen=True)
class GpuSample:
    index: int
    name: str
    utilization: float  # percent, whole device
    memory_used: int  # bytes, whole device
    memory_total: int
    process_memory: int | None = None  # bytes used by the training process, if NVML says


@dataclass(frozen=True)
class SystemSample:
    pid: int
    cpu_percent: float | None  # of one core: 180 = 1.8 cores busy
    cores: int
    rss: int | None  # bytes
    memory_percent: float | None  # of the machine's RAM
    gpus: list[GpuSample] = field(default_factory=list)

    def describe(self) -> str:
        """'CPU 183% of 2 cores  RAM 1.2 GiB (15%)  GPU0 97% 3.1/80 GiB', absent parts left out."""
        parts = []
        if self.cpu_percent is not None:
            parts.append(f"CPU {self.cpu_percent:.0f}% of {self.cores} cores")
        if self.rss is not None:
            parts.append(f"RAM {_gib(self.rss)} GiB ({self.memory_percent:.0f}%)")
        for g in self.gpus:
            mem = f"{_gib(g.memory_used)}/{_gib(g.memory_total)} GiB"
            parts.append(f"GPU{g.index} {g.utilization:.0f}% {mem}")
        return "  ".join(parts)


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f}"


class SystemMonitor:
    """Samples one process (the run's trainer, in this process or another). CPU percent is
    measured between two calls, so call ``sample()`` at a steady pace (about once a second)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            self._proc: psutil.Process | None = psutil.Process(pid)
            self._proc.cpu_percent(None)  # the first reading is always 0: prime it
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            self._proc = None
        self._nvml = _Nvml.get()

    def sample(self) -> SystemSample:
        cpu = rss = mem = None
        if self._proc is not None:
            try:
                with self._proc.oneshot():
                    cpu = self._proc.cpu_percent(None)
                    rss = self._proc.memory_info().rss
                    mem = self._proc.memory_percent()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                self._proc = None
        gpus = self._nvml.sample(self.pid) if self._nvml is not None else []
        return SystemSample(self.pid, cpu, psutil.cpu_count() or 1, rss, mem, gpus)


class _Nvml:
    """NVML, initialised once per process; None when the bindings or the driver are missing."""

    _instance: _Nvml | None = None
    _tried = False

    def __init__(self, nvml) -> None:  # noqa: ANN001 - the pynvml module
        self.nvml = nvml
        self.handles = [nvml.nvmlDeviceGetHandleByIndex(i)
                        for i in range(nvml.nvmlDeviceGetCount())]

    @classmethod
    def get(cls) -> _Nvml | None:
        if not cls._tried:
            cls._tried = True
            try:
                import pynvml  # nvidia-ml-py

                pynvml.nvmlInit()
                cls._instance = cls(pynvml) if pynvml.nvmlDeviceGetCount() else None
            except Exception:  # noqa: BLE001 - ImportError, NVMLError: no GPU to show
                cls._instance = None
        return cls._instance

    def sample(self, pid: int) -> list[GpuSample]:
        nv, out = self.nvml, []
        for i, h in enumerate(self.handles):
            try:
                util = nv.nvmlDeviceGetUtilizationRates(h).gpu
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                name = nv.nvmlDeviceGetName(h)
                mine = None
                try:
                    for p in nv.nvmlDeviceGetComputeRunningProcesses(h):
                        if p.pid == pid and p.usedGpuMemory is not None:
                            mine = int(p.usedGpuMemory)
                except nv.NVMLError:
                    pass
                out.append(GpuSample(i, name if isinstance(name, str) else name.decode(),
                                     float(util), int(mem.used), int(mem.total), mine))
            except nv.NVMLError:
                continue
        return out
