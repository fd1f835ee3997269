"""Wait until the pipeline has caught up with the sources' current log positions.

Reconciling while writes are in flight compares a moving source with an ODS a few seconds
behind. So, stage by stage in pipeline order:
1. take each source's current log position (binlog file/position, WAL LSN) and wait until
   its Debezium connector's committed offset (Connect's REST API) has reached it. The MySQL
   family's connectors commit the start of the event group they are in, and a DDL group
   (no COMMIT event) keeps it there until the next change: a binlog whose rest from the
   committed position touches no captured table counts as reached;
2. then, for each consumer stage (cleansing, loader), take the end offsets of its input
   topics and wait until the stage's consumer group has committed them. The cleansing
   stage's inputs are the raw topics its scripts read: a table with no script (refused by
   its column types) has a raw topic nobody reads.
Changes committed at the source before step 1 are then in the ODS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from confluent_kafka import Consumer, KafkaException, TopicPartition

from cdc_ods.config import Config
from cdc_ods.connectors.offsets import connector_position
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError
from cdc_ods.kafka import client_config
from cdc_ods.ksql.plan import build_plan, script_files
from cdc_ods.sources import source_for
from cdc_ods.topology import Stage, stages

Report = Callable[[str], None]


def stage_progress(
    bootstrap: str, stage: Stage
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """(end offsets, committed offsets) of the stage's input partitions."""
    consumer = Consumer(client_config(bootstrap, **{"group.id": stage.group, "enable.auto.commit": False}))
    try:
        metadata = consumer.list_topics(timeout=10)
        partitions = [
            TopicPartition(topic, p)
            for topic in stage.topics
            if topic in metadata.topics
            for p in metadata.topics[topic].partitions
        ]
        ends, committed = {}, {}
        for tp in consumer.committed(partitions, timeout=10) if partitions else []:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            key = TopicPartition(tp.topic, tp.partition)
            ends[key], committed[key] = high, tp.offset if tp.offset >= 0 else low
        return ends, committed
    except KafkaException as exc:
        raise CdcError(f"reading the progress of {stage.name} (group {stage.group}): {exc}") from None
    finally:
        consumer.close()


def stage_backlog(bootstrap: str, stage: Stage) -> int:
    """Records in the stage's input topics it has not committed yet."""
    ends, committed = stage_progress(bootstrap, stage)
    return sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())


def wait_caught_up(
    config: Config, stages: list[Stage], timeout_s: float = 300, report: Report = lambda _m: None
) -> None:
    deadline = time.monotonic() + timeout_s
    wait_connectors_reached(config, timeout_s, report)
    wait_stages_consumed(config, stages, deadline - time.monotonic(), report)


def wait_connectors_reached(
    config: Config,
    timeout_s: float = 300,
    report: Report = lambda _m: None,
    meanwhile: Callable[[], None] = lambda: None,
) -> None:
    """Step 1 alone: each source connector has reached its source's current position.
    `meanwhile` runs between two looks (a caller sampling something as the connectors read)."""
    deadline = time.monotonic() + timeout_s
    sources = [s for s in config.sources if s.enabled and s.has_catalog]
    with ConnectClient.of(config) as connect:
        for source in sources:
            src = source_for(config, source)
            target = src.position()
            report(f"waiting for connector {source.name} to reach {target}")
            while (reached := connector_position(connect, source)) is None or (
                reached < target and not src.only_uncaptured_between(reached, target)
            ):
                if time.monotonic() > deadline:
                    raise CdcError(
                        f"connector {source.name} has not reached the source position {target} ({reached})"
                    )
                meanwhile()
                time.sleep(1)


def _read_by(config: Config, stage: Stage) -> Stage:
    """The stage with the input topics it reads: for the cleansing stage, those its scripts declare."""
    if stage.name != "cleansing" or not config.scripts_dir.is_dir():
        return stage
    declared = {s.topic for s in build_plan(script_files(config.scripts_dir)).sources}
    return replace(stage, topics=[t for t in stage.topics if t in declared])


def stages_read(config: Config) -> list[Stage]:
    """The consumer stages in pipeline order, each with the input topics it reads."""
    return [_read_by(config, s) for s in stages(config)]


def wait_stages_consumed(
    config: Config, stages: list[Stage], timeout_s: float = 300, report: Report = lambda _m: None
) -> None:
    """Wait until each stage, in order, has committed everything now in its input topics."""
    endpoints = Endpoints.from_config(config)
    deadline = time.monotonic() + timeout_s
    for stage in (_read_by(config, s) for s in stages):
        report(f"waiting for {stage.name} to consume its input")
        targets, _ = stage_progress(endpoints.kafka_bootstrap, stage)  # what it must reach, from now
        while True:
            _, committed = stage_progress(endpoints.kafka_bootstrap, stage)
            behind = sum(max(0, end - committed.get(tp, 0)) for tp, end in targets.items())
            if behind == 0:
                break
            if time.monotonic() > deadline:
                raise CdcError(f"{stage.name} (group {stage.group}) is still {behind} records behind")
            time.sleep(1)
