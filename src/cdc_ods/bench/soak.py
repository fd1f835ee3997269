"""`cdc soak`: an hour of steady load, sampled each minute, judged for growth.

Producers write `rate` changes/s to the relational sources and apps send `events_rate`
events/s to the collector for `minutes`, with latency probes throughout (`bench.probes`).
Each minute: every process's memory (the stack's services and stages; proportional set
size over the process tree, so memory PostgreSQL's backends share counts once), the probes'
latency over that minute, the pipeline's backlog (records waiting for the cleansing stage and
the loader) and the series Prometheus holds. After the load: the catch-up, then
`cdc reconcile`.

The verdict is taken over the samples after the first `warmup_min` minutes (caches fill, then
settle; the JVMs take their whole heap at start): a series' growth is its least-squares slope,
per hour. Bounds (`BOUNDS`): memory grows less than 10 % of its mean per hour, or, for a source
server of the local stack, less than its cache of fixed size over the judged span (`CACHES`:
MariaDB's buffer pool, PostgreSQL's shared buffers, read from the servers; a cache's pages
count as memory once first used, so it grows as data arrives until it is full); the backlog
grows less than 10 seconds' worth of the offered changes per hour; latency p99 grows less than
50 % of its mean per hour; Prometheus's series, less than 10 % of their mean per hour. A leak
shows as memory that keeps growing; a stage that cannot keep up, as a backlog and a latency
that keep growing. Prometheus's own memory is charted but not judged (`NOT_JUDGED`): it keeps
the last two hours of samples in memory by design and writes them out every two hours, so an
hour shows it growing whatever happens; what the pipeline can make it leak is series (a label
that takes a new value per change), and those are judged.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from cdc_ods.bench.cost import Pids, tree_pss_mb
from cdc_ods.bench.load import cdc_command, produced_sources
from cdc_ods.bench.probes import Prober
from cdc_ods.bench.run import percentile
from cdc_ods.config import Config
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError
from cdc_ods.prometheus import instant
from cdc_ods.reconcile.catchup import stage_backlog, stages_read, wait_caught_up
from cdc_ods.sources import source_for

Report = Callable[[str], None]
# series kind -> (what the bound is relative to, the bound's factor), per hour
BOUNDS = {
    "pss_mb": ("mean", 0.10),
    "backlog": ("rate_10s", 1.0),
    "p99_ms": ("mean", 0.50),
    "prometheus_series": ("mean", 0.10),
}
# service -> the query of its cache's configured size in bytes
CACHES = {
    "mariadb": "SELECT @@innodb_buffer_pool_size",
    "postgres": "SELECT pg_size_bytes(current_setting('shared_buffers'))",
}
NOT_JUDGED = {
    "pss_mb prometheus": "holds the last 2 h of samples in memory by design (written out every 2 h)",
}


@dataclass
class Sample:
    minute: int
    pss_mb: dict[str, float]  # process -> MiB
    p50_ms: dict[str, float | None]  # source -> the probes of this minute
    p99_ms: dict[str, float | None]
    backlog: int  # records waiting for cleansing and the loader
    prometheus_series: int | None  # in Prometheus's head block (None: not readable)


@dataclass(frozen=True)
class Trend:
    series: str  # e.g. "pss_mb connect", "backlog", "p99_ms mysql"
    mean: float
    per_hour: float  # least-squares slope x 60
    bound: float | None  # None: not judged, `why` says why
    ok: bool
    why: str = ""


def growth_per_hour(minutes: list[float], values: list[float]) -> float:
    """The least-squares slope of `values` over `minutes`, per hour (0 for fewer than 2 points
    or a flat x)."""
    if len(values) < 2 or len(set(minutes)) < 2:
        return 0.0
    return statistics.linear_regression(minutes, values).slope * 60


def judge(
    samples: list[Sample], rate: float, warmup_min: int, caches_mb: dict[str, float] | None = None
) -> list[Trend]:
    """Each series' growth after the warm-up against its bound (module docstring); `caches_mb`:
    service -> the size of its cache (`CACHES`)."""
    kept = [s for s in samples if s.minute > warmup_min] or samples
    span_h = max(1, kept[-1].minute - kept[0].minute) / 60 if kept else 1.0
    caches = {f"pss_mb {name}": mb for name, mb in (caches_mb or {}).items()}
    series: dict[str, tuple[str, list[tuple[float, float]]]] = {}
    for s in kept:
        for name, mb in s.pss_mb.items():
            series.setdefault(f"pss_mb {name}", ("pss_mb", []))[1].append((s.minute, mb))
        series.setdefault("backlog", ("backlog", []))[1].append((s.minute, s.backlog))
        if s.prometheus_series is not None:
            points = series.setdefault("prometheus_series", ("prometheus_series", []))[1]
            points.append((s.minute, s.prometheus_series))
        for name, p99 in s.p99_ms.items():
            if p99 is not None:
                series.setdefault(f"p99_ms {name}", ("p99_ms", []))[1].append((s.minute, p99))
    trends = []
    for name, (kind, points) in series.items():
        minutes, values = [p[0] for p in points], [p[1] for p in points]
        mean = statistics.fmean(values)
        base, factor = BOUNDS[kind]
        bound = factor * (mean if base == "mean" else rate * 10)
        why = ""
        if name in caches and caches[name] / span_h > bound:
            bound, why = caches[name] / span_h, f"may fill its {caches[name]:,.0f} MiB cache"
        per_hour = round(growth_per_hour(minutes, values), 1)
        if name in NOT_JUDGED:
            trends.append(Trend(name, round(mean, 1), per_hour, None, True, NOT_JUDGED[name]))
        else:
            trends.append(Trend(name, round(mean, 1), per_hour, round(bound, 1), per_hour <= bound, why))
    return trends


def _producers(config: Config, minutes: float, rate: float, events_rate: float) -> list[subprocess.Popen]:
    seconds = str(minutes * 60)
    sources = produced_sources(config)
    runs = [["all", "--rate", str(rate / len(sources)), "--seed", "3000"]]
    if events_rate:
        runs.append(["events", "--rate", str(events_rate), "--seed", "3001"])
    # stderr to a file: an hour of warnings would fill a pipe nobody reads and block the producer
    return [
        subprocess.Popen(
            cdc_command(config, "produce", *args, "--duration", seconds),
            stdout=subprocess.DEVNULL,
            stderr=tempfile.TemporaryFile(),
        )
        for args in runs
    ]


def _tail(producer: subprocess.Popen) -> str:
    """The end of what a producer wrote to its stderr file."""
    if producer.stderr is None:
        return ""
    producer.stderr.seek(0)
    return producer.stderr.read().decode(errors="replace")[-300:]


def _backlog(config: Config, bootstrap: str) -> int:
    return sum(stage_backlog(bootstrap, stage) for stage in stages_read(config))


def _prometheus_series(prometheus_url: str) -> int | None:
    """How many series Prometheus's head block holds (None when it cannot be read: the sample
    is kept, that minute has no figure)."""
    try:
        series = instant(prometheus_url, "prometheus_tsdb_head_series")
    except CdcError:
        return None
    return int(float(series[0]["value"][1])) if series else None


def _caches_mb(config: Config) -> dict[str, float]:
    """The configured cache of each source server of the local stack, MiB, by service name."""
    found: dict[str, float] = {}
    for source in config.sources:
        if source.enabled and source.is_local and source.kind in CACHES and source.kind not in found:
            conn = source_for(config, source).connect("admin")
            try:
                cursor = conn.cursor()
                cursor.execute(CACHES[source.kind])
                found[source.kind] = round(int(cursor.fetchone()[0]) / 2**20, 1)
            finally:
                conn.close()
    return found


def _reconcile(config: Config) -> dict:
    """`cdc reconcile --json`: ok (every table equal) and one line per table."""
    result = subprocess.run(
        cdc_command(config, "reconcile", "--json", "--timeout", "600"),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        reports = json.loads(result.stdout)
    except ValueError:
        return {"ok": False, "tables": [], "error": result.stderr.strip()[-500:]}
    tables = [
        f"{r['table']}: {r['source_rows']} rows,"
        f" missing/extra/different {r['missing']}/{r['extra']}/{r['different']}"
        for r in reports
    ]
    return {"ok": result.returncode == 0, "tables": tables}


def run_soak(
    config: Config,
    minutes: int,
    rate: float,
    events_rate: float,
    out: Path,
    report: Report,
    pids: Pids,
    warmup_min: int = 10,
) -> dict:
    if config.file is None:
        raise CdcError("cdc soak needs the configuration read from a file")
    endpoints = Endpoints.from_config(config)
    sources = produced_sources(config)
    probers = [Prober(config, s, endpoints.phoenix_url) for s in sources]
    for prober in probers:
        prober.ensure_row()
    processes = pids()
    caches_mb = _caches_mb(config)
    samples: list[Sample] = []
    producers = _producers(config, minutes, rate, events_rate)
    for prober in probers:
        prober.start()
    started = time.monotonic()
    seen = {p.source.name: 0 for p in probers}
    try:
        for minute in range(1, minutes + 1):
            time.sleep(max(0.0, started + minute * 60 - time.monotonic()))
            if dead := [p for p in producers if p.poll() not in (None, 0)]:
                raise CdcError(f"a producer exited {dead[0].returncode}: {_tail(dead[0])}")
            fresh = {}
            for prober in probers:
                name, lat = prober.source.name, prober.latencies_ms
                fresh[name], seen[name] = lat[seen[name] :], len(lat)
            sample = Sample(
                minute,
                {name: round(tree_pss_mb(pid), 1) for name, pid in processes.items()},
                {name: percentile(values, 50) for name, values in fresh.items()},
                {name: percentile(values, 99) for name, values in fresh.items()},
                _backlog(config, endpoints.kafka_bootstrap),
                _prometheus_series(endpoints.prometheus_url),
            )
            samples.append(sample)
            report(
                f"minute {minute}/{minutes}: backlog {sample.backlog:,}, p99 ms "
                + ", ".join(f"{n} {v:,.0f}" if v is not None else f"{n} -" for n, v in sample.p99_ms.items())
                + f", stack memory {sum(sample.pss_mb.values()):,.0f} MiB"
            )
    finally:
        for prober in probers:
            prober.stop()
        for producer in producers:
            if producer.poll() is None:
                producer.terminate()
            producer.wait()
    report("load over: waiting for the pipeline to catch up, then reconcile")
    wait_caught_up(config, stages_read(config), timeout_s=600)
    reconciled = _reconcile(config)
    trends = judge(samples, rate, warmup_min, caches_mb)
    result = {
        "minutes": minutes,
        "rate_per_s": rate,
        "events_per_s": events_rate,
        "warmup_min": warmup_min,
        "caches_mb": caches_mb,
        "samples": [asdict(s) for s in samples],
        "trends": [asdict(t) for t in trends],
        "steady": all(t.ok for t in trends),
        "reconcile": reconciled,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    chart(samples, out / "soak.png")
    return result


def chart(samples: list[Sample], path: Path) -> None:
    """Memory per process, probe latency and the backlog, minute by minute, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s.minute for s in samples]
    fig, (memory, latency, backlog) = plt.subplots(1, 3, figsize=(16, 4.5))
    memory.set_prop_cycle(color=plt.cm.tab20.colors)  # a colour per process (a dozen)
    for name in samples[0].pss_mb:
        memory.plot(minutes, [s.pss_mb.get(name, 0) for s in samples], label=name)
    memory.set_title("Memory, proportional set size (MiB)")
    memory.legend(fontsize=6, ncol=2)
    for name in samples[0].p99_ms:
        for q, style in (("p50_ms", "-"), ("p99_ms", "--")):
            values = [getattr(s, q).get(name) for s in samples]
            points = [v if v is not None else float("nan") for v in values]
            latency.plot(minutes, points, style, label=f"{name} {q[:3]}")
    latency.set_title("Probe latency, source commit -> Phoenix (ms)")
    latency.legend(fontsize=7)
    backlog.plot(minutes, [s.backlog for s in samples])
    backlog.set_title("Backlog (records waiting for a stage)")
    for axis in (memory, latency, backlog):
        axis.set_xlabel("minute")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
