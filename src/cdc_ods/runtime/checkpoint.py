"""One batch's checkpoint: the offsets it covers and what it sent, committed in one order.

`commit`: every output and dead letter the stage produced is acknowledged (flushed), and
only then are the batch's input offsets committed. Records still waiting for Kafka stay
queued and the flush is retried (an outage is waited out); records Kafka refused or that
timed out stop the stage, and a failure before the commit leaves the offsets where they
were: the batch is processed again after a restart (at least once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from cdc_ods.dlq import DeadLetters
from cdc_ods.errors import Rejected, TransientError
from cdc_ods.kafka import AckedProducer
from cdc_ods.runtime.retry import retry_transient

log = logging.getLogger("cdc_ods.runtime")

Partition = tuple[str, int]


class Checkpoint:
    def __init__(
        self,
        stage: str,
        dead_letters: DeadLetters,
        outputs: AckedProducer | None,
        stopping: Callable[[], bool],
    ) -> None:
        self.stage = stage
        self.dead_letters = dead_letters
        self.outputs = outputs
        self._stopping = stopping
        self.size = 0  # records
        self.started = 0.0  # monotonic time of the first record
        self.offsets: dict[Partition, int] = {}  # the last offset taken of each partition
        self.first: dict[Partition, int] = {}  # the first one: where a dropped batch is read again
        self.deadline: float | None = None  # a rebalance waits for this batch until then
        self.abandoned = False  # dropped: its work is done by whoever reads its records again

    def giving_up(self) -> bool:
        """Whether the batch's retries should stop: the stage is stopping, the batch was dropped,
        or the rebalance waiting for it ran out of time."""
        return (
            self.abandoned
            or self._stopping()
            or (self.deadline is not None and time.monotonic() >= self.deadline)
        )

    def track(self, messages: list[Message]) -> None:
        """Take the offsets of `messages` (no error among them) into the batch."""
        if not self.size:
            self.started = time.monotonic()
        offsets, first = self.offsets, self.first
        for msg in messages:
            where = (msg.topic(), msg.partition())
            offset = msg.offset()
            offsets[where] = offset
            first.setdefault(where, offset)
        self.size += len(messages)

    def reject(self, msg: Message, rejected: Rejected) -> Rejected:
        """Dead-letter `msg` for the reason `rejected` gives; returns it located."""
        located = rejected.at(self.stage, msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
        self.dead_letters.send(located, msg.key(), msg.value())
        return located

    def produce(self, topic: str, key: bytes | None, value: bytes, headers: list | None = None) -> None:
        """One output record of the batch (acknowledged before the batch's offsets commit)."""
        assert self.outputs is not None, f"the {self.stage} stage has no output producer"
        self.outputs.produce(topic, value, key=key, headers=headers)

    def commit(self, consumer: Consumer) -> None:
        """Outputs and dead letters acknowledged (while Kafka is away, waited for until the
        batch is given up), then the offsets committed."""
        if self.outputs is not None:
            retry_transient(self.outputs.flush, self.giving_up, _log_retry)
        retry_transient(self.dead_letters.flush, self.giving_up, _log_retry)
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in self.offsets.items()]
        retry_transient(lambda: _commit(consumer, offsets), self.giving_up, _log_retry)


def _commit(consumer: Consumer, offsets: list[TopicPartition]) -> None:
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    except KafkaException as exc:
        error = exc.args[0]
        if error.retriable():
            raise TransientError(f"kafka: committing offsets: {error}") from None
        # e.g. the group moved on (this member was too slow): the records' new owner reads them again
        log.warning("offsets not committed (%s); the records will be delivered again", error)


def _log_retry(error: BaseException, sleep_s: float) -> None:
    log.warning("retrying in %.1fs: %s", sleep_s, error)
