"""The dead-letter topic (`ods.dlq`): records a stage could not process, with the reason.

Every stage (cleansing, loader, collector) sends its rejects (`cdc_ods.errors.Rejected`)
here as `DeadLetter`s, so the record format and its headers are defined once. A dead letter
keeps the original bytes exactly, once: as text when they are UTF-8 (`key`, `value`), else
as base64 (`key_b64`, `value_b64`); where they came from (topic, partition, offset), which
stage rejected them and why. The DLQ is keyed by the original key so one source key's
rejects stay in order.

A letter is larger than the record it carries (the reason, the JSON escaping of the text),
so the topic takes records up to `MAX_LETTER_BYTES`, well above the broker's 1 MB default
that bounds every topic a letter comes from.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from cdc_ods.contract import MAX_RECORD_BYTES
from cdc_ods.errors import Rejected
from cdc_ods.kafka import AckedProducer, ensure_topic

DLQ_TOPIC = "ods.dlq"
# a letter carries its record (up to contract.MAX_RECORD_BYTES) plus where it came from and why
MAX_LETTER_BYTES = MAX_RECORD_BYTES + 1024 * 1024
DLQ_TOPIC_CONFIG = {"max.message.bytes": str(MAX_LETTER_BYTES)}


def ensure_dlq_topic(
    bootstrap: str, partitions: int = 1, existing: Mapping[str, list[int]] | None = None
) -> None:
    """The dead-letter topic exists and takes letters up to `MAX_LETTER_BYTES`."""
    ensure_topic(bootstrap, DLQ_TOPIC, partitions=partitions, config=DLQ_TOPIC_CONFIG, existing=existing)


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
    def of(
        cls, rejected: Rejected, key: bytes | None, value: bytes | None, now_ms: int | None = None
    ) -> DeadLetter:
        """The letter of a rejected record (`rejected.at(...)` has said where it came from)."""
        return cls(
            stage=rejected.stage,
            reason=rejected.reason,
            topic=rejected.topic,
            partition=rejected.partition,
            offset=rejected.offset,
            key=key,
            value=value,
            failed_at_ms=int(time.time() * 1000) if now_ms is None else now_ms,
        )

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers that let a reader filter letters without parsing them."""
        return [("cdc.stage", self.stage.encode()), ("cdc.reason", self.reason[:500].encode())]

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

    def __init__(self, bootstrap: str, topic: str = DLQ_TOPIC) -> None:
        self.topic = topic
        settings = {
            "enable.idempotence": True,
            "linger.ms": 20,
            "message.max.bytes": MAX_LETTER_BYTES,
            "message.timeout.ms": 0,  # no local timeout: an outage is waited out (Checkpoint.commit)
        }
        self._producer = AckedProducer(bootstrap, f"dead-letter topic {topic}", **settings)

    def send(self, rejected: Rejected, key: bytes | None, value: bytes | None) -> None:
        """Send the letter of a record `rejected` (which says where it came from)."""
        letter = DeadLetter.of(rejected, key, value)
        self._producer.produce(self.topic, letter.to_json(), key=letter.key, headers=letter.headers())

    def flush(self) -> None:
        """Wait (up to 30 s) until every dead letter is acknowledged; raise if any was not
        (`cdc_ods.kafka.Unacknowledged`: still queued, flush again; `DeliveryFailed`)."""
        self._producer.flush(30.0)

    def purge(self) -> None:
        """Drop the letters not yet sent: their records' offsets are not committed either."""
        self._producer.purge()
