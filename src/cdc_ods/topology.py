"""The pipeline's topology, derived from cdc.yaml in one place: which tables flow, which
topics feed which stage, which ODS tables exist.

Every replicated table of an enabled source flows source -> raw topic -> cleansing ->
cleansed topic -> loader -> ODS table (names in `cdc_ods.contract`); the apps' events enter
at their raw topic (the collector writes it) and then take the same two stages. Everyone
who needs this knowledge (the loader's subscription, reconcile's catch-up, the watchdog's
freshness, `cdc status`, `cdc bench`) asks here.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdc_ods import contract
from cdc_ods.config import Config, SourceConfig
from cdc_ods.sources import source_for


@dataclass(frozen=True)
class FlowingTable:
    """One table the pipeline carries: a source's table, or the apps' events."""

    source: str
    database: str
    table: str
    config: SourceConfig | None = None  # None for the events stream (no source database)

    @property
    def raw_topic(self) -> str:
        """Debezium names it after the namespace: a PostgreSQL schema, a MySQL database."""
        namespace = self.config.namespace if self.config else self.database
        return contract.raw_topic(self.source, namespace, self.table)

    @property
    def cleansed_topic(self) -> str:
        return contract.cleansed_topic(self.source, self.database, self.table)

    @property
    def ods_table(self) -> str:
        return contract.ods_table(self.source, self.database, self.table)


EVENTS = FlowingTable(contract.EVENTS_SOURCE, contract.EVENTS_DATABASE, contract.EVENTS_TABLE)


@dataclass(frozen=True)
class Stage:
    """A consumer stage: its group and its input topics."""

    name: str
    group: str
    topics: list[str]


def source_tables(config: Config, relational_only: bool = False) -> list[FlowingTable]:
    """Every captured table of every enabled source (patterns resolved against the source)."""
    flowing = []
    for source in config.sources:
        if not source.enabled or (relational_only and not source.has_catalog):
            continue
        tables = source_for(config, source).tables() if source.has_catalog else source.tables
        flowing += [FlowingTable(source.name, source.database, t, source) for t in tables]
    return flowing


def flowing_tables(config: Config) -> list[FlowingTable]:
    """Everything the stages carry: the sources' tables and the apps' events."""
    return [*source_tables(config), EVENTS]


def stages(config: Config) -> list[Stage]:
    """The consumer stages in pipeline order, with their input topics."""
    tables = flowing_tables(config)
    return [
        Stage("cleansing", config.cleansing.group_id, [t.raw_topic for t in tables]),
        Stage("loader", config.ods.group_id, [t.cleansed_topic for t in tables]),
    ]


def raw_topic_partitions(config: Config, topic: str) -> int:
    """The partitions Debezium creates a table's raw topic with: its table's `partitions`,
    else `kafka.partitions` (the apps' events topic is the collector's: `collector.partitions`)."""
    if topic == EVENTS.raw_topic:
        return config.collector.partitions
    for source in config.sources:
        prefix = contract.raw_topic(source.name, source.namespace, "")
        if topic.startswith(prefix):
            own = source.options(topic.removeprefix(prefix)).partitions
            return own if own is not None else config.kafka.partitions
    return config.kafka.partitions
