"""Ceilings: each stage alone on the same backlog, so a drain reads against its slowest stage.

A backlog is committed at the sources with capture paused and the cleansing and loader stages
stopped. Then one stage at a time gets the machine to itself, on what the stage before it left:
1. capture: the connectors resume and Debezium reads the backlog into the raw topics;
2. cleansing: the cleansing stage starts on the raw backlog (the loader still stopped);
3. loader: the loader starts on the cleansed backlog;
4. HBase: batched puts of as many ODS rows straight into a scratch table (`hbase_puts`).
A stage's rate counts from its first record to its last (`progress.Clock`); its process
start and consumer group join come before the first record and are reported apart, as
start-up. Each phase also records what it cost every process of the stack.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cdc_ods.bench.cost import CpuMeter, Pids, ProcessCost
from cdc_ods.bench.drain import capture_connectors, commit_backlog, pause_capture
from cdc_ods.bench.hbase_puts import hbase_put_rate
from cdc_ods.bench.progress import Clock, consumed, topic_records
from cdc_ods.config import Config
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.endpoints import Endpoints
from cdc_ods.reconcile.catchup import stages_read, wait_caught_up, wait_connectors_reached
from cdc_ods.topology import Stage, stages

QUIET_S = 3.0  # capture is over once the raw topics have stood still this long (then confirmed)
PHASE_TIMEOUT_S = 1800.0

# (stage name, running?): stops or starts one of the pipeline's stage processes
StageSwitch = Callable[[str, bool], None]
Report = Callable[[str], None]


@dataclass
class Ceiling:
    stage: str
    records: int  # what the stage moved in its phase
    startup_s: float  # from its release to its first record
    seconds: float  # from its first record to its last
    per_s: float
    cost: dict[str, ProcessCost] = field(default_factory=dict)
    stack_cpu_us_per_record: float | None = None


def _ceiling(stage: str, clock: Clock) -> Ceiling:
    startup, seconds = clock.span()
    per_s = round(clock.moved / max(seconds, 1e-3), 1)
    return Ceiling(stage, clock.moved, round(startup, 2), round(seconds, 2), per_s)


def _capture(config: Config, raw: Stage, names: list[str], connect: ConnectClient) -> Ceiling:
    clock = Clock(lambda: topic_records(Endpoints.from_config(config).kafka_bootstrap, raw))
    for name in names:
        connect.resume(name)
    clock.until_quiet(QUIET_S, PHASE_TIMEOUT_S, "capture into the raw topics")
    wait_connectors_reached(config, PHASE_TIMEOUT_S, meanwhile=clock.sample)  # quiet, or done?
    clock.sample()
    return _ceiling("capture", clock)


def _consume(config: Config, stage: Stage, switch: StageSwitch) -> Ceiling:
    bootstrap = Endpoints.from_config(config).kafka_bootstrap
    target = topic_records(bootstrap, stage)
    clock = Clock(lambda: consumed(bootstrap, stage))
    with ThreadPoolExecutor(1) as pool:  # sampled while the stage starts: its start-up apart
        started = pool.submit(switch, stage.name, True)
        clock.until(
            target,
            PHASE_TIMEOUT_S,
            f"{stage.name} on its backlog",
            lambda: started.done() and started.result(),
        )
    return _ceiling(stage.name, clock)


def _metered(phase: Callable[[], Ceiling], pids: Pids | None) -> Ceiling:
    meter = CpuMeter(pids() if pids else {})
    meter.start()
    ceiling = phase()
    meter.add_started(pids() if pids else {})
    if meter.pids:
        ceiling.cost = meter.stop(ceiling.records)
        ceiling.stack_cpu_us_per_record = round(sum(c.cpu_us_per_change for c in ceiling.cost.values()), 1)
    return ceiling


def run_ceilings(
    config: Config, changes: int, seed: int, report: Report, switch: StageSwitch, pids: Pids | None = None
) -> list[Ceiling]:
    """Commit `changes` with capture paused and the stages stopped; release one stage at a time.
    The stages and connectors run again afterwards, whatever happened."""
    raw = stages(config)[0]  # every raw topic: capture writes them all
    cleansing, loader = stages_read(config)  # the topics each stage reads
    names = capture_connectors(config)
    report("ceilings: draining what the pipeline holds, then stopping cleansing and loader")
    wait_caught_up(config, stages(config), timeout_s=PHASE_TIMEOUT_S)
    ceilings: list[Ceiling] = []
    with ConnectClient.of(config) as connect:
        try:
            switch(loader.name, False)
            switch(cleansing.name, False)
            pause_capture(connect, names)
            report(f"ceilings: committing {changes:,} changes with capture paused")
            committed = commit_backlog(config, changes, seed)
            report(f"ceilings: capture alone on {committed:,} changes")
            ceilings.append(_metered(lambda: _capture(config, raw, names, connect), pids))
            report(f"ceilings: {cleansing.name} alone on {ceilings[-1].records:,} raw records")
            ceilings.append(_metered(lambda: _consume(config, cleansing, switch), pids))
            report(f"ceilings: {loader.name} alone on its cleansed backlog")
            ceilings.append(_metered(lambda: _consume(config, loader, switch), pids))
        finally:
            for name in names:
                connect.resume(name)
            switch(cleansing.name, True)
            switch(loader.name, True)
    rows = ceilings[-1].records
    report(f"ceilings: HBase batched puts of {rows:,} ODS rows")
    endpoints = Endpoints.from_config(config)
    ceilings.append(_metered(lambda: _puts(endpoints, rows), pids))
    return ceilings


def _puts(endpoints: Endpoints, rows: int) -> Ceiling:
    started = time.monotonic()
    per_s = hbase_put_rate(endpoints, rows)
    seconds = rows / per_s
    return Ceiling(
        "hbase puts", rows, round(time.monotonic() - started - seconds, 2), round(seconds, 2), round(per_s, 1)
    )
