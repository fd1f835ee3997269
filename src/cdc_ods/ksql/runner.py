"""The embedded backend: a Kafka consumer/producer that runs the scripts' queries.

Delivery: at-least-once with ordered replays. Per batch the runner produces every output
and dead letter, waits until all are acknowledged (flush), and only then commits the input
offsets (synchronously). A crash loses no record; it replays the uncommitted tail of each
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

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from cdc_ods.dlq import DLQ_TOPIC, DeadLetters, ensure_dlq_topic
from cdc_ods.errors import CdcError, Rejected, TransientError
from cdc_ods.kafka import client_config, ensure_topic, fetch_available
from cdc_ods.ksql import metrics
from cdc_ods.ksql.drift import SchemaDrift
from cdc_ods.ksql.engine import Engine

STAGE = "cleansing"
DEFAULT_GROUP = "cdc-ksql-embedded"


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
    ) -> None:
        self.engine = engine
        self.drift = drift
        self.bootstrap = bootstrap
        self.batch_size = batch_size
        self.report = report
        self.report_every_s = report_every_s
        self.counters = Counters()
        self._errors: list[str] = []
        self._consumer = Consumer(
            client_config(
                bootstrap,
                **{
                    "group.id": group,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "topic.metadata.refresh.interval.ms": 5000,
                    # a killed runner's partitions go to its replacement after 10 s, not 45
                    "session.timeout.ms": 10_000,
                    "heartbeat.interval.ms": 2_000,
                },
            )
        )
        self._producer = Producer(
            client_config(
                bootstrap,
                **{"enable.idempotence": True, "linger.ms": 10, "partitioner": "murmur2_random"},
            )
        )
        self._dlq = DeadLetters(bootstrap)

    def prepare_topics(self) -> None:
        """Create the output topics with as many partitions as their widest input."""
        admin = AdminClient(client_config(self.bootstrap, **{"socket.timeout.ms": 5000}))
        try:
            existing = admin.list_topics(timeout=10).topics
        except KafkaException as exc:
            raise TransientError(f"kafka at {self.bootstrap}: {exc.args[0]}") from None
        widest = max((len(existing[t].partitions) for t in self.engine.topics if t in existing), default=1)
        sinks = {q.target.topic for q in self.engine.plan.queries if not q.target.in_process}
        for topic in sorted(sinks - {DLQ_TOPIC}):
            ensure_topic(self.bootstrap, topic, partitions=widest)
        ensure_dlq_topic(self.bootstrap, partitions=widest)

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._errors.append(str(err))

    def _produce(self, topic: str, key: bytes | None, value: bytes, headers: list | None = None) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key=key, headers=headers, on_delivery=self._delivered)
                return
            except BufferError:  # local queue full: let deliveries drain
                self._producer.poll(0.1)

    def process(self, messages: list[Message]) -> None:
        """One batch: outputs produced and acknowledged, then input offsets committed."""
        offsets: dict[tuple[str, int], int] = {}
        started = time.monotonic()
        consumed: TallyCounter[str] = TallyCounter()
        produced: TallyCounter[str] = TallyCounter()
        rejected: TallyCounter[str] = TallyCounter()
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.fatal():
                    raise TransientError(f"kafka consumer: {error}")
                continue  # e.g. a subscribed topic that does not exist yet
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
                self._produce(out.topic, out.key, out.value, headers)
                produced[out.topic] += 1
            for reason in result.rejects:
                self._dlq.send(Rejected(reason, STAGE, topic, partition, offset), msg.key(), msg.value())
            consumed[topic] += 1
            rejected[topic] += len(result.rejects)
            self.counters.consumed += 1
            self.counters.produced += len(result.outputs)
            self.counters.rejected += len(result.rejects)
            self.counters.skipped += int(result.skipped)
            offsets[(topic, partition)] = offset + 1
            self._producer.poll(0)
        if not offsets:
            return
        remaining = self._producer.flush(60)
        self._dlq.flush()
        if remaining or self._errors:
            errors, self._errors = self._errors[:3], []
            raise TransientError(f"cleansed output not acknowledged ({remaining} pending): {errors}")
        self._consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False
        )
        self.counters.batches += 1
        metrics.BATCH_SECONDS.observe(time.monotonic() - started)
        for tally, metric in (
            (consumed, metrics.CONSUMED),
            (produced, metrics.PRODUCED),
            (rejected, metrics.DEAD_LETTERS),
        ):
            for topic, count in tally.items():
                metric.labels(topic).inc(count)

    def run(self, stop: threading.Event, idle_exit_s: float | None = None) -> Counters:
        """Consume until `stop` is set (SIGTERM/Ctrl-C) or, with `idle_exit_s`, after that
        long without records. The batch in hand is finished and committed before returning."""
        self.prepare_topics()
        self._consumer.subscribe(self.engine.topics)
        last_record = last_report = time.monotonic()
        try:
            while not stop.is_set():
                messages = fetch_available(self._consumer, self.batch_size, 0.1)
                self.process(messages)
                now = time.monotonic()
                if any(m.error() is None for m in messages):
                    last_record = now
                elif idle_exit_s is not None and now - last_record > idle_exit_s:
                    break
                if self.report and now - last_report >= self.report_every_s:
                    self.report(self.counters)
                    last_report = now
        except TransientError:
            raise
        except CdcError:  # terminal (e.g. a ConfigError): nothing of the pending batch goes out
            self._dlq.purge()
            self._producer.purge(in_queue=True, in_flight=False)
            raise
        finally:
            self._consumer.close()
            self._producer.flush(30)
        return self.counters
