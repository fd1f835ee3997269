"""Capture rate and latency per source: source commit -> Debezium's record in the raw topic.

The producers write at a steady rate for a while; a consumer reads the raw topics from
their current end and counts what arrives per source; probes (updates of each source's
probe row with a fresh token, at a known time) time the commit -> raw topic latency.
Prints changes/s captured and latency p50/p99 per source; writes bench-results/capture.json.
Needs the stack and the connectors (after `make demo`).

    .venv/bin/python scripts/bench_capture.py [--rate 1000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import uuid

import orjson
from confluent_kafka import Consumer, TopicPartition

from cdc_ods import contract
from cdc_ods.bench.probes import PROBE_ROWS, Prober
from cdc_ods.bench.run import percentile
from cdc_ods.config import load_config
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import client_config
from cdc_ods.paths import PROJECT_DIR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000, help="changes/s per source")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    config = load_config()
    endpoints = Endpoints.from_config(config)
    sources = [s for s in config.sources if s.enabled and s.kind != "mongodb"]
    topics = {contract.raw_topic(s.name, s.database, t): s.name for s in sources for t in s.tables}
    probe_topic = {
        s.name: contract.raw_topic(
            s.name, s.database, PROBE_ROWS["mysql" if s.kind != "postgres" else "postgres"][0]
        )
        for s in sources
    }
    consumer = Consumer(client_config(endpoints.kafka_bootstrap, **{"group.id": f"bench-{uuid.uuid4().hex}"}))
    metadata = consumer.list_topics(timeout=10)
    assignment = []
    for topic in topics:
        for p in metadata.topics[topic].partitions:
            high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            assignment.append(TopicPartition(topic, p, high))
    consumer.assign(assignment)

    sent: dict[str, float] = {}  # probe token -> commit time
    latencies: dict[str, list[float]] = {s.name: [] for s in sources}
    counts = dict.fromkeys(latencies, 0)
    stop = threading.Event()

    def probe(source_name: str, prober: Prober) -> None:
        run, close = prober.executor()
        n = 0
        try:
            while not stop.is_set():
                n += 1
                token = f"capture {source_name} {n} {time.time_ns()}"
                sent[token] = time.monotonic()
                run(prober.update_sql, (token,))
                stop.wait(0.25)
        finally:
            close()

    probers = [Prober(config, s, endpoints.phoenix_url) for s in sources]
    for prober in probers:
        prober.ensure_row()
    threads = [threading.Thread(target=probe, args=(p.source.name, p), daemon=True) for p in probers]
    for thread in threads:
        thread.start()
    producer = subprocess.Popen(
        [sys.executable, "-m", "cdc_ods", "produce", "all", "--rate", str(args.rate),
         "--duration", str(args.seconds), "--seed", "4242"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    started = time.monotonic()
    last_record = started
    while producer.poll() is None or time.monotonic() - last_record < 3:
        msg = consumer.poll(0.2)
        if msg is None or msg.error() or msg.value() is None:
            continue
        now = time.monotonic()
        last_record = now
        source = topics[msg.topic()]
        counts[source] += 1
        if msg.topic() == probe_topic[source]:
            after = orjson.loads(msg.value()).get("after") or {}
            t0 = sent.pop(str(after.get("title")), None)
            if t0 is not None:
                latencies[source].append((now - t0) * 1000)
    elapsed = last_record - started
    stop.set()
    consumer.close()
    result = {
        source: {
            "changes_captured": counts[source],
            "changes_per_s": round(counts[source] / elapsed, 1),
            "latency_ms": {"p50": percentile(lat, 50), "p99": percentile(lat, 99)},
            "probes": len(lat),
        }
        for source, lat in latencies.items()
    }
    out = PROJECT_DIR / "bench-results" / "capture.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps({"rate_per_source": args.rate, "seconds": args.seconds, "sources": result}, indent=2)
    )
    for source, r in result.items():
        lat = r["latency_ms"]
        p50 = f"{lat['p50']:.0f}" if lat["p50"] is not None else "-"
        p99 = f"{lat['p99']:.0f}" if lat["p99"] is not None else "-"
        print(
            f"{source}: {r['changes_per_s']:,.0f} changes/s captured;"
            f" commit -> raw topic p50 {p50} ms, p99 {p99} ms"
        )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
