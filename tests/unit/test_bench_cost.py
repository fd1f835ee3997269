"""The cost of a change: CPU time of a process tree over a step, exited children included."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

from cdc_ods.bench.cost import CpuMeter

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
