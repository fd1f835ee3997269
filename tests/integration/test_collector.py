"""The event path against a real Kafka: telemetry clients -> collector (HTTP) -> raw events topic.

Starts only Kafka (module fixture), not the whole stack. The collector runs in this process on
a thread of its own, with its real HTTP server and its real Kafka producer; the clients are
the real library talking HTTP. Checks read the topic back with a real consumer.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import random
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from cdc_ods.collector.server import CollectorServer
from cdc_ods.collector.settings import EVENTS_TOPIC
from cdc_ods.collector.simulate import simulate
from cdc_ods.config import CollectorConfig, load_config
from cdc_ods.dlq import DLQ_TOPIC, DeadLetter
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import client_config, ensure_topic
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager
from cdc_telemetry import ClientConfig, DeviceInfo, HttpChannel, TelemetryClient

from .conftest import config_path, end_offsets

CONSUMER = {"group.id": "collector-itest", "enable.auto.commit": False}
DEVICE = DeviceInfo(platform="web", country="NL", app_version="5.0.0", os="Linux", device="Firefox 128")


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    config = load_config(config_path())
    manager = StackManager(StackContext(config), report=lambda msg: print(f"[stack] {msg}", file=sys.stderr))
    was_running = manager.supervisor.is_running()
    manager.up(["kafka"])
    address = Endpoints.from_config(config).kafka_bootstrap
    ensure_topic(address, EVENTS_TOPIC, partitions=3)
    ensure_topic(address, DLQ_TOPIC)
    yield address
    if not was_running and not os.environ.get("CDC_KEEP_STACK"):
        manager.down()


class RunningCollector:
    """A `CollectorServer` on its own event loop thread; stop and start again on the same port."""

    def __init__(self, settings: CollectorConfig, bootstrap: str) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: CollectorServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningCollector:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = CollectorServer(self.settings, self.bootstrap, "127.0.0.1", self.port)
        asyncio.run_coroutine_threadsafe(self._server.start(), self._loop).result(30)
        self.port = self._server.port
        return self

    def stop(self) -> None:
        assert self._loop is not None and self._server is not None and self._thread is not None
        asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@pytest.fixture
def collector(bootstrap: str, tmp_path: Path) -> Iterator[RunningCollector]:
    blocklist = tmp_path / "blocklist.json"
    blocklist.write_bytes(b'{"version": 1, "events": ["click_banner"]}')
    running = RunningCollector(CollectorConfig(blocklist_file=blocklist), bootstrap).start()
    yield running
    running.stop()


def read_since(bootstrap: str, topic: str, start: dict[int, int]) -> list[tuple[bytes | None, bytes]]:
    """Every record of `topic` after the offsets `start`, up to its current end."""
    end = end_offsets(bootstrap, topic)
    wanted = {p: end[p] - start.get(p, 0) for p in end if end[p] > start.get(p, 0)}
    consumer = Consumer(
        client_config(bootstrap, **{"group.id": "collector-itest", "enable.auto.commit": False})
    )
    records: list[tuple[bytes | None, bytes]] = []
    try:
        consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in wanted])
        deadline = time.monotonic() + 30
        while sum(wanted.values()) > 0 and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            wanted[msg.partition()] -= 1
            records.append((msg.key(), msg.value() or b""))
    finally:
        consumer.close()
    return records


def assert_exactly_once_without_gaps(
    records: list[tuple[bytes | None, bytes]],
) -> dict[tuple[str, str], list[int]]:
    sequences: dict[tuple[str, str], list[int]] = defaultdict(list)
    for key, value in records:
        event = orjson.loads(value)
        assert key == event["uid"].encode()
        sequences[(event["uid"], event["sid"])].append(event["seq"])
    for session, seqs in sequences.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), f"gap or duplicate in {session}: {sorted(seqs)}"
    return sequences


def test_simulated_apps_every_accepted_event_is_in_kafka_once_without_gaps(
    bootstrap: str, collector: RunningCollector, tmp_path: Path
) -> None:
    start = end_offsets(bootstrap, EVENTS_TOPIC)
    report = simulate(
        collector.url, rate=0, count=5000, clients=10, seed=random.randrange(10**6), work_dir=tmp_path
    )
    assert report.unsent == report.dropped == report.rejected == report.refused == 0
    assert report.accepted == report.tracked == 5000
    records = read_since(bootstrap, EVENTS_TOPIC, start)
    assert len(records) == report.accepted
    sequences = assert_exactly_once_without_gaps(records)
    assert len(sequences) > 10  # sessions rotate
    hashed = [uid for uid, _ in sequences if len(uid) == 64]
    assert hashed, "external users' uids arrive as keyed hashes"


def make_client(url: str, queue_dir: Path, uid: str, **settings: object) -> TelemetryClient:
    config = ClientConfig(queue_dir=queue_dir, device=DEVICE, channels=[HttpChannel(url, timeout_s=5)])
    client = TelemetryClient(replace(config, **settings))
    client.identify(uid, external=False)
    return client


def test_offline_events_queue_on_disk_and_all_arrive_when_the_collector_returns(
    bootstrap: str, collector: RunningCollector, tmp_path: Path
) -> None:
    start = end_offsets(bootstrap, EVENTS_TOPIC)
    collector.stop()
    uid = f"offline-{random.randrange(10**9)}"
    client = make_client(collector.url, tmp_path / "q", uid, max_batch_events=100)
    for i in range(1000):
        client.track("click_timeline", {"position": i})
    assert not client.flush(2)  # nothing can be sent
    (stats,) = client.stats().values()
    assert stats.pending_events == 1000 and stats.upload.retries > 0
    collector.start()  # same port
    assert client.flush(60)
    client.close()
    records = read_since(bootstrap, EVENTS_TOPIC, start)
    sequences = assert_exactly_once_without_gaps(records)
    assert sum(len(s) for s in sequences.values()) == 1000


def test_the_queue_cap_drops_the_oldest_and_counts_them(
    bootstrap: str, collector: RunningCollector, tmp_path: Path
) -> None:
    start = end_offsets(bootstrap, EVENTS_TOPIC)
    collector.stop()
    uid = f"capped-{random.randrange(10**9)}"
    client = make_client(collector.url, tmp_path / "q", uid, max_batch_events=50, queue_max_bytes=8 * 1024)
    for i in range(2000):
        client.track("click_timeline", {"position": i, "noise": random.randbytes(16).hex()})
    client.flush(1)
    (stats,) = client.stats().values()
    assert stats.dropped_events > 0
    assert stats.dropped_events + stats.pending_events == 2000
    collector.start()
    assert client.flush(60)
    client.close()
    seqs = sorted(orjson.loads(v)["seq"] for _, v in read_since(bootstrap, EVENTS_TOPIC, start))
    assert len(seqs) == len(set(seqs)) == 2000 - stats.dropped_events
    # the oldest were dropped, the newest kept (give or take the one batch an upload attempt held)
    assert set(range(stats.dropped_events + 50 + 1, 2001)) <= set(seqs)


def events(n: int, uid: str, first_seq: int = 1) -> list[dict[str, object]]:
    now = int(time.time() * 1000)
    return [
        {
            "ts": now,
            "uid": uid,
            "sid": "s-1",
            "seq": first_seq + i,
            "event": "click_timeline",
            "platform": "ios",
            "country": "DE",
            "app_version": "5.2.0",
            "os": "iOS 17.4",
            "device": "iPhone15,2",
        }
        for i in range(n)
    ]


def post(url: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{url}/v1/events", content=body, headers={"Content-Encoding": "gzip"}, timeout=30)


def test_bad_bodies_get_clear_http_errors(collector: RunningCollector) -> None:
    not_gzip = post(collector.url, orjson.dumps({"events": []}))
    assert not_gzip.status_code == 400 and "not gzip" in not_gzip.json()["error"]
    not_json = post(collector.url, gzip.compress(b"events: [1, 2]"))
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    too_large = post(collector.url, gzip.compress(random.randbytes(300 * 1024)))
    assert too_large.status_code == 413 and "exceeds 262144 bytes" in too_large.json()["error"]
    bomb = post(collector.url, gzip.compress(b" " * 50_000_000))
    assert bomb.status_code == 413 and "decompressed body exceeds" in bomb.json()["error"]


def test_a_partly_invalid_batch_keeps_every_valid_event_and_dead_letters_the_rest(
    bootstrap: str, collector: RunningCollector
) -> None:
    uid = f"mixed-{random.randrange(10**9)}"
    batch = events(6, uid)
    del batch[1]["sid"]
    batch[3]["platform"] = "tv"
    batch[4]["event"] = "click_banner"  # blocked
    start, dlq_start = end_offsets(bootstrap, EVENTS_TOPIC), end_offsets(bootstrap, DLQ_TOPIC)
    answer = post(collector.url, gzip.compress(orjson.dumps({"events": [*batch, 42]})))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["accepted"], body["rejected"], body["blocklist_version"]) == (3, 4, 1)
    assert [(r["index"], r["code"]) for r in body["rejections"]] == [
        (1, "missing_field"),
        (3, "invalid_value"),
        (4, "blocked"),
        (6, "not_an_object"),
    ]
    assert "missing field(s): sid" in body["rejections"][0]["reason"]
    kept = sorted(orjson.loads(v)["seq"] for _, v in read_since(bootstrap, EVENTS_TOPIC, start))
    assert kept == [1, 3, 6]
    letters = [DeadLetter.from_json(v) for _, v in read_since(bootstrap, DLQ_TOPIC, dlq_start)]
    assert sorted(d.reason.split(":")[0] for d in letters) == ["event 1", "event 3", "event 6"]
    assert {d.stage for d in letters} == {"collector"}


def test_blocklist_is_served_versioned_and_clients_apply_it(
    collector: RunningCollector, tmp_path: Path
) -> None:
    first = httpx.get(f"{collector.url}/v1/blocklist")
    assert first.json() == {"version": 1, "events": ["click_banner"]} and first.headers["ETag"] == '"1"'
    assert httpx.get(f"{collector.url}/v1/blocklist", headers={"If-None-Match": '"1"'}).status_code == 304
    client = make_client(collector.url, tmp_path / "q", "bl-user")
    deadline = time.monotonic() + 10
    while client.blocklist.version < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.track("click_banner") is False and client.track("back") is True
    client.flush(10)
    client.close()


def test_health_and_metrics(collector: RunningCollector) -> None:
    health = httpx.get(f"{collector.url}/health")
    assert health.status_code == 200 and health.json()["kafka"] == "up"
    post(collector.url, gzip.compress(orjson.dumps({"events": events(3, "metrics-user")})))
    text = httpx.get(f"{collector.url}/metrics").text
    for name in (
        "cdc_collector_requests_total",
        "cdc_collector_events_accepted_total",
        "cdc_collector_events_rejected_total",
        "cdc_collector_batch_events_bucket",
        "cdc_collector_kafka_ack_seconds_bucket",
        "cdc_collector_blocklist_version 1.0",
    ):
        assert name in text


def test_kafka_unreachable_answers_503_and_clients_keep_the_batch(tmp_path: Path) -> None:
    # a collector whose Kafka is an address where nothing listens
    dead = RunningCollector(CollectorConfig(kafka_timeout_ms=1000), "127.0.0.1:1").start()
    try:
        answer = post(dead.url, gzip.compress(orjson.dumps({"events": events(2, "u-503")})))
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
        assert "Kafka is unavailable" in answer.json()["error"]
        client = make_client(dead.url, tmp_path / "q", "u-503")
        client.track("back")
        assert not client.flush(2)
        (stats,) = client.stats().values()
        client.close()
        assert stats.pending_events == 1 and stats.upload.retries >= 1
    finally:
        dead.stop()
