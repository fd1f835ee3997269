"""Freshness that stays true when a source is idle.

Per ODS table, each stage's input topic is compared with the stage's committed offsets:
the backlog (records not processed yet) and the age of the oldest of them (its Kafka
timestamp: when it entered that stage's input). An idle table has no backlog: freshness 0,
"caught up", however long ago its last change was. A stuck or stopped stage leaves records
waiting: freshness grows with the wall clock. This is measured from Kafka, outside the
stages, so it keeps growing while the stuck stage exports nothing.

Per source, the age of the connector's last heartbeat record (Debezium writes one every
`heartbeat.interval.ms` to `__debezium-heartbeat.<prefix>`, also while the source is idle)
tells a connected idle connector (small age) from a stuck one (growing age). Debezium's own
`MilliSecondsSinceLastEvent` (JMX) grows on an idle source too, so alone it cannot tell.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition

from cdc_ods import contract
from cdc_ods.config import Config
from cdc_ods.kafka import client_config
from cdc_ods.operations import metrics
from cdc_ods.topology import flowing_tables


@dataclass(frozen=True)
class StageInput:
    stage: str  # cleansing | loader
    table: str  # ODS table name, the `table` label the loader's metrics use too
    topic: str
    group: str


@dataclass(frozen=True)
class Backlog:
    records: int
    age_s: float  # of the oldest waiting record; 0 without backlog


def stage_inputs(config: Config) -> list[StageInput]:
    inputs = []
    for flowing in flowing_tables(config):
        inputs.append(
            StageInput("cleansing", flowing.ods_table, flowing.raw_topic, config.cleansing.group_id)
        )
        inputs.append(StageInput("loader", flowing.ods_table, flowing.cleansed_topic, config.ods.group_id))
    return inputs


def freshness(backlogs: list[Backlog]) -> float:
    """A table's freshness: the oldest waiting change over all stages; 0 when caught up."""
    return max((b.age_s for b in backlogs if b.records > 0), default=0.0)


class FreshnessProbe:
    """Measures backlogs and heartbeat ages from Kafka; never joins the stages' groups."""

    def __init__(self, config: Config, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.inputs = stage_inputs(config)
        self.sources = [s.name for s in config.sources if s.enabled]
        self.heartbeat_ages: dict[str, float] = {}  # source -> seconds, from the last measure()
        self._offsets: dict[str, Consumer] = {}  # group -> a consumer only asked for offsets
        self._reader = Consumer(
            client_config(
                bootstrap, **{"group.id": f"cdc-watch-{uuid.uuid4().hex}", "enable.auto.commit": False}
            )
        )

    def _group_consumer(self, group: str) -> Consumer:
        if group not in self._offsets:
            settings = {"group.id": group, "enable.auto.commit": False}
            self._offsets[group] = Consumer(client_config(self.bootstrap, **settings))
        return self._offsets[group]

    def _partitions(self, topic: str) -> list[int]:
        found = self._reader.list_topics(topic, timeout=10).topics.get(topic)
        return [] if found is None or found.error is not None else sorted(found.partitions)

    def _timestamp_at(self, topic: str, partition: int, offset: int) -> float | None:
        """Kafka timestamp (epoch s) of the record at `offset`, None if it cannot be read."""
        self._reader.assign([TopicPartition(topic, partition, offset)])
        msg = self._reader.poll(5.0)
        if msg is None or msg.error() is not None:
            return None
        _kind, ts_ms = msg.timestamp()
        return ts_ms / 1000 if ts_ms > 0 else None

    def backlog(self, stage_input: StageInput, now: float) -> Backlog | None:
        """None when the topic does not exist yet."""
        parts = self._partitions(stage_input.topic)
        if not parts:
            return None
        tps = [TopicPartition(stage_input.topic, p) for p in parts]
        committed = self._group_consumer(stage_input.group).committed(tps, timeout=10)
        records, oldest = 0, None
        for tp in committed:
            low, high = self._reader.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)
            position = tp.offset if tp.offset >= 0 else low
            waiting = max(0, high - max(position, low))
            if waiting:
                records += waiting
                ts = self._timestamp_at(tp.topic, tp.partition, max(position, low))
                if ts is not None:
                    oldest = ts if oldest is None else min(oldest, ts)
        return Backlog(records, max(0.0, now - oldest) if oldest is not None else 0.0)

    def heartbeat_age(self, source: str, now: float) -> float | None:
        """Seconds since the source's last heartbeat record; None without heartbeats yet."""
        topic = contract.heartbeat_topic(source)
        newest = None
        for partition in self._partitions(topic):
            low, high = self._reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > low:
                ts = self._timestamp_at(topic, partition, high - 1)
                if ts is not None:
                    newest = ts if newest is None else max(newest, ts)
        return None if newest is None else max(0.0, now - newest)

    def measure(self) -> dict[str, float]:
        """Update the gauges; returns freshness per ODS table."""
        now = time.time()
        per_table: dict[str, list[Backlog]] = {}
        for stage_input in self.inputs:
            try:
                backlog = self.backlog(stage_input, now)
            except KafkaException:
                continue  # Kafka restarting: keep the last values, try again next time
            if backlog is None:
                continue
            labels = (stage_input.stage, stage_input.table)
            metrics.BACKLOG_RECORDS.labels(*labels).set(backlog.records)
            metrics.BACKLOG_AGE_SECONDS.labels(*labels).set(backlog.age_s)
            per_table.setdefault(stage_input.table, []).append(backlog)
        result = {table: freshness(backlogs) for table, backlogs in per_table.items()}
        for table, seconds in result.items():
            metrics.FRESHNESS_SECONDS.labels(table).set(seconds)
        for source in self.sources:
            try:
                age = self.heartbeat_age(source, now)
            except KafkaException:
                continue
            if age is not None:
                metrics.HEARTBEAT_AGE_SECONDS.labels(source).set(age)
                self.heartbeat_ages[source] = age
        return result

    def close(self) -> None:
        for consumer in [self._reader, *self._offsets.values()]:
            consumer.close()
