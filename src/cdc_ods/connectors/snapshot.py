"""`cdc connectors snapshot`: an ad-hoc incremental snapshot through Debezium's signal table.

The admin inserts an `execute-snapshot` row into the connector's `signal.data.collection`;
the connector reads it from the binlog/WAL like any change and re-reads the table in
chunks, emitting each row as an `op: r` event while streaming goes on (Debezium's
incremental snapshot). The table must be one the connector captures: a snapshot of an
uncaptured table would be accepted and silently do nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from cdc_ods.config import Config
from cdc_ods.connectors.configs import connector_kind
from cdc_ods.connectors.rest import ConnectClient, NoSuchConnector
from cdc_ods.connectors.validation import captures, include_entries
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError, ConfigError
from cdc_ods.sources import Source, source_for


@dataclass(frozen=True)
class SnapshotRequest:
    connector: str
    table: str  # qualified: database.table (MySQL family) or schema.table (PostgreSQL)
    signal_id: str
    topic: str


def _captured(config: dict[str, Any], table: str) -> bool:
    entries = include_entries(config)
    return not entries or captures(entries, table)


def connector_source(config: Config, name: str, connector: dict[str, Any], endpoints: Endpoints) -> Source:
    """The cdc.yaml source a connector reads: the one of its name, else (a one-off connector,
    e.g. a test's) the enabled source of the same kind whose signal table it uses."""
    if any(s.name == name for s in config.sources):
        return source_for(config, name, endpoints)
    kind = connector_kind(connector)
    namespace = str(connector.get("signal.data.collection", "")).split(".", 1)[0]
    for entry in config.sources:
        if entry.enabled and entry.kind == kind and entry.namespace == namespace:
            return source_for(config, entry, endpoints)
    raise CdcError(f"connector {name}: no source in cdc.yaml of kind {kind} with namespace {namespace!r}")


@dataclass(frozen=True)
class CapturedTable:
    qualified: str  # database.table (MySQL family) or schema.table (PostgreSQL)
    source: Source
    connector: dict[str, Any]  # its stored configuration

    @property
    def name(self) -> str:
        return self.qualified.partition(".")[2]


def captured_table(
    connect: ConnectClient, name: str, table: str, config: Config, endpoints: Endpoints
) -> CapturedTable:
    """`table` (bare names take the signal table's namespace) checked as one connector `name`
    captures and its source has."""
    connector = connect.get_config(name)
    if connector is None:
        raise NoSuchConnector(f"Kafka Connect has no connector named {name!r}; apply it first")
    signal_table = connector.get("signal.data.collection")
    if not signal_table:
        raise ConfigError(f"connector {name} has no signal.data.collection: it cannot be signalled")
    qualified = table if "." in table else f"{signal_table.split('.', 1)[0]}.{table}"
    if not _captured(connector, qualified):
        captured = connector["table.include.list"]
        raise ConfigError(f"connector {name} does not capture {qualified} (table.include.list: {captured})")
    src = connector_source(config, name, connector, endpoints)
    namespace, _, bare = qualified.partition(".")
    if namespace.lower() != src.source.namespace.lower() or bare not in src.namespace_tables():
        raise ConfigError(f"no table {qualified} in the source at {src.address}")
    return CapturedTable(qualified, src, connector)


def request_snapshot(
    connect: ConnectClient, name: str, table: str, config: Config, endpoints: Endpoints
) -> SnapshotRequest:
    """Signal connector `name` to snapshot `table` (bare names take the signal table's namespace)."""
    captured = captured_table(connect, name, table, config, endpoints)
    signal_id = str(uuid.uuid4())
    data = json.dumps({"data-collections": [captured.qualified], "type": "incremental"})
    captured.source.insert_signal(signal_id, "execute-snapshot", data)
    topic = f"{captured.connector['topic.prefix']}.{captured.qualified}"
    return SnapshotRequest(name, captured.qualified, signal_id, topic)
