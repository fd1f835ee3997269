"""Kafka writes the collector awaits: one asyncio future per batch, settled by delivery reports.

librdkafka calls delivery reports from `poll`; a dedicated thread polls, and the last report
of a batch settles the batch's future on the event loop. An HTTP request is answered only
once its future says every record is acknowledged (or one failed: `TransientError`, answered
with 503, and the client sends the batch again).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, Producer

from cdc_ods.collector import metrics
from cdc_ods.errors import TransientError
from cdc_ods.kafka import client_config


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class _BatchAck:
    """Counts a batch's delivery reports (poll thread) and settles its future (event loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, report: Callable[[bool], None]) -> None:
        self.future: asyncio.Future[list[str]] = loop.create_future()
        self._loop = loop
        self._report = report
        self._lock = threading.Lock()
        self._reported = 0
        self._expected: int | None = None  # known once every record is handed to librdkafka
        self._errors: list[str] = []

    def delivered(self, err: KafkaError | None, _msg: object) -> None:
        with self._lock:
            self._reported += 1
            if err is not None:
                self._errors.append(str(err))
            done = self._reported == self._expected
        if err is None:
            self._report(True)
        if done:
            self._loop.call_soon_threadsafe(self._settle)

    def seal(self, produced: int) -> None:
        with self._lock:
            self._expected = produced
            done = self._reported == produced
        if done:
            self._settle()

    def _settle(self) -> None:
        if not self.future.done():
            self.future.set_result(self._errors)


class KafkaSink:
    """An idempotent producer plus the thread that polls it for delivery reports."""

    def __init__(self, bootstrap: str, timeout_ms: int) -> None:
        self.timeout_s = timeout_ms / 1000
        self._producer = Producer(
            client_config(
                bootstrap,
                **{
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                    "compression.type": "lz4",
                    "message.timeout.ms": timeout_ms,
                    "queue.buffering.max.messages": 500_000,
                    "error_cb": self._on_error,
                },
            )
        )
        self.up = True  # False from "all brokers down" or a failed delivery until the next success
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="collector-kafka-poll", daemon=True)
        self._poller.start()

    def _set_up(self, up: bool) -> None:
        self.up = up
        metrics.KAFKA_UP.set(1 if up else 0)

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._set_up(False)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def send(self, records: Sequence[Record]) -> None:
        """Produce `records` and return once Kafka acknowledged all; else `TransientError` (Kafka
        down, timed out, or the producer queue full)."""
        if not records:
            return
        ack = _BatchAck(asyncio.get_running_loop(), self._set_up)
        produced = 0
        try:
            for r in records:
                self._producer.produce(
                    r.topic, r.value, key=r.key, headers=list(r.headers) or None, on_delivery=ack.delivered
                )
                produced += 1
        except BufferError:
            ack.seal(produced)
            await ack.future
            raise TransientError("the Kafka producer queue is full") from None
        ack.seal(produced)
        try:
            errors = await asyncio.wait_for(ack.future, self.timeout_s + 5)
        except TimeoutError:
            raise TransientError(f"no acknowledgement within {self.timeout_s + 5:.0f} s") from None
        if errors:
            self._set_up(False)
            raise TransientError(f"{len(errors)} of {produced} records not acknowledged: {errors[0]}")

    def close(self) -> None:
        self._stop.set()
        self._poller.join()
        self._producer.flush(self.timeout_s)
