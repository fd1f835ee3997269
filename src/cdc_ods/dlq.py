"""The dead-letter topic (`ods.dlq`): records a stage could not process, with the reason.

Every stage (cleansing, loader, collector) sends its rejects here through `DeadLetters`,
so the record format is defined once. A dead letter keeps the original bytes exactly, once:
as text when they are UTF-8 (`key`, `value`), else as base64 (`key_b64`, `value_b64`); where
they came from (topic, partition, offset), which stage rejected them and why. The DLQ is
keyed by the original key so one source key's rejects stay in order.

A letter is larger than the record it carries (the reason, the JSON escaping of the text),
so the topic takes records up to `MAX_LETTER_BYTES`, well above the broker's 1 MB default
that bounds every topic a letter comes from.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Message, Producer

from cdc_ods.contract import MAX_RECORD_BYTES
from cdc_ods.errors import TransientError
from cdc_ods.kafka import client_config, ensure_topic

DLQ_TOPIC = "ods.dlq"
# a letter carries its record (up to contract.MAX_RECORD_BYTES) plus where it came from and why
MAX_LETTER_BYTES = MAX_RECORD_BYTES + 1024 * 1024
DLQ_TOPIC_CONFIG = {"max.message.bytes": str(MAX_LETTER_BYTES)}


def ensure_dlq_topic(bootstrap: str, partitions: int = 1) -> None:
    """The dead-letter topic exists and takes letters up to `MAX_LETTER_BYTES`."""
    ensure_topic(bootstrap, DLQ_TOPIC, partitions=partitions, config=DLQ_TOPIC_CONFIG)


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class DeadLetter:
    stage: str
    reason: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    failed_at_ms: int

    @classmethod
    def of(cls, msg: Message, stage: str, reason: str) -> DeadLetter:
        return cls(
            stage=stage,
            reason=reason,
            topic=msg.topic() or "",
            partition=msg.partition() or 0,
            offset=msg.offset() or 0,
            key=msg.key(),
            value=msg.value(),
            failed_at_ms=int(time.time() * 1000),
        )

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "stage": self.stage,
                "reason": self.reason,
                "source": {"topic": self.topic, "partition": self.partition, "offset": self.offset},
                **_bytes_field("key", self.key),
                **_bytes_field("value", self.value),
                "failed_at_ms": self.failed_at_ms,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> DeadLetter:
        data: dict[str, Any] = orjson.loads(raw)
        return cls(
            stage=data["stage"],
            reason=data["reason"],
            topic=data["source"]["topic"],
            partition=data["source"]["partition"],
            offset=data["source"]["offset"],
            key=_read_bytes_field(data, "key"),
            value=_read_bytes_field(data, "value"),
            failed_at_ms=data["failed_at_ms"],
        )


def _bytes_field(name: str, raw: bytes | None) -> dict[str, str | None]:
    text = _text(raw)
    if raw is None or text is not None:
        return {name: text}
    return {f"{name}_b64": base64.b64encode(raw).decode()}


def _read_bytes_field(data: dict[str, Any], name: str) -> bytes | None:
    """The exact bytes; a letter written before this format has both forms (base64 first)."""
    if data.get(f"{name}_b64") is not None:
        return base64.b64decode(data[f"{name}_b64"])
    text = data.get(name)
    return None if text is None else text.encode("utf-8")


class DeadLetters:
    """Sends dead letters; `flush` before committing the offsets of the records they replace."""

    def __init__(self, bootstrap: str, stage: str, topic: str = DLQ_TOPIC) -> None:
        self.stage = stage
        self.topic = topic
        self._errors: list[str] = []
        settings = {"enable.idempotence": True, "linger.ms": 20, "message.max.bytes": MAX_LETTER_BYTES}
        self._producer = Producer(client_config(bootstrap, **settings))

    def _delivered(self, err: object, _msg: object) -> None:
        if err is not None:
            self._errors.append(str(err))

    def send(self, msg: Message, reason: str) -> None:
        letter = DeadLetter.of(msg, self.stage, reason)
        headers = {"cdc.stage": self.stage, "cdc.reason": reason[:500]}
        self._producer.produce(
            self.topic, letter.to_json(), key=letter.key, headers=headers, on_delivery=self._delivered
        )
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every dead letter is acknowledged; raise if any was not."""
        remaining = self._producer.flush(timeout_s)
        if remaining or self._errors:
            errors, self._errors = self._errors, []
            raise TransientError(f"dead-letter topic {self.topic}: {remaining} unsent, errors: {errors[:3]}")
