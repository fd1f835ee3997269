"""Collector throughput: events/s and requests/s with ~1,000-event gzip batches.

Starts the collector (`CollectorServer`, the same code as `cdc collector run`) in a process of
its own against the configured Kafka, then posts pre-built gzip batches from `--concurrency`
concurrent connections for `--duration` seconds. Every answer counted is a 200 after Kafka
acknowledged the whole batch. Prints events/s, requests/s and request latency; writes
bench-results/collector.json.

    .venv/bin/python scripts/bench_collector.py [--duration 20] [--concurrency 8] [--batch 1000]
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

from cdc_ods.collector.server import CollectorServer, serve_until_signalled
from cdc_ods.collector.settings import EVENTS_TOPIC, CollectorConfig
from cdc_ods.config import load_config
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import ensure_topic
from cdc_ods.paths import PROJECT_DIR

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
    asyncio.run(serve_until_signalled(CollectorServer(CollectorConfig(port=port), bootstrap, "127.0.0.1")))


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
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        "failed_requests": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000, help="events per request")
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "bench-results" / "collector.json")
    args = parser.parse_args()

    bootstrap = Endpoints.from_config(load_config(args.config)).kafka_bootstrap
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
    print(
        f"collector: {result['events_per_s']:,} events/s, {result['requests_per_s']} requests/s "
        f"({args.batch}-event gzip batches of ~{result['body_bytes_avg'] // 1024} KB, "
        f"{args.concurrency} connections); "
        f"latency p50 {result['latency_ms_p50']} ms, p99 {result['latency_ms_p99']} ms"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
