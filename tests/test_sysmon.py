"""System monitor: the process's CPU and memory; GPU parts only where NVML reports a GPU."""

from __future__ import annotations

import os
import time
import types

import psutil

from cifar_tui import sysmon
from cifar_tui.sysmon import SystemMonitor


def test_cpu_and_memory_of_a_busy_process_and_no_gpu_part_without_nvml(monkeypatch):
    monkeypatch.setattr(sysmon._Nvml, "get", classmethod(lambda cls: None))
    # The expected share is measured around the same window: on a loaded machine this process
    # gets less than a core, so a fixed threshold would test the machine, not the monitor.
    me = psutil.Process()
    wall0, cpu0 = time.monotonic(), sum(me.cpu_times()[:2])
    mon = SystemMonitor(os.getpid())
    block = bytearray(64 * 2**20)  # resident: written below
    block[::4096] = b"x" * len(block[::4096])
    sum(i * i for i in range(3_000_000))  # busy for a while
    s = mon.sample()
    expected = 100 * (sum(me.cpu_times()[:2]) - cpu0) / (time.monotonic() - wall0)
    assert s.cpu_percent is not None and s.cpu_percent > 0
    assert abs(s.cpu_percent - expected) <= max(10.0, 0.25 * expected), (s.cpu_percent, expected)
    assert s.rss is not None and s.rss > 64 * 2**20
    text = s.describe()
    assert text.startswith("CPU ") and "RAM " in text and "GPU" not in text


def test_gone_process_leaves_out_what_cannot_be_measured(monkeypatch):
    monkeypatch.setattr(sysmon._Nvml, "get", classmethod(lambda cls: None))
    s = SystemMonitor(2**22 + 4321).sample()  # beyond pid_max: no such process
    assert s.cpu_percent is None and s.rss is None and s.describe() == ""


def test_gpu_utilisation_and_memory_from_nvml(monkeypatch):
    class NVMLError(Exception):
        pass

    fake = types.SimpleNamespace(
        NVMLError=NVMLError,
        nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: f"h{i}",
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=97),
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=3 * 2**30,
                                                                total=80 * 2**30),
        nvmlDeviceGetName=lambda h: "NVIDIA H100",
        nvmlDeviceGetComputeRunningProcesses=lambda h: [
            types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=2**30)],
    )
    monkeypatch.setattr(sysmon._Nvml, "get", classmethod(lambda cls: sysmon._Nvml(fake)))
    s = SystemMonitor(os.getpid()).sample()
    assert s.gpus[0].process_memory == 2**30
    assert "GPU0 97% 3.0/80.0 GiB" in s.describe()
