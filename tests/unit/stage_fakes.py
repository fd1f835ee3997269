"""In-memory stand-ins for the Kafka clients a stage uses, recording what happens in order; and
the real collector service with such a stand-in for Kafka."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx
from confluent_kafka import TopicPartition

from cdc_ods.collector.server import CollectorServer
from cdc_ods.collector.settings import CollectorConfig
from cdc_ods.collector.sink import Record
from cdc_ods.errors import Rejected

Partition = tuple[str, int]


@dataclass
class FakeMessage:
    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None = b"{}"
    _key: bytes | None = None
    _headers: list[tuple[str, bytes]] | None = None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def error(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (1, 0)


@dataclass
class FakeConsumer:
    """Partitions holding records; the first poll assigns them all. `events` is shared with the
    fake producers, so a test sees what happened in which order."""

    log: dict[Partition, list[FakeMessage]]
    events: list[tuple] = field(default_factory=list)
    committed_offsets: dict[Partition, int] = field(default_factory=dict)
    positions: dict[Partition, int] = field(default_factory=dict)
    paused: set[Partition] = field(default_factory=set)
    assigned: list[Partition] = field(default_factory=list)
    callbacks: dict[str, Callable] = field(default_factory=dict)
    to_revoke: list[Partition] = field(default_factory=list)
    revoke_seconds: list[float] = field(default_factory=list)  # how long each revoke callback took
    closed: bool = False

    def append(self, msg: FakeMessage) -> None:
        self.log.setdefault((msg.topic(), msg.partition()), []).append(msg)

    def subscribe(
        self, topics: list[str], on_assign: Callable, on_revoke: Callable, on_lost: Callable
    ) -> None:
        self.callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}

    def _rebalance(self) -> None:
        if not self.assigned and not self.closed and self.log:
            partitions = sorted(self.log)
            self.callbacks["assign"](self, [TopicPartition(t, p) for t, p in partitions])
            self.assigned = partitions
            for where in partitions:
                self.positions.setdefault(where, max(self.committed_offsets.get(where, 0), 0))
        if self.to_revoke:
            gone, self.to_revoke = self.to_revoke, []
            self.events.append(("revoke", tuple(gone)))
            started = time.monotonic()
            self.callbacks["revoke"](self, [TopicPartition(t, p) for t, p in gone])
            self.revoke_seconds.append(time.monotonic() - started)
            self.assigned = [a for a in self.assigned if a not in gone]
            self.paused -= set(gone)
            self.events.append(("revoked", tuple(gone)))

    def _next(self) -> FakeMessage | None:
        for where in self.assigned:
            records = self.log.get(where, [])
            position = self.positions[where]
            if where not in self.paused and position < len(records):
                self.positions[where] = position + 1
                return records[position]
        return None

    def poll(self, timeout: float | None = None) -> FakeMessage | None:
        self._rebalance()
        msg = self._next()
        if msg is None and timeout:
            time.sleep(min(timeout, 0.01))
        return msg

    def consume(self, num_messages: int = 1, timeout: float | None = None) -> list[FakeMessage]:
        out = []
        while len(out) < num_messages and (msg := self._next()) is not None:
            out.append(msg)
        return out

    def commit(self, offsets: list[TopicPartition], asynchronous: bool = True) -> None:
        assert not asynchronous
        self.events.append(("commit", {(tp.topic, tp.partition): tp.offset for tp in offsets}))
        for tp in offsets:
            self.committed_offsets[(tp.topic, tp.partition)] = tp.offset

    def committed(
        self, partitions: list[TopicPartition], timeout: float | None = None
    ) -> list[TopicPartition]:
        return [
            TopicPartition(
                tp.topic, tp.partition, self.committed_offsets.get((tp.topic, tp.partition), -1001)
            )
            for tp in partitions
        ]

    def seek(self, tp: TopicPartition) -> None:
        self.events.append(("seek", (tp.topic, tp.partition), tp.offset))
        self.positions[(tp.topic, tp.partition)] = tp.offset

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {(tp.topic, tp.partition) for tp in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {(tp.topic, tp.partition) for tp in partitions}

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.assigned]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self.positions[(tp.topic, tp.partition)])
            for tp in partitions
        ]

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool = False) -> tuple[int, int]:
        return 0, len(self.log.get((tp.topic, tp.partition), []))

    def close(self) -> None:
        if self.assigned:
            self.callbacks["revoke"](self, [TopicPartition(t, p) for t, p in self.assigned])
        self.assigned = []
        self.closed = True


@dataclass
class FakeDeadLetters:
    events: list[tuple]
    letters: list[Rejected] = field(default_factory=list)
    refuse: bool = False  # the next flush: Kafka refused a letter
    pending_flushes: int = 0  # this many flushes find letters not acknowledged yet

    def send(self, rejected: Rejected, key: bytes | None, value: bytes | None) -> None:
        self.events.append(("dead letter", rejected.reason))
        self.letters.append(rejected)

    def flush(self, timeout_s: float = 30.0) -> None:
        from cdc_ods.kafka import DeliveryFailed, Unacknowledged

        if self.refuse:
            raise DeliveryFailed("dead-letter topic ods.dlq: records refused or timed out: [...]")
        if self.pending_flushes:
            self.pending_flushes -= 1
            self.events.append(("flush dead letters: not acknowledged yet",))
            raise Unacknowledged("dead-letter topic ods.dlq: 1 records not acknowledged yet")
        self.events.append(("flush dead letters",))

    def purge(self) -> None:
        self.events.append(("purge dead letters",))


@dataclass
class FakeOutputs:
    events: list[tuple]

    def produce(
        self, topic: str, value: bytes, key: bytes | None = None, headers: list | None = None
    ) -> None:
        self.events.append(("output", topic, value))

    def flush(self, timeout_s: float = 60.0) -> None:
        self.events.append(("flush outputs",))

    def purge(self) -> None:
        self.events.append(("purge outputs",))


class RecordingSink:
    """Kafka's stand-in for the collector service: keeps what it would have produced."""

    up = True

    def __init__(self) -> None:
        self.records: list[Record] = []

    async def send(self, records: Sequence[Record]) -> None:
        self.records.extend(records)

    def close(self) -> None:
        pass


class RunningCollector:
    """The real collector service on a free port, its event loop in a thread of its own.
    `verify`: what httpx checks an HTTPS listener's certificate against."""

    def __init__(self, settings: CollectorConfig | None = None, verify: object = True) -> None:
        self.sink = RecordingSink()
        settings = settings or CollectorConfig()
        self.server = CollectorServer(settings, "unused:9092", "127.0.0.1", 0, sink=self.sink)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)
        scheme = "https" if settings.tls_cert_file else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.port}"
        self.client = httpx.Client(base_url=self.url, timeout=30, verify=verify)  # type: ignore[arg-type]

    def post(self, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        self.sink.records.clear()
        return self.client.post(
            "/v1/events", content=body, headers={"Content-Encoding": "gzip", **(headers or {})}
        )

    def stop(self) -> None:
        self.client.close()
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()
