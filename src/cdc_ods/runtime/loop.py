"""The consume loop every stage runs: batches, checkpoints, rebalances, stop (see the package)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from cdc_ods.dlq import DeadLetters
from cdc_ods.errors import TransientError
from cdc_ods.kafka import AckedProducer, client_config, fetch_available
from cdc_ods.runtime.checkpoint import Checkpoint, Partition

log = logging.getLogger("cdc_ods.runtime")

CONSUMER_SETTINGS: dict[str, object] = {
    "enable.auto.commit": False,  # offsets are committed by the checkpoints only
    "auto.offset.reset": "earliest",
    # a rebalance moves only the partitions that change owner; the others keep loading
    "partition.assignment.strategy": "cooperative-sticky",
    # a Phoenix outage is waited out inside one poll interval where possible
    "max.poll.interval.ms": 600_000,
    # notice topics created after the stage started
    "topic.metadata.refresh.interval.ms": 5000,
    # a killed stage's partitions go to its replacement after 10 s, not 45
    "session.timeout.ms": 10_000,
    "heartbeat.interval.ms": 2_000,
}
REVOKE_TIMEOUT_S = 30.0
IDLE_POLL_S = 0.1  # a poll's wait for the first record of a batch
BUSY_WAIT_S = 0.05  # while a write is under way: how long to wait for it between polls


def stage_consumer(bootstrap: str, group: str) -> Consumer:
    """The consumer of a stage's input topics, in consumer group `group`."""
    return Consumer(client_config(bootstrap, **{"group.id": group, **CONSUMER_SETTINGS}))


class Sink(Protocol):
    """What a stage does with its records; `StageLoop` calls it from one thread."""

    def add(self, messages: list[Message], checkpoint: Checkpoint) -> None:
        """Take newly arrived records (in offset order per partition) into the batch of
        `checkpoint`: decode or transform them now; a record that cannot be processed goes to
        `checkpoint.reject`. Retries give up when `checkpoint.giving_up()`."""

    def write(self, checkpoint: Checkpoint) -> None:
        """Start writing the batch of `checkpoint` (what was added since the last write); may
        return before it is done."""

    def written(self, timeout_s: float) -> bool:
        """Whether the last write is over (done, failed or given up), waiting up to `timeout_s`."""

    def wait(self, checkpoint: Checkpoint) -> None:
        """The last write is over: raise if it failed (a `TransientError` leaves the batch
        uncommitted), else finish what must precede the commit."""

    def committed(self, checkpoint: Checkpoint) -> None:
        """The batch's offsets are committed (counters, metrics)."""

    def assigned(self, partitions: list[TopicPartition]) -> None:
        """New partitions, each with the group's committed offset (negative: none)."""

    def revoked(self, partitions: list[TopicPartition]) -> None:
        """Partitions given away (their batches are committed or dropped by now)."""

    def close(self, completed: bool) -> None:
        """The loop is over: release connections and threads. `completed`: it stopped (or went
        idle) with everything it consumed committed, not on an error."""


