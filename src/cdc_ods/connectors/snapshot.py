"""`cdc connectors snapshot`: an ad-hoc incremental snapshot through Debezium's signal table.

The admin inserts an `execute-snapshot` row into the connector's `signal.data.collection`;
the connector reads it from the binlog/WAL like any change and re-reads the table in
chunks, emitting each row as an `op: r` event while streaming goes on (Debezium's
incremental snapshot). The table must be one the connector captures: a snapshot of an
uncaptured table would be accepted and silently do nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from cdc_ods.connectors.rest import ConnectClient, NoSuchConnector
from cdc_ods.connectors.source_db import open_source
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import ConfigError
from cdc_ods.secrets import Credentials


@dataclass(frozen=True)
class SnapshotRequest:
    connector: str
    table: str  # qualified: database.table (MySQL family) or schema.table (PostgreSQL)
    signal_id: str
    topic: str


def _captured(config: dict[str, Any], table: str) -> bool:
    entries = [e.strip() for e in str(config.get("table.include.list", "")).split(",") if e.strip()]
    return not entries or any(re.fullmatch(e, table, re.IGNORECASE) for e in entries)


def request_snapshot(
    connect: ConnectClient, name: str, table: str, endpoints: Endpoints, credentials: Credentials
) -> SnapshotRequest:
    """Signal connector `name` to snapshot `table` (bare names take the signal table's namespace)."""
    config = connect.get_config(name)
    if config is None:
        raise NoSuchConnector(f"Kafka Connect has no connector named {name!r}; apply it first")
    signal_table = config.get("signal.data.collection")
    if not signal_table:
        raise ConfigError(f"connector {name} has no signal.data.collection: it cannot be signalled")
    qualified = table if "." in table else f"{signal_table.split('.', 1)[0]}.{table}"
    if not _captured(config, qualified):
        captured = config["table.include.list"]
        raise ConfigError(f"connector {name} does not capture {qualified} (table.include.list: {captured})")
    with open_source(config, endpoints, credentials) as db:
        if qualified.lower() not in db.tables():
            raise ConfigError(f"no table {qualified} in the source at {db.address}")
        signal_id = str(uuid.uuid4())
        data = json.dumps({"data-collections": [qualified], "type": "incremental"})
        db.insert_signal(signal_table, signal_id, "execute-snapshot", data)
    return SnapshotRequest(name, qualified, signal_id, f"{config['topic.prefix']}.{qualified}")
