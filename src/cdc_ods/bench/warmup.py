"""Warming the stack up before the measured steps: load until the JVMs' compilers settle.

For minutes after a start, the JIT compilers of Kafka, Connect, HBase and the Query Server
take a large part of this 2-core machine: under 1,000 changes/s, 58 % of a core in the first
minute, 45 % in the second, 12 - 17 % in minutes three to six (HBase the longest, as its
first flushes and compactions bring new code; README, Performance). A step measured then
measures the start-up beside the pipeline. `warm_up` offers load, unmeasured, in windows of
`WINDOW_S`, until the compilers together use less than `SETTLED_CORES` over a window, or
the time allowed is up (then the steps run anyway, and the result says it had not settled).
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cdc_ods.bench.cost import Pids, jit_cpu_s
from cdc_ods.bench.load import cdc_command, produced_sources
from cdc_ods.config import Config
from cdc_ods.errors import CdcError
from cdc_ods.reconcile.catchup import wait_caught_up
from cdc_ods.topology import stages

WARMUP_RATE = 1000.0  # changes/s, all sources together: the rate of the latency target
WINDOW_S = 60.0
SETTLED_CORES = 0.10  # the JVMs' compilers together, as a share of one core over a window
STOP_TIMEOUT_S = 30.0


@dataclass
class Warmup:
    seconds: float
    settled: bool
    # the JVMs' compilers, share of one core, per window
    jit_cores: list[float] = field(default_factory=list)


def warm_up(config: Config, max_seconds: float, report: Callable[[str], None], pids: Pids) -> Warmup:
    """Offer `WARMUP_RATE` until the compilers settle or `max_seconds` pass; then wait for the
    pipeline to catch up."""
    sources = produced_sources(config)
    started = time.monotonic()
    warmup = Warmup(0.0, False)
    # stderr to a file, not a pipe: minutes of warnings would fill a pipe and block the producers.
    # They are stopped here when the warm-up is over; their own time limit only backs that up, so
    # it is longer: a producer that ends by itself before a window closes has failed.
    with tempfile.TemporaryFile() as errors:
        producers = subprocess.Popen(
            cdc_command(config, "produce", "all", "--rate", str(WARMUP_RATE / len(sources)),
                        "--duration", str(max_seconds + STOP_TIMEOUT_S), "--seed", "999"),
            stdout=subprocess.DEVNULL, stderr=errors,
        )  # fmt: skip
        try:
            while (remaining := max_seconds - (time.monotonic() - started)) > 0:
                if _window(producers, min(WINDOW_S, remaining), pids, warmup, report):
                    break
        finally:
            _stop(producers)
        if producers.returncode not in (0, -signal.SIGTERM):
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-300:]
            raise CdcError(f"the warm-up's producers exited {producers.returncode}: {tail}")
    warmup.seconds = round(time.monotonic() - started, 1)
    if not warmup.settled:
        report(f"the compilers had not settled after {warmup.seconds:.0f} s of warm-up; measuring anyway")
    wait_caught_up(config, stages(config), timeout_s=300)
    return warmup


def _window(
    producers: subprocess.Popen, seconds: float, pids: Pids, warmup: Warmup, report: Callable[[str], None]
) -> bool:
    """One window of load; whether the warm-up is over (settled, or the producers exited)."""
    processes = [pid for pid in pids().values() if pid > 0]
    jit_before = sum(jit_cpu_s(pid) for pid in processes)
    started = time.monotonic()
    try:
        producers.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        pass
    if not processes:
        return False  # no local stack to watch: the whole time is the warm-up
    jit_s = sum(jit_cpu_s(pid) for pid in processes) - jit_before
    cores = round(max(0.0, jit_s) / (time.monotonic() - started), 3)
    warmup.jit_cores.append(cores)
    report(f"warming up: the JVMs' compilers used {cores:.0%} of a core over {seconds:.0f} s")
    warmup.settled = cores < SETTLED_CORES
    return warmup.settled


def _stop(producers: subprocess.Popen) -> None:
    """The producers stop after their current transaction (SIGTERM); killed if they hang."""
    if producers.poll() is None:
        producers.terminate()
        try:
            producers.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            producers.kill()
            producers.wait()
