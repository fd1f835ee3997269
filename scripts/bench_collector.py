"""Collector throughput, and the time from client send to visible in Phoenix.

Throughput: starts the collector (`CollectorServer`, the same code as `cdc collector run`) in a
process of its own against the configured Kafka, then posts pre-built gzip batches of
~1,000 events from `--concurrency` concurrent connections for `--duration` seconds. Every
answer counted is a 200 after Kafka acknowledged the whole batch.

Send -> visible (needs the running pipeline: `make demo` or `cdc stack up --pipeline`): posts
`--probes` single-event batches, one after the other, to the stack's own collector, each with a
session id of its own; for each, the time from just before the HTTP send until a Phoenix query
of the events table returns its row (collector -> Kafka -> cleansing -> loader -> Phoenix).

Prints events/s, requests/s, request latency and send->visible p50/p99; writes
bench-results/collector.json.

    .venv/bin/python scripts/bench_collector.py [--duration 20] [--concurrency 8] [--batch 1000]
                                                [--probes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing
import socket
import statistics
import time
from pathlib import Path

import aiohttp
import orjson

from cdc_ods import contract
from cdc_ods.collector.server import CollectorServer, serve_until_stopped
from cdc_ods.collector.settings import EVENTS_TOPIC, CollectorConfig, collector_url
from cdc_ods.config import Config, load_config
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import ensure_topic
from cdc_ods.ods.phoenix import connect
from cdc_ods.reconcile.catchup import Stage, wait_stages_consumed
from cdc_ods.runtime import Stop

PROJECT_DIR = Path(__file__).resolve().parents[1]  # the checkout this script is part of

EVENT_NAMES = ["click_timeline", "click_transaction", "change_category", "play", "back"]


def batch_body(batch_no: int, size: int) -> bytes:
    now = int(time.time() * 1000)
    events = [
        {
            "ts": now,
            "uid": f"bench-user-{(batch_no * size + i) % 5000}",
            "sid": f"bench-{batch_no}",
            "seq": i + 1,
            "event": EVENT_NAMES[i % len(EVENT_NAMES)],
            "platform": ("ios", "android", "web")[i % 3],
            "country": "DE",
            "app_version": "5.2.0",
            "os": "iOS 17.4",
            "device": "iPhone15,2",
            "props": {"position": i % 50},
        }
        for i in range(size)
    ]
    return gzip.compress(orjson.dumps({"events": events}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_collector(bootstrap: str, port: int) -> None:
    server = CollectorServer(CollectorConfig(port=port), bootstrap, "127.0.0.1")
    with Stop().on_signals() as stop:
        asyncio.run(serve_until_stopped(server, stop))


async def wait_ready(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"collector at {url} not ready after {timeout_s} s")
            await asyncio.sleep(0.2)


async def load(url: str, bodies: list[bytes], duration_s: float, concurrency: int) -> dict[str, object]:
    latencies: list[float] = []
    accepted = 0
    failures: dict[int, int] = {}
    deadline = time.monotonic() + duration_s
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession, offset: int) -> None:
        nonlocal accepted
        i = offset
        while time.monotonic() < deadline:
            body = bodies[i % len(bodies)]
            i += concurrency
            started = time.perf_counter()
            async with session.post(f"{url}/v1/events", data=body, headers=headers) as response:
                answer = await response.read()
            if response.status != 200:
                failures[response.status] = failures.get(response.status, 0) + 1
                continue
            latencies.append(time.perf_counter() - started)
            accepted += orjson.loads(answer)["accepted"]

    connector = aiohttp.TCPConnector(limit=concurrency)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session, n) for n in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "seconds": round(elapsed, 2),
        "requests": len(latencies),
        "events": accepted,
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "events_per_s": round(accepted / elapsed),
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 1),
        "latency_ms_p99": round(percentile(latencies, 0.99) * 1000, 1),
        "failed_requests": failures,
    }


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[max(0, int(len(sorted_values) * fraction) - 1)]


def send_to_visible(collector_url: str, phoenix_url: str, probes: int, timeout_s: float = 60) -> dict:
    """Latency of single events from the HTTP send until a Phoenix query returns them (ms)."""
    import requests

    table = contract.ods_table(contract.EVENTS_SOURCE, contract.EVENTS_DATABASE, contract.EVENTS_TABLE)
    run_id = f"{time.time_ns():x}"
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    phoenix = connect(phoenix_url)
    cursor = phoenix.cursor()
    latencies: list[float] = []
    lost = 0
    try:
        for n in range(probes):
            sid = f"probe-{run_id}-{n}"
            event = {"ts": int(time.time() * 1000), "uid": "bench-probe", "sid": sid, "seq": 1,
                     "event": "click_timeline", "platform": "web", "country": "DE", "app_version": "5.2.0",
                     "os": "Linux", "device": "bench"}  # fmt: skip
            body = gzip.compress(orjson.dumps({"events": [event]}))
            started = time.perf_counter()
            answer = requests.post(f"{collector_url}/v1/events", data=body, headers=headers, timeout=30)
            answer.raise_for_status()
            while time.perf_counter() - started < timeout_s:
                query = f'SELECT "SEQ" FROM {table} WHERE "UID" = ? AND "SID" = ?'
                cursor.execute(query, ["bench-probe", sid])
                if cursor.fetchone():
                    latencies.append((time.perf_counter() - started) * 1000)
                    break
                time.sleep(0.005)
            else:
                lost += 1
            time.sleep(0.1)
    finally:
        phoenix.close()
    latencies.sort()
    if not latencies:
        raise SystemExit(f"none of {probes} probe events became visible in {table} within {timeout_s} s")
    return {
        "probes": probes,
        "not_visible": lost,
        "send_to_visible_ms_p50": round(statistics.median(latencies), 1),
        "send_to_visible_ms_p99": round(percentile(latencies, 0.99), 1),
        "send_to_visible_ms_max": round(latencies[-1], 1),
    }


def event_stages(config: Config) -> list[Stage]:
    """The pipeline's stages on the events' way: raw events topic -> cleansing -> loader."""
    ident = (contract.EVENTS_SOURCE, contract.EVENTS_DATABASE, contract.EVENTS_TABLE)
    return [
        Stage("cleansing", config.cleansing.group_id, [EVENTS_TOPIC]),
        Stage("loader", config.ods.group_id, [contract.cleansed_topic(*ident)]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000, help="events per request")
    parser.add_argument("--probes", type=int, default=50, help="send->visible probes (0: skip)")
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "bench-results" / "collector.json")
    args = parser.parse_args()

    config = load_config(args.config)
    endpoints = Endpoints.from_config(config)
    bootstrap = endpoints.kafka_bootstrap
    ensure_topic(bootstrap, EVENTS_TOPIC, partitions=3)
    bodies = [batch_body(n, args.batch) for n in range(64)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    collector = multiprocessing.get_context("spawn").Process(target=run_collector, args=(bootstrap, port))
    collector.start()
    try:
        asyncio.run(wait_ready(url))
        result = asyncio.run(load(url, bodies, args.duration, args.concurrency))
    finally:
        collector.terminate()
        collector.join(60)
    result |= {
        "batch_events": args.batch,
        "body_bytes_avg": round(sum(map(len, bodies)) / len(bodies)),
        "concurrency": args.concurrency,
    }
    if args.probes:
        print("waiting for the pipeline to load the events posted so far")
        wait_stages_consumed(config, event_stages(config), timeout_s=600)
        result |= send_to_visible(collector_url(config), endpoints.phoenix_url, args.probes)
    print(
        f"collector: {result['events_per_s']:,} events/s, {result['requests_per_s']} requests/s "
        f"({args.batch}-event gzip batches of ~{result['body_bytes_avg'] // 1024} KB, "
        f"{args.concurrency} connections); "
        f"latency p50 {result['latency_ms_p50']} ms, p99 {result['latency_ms_p99']} ms"
    )
    if args.probes:
        print(
            f"client send -> visible in Phoenix ({result['probes']} single-event probes): "
            f"p50 {result['send_to_visible_ms_p50']} ms, p99 {result['send_to_visible_ms_p99']} ms, "
            f"not visible {result['not_visible']}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
