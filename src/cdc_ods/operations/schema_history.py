"""The tables a MariaDB/MySQL connector saw dropped, from its schema history topic.

Debezium keeps every DDL statement its MySQL-family connector read in the topic named by
`schema.history.internal.kafka.topic` (one partition), with the binlog position it was read
at and, per statement, the tables it changed (`tableChanges`, type CREATE / ALTER / DROP).
The initial snapshot writes the schema as it read it there too, a `DROP TABLE IF EXISTS` and a
`CREATE TABLE` per table, marked `"snapshot"` in their position: those are not drops.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from cdc_ods import contract
from cdc_ods.errors import TransientError
from cdc_ods.kafka import client_config, fetch_available

HISTORY_TOPIC = "schema.history.internal.kafka.topic"
# what asking a topic that does not exist (yet) for its offsets fails with
_NO_TOPIC = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION}


def drops(records: Iterable[dict[str, Any]], namespace: str) -> dict[str, int]:
    """Table of `namespace` -> the `__source_pos` of its latest DROP TABLE, read while streaming."""
    found: dict[str, int] = {}
    for record in records:
        position = record.get("position") or {}
        if position.get("snapshot") or not position.get("file"):
            continue
        for change in record.get("tableChanges") or []:
            if change.get("type") != "DROP":
                continue
            database, _, table = str(change.get("id", "")).replace('"', "").partition(".")
            if database.lower() == namespace.lower() and table:
                found[table] = contract.binlog_position(position["file"], int(position.get("pos", 0)))
    return found


class HistoryReader:
    """Reads one connector's schema history topic, each call what was added since the last."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._consumer = Consumer(
            client_config(bootstrap, **{"group.id": "cdc-watchdog-history", "enable.auto.commit": False})
        )
        self._next = 0  # the offset to read from

    def read_new(self, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """The records added since the last call (all of them the first time); [] while the
        topic does not exist (the connector has not started yet)."""
        try:
            low, high = self._consumer.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() in _NO_TOPIC:
                return []
            raise TransientError(f"schema history topic {self.topic}: {exc}") from None
        start = max(low, self._next)
        if start >= high:
            return []
        self._consumer.assign([TopicPartition(self.topic, 0, start)])
        records: list[dict[str, Any]] = []
        position = start
        while position < high:
            batch = fetch_available(self._consumer, 500, timeout_s)  # consume() would wait for all 500
            if not batch:
                raise TransientError(f"schema history topic {self.topic}: no record within {timeout_s:.0f}s")
            for message in batch:
                if message.error():
                    raise TransientError(f"schema history topic {self.topic}: {message.error()}")
                position = message.offset() + 1
                if message.value():
                    records.append(orjson.loads(message.value()))
        self._next = position
        return records

    def close(self) -> None:
        self._consumer.close()
