"""Drain: a backlog committed at the sources while capture is paused, then released.

The pipeline first catches up with whatever was there. Then every source connector is paused
(Debezium stops reading; the binlog and the replication slot keep the changes), the producers
commit the backlog flat out, and the connectors resume: the clock runs from the resume until
the ODS holds every change (`wait_caught_up`: each connector past the sources' positions, then
each stage past the end of its inputs); the drain's time ends at the loader's last commit
(`progress.Clock`: the catch-up check itself lags by Connect's offset flush and PostgreSQL's
heartbeat). No producer runs meanwhile, so the cost table of that span is what draining a
change costs the stack.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cdc_ods.bench.cost import CpuMeter, Pids, ProcessCost
from cdc_ods.bench.load import cdc_command, produced_sources
from cdc_ods.bench.progress import Clock, consumed
from cdc_ods.config import Config
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError
from cdc_ods.reconcile.catchup import stages_read, wait_caught_up
from cdc_ods.sources import source_for
from cdc_ods.topology import stages

CATCH_UP_TIMEOUT_S = 1800.0
QUIET_S = 5.0  # the loader's commits have stood still this long: the drain is over (then confirmed)


@dataclass
class Drain:
    changes: int
    seconds: float
    per_s: float
    cost: dict[str, ProcessCost] = field(default_factory=dict)
    stack_cpu_us_per_change: float | None = None


def capture_connectors(config: Config) -> list[str]:
    """The connectors of the sources the producers write (enabled, with a catalog)."""
    return [source_for(config, s).connector_name() for s in produced_sources(config)]


def pause_capture(connect: ConnectClient, names: list[str]) -> None:
    """Pause the connectors and wait until Connect says each is paused."""
    for name in names:
        connect.pause(name)
        connect.wait_state(name, "PAUSED", timeout_s=60)


def commit_backlog(config: Config, changes: int, seed: int) -> int:
    """Commit about `changes` changes over the sources, flat out; the number committed."""
    sources = produced_sources(config)
    with tempfile.TemporaryDirectory() as scratch:
        ledger = Path(scratch) / "ledger.json"
        per_source = math.ceil(changes / len(sources))
        produced = subprocess.run(
            cdc_command(config, "produce", "all", "--rate", "0", "--count", str(per_source),
                        "--seed", str(seed), "--ledger", str(ledger)),
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if produced.returncode != 0:
            raise CdcError(f"producers failed: {produced.stderr.strip().splitlines()[-1:]}")
        written = json.loads(ledger.read_text())["sources"]
    return sum(sum(sum(t["counts"].values()) for t in tables.values()) for tables in written.values())


def run_drain(
    config: Config, changes: int, seed: int, report: Callable[[str], None], pids: Pids | None = None
) -> Drain:
    """Commit `changes` with capture paused, release them, time them into the ODS."""
    if config.file is None:
        raise CdcError("cdc bench needs the configuration read from a file")
    names = capture_connectors(config)
    report("draining what the pipeline holds before the backlog")
    wait_caught_up(config, stages(config), timeout_s=CATCH_UP_TIMEOUT_S)
    meter = CpuMeter(pids() if pids else {})
    endpoints = Endpoints.from_config(config)
    loader = stages_read(config)[-1]
    with ConnectClient.of(config) as connect:
        pause_capture(connect, names)
        try:
            report(f"committing {changes:,} changes with capture paused ({', '.join(names)})")
            committed = commit_backlog(config, changes, seed)
        finally:
            meter.start()
            loaded = Clock(lambda: consumed(endpoints.kafka_bootstrap, loader))
            for name in names:
                connect.resume(name)
    report(f"released {committed:,} changes: waiting until the ODS holds all of them")
    loaded.until_quiet(QUIET_S, CATCH_UP_TIMEOUT_S, "the loader on the drained changes")
    wait_caught_up(config, stages(config), timeout_s=CATCH_UP_TIMEOUT_S)  # quiet, or done?
    loaded.sample()
    elapsed = loaded.last_moved - loaded.released
    drain = Drain(committed, round(elapsed, 1), round(committed / elapsed, 1))
    if meter.pids:
        drain.cost = meter.stop(committed)
        drain.stack_cpu_us_per_change = round(sum(c.cpu_us_per_change for c in drain.cost.values()), 1)
    return drain
