"""Capture rate and latency per source: source commit -> Debezium's record in the raw topic.

For each offered rate the producers write for a while (`cdc produce all --rate R`, R per
source; 0 = as fast as they can); a consumer reads the raw topics from their current end and
counts what arrives per source; probes (updates of each source's probe row with a fresh token,
timed from just before the autocommitted UPDATE is sent) time the commit -> raw topic latency.
Captured/s = the producers' changes that arrived / the time from the first to the last
arrival; committed/s = the same changes / the time between their first and last source commit
(Debezium's source.ts_ms; whole seconds on MariaDB's binlog), so a connector that falls
behind shows captured/s below committed/s.
Writes bench-results/capture.json. Needs the stack and the connectors (`make demo`).

    .venv/bin/python scripts/bench_capture.py [--rate 1000 --rate 0] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
from confluent_kafka import Consumer, TopicPartition

from cdc_ods import contract
from cdc_ods.bench.probes import PROBE_ID, Prober
from cdc_ods.bench.run import percentile
from cdc_ods.config import Config, SourceConfig, load_config
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import client_config, fetch_available

PROJECT_DIR = Path(__file__).resolve().parents[1]  # the checkout this script is part of

IDLE_AFTER_PRODUCER_S = 10.0  # nothing new for this long after the producers stopped: done
DRAIN_LIMIT_S = 180.0


class ProbeWriter:
    """Updates one source's probe row with fresh tokens on its own thread; remembers when."""

    def __init__(self, prober: Prober, interval_s: float) -> None:
        self.prober = prober
        self.interval_s = interval_s
        self.sent: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.prober.ensure_row()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        run, close = self.prober.executor()
        try:
            n = 0
            while not self._stop.is_set():
                n += 1
                token = f"capture {self.prober.source.name} {n} {time.time_ns()}"
                self.sent[token] = time.monotonic()
                run(self.prober.update_sql, (token,))
                self._stop.wait(self.interval_s)
        finally:
            close()


class SourceTally:
    def __init__(self) -> None:
        self.changes = 0  # the producers' change events (probes not counted)
        self.first_arrival: float | None = None
        self.last_arrival = 0.0
        self.first_commit_ms: int | None = None  # the source's commit time (source.ts_ms)
        self.last_commit_ms = 0
        self.latencies_ms: list[float] = []

    def change(self, arrived: float, committed_ms: int) -> None:
        """One of the producers' changes, read at `arrived`, committed at `committed_ms`."""
        self.changes += 1
        self.first_arrival = self.first_arrival or arrived
        self.last_arrival = arrived
        self.first_commit_ms = self.first_commit_ms or committed_ms
        self.last_commit_ms = committed_ms


