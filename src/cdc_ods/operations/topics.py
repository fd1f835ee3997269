"""Reading a whole topic from its start to its current end."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from cdc_ods.errors import TransientError
from cdc_ods.kafka import client_config, fetch_available, topic_partitions


def partitions(bootstrap: str, topic: str, timeout_s: float = 10.0) -> list[int]:
    """The topic's partitions; empty when it does not exist."""
    return topic_partitions(bootstrap, timeout_s).get(topic, [])


def read_all(bootstrap: str, topic: str, timeout_s: float = 60.0) -> Iterator[Message]:
    """Every record of `topic` from its start up to the end it had when reading began.

    No consumer group offsets are committed: reading is side-effect free and repeatable.
    """
    parts = partitions(bootstrap, topic)
    if not parts:
        return
    consumer = Consumer(
        client_config(
            bootstrap,
            **{"group.id": f"cdc-ops-read-{uuid.uuid4().hex}", "enable.auto.commit": False},
        )
    )
    try:
        ends: dict[int, int] = {}
        for p in parts:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        if not ends:
            return
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        deadline = time.monotonic() + timeout_s
        while ends:
            if time.monotonic() > deadline:
                raise TransientError(
                    f"kafka at {bootstrap}: reading {topic} timed out after {timeout_s:.0f}s"
                )
            for msg in fetch_available(consumer, 500, 1.0):
                if msg.error() is not None:
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        raise TransientError(f"kafka: reading {topic}: {msg.error()}")
                    continue
                partition, offset = msg.partition(), msg.offset()
                if partition in ends and offset < ends[partition]:
                    yield msg
                if partition in ends and offset + 1 >= ends[partition]:
                    del ends[partition]
    finally:
        consumer.close()
