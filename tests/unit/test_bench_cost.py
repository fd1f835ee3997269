"""The cost of a change: CPU time of a process tree over a step, exited children included."""

from __future__ import annotations

import os
import subprocess
import sys

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
