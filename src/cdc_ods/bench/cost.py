"""What a change costs: CPU time and memory of every process of the stack over a bench step.

A service's CPU is its main process's, its live descendants' (PostgreSQL's backends and
walsenders, a JVM's helpers) and what its exited children left to it (a backend that ended
during the step is counted by its parent, which reaped it). Per change means per change
committed at the sources during the step, with the catch-up after it included, so a stage
that falls behind pays for its whole backlog.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psutil

Pids = Callable[[], dict[str, int]]  # service -> main process id, read when a measurement starts


@dataclass(frozen=True)
class ProcessCost:
    cpu_s: float
    cpu_us_per_change: float
    rss_mb: float


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

    def start(self) -> None:
        self._started = {name: _tree_cpu_s(pid) for name, pid in self.pids.items()}

    def add_started(self, pids: dict[str, int]) -> None:
        """Processes that started since `start` (a stage switched on): all their CPU counts."""
        for name, pid in pids.items():
            if pid > 0 and name not in self.pids:
                self.pids[name], self._started[name] = pid, 0.0

    def stop(self, changes: int) -> dict[str, ProcessCost]:
        costs = {}
        for name, pid in self.pids.items():
            cpu = max(0.0, _tree_cpu_s(pid) - self._started.get(name, 0.0))
            costs[name] = ProcessCost(
                cpu_s=round(cpu, 2),
                cpu_us_per_change=round(cpu * 1e6 / changes, 1) if changes else 0.0,
                rss_mb=round(tree_rss_mb(pid), 1),
            )
        return costs
