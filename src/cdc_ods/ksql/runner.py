"""The embedded backend: the cleansing stage that runs the scripts' queries over the raw topics.

It is a `Sink` of the stage runtime (`cdc_ods.runtime`), which consumes, batches and commits.
Delivery: at-least-once with ordered replays. Per batch the runner produces every output
and dead letter, the runtime waits until all are acknowledged (flush), and only then commits
the input offsets (synchronously). A crash loses no record; it replays the uncommitted tail of each
partition in offset order. Cleansed records are deterministic (no wall-clock values; the
keyed hash is stable), so a replay rewrites identical records after the originals and the
final state per key is unchanged. Per-key order: one input partition is processed in order
by one consumer, outputs keep their key, and the producer is idempotent (no reordering on
retry) and partitions with murmur2 like Kafka's Java clients and ksqlDB.

Schema drift (a source column the script does not declare) is resolved before the record
that shows it is processed (cdc_ods.ksql.drift): the rest of the batch runs the new plan.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as TallyCounter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Message, TopicPartition

from cdc_ods import contract
from cdc_ods.dlq import DLQ_TOPIC, DeadLetters, ensure_dlq_topic
from cdc_ods.errors import Rejected
from cdc_ods.kafka import AckedProducer, ensure_topic, topic_partitions
from cdc_ods.ksql import metrics
from cdc_ods.ksql.drift import SchemaDrift
from cdc_ods.ksql.engine import Engine
from cdc_ods.runtime import Checkpoint, StageLoop, stage_consumer

STAGE = "cleansing"
DEFAULT_GROUP = "cdc-ksql-embedded"
OUTPUT_SETTINGS = {
    "enable.idempotence": True,
    "message.timeout.ms": 0,  # no local timeout: an outage is waited out, not a failed delivery
    "linger.ms": 10,
    "partitioner": "murmur2_random",
    "message.max.bytes": contract.MAX_RECORD_BYTES,
}


@dataclass
class Counters:
    consumed: int = 0
    produced: int = 0
    rejected: int = 0
    skipped: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)

    def rate(self) -> float:
        return self.consumed / max(time.monotonic() - self.started, 1e-9)


@dataclass
class _Tallies:
    """Per topic, what one batch consumed, produced and dead-lettered (metrics once committed)."""

    consumed: TallyCounter[str] = field(default_factory=TallyCounter)
    produced: TallyCounter[str] = field(default_factory=TallyCounter)
    rejected: TallyCounter[str] = field(default_factory=TallyCounter)


class Runner:
    def __init__(
        self,
        engine: Engine,
        bootstrap: str,
        group: str = DEFAULT_GROUP,
        batch_size: int = 2000,
        report: Callable[[Counters], None] | None = None,
        report_every_s: float = 10.0,
        drift: SchemaDrift | None = None,
        planned: Callable[[str], int] = lambda _topic: 1,
    ) -> None:
        """`planned`: the partitions an input topic that does not exist yet will be created
        with (`cdc_ods.topology.raw_topic_partitions`)."""
        self.engine = engine
        self.planned = planned
        self.drift = drift
        self.bootstrap = bootstrap
        self.group = group
        self.batch_size = batch_size
        self.report = report
        self.report_every_s = report_every_s
        self.counters = Counters()
        self._tallies = _Tallies()  # of the batch being gathered
        self._written = _Tallies()  # of the batch being committed
        self._last_report = time.monotonic()

    def prepare_topics(self) -> None:
        """Create each output topic with as many partitions as the widest of its own inputs
        (an input that does not exist yet, because the stage started before the connector
        made it, counts as `planned` says it will be); the dead-letter topic with the widest
        of all."""
        existing = topic_partitions(self.bootstrap)
        plan = self.engine.plan

        def widest(inputs: set[str] | list[str]) -> int:
            counts = [len(existing[t]) if t in existing else self.planned(t) for t in inputs]
            return max(counts, default=1)

        sinks = {q.target.topic for q in plan.queries if not q.target.in_process}
        for topic in sorted(sinks - {DLQ_TOPIC}):
            ensure_topic(
                self.bootstrap,
                topic,
                partitions=widest(plan.input_topics(topic)),
                config=contract.CLEANSED_TOPIC_CONFIG,
                existing=existing,
            )
        ensure_dlq_topic(self.bootstrap, partitions=widest(self.engine.topics), existing=existing)

    # --- the Sink ------------------------------------------------------------------------

    def add(self, messages: list[Message], checkpoint: Checkpoint) -> None:
        """Each record through the engine; its outputs are produced at once."""
        tallies, counters = self._tallies, self.counters
        for msg in messages:
            topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
            args = (topic, msg.key(), msg.value(), partition, offset, msg.timestamp()[1])
            result = self.engine.process(*args)
            if result.drift and self.drift is not None:
                engine = self.drift.resolve(result.drift)
                if engine is not None:  # this record and the rest of the batch run the new plan
                    self.engine = engine
                    result = engine.process(*args)
            headers = msg.headers()  # e.g. a dead letter's replay mark, for the loader
            for out in result.outputs:
                checkpoint.produce(out.topic, out.key, out.value, headers)
                tallies.produced[out.topic] += 1
            for reason in result.rejects:
                checkpoint.reject(msg, Rejected(reason))
            tallies.consumed[topic] += 1
            tallies.rejected[topic] += len(result.rejects)
            counters.consumed += 1
            counters.produced += len(result.outputs)
            counters.rejected += len(result.rejects)
            counters.skipped += int(result.skipped)

    def write(self, checkpoint: Checkpoint) -> None:
        """The outputs went out as the records were added; the runtime flushes them."""
        self._written, self._tallies = self._tallies, _Tallies()

    def written(self, timeout_s: float) -> bool:
        return True

    def wait(self, checkpoint: Checkpoint) -> None:
        return None

    def committed(self, checkpoint: Checkpoint) -> None:
        self.counters.batches += 1
        metrics.BATCH_SECONDS.observe(time.monotonic() - checkpoint.started)
        for tally, metric in (
            (self._written.consumed, metrics.CONSUMED),
            (self._written.produced, metrics.PRODUCED),
            (self._written.rejected, metrics.DEAD_LETTERS),
        ):
            for topic, count in tally.items():
                metric.labels(topic).inc(count)
        now = time.monotonic()
        if self.report and now - self._last_report >= self.report_every_s:
            self.report(self.counters)
            self._last_report = now

    def assigned(self, partitions: list[TopicPartition]) -> None:
        return None

    def revoked(self, partitions: list[TopicPartition]) -> None:
        return None

    def close(self, completed: bool) -> None:
        return None

    # --- running -------------------------------------------------------------------------

    def run(self, stop: threading.Event, idle_exit_s: float | None = None) -> Counters:
        """Consume until `stop` is set (SIGTERM/Ctrl-C) or, with `idle_exit_s`, after that
        long without records. The batch in hand is finished and committed before returning."""
        self.prepare_topics()
        loop = StageLoop(
            STAGE,
            stage_consumer(self.bootstrap, self.group),
            self,
            DeadLetters(self.bootstrap),
            stop,
            self.batch_size,
            outputs=AckedProducer(self.bootstrap, "cleansed output", **OUTPUT_SETTINGS),
        )
        loop.run(self.engine.topics, idle_exit_s=idle_exit_s)
        return self.counters
