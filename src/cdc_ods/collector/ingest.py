"""One ingest request, from body bytes to the answer, after Kafka acknowledged its records.

Answers: 200 with accepted/rejected counts and a reason per rejected event (a partly bad
batch still delivers every valid event); 400 for a body that is not gzip or not the JSON
batch object; 413 for a body over either size cap; 503 when Kafka did not acknowledge, so
the client retries the batch. Rejected events (schema) go to the dead-letter topic in the
project's dead-letter format, acknowledged together with the valid ones; blocked events are
refused by choice and only counted.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from cdc_ods.collector import metrics
from cdc_ods.collector.blocklist import Blocklist
from cdc_ods.collector.decode import BodyError, decode_events
from cdc_ods.collector.schema import Rejection, check_event
from cdc_ods.collector.settings import EVENTS_TOPIC, STAGE
from cdc_ods.collector.sink import Record
from cdc_ods.config import CollectorConfig
from cdc_ods.dlq import DLQ_TOPIC, DeadLetter
from cdc_ods.errors import Rejected, TransientError

RETRY_AFTER_S = 5
MAX_JSON_DEPTH = 1024  # orjson.loads refuses a body nesting deeper


class Sink(Protocol):
    async def send(self, records: Sequence[Record]) -> None:
        """Return once every record is acknowledged; raise `TransientError` otherwise."""


class ServiceSink(Sink, Protocol):
    """The sink of the running service: also says whether Kafka is up, and is closed at the end."""

    up: bool

    def close(self) -> None: ...


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error_answer(status: int, reason: str) -> Answer:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else {}
    metrics.REQUESTS.labels(str(status)).inc()
    return Answer(status, {"error": reason}, headers)


def _event_json(event: object) -> bytes:
    """A rejected event as JSON. orjson stops at 254 levels of nesting, and a rejected event
    may nest as deep as the decoder let in (1,024 levels): the standard library's encoder
    goes as deep as the interpreter's recursion limit, raised for it."""
    try:
        return orjson.dumps(event)
    except TypeError:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 4 * MAX_JSON_DEPTH))
        try:
            return json.dumps(event).encode()
        finally:
            sys.setrecursionlimit(limit)


def _dead_letter(event: object, rejection: Rejection, now_ms: int) -> Record:
    uid = event.get("uid") if isinstance(event, dict) else None
    key = uid.encode() if isinstance(uid, str) else None
    # the topic it was headed for; it never was in Kafka, hence no partition or offset
    rejected = Rejected(f"event {rejection.index}: {rejection.reason}", STAGE, EVENTS_TOPIC)
    letter = DeadLetter.of(rejected, key, _event_json(event), now_ms)
    return Record(DLQ_TOPIC, key, letter.to_json(), tuple(letter.headers()))


class Ingest:
    def __init__(
        self,
        settings: CollectorConfig,
        sink: Sink,
        blocklist: Blocklist,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.blocklist = blocklist
        self.clock = clock
        self.max_body = settings.max_body_kb * 1024
        self.max_decompressed = settings.max_decompressed_kb * 1024

    def too_large(self) -> Answer:
        return error_answer(413, f"body exceeds {self.max_body} bytes (gzip); send smaller batches")

    async def handle(self, body: bytes) -> Answer:
        if len(body) > self.max_body:
            return self.too_large()
        metrics.BODY_BYTES.observe(len(body))
        try:
            events = decode_events(body, self.max_decompressed)
        except BodyError as exc:
            return error_answer(exc.status, exc.reason)
        metrics.BATCH_EVENTS.observe(len(events))
        now_ms = int(self.clock() * 1000)
        blocked = self.blocklist.current()
        records: list[Record] = []
        rejections: list[Rejection] = []
        dead_letters: list[Record] = []
        for index, raw in enumerate(events):
            checked = check_event(index, raw, now_ms, self.settings.max_clock_skew_s * 1000)
            if isinstance(checked, Rejection):
                rejections.append(checked)
                if self.settings.dead_letter_rejects:
                    dead_letters.append(_dead_letter(raw, checked, now_ms))
            elif checked["event"] in blocked.events:
                rejections.append(Rejection(index, "blocked", f"event {checked['event']!r} is blocked"))
            else:
                value = orjson.dumps({**checked, "received_at_ms": now_ms})
                records.append(Record(EVENTS_TOPIC, checked["uid"].encode(), value))
        started = time.perf_counter()
        try:
            await self.sink.send(records + dead_letters)
        except TransientError as exc:
            return error_answer(503, f"Kafka is unavailable, retry later: {exc}")
        if records or dead_letters:
            metrics.KAFKA_ACK_SECONDS.observe(time.perf_counter() - started)
        metrics.REQUESTS.labels("200").inc()
        metrics.EVENTS_ACCEPTED.inc(len(records))
        metrics.DEAD_LETTERS.inc(len(dead_letters))
        for rejection in rejections:
            metrics.EVENTS_REJECTED.labels(rejection.code).inc()
        body_out = {
            "accepted": len(records),
            "rejected": len(rejections),
            "rejections": [r.to_dict() for r in rejections],
            "blocklist_version": blocked.version,
        }
        return Answer(200, body_out)