class StageLoop:
    def __init__(
        self,
        stage: str,
        consumer: Consumer,
        sink: Sink,
        dead_letters: DeadLetters,
        stop: threading.Event,
        batch_size: int,
        outputs: AckedProducer | None = None,
        revoke_timeout_s: float = REVOKE_TIMEOUT_S,
    ) -> None:
        self.stage = stage
        self.consumer = consumer
        self.sink = sink
        self.dead_letters = dead_letters
        self.outputs = outputs
        self.stop = stop
        self.batch_size = batch_size
        self.revoke_timeout_s = revoke_timeout_s
        self._pending = self._checkpoint()  # gathering
        self._in_flight: Checkpoint | None = None  # being written (or dropped, until its write is over)
        self._paused: set[Partition] = set()
        self._closing = False
        self._errors_seen: set[str] = set()
        self._last_activity = time.monotonic()

    def _checkpoint(self) -> Checkpoint:
        return Checkpoint(self.stage, self.dead_letters, self.outputs, self.stop.is_set)

    # --- the loop ------------------------------------------------------------------------

    def run(self, topics: list[str], idle_exit_s: float | None = None) -> None:
        """Consume until `stop` is set (or nothing arrived for `idle_exit_s`), then write and
        commit what was consumed. Raises what stops the stage (see the package docstring)."""
        self.consumer.subscribe(
            topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        self._last_activity = time.monotonic()
        completed = False
        try:
            while not self.stop.is_set():
                self._step()
                if idle_exit_s is not None and time.monotonic() - self._last_activity > idle_exit_s:
                    break
            self._drain()
            completed = True
        except TransientError as exc:
            self._abort()
            if not self.stop.is_set():
                raise
            log.warning("stopped before the pending batch was written (%s); it will be replayed", exc)
        except BaseException:
            self._abort()
            raise
        finally:
            self._closing = True
            try:
                self.sink.close(completed)
            finally:
                self.consumer.close()

    def _step(self) -> None:
        # While a write is under way, wait for it first, then take what arrived meanwhile in
        # one go. Taking each record as it trickled in (a loop turn per record) kept this
        # thread busy, competing for the interpreter lock with the loader's writer threads:
        # at 1,000 changes/s, waiting first cut the probes' p50 by about 60 ms.
        if self._in_flight is not None and self.sink.written(BUSY_WAIT_S):
            self._finish()
        room = self.batch_size - self._pending.size
        if room <= 0:  # full while the previous write is under way: keep polling, take nothing
            self._pause()
            messages = fetch_available(self.consumer, 1, 0.0)
        else:
            idle = self._in_flight is None and not self._pending.size
            messages = fetch_available(self.consumer, room, IDLE_POLL_S if idle else 0.0)
        if messages:
            self._add(messages)
        if self._in_flight is None:
            self._resume()
            if self._pending.size:
                self._write()

    def _add(self, messages: list[Message]) -> None:
        records = messages
        if any(msg.error() is not None for msg in messages):
            records = [msg for msg in messages if msg.error() is None]
            for msg in messages:
                if msg.error() is not None:
                    self._consume_error(msg.error())
        if not records:
            return
        self._last_activity = time.monotonic()
        if self._paused:  # a partition assigned meanwhile: it waits too
            self._pause(records)
        self._pending.track(records)
        self.sink.add(records, self._pending)

    def _consume_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise TransientError(f"kafka consumer: {error}")
        if error.code() != KafkaError._PARTITION_EOF and str(error) not in self._errors_seen:
            self._errors_seen.add(str(error))  # e.g. a subscribed topic not created yet: said once
            log.warning("kafka consumer: %s", error)

    def _write(self) -> None:
        checkpoint, self._pending = self._pending, self._checkpoint()
        self._in_flight = checkpoint
        self.sink.write(checkpoint)
        if self.sink.written(0.0):  # a synchronous write (the cleansing runner's)
            self._finish()

    def _finish(self) -> None:
        """The in-flight write is over: commit its checkpoint (or forget a dropped one)."""
        checkpoint = self._in_flight
        assert checkpoint is not None
        try:
            self.sink.wait(checkpoint)
        except TransientError:
            if not checkpoint.abandoned:
                raise
        self._in_flight = None
        if checkpoint.abandoned:
            return
        checkpoint.commit(self.consumer)
        self.sink.committed(checkpoint)

    def _drain(self, deadline: float | None = None) -> None:
        """Write what is pending and commit everything (stopping, or partitions revoked);
        with `deadline`, a TransientError when that is not done by then."""
        for checkpoint in (self._in_flight, self._pending):
            if checkpoint is not None:
                checkpoint.deadline = deadline
        self._settle(deadline)
        if self._pending.size:
            self._write()
            self._settle(deadline)

    def _settle(self, deadline: float | None) -> None:
        """The batch being written, if any, written (or given up by `deadline`) and finished."""
        if self._in_flight is not None:
            self._wait_written(deadline)
            self._finish()

    def _wait_written(self, deadline: float | None) -> None:
        while not self.sink.written(1.0 if deadline is None else max(0.0, deadline - time.monotonic())):
            if deadline is not None and time.monotonic() >= deadline:
                raise TransientError(f"the batch was not written within {self.revoke_timeout_s:.0f}s")

    def _abort(self) -> None:
        """A stopping error: nothing unacknowledged of the unfinished batches goes out."""
        for checkpoint in (self._in_flight, self._pending):
            if checkpoint is not None:
                checkpoint.abandoned = True
        if self.outputs is not None:
            self.outputs.purge()
        self.dead_letters.purge()

    # --- rebalances ----------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._last_activity = time.monotonic()  # idleness counts from having partitions
        if not partitions:
            return
        try:
            committed = consumer.committed(partitions, timeout=30)
        except KafkaException as exc:  # unknown: the sink takes the first record's offset
            log.warning("cannot read the committed offsets of new partitions: %s", exc)
            committed = [TopicPartition(tp.topic, tp.partition, -1) for tp in partitions]
        self.sink.assigned(committed)

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Before partitions go: commit what was consumed, within `revoke_timeout_s`; else drop it."""
        if partitions and not self._closing and (self._in_flight is not None or self._pending.size):
            log.info("partitions revoked: committing %d pending records first", self._pending.size)
            try:
                self._drain(time.monotonic() + self.revoke_timeout_s)
            except TransientError as exc:
                log.warning(
                    "partitions revoked while the pending batches could not be written (%s): dropped;"
                    " their records are read again, by this stage or the partitions' new owner",
                    exc,
                )
                self._drop(partitions)
        self.sink.revoked(partitions)

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions taken away without a chance to commit (this member was presumed dead)."""
        if partitions:
            self._drop(partitions)
        self.sink.revoked(partitions)

    def _drop(self, gone: list[TopicPartition]) -> None:
        """Forget the batches not committed: the partitions kept are read again from their first
        uncommitted record; a write still under way is given up and waited for before the next."""
        dropped = [c for c in (self._in_flight, self._pending) if c is not None]
        for checkpoint in dropped:
            checkpoint.abandoned = True
        self._pending = self._checkpoint()
        lost = {(tp.topic, tp.partition) for tp in gone}
        rewind: dict[Partition, int] = {}
        for checkpoint in dropped:
            for where, offset in checkpoint.first.items():
                if where not in lost:
                    rewind[where] = min(offset, rewind.get(where, offset))
        for (topic, partition), offset in rewind.items():
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:
                where = f"{topic}[{partition}]"
                raise TransientError(f"kafka: cannot read {where} again from {offset}: {exc}") from None
        self._paused -= lost
        self._resume()

    # --- pausing -------------------------------------------------------------------------

    def _pause(self, records: list[Message] | None = None) -> None:
        """Stop fetching while the batch is full (polls go on: rebalances and stop are served)."""
        if records is None:
            partitions = [TopicPartition(tp.topic, tp.partition) for tp in self.consumer.assignment()]
        else:
            partitions = [TopicPartition(t, p) for t, p in {(m.topic(), m.partition()) for m in records}]
        new = [tp for tp in partitions if (tp.topic, tp.partition) not in self._paused]
        if new:
            self.consumer.pause(new)
            self._paused.update((tp.topic, tp.partition) for tp in new)

    def _resume(self) -> None:
        if self._paused:
            assigned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
            self.consumer.resume([TopicPartition(t, p) for t, p in self._paused & assigned])
            self._paused.clear()

    def lag(self) -> dict[Partition, int]:
        """Records of each assigned partition not consumed yet (from cached watermarks)."""
        lag: dict[Partition, int] = {}
        assigned = self.consumer.assignment()
        for tp, position in zip(assigned, self.consumer.position(assigned), strict=True):
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if position.offset >= 0 and high >= 0:
                lag[(tp.topic, tp.partition)] = max(0, high - position.offset)
        return lag
