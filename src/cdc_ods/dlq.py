"""The dead-letter topic (`ods.dlq`): records a stage could not process, with the reason.

Every stage (cleansing, loader, collector) sends its rejects here through `DeadLetters`,
so the record format is defined once. A dead letter keeps the original bytes exactly
(base64), a readable copy when they are UTF-8, where they came from (topic, partition,
offset), which stage rejected them and why. The DLQ is keyed by the original key so one
source key's rejects stay in order.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Message, Producer

from cdc_ods.errors import TransientError
from cdc_ods.kafka import client_config

DLQ_TOPIC = "ods.dlq"


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
                "key_b64": base64.b64encode(self.key).decode() if self.key is not None else None,
                "value_b64": base64.b64encode(self.value).decode() if self.value is not None else None,
                "key": _text(self.key),
                "value": _text(self.value),
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
            key=base64.b64decode(data["key_b64"]) if data.get("key_b64") is not None else None,
            value=base64.b64decode(data["value_b64"]) if data.get("value_b64") is not None else None,
            failed_at_ms=data["failed_at_ms"],
        )


class DeadLetters:
    """Sends dead letters; `flush` before committing the offsets of the records they replace."""

    def __init__(self, bootstrap: str, stage: str, topic: str = DLQ_TOPIC) -> None:
        self.stage = stage
        self.topic = topic
        self._errors: list[str] = []
        self._producer = Producer(client_config(bootstrap, **{"enable.idempotence": True, "linger.ms": 20}))

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
