"""What a change costs: CPU time and memory of every process of the stack over a bench step.

A service's CPU is its main process's, its live descendants' (PostgreSQL's backends and
walsenders, a JVM's helpers) and what its exited children left to it (a backend that ended
during the step is counted by its parent, which reaped it). Per change means per change
committed at the sources during the step, with the catch-up after it included, so a stage
that falls behind pays for its whole backlog.

A JVM's share spent compiling (its JIT compiler threads, `C1/C2 CompilerThread<n>`) is counted
apart as well: on a freshly started stack the four JVMs' compilers take a large share of the
machine for many minutes, which is start-up, not what a change costs once they are warm.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

Pids = Callable[[], dict[str, int]]  # service -> main process id, read when a measurement starts


@dataclass(frozen=True)
class ProcessCost:
    cpu_s: float
    cpu_us_per_change: float
    rss_mb: float
    jit_cpu_s: float = 0.0  # of cpu_s: the JIT compiler threads (a JVM's; 0 for other processes)


# HotSpot's compiler threads, as the kernel names them (15 characters: "C2 CompilerThre")
_JIT_THREAD = re.compile(r"C[12] CompilerThre")


def jit_cpu_s(pid: int) -> float:
    """CPU seconds of a process's JIT compiler threads so far (0 when it has none or is gone).

    A compiler thread HotSpot ends during a span takes its time with it; with the one or two
    compiler threads a JVM starts on a small machine, that is rare."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            if not _JIT_THREAD.match((task / "comm").read_text()):
                continue
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        total += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process, its live descendants and its reaped children (0 when gone)."""
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        descendants = root.children(recursive=True)
    except psutil.Error:
        return 0.0
    for child in descendants:
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue  # exited meanwhile: its parent counts it once reaped
        total += times.user + times.system
    return total


def _tree_mb(pid: int, size: Callable[[psutil.Process], int]) -> float:
    """`size` summed over a process and its live descendants, in MiB (0 when gone)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for process in processes:
        try:
            total += size(process)
        except psutil.Error:
            continue
    return total / 2**20


def tree_rss_mb(pid: int) -> float:
    return _tree_mb(pid, lambda p: p.memory_info().rss)


def tree_pss_mb(pid: int) -> float:
    """Proportional set size of a process tree: a page shared by n processes counts 1/n in each
    (PostgreSQL's backends share its buffers; summing their RSS counts those once per backend)."""
    return _tree_mb(pid, lambda p: p.memory_full_info().pss)


class CpuMeter:
    """CPU seconds of named process trees between `start` and `stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid > 0}
        self._started: dict[str, float] = {}
        self._jit_started: dict[str, float] = {}

    def start(self) -> None:
        self._started = {name: _tree_cpu_s(pid) for name, pid in self.pids.items()}
        self._jit_started = {name: jit_cpu_s(pid) for name, pid in self.pids.items()}

    def add_started(self, pids: dict[str, int]) -> None:
        """Processes that started since `start` (a stage switched on): all their CPU counts."""
        for name, pid in pids.items():
            if pid > 0 and name not in self.pids:
                self.pids[name], self._started[name], self._jit_started[name] = pid, 0.0, 0.0

    def stop(self, changes: int) -> dict[str, ProcessCost]:
        costs = {}
        for name, pid in self.pids.items():
            # the compilers read inside the process's span (after it at the start, before it at
            # the end), so their share never exceeds the whole
            jit = max(0.0, jit_cpu_s(pid) - self._jit_started.get(name, 0.0))
            cpu = max(0.0, _tree_cpu_s(pid) - self._started.get(name, 0.0))
            costs[name] = ProcessCost(
                cpu_s=round(cpu, 2),
                cpu_us_per_change=round(cpu * 1e6 / changes, 1) if changes else 0.0,
                rss_mb=round(tree_rss_mb(pid), 1),
                jit_cpu_s=round(min(jit, cpu), 2),
            )
        return costs
