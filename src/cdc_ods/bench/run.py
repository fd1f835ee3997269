"""Run the whole pipeline at rising producer rates; measure what comes out in Phoenix.

Per step: the producers write at the offered rate (split evenly over the relational
sources) for a fixed time while probes time source commit -> visible in Phoenix; then the
step waits until the pipeline has caught up. Sustained end-to-end throughput is what was
committed at the sources divided by the time from the step's start until the ODS had all
of it, so a pipeline that falls behind shows a lower figure, not the offered one. With the
local stack's process ids, each step also records what a change costs every process
(`cost`): CPU time per change and resident memory, the producers and the probes apart.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cdc_ods.bench.breakdown import hop_times
from cdc_ods.bench.ceilings import Ceiling, StageSwitch, run_ceilings
from cdc_ods.bench.cost import CpuMeter, Pids, ProcessCost
from cdc_ods.bench.drain import Drain, run_drain
from cdc_ods.bench.load import cdc_command, produced_sources
from cdc_ods.bench.probes import Prober
from cdc_ods.bench.row_latency import row_latencies
from cdc_ods.bench.warmup import warm_up
from cdc_ods.config import Config
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError
from cdc_ods.reconcile.catchup import wait_caught_up
from cdc_ods.topology import stages

Report = Callable[[str], None]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class SourceFigures:
    changes: int
    throughput_per_s: float
    latency_ms: dict[str, float | None]
    probes: int
    probes_lost: int
    # the probes' latency split by stage (bench.breakdown.HOPS): p50/p95/p99 ms of each
    stages_ms: dict[str, dict[str, float | None]] = field(default_factory=dict)
    # every row the step changed, source commit -> handed to Phoenix (bench.row_latency):
    # rows, p50/p95/p99/max ms; None where the source stamps commits in whole seconds
    rows_ms: dict[str, float | None] | None = None


@dataclass
class Step:
    offered_per_s: float
    seconds: float
    catch_up_s: float
    throughput_per_s: float
    sources: dict[str, SourceFigures] = field(default_factory=dict)
    # process -> CPU and memory over the step and its catch-up (empty without process ids)
    cost: dict[str, ProcessCost] = field(default_factory=dict)
    stack_cpu_us_per_change: float | None = None


def _own_cpu_s() -> tuple[float, float]:
    """(this process's CPU seconds: the probes and the catch-up wait, its children's: producers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def run_step(
    config: Config, offered: float, seconds: float, seed: int, report: Report, pids: Pids | None = None
) -> Step:
    if config.file is None:
        raise CdcError("cdc bench needs the configuration read from a file")
    sources = produced_sources(config)
    endpoints = Endpoints.from_config(config)
    bootstrap = endpoints.kafka_bootstrap
    probers = [Prober(config, s, endpoints.phoenix_url) for s in sources]
    for prober in probers:
        prober.ensure_row()
    with tempfile.TemporaryDirectory() as scratch:
        ledger = Path(scratch) / "ledger.json"
        meter = CpuMeter(pids() if pids else {})
        meter.start()
        own_before = _own_cpu_s()
        since_ms, started = time.time() * 1000, time.monotonic()
        for prober in probers:
            prober.start()
        report(f"offering {offered:,.0f} changes/s for {seconds:.0f} s")
        produced = subprocess.run(
            cdc_command(config, "produce", "all", "--rate", str(offered / len(sources)),
                        "--duration", str(seconds), "--seed", str(seed), "--ledger", str(ledger)),
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if produced.returncode != 0:
            for prober in probers:
                prober.stop()
            raise CdcError(f"producers failed: {produced.stderr.strip().splitlines()[-1:]}")
        report("waiting for the pipeline to catch up")
        wait_caught_up(config, stages(config), timeout_s=300)
        elapsed = time.monotonic() - started
        for prober in probers:
            prober.stop()
        written = json.loads(ledger.read_text())["sources"]
    counts = {
        name: sum(sum(t["counts"].values()) for t in tables.values()) for name, tables in written.items()
    }
    total = sum(counts.values())
    step = Step(offered, seconds, round(elapsed - seconds, 1), round(total / elapsed, 1))
    if meter.pids:
        step.cost = meter.stop(total)
        step.stack_cpu_us_per_change = round(sum(c.cpu_us_per_change for c in step.cost.values()), 1)
        own_after = _own_cpu_s()
        for name, before, after in zip(("bench probes", "producers"), own_before, own_after, strict=True):
            cpu = after - before
            step.cost[name] = ProcessCost(round(cpu, 2), round(cpu * 1e6 / total, 1) if total else 0.0, 0.0)
    rows_by_source = row_latencies(config, [p.source for p in probers], endpoints.phoenix_url, since_ms)
    for prober in probers:
        lat = prober.latencies_ms
        rows = rows_by_source.get(prober.source.name)  # None: the source stamps whole seconds
        step.sources[prober.source.name] = SourceFigures(
            changes=counts.get(prober.source.name, 0),
            throughput_per_s=round(counts.get(prober.source.name, 0) / elapsed, 1),
            latency_ms={
                **_quantiles(lat),
                "max": max(lat) if lat else None,
                "mean": round(statistics.fmean(lat), 1) if lat else None,
            },
            probes=len(lat),
            probes_lost=prober.lost,
            stages_ms={hop: _quantiles(t) for hop, t in hop_times(bootstrap, prober, since_ms).items()},
            rows_ms=None
            if rows is None
            else {"rows": len(rows), **_quantiles(rows), "max": max(rows, default=None)},
        )
    return step


def _quantiles(values: list[float]) -> dict[str, float | None]:
    return {q: percentile(values, n) for q, n in (("p50", 50), ("p95", 95), ("p99", 99))}


def chart(steps: list[Step], path: Path) -> None:
    """Offered vs achieved rate, and probe latency p50/p99 per source, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offered = [s.offered_per_s for s in steps]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.plot(offered, offered, "--", color="grey", label="offered")
    left.plot(offered, [s.throughput_per_s for s in steps], "o-", label="achieved end to end")
    left.set_xlabel("offered changes/s (all sources)")
    left.set_ylabel("changes/s")
    left.set_title("Throughput: source commit -> ODS")
    left.legend()
    for name in steps[0].sources:
        for q, style in (("p50", "o-"), ("p99", "s--")):
            right.plot(offered, [s.sources[name].latency_ms[q] for s in steps], style, label=f"{name} {q}")
    right.set_xlabel("offered changes/s (all sources)")
    right.set_ylabel("ms")
    right.set_yscale("log")
    right.set_title("Latency: source commit -> visible in Phoenix")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ceilings(ceilings: list[Ceiling], drained: Drain | None) -> dict | None:
    """Each stage alone, the slowest, and the drain's rate as a share of it."""
    if not ceilings or drained is None:
        return None
    slowest = min(ceilings, key=lambda c: c.per_s)
    return {
        "stages": [asdict(c) for c in ceilings],
        "slowest": slowest.stage,
        "drain_vs_slowest": round(drained.per_s / slowest.per_s, 3) if slowest.per_s else None,
    }


def run_bench(
    config: Config,
    rates: list[float],
    seconds: float,
    out: Path,
    report: Report,
    pids: Pids | None = None,
    drain: int = 0,
    switch: StageSwitch | None = None,
    warmup_s: float = 0,
) -> dict:
    """The steps at `rates`, then a drain of `drain` changes (0: none), then, given `switch`
    (the local stack's stage processes), each stage alone on a backlog of the same size.
    `pids`: the stack's process ids, for the cost of a change (none: no cost figures).
    `warmup_s`: first, at most that long, load until the JVMs' compilers settle."""
    warmed = warm_up(config, warmup_s, report, pids or dict) if warmup_s else None
    steps = []
    for i, rate in enumerate(rates):
        steps.append(run_step(config, rate, seconds, seed=1000 + i, report=report, pids=pids))
        s = steps[-1]
        report(
            f"{rate:,.0f}/s offered -> {s.throughput_per_s:,.0f}/s achieved, caught up {s.catch_up_s} s after"
        )
    drained = run_drain(config, drain, seed=2000, report=report, pids=pids) if drain else None
    if drained is not None:
        report(f"drained {drained.changes:,} changes in {drained.seconds} s: {drained.per_s:,.0f}/s")
    ceilings = run_ceilings(config, drain, 3000, report, switch, pids) if drain and switch else []
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "warmup": asdict(warmed) if warmed is not None else None,
        "rates": rates,
        "step_seconds": seconds,
        "steps": [asdict(s) for s in steps],
        "drain": asdict(drained) if drained is not None else None,
        "ceilings": _ceilings(ceilings, drained),
    }
    (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    if steps:
        chart(steps, out / "bench.png")
    return result
