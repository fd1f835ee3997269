"""The stage runtime with in-memory Kafka clients: checkpoint order, adaptive batches, stopping
errors, graceful stop, and rebalances while the sink cannot write."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from stage_fakes import FakeConsumer, FakeDeadLetters, FakeMessage, FakeOutputs

from cdc_ods.errors import ConfigError, Rejected, TransientError
from cdc_ods.kafka import DeliveryFailed
from cdc_ods.runtime import Checkpoint, StageLoop, Stop, retry_transient


class Sink:
    """Outputs one record per input and rejects values b"bad"; writes synchronously unless
    `busy_polls` (the write is over after that many looks) or `outage` (writes on a thread of
    its own, failing while the outage lasts, as the loader's writers do)."""

    def __init__(self, events: list[tuple], busy_polls: int = 0) -> None:
        self.events = events
        self.busy_polls = busy_polls
        self.outage = threading.Event()
        self.batches: list[int] = []
        self.on_add = lambda msg: None
        self.on_write = lambda checkpoint: None
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def add(self, messages: list, checkpoint: Checkpoint) -> None:
        for msg in messages:
            self.on_add(msg)
            if msg.value() == b"bad":
                checkpoint.reject(msg, Rejected("bad value"))
            elif checkpoint.outputs is not None:
                checkpoint.produce("out", msg.key(), msg.value())

    def write(self, checkpoint: Checkpoint) -> None:
        self.batches.append(checkpoint.size)
        self.on_write(checkpoint)
        self._busy = self.busy_polls
        if self.outage.is_set() or self._thread is not None:

            def attempt() -> None:
                if self.outage.is_set():
                    raise TransientError("Phoenix down")

            def run() -> None:
                try:
                    retry_transient(attempt, checkpoint.giving_up)
                except TransientError as exc:
                    self._failure = exc

            self._failure = None
            self._thread = threading.Thread(target=run)
            self._thread.start()

    def written(self, timeout_s: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout_s)
            return not self._thread.is_alive()
        self._busy -= 1
        return self._busy < 0

    def wait(self, checkpoint: Checkpoint) -> None:
        if self._failure is not None:
            raise self._failure

    def committed(self, checkpoint: Checkpoint) -> None:
        self.events.append(("committed", checkpoint.size))

    def assigned(self, partitions: list) -> None:
        return None

    def revoked(self, partitions: list) -> None:
        self.outage.clear()  # Phoenix is back once the rebalance is over

    def close(self, completed: bool) -> None:
        if self._thread is not None:
            self._thread.join(5)


def records(partition: int, *values: bytes) -> list[FakeMessage]:
    return [FakeMessage("t", partition, offset, value) for offset, value in enumerate(values)]


def stage(consumer: FakeConsumer, sink: Sink, outputs: bool = True, batch_size: int = 100, **kwargs):
    dead_letters = FakeDeadLetters(consumer.events)
    stop = Stop()
    loop = StageLoop(
        "test", consumer, sink, dead_letters, stop, batch_size,
        outputs=FakeOutputs(consumer.events) if outputs else None, **kwargs,
    )  # fmt: skip
    return loop, dead_letters, stop


def commits(events: list[tuple]) -> list[dict]:
    return [e[1] for e in events if e[0] == "commit"]


def test_a_checkpoint_flushes_outputs_and_dead_letters_before_it_commits() -> None:
    consumer = FakeConsumer({("t", 0): records(0, b"a", b"bad", b"c")})
    loop, dead_letters, _ = stage(consumer, Sink(consumer.events))
    loop.run(["t"], idle_exit_s=0.2)
    assert consumer.events == [
        ("output", "out", b"a"),
        ("dead letter", "bad value"),
        ("output", "out", b"c"),
        ("flush outputs",),
        ("flush dead letters",),
        ("commit", {("t", 0): 3}),
        ("committed", 3),
    ]
    assert [(r.stage, r.topic, r.partition, r.offset) for r in dead_letters.letters] == [("test", "t", 0, 1)]
    assert consumer.closed


def test_refused_dead_letters_commit_nothing_and_stop_the_stage() -> None:
    consumer = FakeConsumer({("t", 0): records(0, b"a", b"bad")})
    loop, dead_letters, _ = stage(consumer, Sink(consumer.events))
    dead_letters.refuse = True
    with pytest.raises(DeliveryFailed, match="refused"):
        loop.run(["t"], idle_exit_s=1)
    assert commits(consumer.events) == [] and ("purge dead letters",) in consumer.events


def test_dead_letters_kafka_has_not_acknowledged_yet_are_waited_for_before_the_commit() -> None:
    """Kafka away: the letters stay queued; the stage waits, it does not stop."""
    consumer = FakeConsumer({("t", 0): records(0, b"a", b"bad")})
    loop, dead_letters, _ = stage(consumer, Sink(consumer.events))
    dead_letters.pending_flushes = 1
    loop.run(["t"], idle_exit_s=0.2)
    flushes = [e for e in consumer.events if e[0].startswith("flush dead letters") or e[0] == "commit"]
    assert flushes == [
        ("flush dead letters: not acknowledged yet",),
        ("flush dead letters",),
        ("commit", {("t", 0): 2}),
    ]


def test_a_configuration_error_stops_the_stage_and_dead_letters_nothing() -> None:
    consumer = FakeConsumer({("t", 0): records(0, b"a", b"bad", b"config")})
    sink = Sink(consumer.events)

    def add(msg: FakeMessage) -> None:
        if msg.value() == b"config":
            raise ConfigError("sources: no source named 'shop'")

    sink.on_add = add
    loop, _, _ = stage(consumer, sink)
    with pytest.raises(ConfigError, match="no source named 'shop'"):
        loop.run(["t"], idle_exit_s=1)
    flushed = [e for e in consumer.events if e[0].startswith("flush")]
    assert commits(consumer.events) == [] and flushed == []
    # the letter of the bad record before it is purged with the outputs, never sent
    assert consumer.events[-2:] == [("purge outputs",), ("purge dead letters",)]


def test_a_batch_is_what_arrived_while_the_previous_write_was_under_way() -> None:
    consumer = FakeConsumer({("t", 0): records(0, b"a")})
    sink = Sink(consumer.events, busy_polls=3)
    arrivals = iter([[b"b", b"c", b"d"], [b"e", b"f", b"g", b"h", b"i"]])

    def write(checkpoint: Checkpoint) -> None:
        for value in next(arrivals, []):  # these arrive while the batch is being written
            consumer.append(FakeMessage("t", 0, len(consumer.log[("t", 0)]), value))

    sink.on_write = write
    loop, _, _ = stage(consumer, sink, outputs=False, batch_size=4)
    loop.run(["t"], idle_exit_s=0.2)
    # 1 record at once; the 3 that came meanwhile; then 4 of the 5 (batch_size) and the last one
    assert sink.batches == [1, 3, 4, 1]
    assert commits(consumer.events) == [{("t", 0): n} for n in (1, 4, 8, 9)]


def test_a_stop_writes_and_commits_what_was_consumed() -> None:
    consumer = FakeConsumer({("t", 0): records(0, b"a", b"b", b"c")})
    sink = Sink(consumer.events, busy_polls=1000)
    loop, _, stop = stage(consumer, sink, outputs=False)

    def add(msg: FakeMessage) -> None:
        if msg.offset() == 2:
            stop.set()
            sink.busy_polls = 0

    sink.on_add = add
    loop.run(["t"])
    assert commits(consumer.events)[-1] == {("t", 0): 3}


def test_a_rebalance_during_an_outage_drops_the_batch_within_the_bound_and_rereads_what_is_kept() -> None:
    consumer = FakeConsumer({("t", 0): records(0, b"a", b"b", b"c"), ("t", 1): records(1, b"x", b"y")})
    sink = Sink(consumer.events)
    sink.outage.set()  # Phoenix down: every write attempt fails

    def write(checkpoint: Checkpoint) -> None:
        if len(sink.batches) == 1:
            consumer.to_revoke = [("t", 1)]  # another member joins while the first batch is retried

    sink.on_write = write
    loop, _, _ = stage(consumer, sink, outputs=False, revoke_timeout_s=0.5)
    loop.run(["t"], idle_exit_s=1.5)
    assert 0.5 <= consumer.revoke_seconds[0] < 1.0  # the bound, not the outage
    revoke = consumer.events.index(("revoke", (("t", 1),)))
    assert consumer.events[revoke + 1 : revoke + 3] == [("seek", ("t", 0), 0), ("revoked", (("t", 1),))]
    assert commits(consumer.events) == [{("t", 0): 3}]  # read again and written once Phoenix was back


def test_a_rebalance_commits_what_was_consumed_before_the_partitions_go() -> None:
    consumer = FakeConsumer({("t", 0): records(0, b"a", b"b"), ("t", 1): records(1, b"x")})
    sink = Sink(consumer.events, busy_polls=1000)

    def write(checkpoint: Checkpoint) -> None:
        consumer.to_revoke = [("t", 1)]
        sink.busy_polls = 2  # under way when the rebalance comes, over soon after

    sink.on_write = write
    loop, _, _ = stage(consumer, sink, outputs=False)
    loop.run(["t"], idle_exit_s=0.2)
    revoke = consumer.events.index(("revoke", (("t", 1),)))
    assert ("commit", {("t", 0): 2, ("t", 1): 1}) in consumer.events[revoke:]
    assert not [e for e in consumer.events if e[0] == "seek"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_sets_stop_and_a_second_aborts(signum: int) -> None:
    notified: list[bool] = []
    before = signal.getsignal(signum)
    with Stop().on_signals(lambda: notified.append(True)) as stop:
        os.kill(os.getpid(), signum)
        assert stop.is_set() and notified == [True]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signum)
    assert signal.getsignal(signum) is before
