"""The source databases, one module per kind; `source_for` picks the one a source needs.

See `cdc_ods.sources.base` for what a source offers the rest of the pipeline.
"""

from __future__ import annotations

from cdc_ods.config import Config, SourceConfig
from cdc_ods.endpoints import Endpoints
from cdc_ods.sources.base import (
    HEARTBEAT_TABLE,
    SIGNAL_TABLE,
    CatalogColumn,
    Finding,
    Preparation,
    Source,
    TableCatalog,
    UnknownTableError,
)
from cdc_ods.sources.mongodb import MongoSource
from cdc_ods.sources.mysql import MySqlSource
from cdc_ods.sources.postgres import PostgresSource
from cdc_ods.sources.types import ColumnType, EventSource

_KINDS: dict[str, type[Source]] = {
    "mariadb": MySqlSource,
    "mysql": MySqlSource,
    "postgres": PostgresSource,
    "mongodb": MongoSource,
}


def source_for(config: Config, source: SourceConfig | str, endpoints: Endpoints | None = None) -> Source:
    """The `Source` of one cdc.yaml entry (or its name)."""
    entry = config.source(source) if isinstance(source, str) else source
    return _KINDS[entry.kind](config, entry, endpoints)


def column_type(kind: str, column: CatalogColumn) -> ColumnType:
    """How a column of a `kind` source travels: Debezium's form, the cleansing, the ODS type."""
    return _KINDS[kind].column_type(column)


def event_source(kind: str) -> EventSource:
    """Debezium's `source` block of a `kind` source's change events, and its log position."""
    return _KINDS[kind].event_source


def enabled_sources(config: Config, endpoints: Endpoints | None = None) -> list[Source]:
    return [source_for(config, s, endpoints) for s in config.sources if s.enabled]


__all__ = [
    "HEARTBEAT_TABLE",
    "SIGNAL_TABLE",
    "CatalogColumn",
    "ColumnType",
    "Finding",
    "Preparation",
    "Source",
    "TableCatalog",
    "UnknownTableError",
    "column_type",
    "enabled_sources",
    "event_source",
    "source_for",
]
