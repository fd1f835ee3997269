"""Where a probe's milliseconds go: its change found in the raw and the cleansed topic.

Each probe's UPDATE is found again, by its token, in its table's raw topic (Debezium's
record) and cleansed topic (the cleansing stage's), whose record timestamps are the times
Connect and the cleansing stage produced them; the ODS row's CDC_LOADED_AT is when the
loader built its UPSERT. All are wall-clock times of this machine, so a probe's latency splits
into: commit -> raw topic (Debezium and Connect), raw -> cleansed (the cleansing stage),
cleansed -> handed to Phoenix (the loader, mostly waiting for the batch before), and handed to
Phoenix -> visible (the UPSERT, the commit and the probe's own polling).
"""

from __future__ import annotations

import uuid

import orjson
from confluent_kafka import Consumer, TopicPartition

from cdc_ods import contract
from cdc_ods.bench.probes import Prober
from cdc_ods.kafka import client_config

HOPS = (
    "commit -> raw topic",
    "raw -> cleansed",
    "cleansed -> handed to Phoenix",
    "handed to Phoenix -> visible",
)
_MARK = b"probe "  # every token starts so; records without it are not parsed


def _produced_at(bootstrap: str, topic: str, since_ms: float, tokens: set[str]) -> dict[str, float]:
    """token -> timestamp of the record of `topic` (from `since_ms` to its end) that carries it."""
    consumer = Consumer(client_config(bootstrap, **{"group.id": f"bench-{uuid.uuid4().hex}"}))
    found: dict[str, float] = {}
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        starts = consumer.offsets_for_times([TopicPartition(topic, p, int(since_ms)) for p in partitions], 10)
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
        }
        todo = {tp.partition for tp in starts if 0 <= tp.offset < ends[tp.partition]}
        consumer.assign([tp for tp in starts if tp.partition in todo])
        while todo:
            msg = consumer.poll(5.0)
            if msg is None:
                break  # nothing more arrives: what was found is the answer
            if msg.error():
                continue
            value = msg.value() or b""
            if _MARK in value:
                row = orjson.loads(value)
                token = (row.get("after") or {}).get("title") if "after" in row else row.get("title")
                if token in tokens:
                    found[token] = msg.timestamp()[1]
            if msg.offset() + 1 >= ends[msg.partition()]:
                todo.discard(msg.partition())
    finally:
        consumer.close()
    return found


def hop_times(bootstrap: str, prober: Prober, since_ms: float) -> dict[str, list[float]]:
    """The probes' time in each of `HOPS` (ms), for the probes found in both topics."""
    source, table = prober.source, prober.table
    tokens = {t.token for t in prober.timings}
    raw = _produced_at(bootstrap, contract.raw_topic(source.name, source.namespace, table), since_ms, tokens)
    cleansed = _produced_at(
        bootstrap, contract.cleansed_topic(source.name, source.database, table), since_ms, tokens
    )
    hops: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for t in prober.timings:
        if t.token in raw and t.token in cleansed:
            points = (t.sent_ms, raw[t.token], cleansed[t.token], t.loaded_ms, t.visible_ms)
            for hop, start, end in zip(HOPS, points, points[1:], strict=False):
                hops[hop].append(end - start)
    return hops
