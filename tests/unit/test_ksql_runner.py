"""The cleansing runner as a stage of the runtime (fake Kafka): each record's outputs and dead
letters are acknowledged before its offset is committed, and the metrics count the batch."""

from __future__ import annotations

import orjson
from stage_fakes import FakeConsumer, FakeDeadLetters, FakeMessage, FakeOutputs

from cdc_ods.ksql import metrics
from cdc_ods.ksql.engine import Engine
from cdc_ods.ksql.generate import DLQ_HEADER
from cdc_ods.ksql.plan import plan_text
from cdc_ods.ksql.runner import STAGE, Runner
from cdc_ods.runtime import StageLoop, Stop

SCRIPT = """
CREATE STREAM raw (`k` STRUCT<`id` BIGINT> KEY, `after` STRUCT<`id` BIGINT, `n` INT>)
  WITH (KAFKA_TOPIC='runner.raw', KEY_FORMAT='JSON', VALUE_FORMAT='JSON');
CREATE STREAM good WITH (KAFKA_TOPIC='runner.good', KEY_FORMAT='JSON', VALUE_FORMAT='JSON') AS
    SELECT `k`, `after`->`n` AS `n` FROM raw EMIT CHANGES;
"""


def raw(offset: int, value: bytes | None) -> FakeMessage:
    return FakeMessage("runner.raw", 0, offset, value, b'{"id": 1}')


def test_the_runner_produces_outputs_and_dead_letters_then_commits() -> None:
    engine = Engine(plan_text(DLQ_HEADER, SCRIPT))
    runner = Runner(engine, "unused:9092")
    consumer = FakeConsumer({("runner.raw", 0): [
        raw(0, orjson.dumps({"after": {"id": 1, "n": 3}})),
        raw(1, b"{not json"),
        raw(2, None),  # a tombstone: skipped, as ksqlDB does
    ]})  # fmt: skip
    dead_letters = FakeDeadLetters(consumer.events)
    before = metrics.PRODUCED.labels("runner.good")._value.get()
    loop = StageLoop(STAGE, consumer, runner, dead_letters, Stop(), 100, outputs=FakeOutputs(consumer.events))
    loop.run(engine.topics, idle_exit_s=0.2)
    assert [e[0] for e in consumer.events] == [
        "output", "dead letter", "flush outputs", "flush dead letters", "commit"
    ]  # fmt: skip
    assert consumer.events[0][1:] == ("runner.good", b'{"n":3}')
    assert consumer.events[-1] == ("commit", {("runner.raw", 0): 3})
    assert [(r.stage, r.offset, r.reason.split(":")[0]) for r in dead_letters.letters] == [
        ("cleansing", 1, "value is not JSON")
    ]
    counters = runner.counters
    assert (counters.consumed, counters.produced, counters.rejected, counters.skipped) == (3, 1, 1, 1)
    assert counters.batches == 1
    assert metrics.PRODUCED.labels("runner.good")._value.get() == before + 1