def raw_assignment(consumer: Consumer, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics, at its current end: only what is written from now on."""
    metadata = consumer.list_topics(timeout=10)
    assignment = []
    for topic in topics:
        if topic not in metadata.topics:
            sys.exit(f"raw topic {topic} does not exist: register the connectors first (make demo)")
        for p in metadata.topics[topic].partitions:
            high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            assignment.append(TopicPartition(topic, p, high))
    return assignment


def run_once(
    config: Config, sources: list[SourceConfig], rate: float, seconds: float, interval: float
) -> dict:
    endpoints = Endpoints.from_config(config)
    topic_source = {contract.raw_topic(s.name, s.database, t): s.name for s in sources for t in s.tables}
    probes = {s.name: ProbeWriter(Prober(config, s, endpoints.phoenix_url), interval) for s in sources}
    probe_topics = {
        contract.raw_topic(p.prober.source.name, p.prober.source.database, p.prober.table): name
        for name, p in probes.items()
    }
    consumer = Consumer(
        client_config(
            endpoints.kafka_bootstrap,
            **{"group.id": f"bench-capture-{uuid.uuid4().hex}", "fetch.wait.max.ms": 10},
        )
    )
    consumer.assign(raw_assignment(consumer, list(topic_source)))
    tallies = {s.name: SourceTally() for s in sources}
    offered = "as fast as the producers can" if rate == 0 else f"{rate:,.0f} changes/s per source"
    print(f"== offering {offered} for {seconds:.0f} s", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        ledger = Path(scratch) / "ledger.json"
        producer_log = Path(scratch) / "producer.log"
        for probe in probes.values():
            probe.start()
        started = time.monotonic()
        with producer_log.open("w") as log:
            producer = subprocess.Popen(
                [sys.executable, "-m", "cdc_ods", "--config", str(config.file), "produce", "all",
                 "--rate", str(rate), "--duration", str(seconds), "--seed", "4242", "--ledger", str(ledger)],
                stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
            producer_done_at: float | None = None
            last_any = next_report = started
            while True:
                now = time.monotonic()
                if producer_done_at is None and producer.poll() is not None:
                    producer_done_at = now
                    for probe in probes.values():
                        probe.stop()
                if producer_done_at is not None and (
                    now - last_any > IDLE_AFTER_PRODUCER_S or now - producer_done_at > DRAIN_LIMIT_S
                ):
                    break
                if now >= next_report:
                    line = ", ".join(f"{name} {t.changes:,}" for name, t in tallies.items())
                    print(f"  {now - started:5.0f} s  captured: {line}", flush=True)
                    next_report = now + 5
                for msg in fetch_available(consumer, 1000, 0.2):
                    if msg.error() or msg.value() is None:
                        continue  # tombstones follow deletes: not changes of their own
                    arrived = time.monotonic()
                    last_any = arrived
                    tally = tallies[topic_source[msg.topic()]]
                    event = orjson.loads(msg.value())
                    row = event.get("after") or event.get("before") or {}
                    if msg.topic() not in probe_topics or row.get("id") != PROBE_ID:
                        tally.change(arrived, event["source"]["ts_ms"])
                        continue
                    sent = probes[probe_topics[msg.topic()]].sent.pop(str(row.get("title")), None)
                    if sent is not None:
                        tally.latencies_ms.append((arrived - sent) * 1000)
        consumer.close()
        if producer.returncode != 0:
            sys.exit(f"the producers failed: {producer_log.read_text().strip().splitlines()[-1:]}")
        written = json.loads(ledger.read_text())["sources"]
    figures = {}
    for name, tally in tallies.items():
        committed = sum(sum(t["counts"].values()) for t in written.get(name, {}).values())
        arriving_s = tally.last_arrival - (tally.first_arrival or tally.last_arrival)
        committing_s = (tally.last_commit_ms - (tally.first_commit_ms or tally.last_commit_ms)) / 1000
        lat = tally.latencies_ms
        figures[name] = {
            "committed": committed,
            "captured": tally.changes,
            "all_captured": tally.changes >= committed,
            "committed_per_s": round(tally.changes / committing_s, 1) if committing_s > 0 else None,
            "captured_per_s": round(tally.changes / arriving_s, 1) if arriving_s > 0 else None,
            "latency_ms": {q: _round(percentile(lat, p)) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))},
            "latency_max_ms": _round(max(lat)) if lat else None,
            "probes": len(lat),
            "probes_lost": len(probes[name].sent),
        }
    return {"rate_per_source": rate, "seconds": seconds, "sources": figures}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rate", type=float, action="append",
        help="changes/s per source, repeatable; 0 = as fast as the producers can (default: 1000 then 0)",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=30, help="producer run time per rate")
    parser.add_argument(
        "--probe-interval", type=float, default=0.05, help="seconds between probes per source"
    )
    args = parser.parse_args()
    config = load_config()
    sources = [s for s in config.sources if s.enabled and s.kind != "mongodb"]
    runs = [
        run_once(config, sources, rate, args.seconds, args.probe_interval) for rate in args.rate or [1000, 0]
    ]
    out = PROJECT_DIR / "bench-results" / "capture.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": runs}, indent=2
        )
    )
    for run in runs:
        offered = "flat out" if run["rate_per_source"] == 0 else f"{run['rate_per_source']:,.0f}/s offered"
        for name, f in run["sources"].items():
            lat = f["latency_ms"]
            missing = "" if f["all_captured"] else f"  ({f['committed'] - f['captured']:,} NOT captured)"
            print(
                f"{name:>10} {offered:>16}: committed {_rate(f['committed_per_s'])},"
                f" captured {_rate(f['captured_per_s'])}; commit -> raw topic p50 {lat['p50']} ms,"
                f" p95 {lat['p95']} ms, p99 {lat['p99']} ms ({f['probes']} probes){missing}"
            )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
