"""The cost of a change: CPU time of a process tree over a step, exited children included."""

from __future__ import annotations

import mmap
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from cdc_ods.bench.cost import CpuMeter, tree_pss_mb, tree_rss_mb

BURN = "import time\nwhile time.process_time() < 0.3:\n    pass\n"


def test_a_child_that_exits_during_the_step_is_counted_once() -> None:
    meter = CpuMeter({"tree": os.getpid(), "gone": 0})  # a service without a process is left out
    meter.start()
    subprocess.run([sys.executable, "-c", BURN], check=True)  # ~0.3 CPU-s, reaped by this process
    costs = meter.stop(changes=1000)
    assert list(costs) == ["tree"]
    assert 0.25 <= costs["tree"].cpu_s < 1.5, costs  # its 0.3 s (in 10 ms ticks) and a start-up, not twice
    assert costs["tree"].cpu_us_per_change == round(costs["tree"].cpu_s * 1e6 / 1000, 1)
    assert costs["tree"].rss_mb > 0


def test_a_process_started_during_the_span_counts_all_its_cpu() -> None:
    """A stage switched on in a ceiling's phase was not there when the meter started."""
    meter = CpuMeter({})
    meter.start()
    burner = subprocess.Popen(
        [sys.executable, "-c", BURN + "import sys\nsys.stdin.read()\n"], stdin=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while sum(psutil.Process(burner.pid).cpu_times()[:2]) < 0.25 and time.monotonic() < deadline:
            time.sleep(0.05)
        meter.add_started({"stage": burner.pid})
        costs = meter.stop(changes=100)
    finally:
        burner.communicate(b"")
    assert 0.25 <= costs["stage"].cpu_s < 1.5, costs


def test_memory_shared_by_a_process_tree_counts_once_in_its_proportional_size() -> None:
    """PostgreSQL's backends share its buffers: the soak must not count them once per backend."""
    shared = mmap.mmap(-1, 64 * 2**20)  # anonymous, shared with a child forked below
    shared.write(b"x" * len(shared))  # touched: resident
    child = os.fork()
    if child == 0:
        for offset in range(0, len(shared), mmap.PAGESIZE):  # the child touches it too
            shared[offset]
        time.sleep(30)
        os._exit(0)
    try:
        time.sleep(1)
        rss, pss = tree_rss_mb(os.getpid()), tree_pss_mb(os.getpid())
        assert rss - pss >= 64, (rss, pss)  # the 64 MiB (and the pages the fork shares) once, not twice
        assert pss >= 64
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


def test_a_jvms_jit_compiler_threads_are_counted_apart() -> None:
    """The JVMs' compilers take much of a fresh stack's CPU: the cost table says how much."""
    done = threading.Event()
    burnt = threading.Event()

    def compiler() -> None:  # a thread the kernel names as HotSpot names its C2 compiler
        Path(f"/proc/self/task/{threading.get_native_id()}/comm").write_text("C2 CompilerThread0")
        while not done.is_set():
            if time.thread_time() >= 0.2:
                burnt.set()

    meter = CpuMeter({"jvm": os.getpid()})
    meter.start()
    thread = threading.Thread(target=compiler)
    thread.start()
    try:
        assert burnt.wait(30)
        costs = meter.stop(changes=100)  # while the "compiler" still runs: its time is readable
    finally:
        done.set()
        thread.join()
    assert 0.15 <= costs["jvm"].jit_cpu_s <= costs["jvm"].cpu_s, costs
