"""The connector configs under connectors/, one per source, shared with docker-compose.

Two kinds of placeholders keep the files free of addresses and secrets:
- `{{mysql_host}}`, `{{mysql_port}}`, `{{postgres_host}}`, `{{postgres_port}}`,
  `{{kafka_bootstrap}}`, `{{mongodb_address}}`: filled in by `cdc` from the endpoints
  (cdc.yaml or CDC_*_ADDRESS variables) before the config is sent; Debezium validates these
  values as sent.
- `${env:CDC_..._PASSWORD}`: resolved inside the Connect worker by Kafka's
  EnvVarConfigProvider, so a password never enters Connect's config topic.

Choices the files share (JSON holds no comments, so they are written down here):
- `decimal.handling.mode=string`: DECIMAL/NUMERIC arrive as exact strings ("8.3"), not as
  Connect's base64 `Decimal` bytes (unreadable in plain JSON) nor as lossy doubles.
- `time.precision.mode=adaptive_time_microseconds`: DATE/TIME/TIMESTAMP keep the source
  column's own precision, and TIME is always microseconds, one unit for the cleansing stage.
- `tombstones.on.delete=false`: a delete is one event with `op: d` and the `before` image;
  no extra null-valued record, since raw topics are not compacted and the loader reads the
  delete from the envelope.
- `poll.interval.ms=100` (Debezium's default 500): how long the task waits for its queue to
  fill before handing records to Kafka; it bounds the capture latency.
- `heartbeat.interval.ms`: the connector commits its source position even when the captured
  tables are idle. On PostgreSQL that alone does not move the replication slot if the whole
  database is idle, so `heartbeat.action.query` updates the one row of
  `maf.debezium_heartbeat` (UPDATE on that one table is all the debezium user gets for
  it), which produces WAL the slot can be confirmed past.
- Connection failures, bounded: `errors.max.retries=3` (Debezium's default -1 retries
  forever): an error Debezium counts as retriable (a PostgreSQL connection lost) restarts the
  task inside Connect at most 3 times, `retriable.restart.connector.wait.ms` (10 s) apart,
  while Connect shows it RUNNING; then the task FAILS and `cdc watch` takes over with its
  own backoff and cap. It does not cover the binlog reader: when MariaDB/MySQL closes the
  binlog connection (a killed session, a locked account), Debezium's binlog client
  reconnects from its keep-alive thread every `connect.keep.alive.interval.ms`, without end
  and without ever calling the error handler (checked in Debezium 3.5.0; turning the
  keep-alive off leaves a task that never reads again instead). So
  `connect.keep.alive.interval.ms=15000` (default 60 s): a lost connection is retried
  within 15 s, and the server's binlog heartbeat (0.8 x that interval) keeps the
  connector's heartbeat records at most ~12 s apart on an idle database, a tight signal for
  `cdc watch`, which restarts a RUNNING task whose heartbeat stopped for
  `operations.stalled_after_s` (a fresh start with a refused login FAILS at once).
- `signal.data.collection=maf.debezium_signal`: the source signalling channel, used by
  `cdc connectors snapshot` for ad-hoc incremental snapshots. Debezium adds the signal
  table to the captured tables itself (it need not be in `table.include.list`), and
  during an incremental snapshot it INSERTs its window watermarks there: the debezium user
  needs SELECT and INSERT on that table (the admin inserts the signals).

The MySQL family has two flavours with different connector classes: MariaDB locally, MySQL 8
in docker-compose. `connectors/mysql.json` names the MariaDB class; `source_connector`
replaces `connector.class` by the one for the source's `kind` in cdc.yaml, so one file
serves both (the properties the file uses mean the same to both connectors).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from cdc_ods.config import SourceConfig
from cdc_ods.endpoints import Endpoints, split_host_port
from cdc_ods.errors import ConfigError
from cdc_ods.paths import PROJECT_DIR

CONNECTORS_DIR = PROJECT_DIR / "connectors"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")

# source `kind` in cdc.yaml -> the Debezium connector class that reads it
CONNECTOR_CLASSES: dict[str, str] = {
    "mariadb": "io.debezium.connector.mariadb.MariaDbConnector",
    "mysql": "io.debezium.connector.mysql.MySqlConnector",
    "postgres": "io.debezium.connector.postgresql.PostgresConnector",
    "mongodb": "io.debezium.connector.mongodb.MongoDbConnector",
}

# Created by the admin in every source database/schema (stack bootstrap locally); the
# connector files name them as maf.debezium_signal / maf.debezium_heartbeat.
SIGNAL_TABLE = "debezium_signal"
HEARTBEAT_TABLE = "debezium_heartbeat"

# No MongoDB runs locally, so it has no port in cdc.yaml; docker-compose sets this variable.
MONGODB_ADDRESS_ENV = "CDC_MONGODB_ADDRESS"
MONGODB_DEFAULT_ADDRESS = "127.0.0.1:27017"


def placeholder_values(endpoints: Endpoints) -> dict[str, str]:
    mysql_host, mysql_port = split_host_port(endpoints.mysql)
    pg_host, pg_port = split_host_port(endpoints.postgres)
    return {
        "mysql_host": mysql_host,
        "mysql_port": str(mysql_port),
        "postgres_host": pg_host,
        "postgres_port": str(pg_port),
        "kafka_bootstrap": endpoints.kafka_bootstrap,
        "mongodb_address": os.environ.get(MONGODB_ADDRESS_ENV, MONGODB_DEFAULT_ADDRESS),
    }


def connector_kind(config: dict[str, Any]) -> str:
    """The source kind (`mariadb`, `mysql`, `postgres`, `mongodb`) a connector config reads."""
    for kind, cls in CONNECTOR_CLASSES.items():
        if config.get("connector.class") == cls:
            return kind
    raise ConfigError(f"unknown connector.class {config.get('connector.class')!r}")


def load_connector(name: str, endpoints: Endpoints | None = None, **overrides: str) -> dict[str, Any]:
    """`{"name": ..., "config": {...}}` from connectors/<name>.json.

    With `endpoints`, the `{{...}}` placeholders are filled in; `overrides` replace keys.
    """
    path = CONNECTORS_DIR / f"{name}.json"
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        available = sorted(p.stem for p in CONNECTORS_DIR.glob("*.json"))
        raise ConfigError(f"no connector config {path} (have: {', '.join(available)})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(spec.get("config"), dict) or "connector.class" not in spec["config"]:
        raise ConfigError(f"{path}: expected {{'name': ..., 'config': {{'connector.class': ...}}}}")
    config: dict[str, Any] = {**spec["config"], **overrides}
    if endpoints is not None:
        values = placeholder_values(endpoints)

        def fill(match: re.Match[str]) -> str:
            if match.group(1) not in values:
                raise ConfigError(f"{path}: unknown placeholder {match.group(0)} (known: {sorted(values)})")
            return values[match.group(1)]

        config = {k: _PLACEHOLDER.sub(fill, v) if isinstance(v, str) else v for k, v in config.items()}
    return {"name": spec["name"], "config": config}


def source_connector(source: SourceConfig, endpoints: Endpoints, **overrides: str) -> dict[str, Any]:
    """The connector for one source of cdc.yaml: its file, with the class of the source's
    flavour (`kind`); explicit `overrides` win over both."""
    return load_connector(
        source.name, endpoints, **{"connector.class": CONNECTOR_CLASSES[source.kind], **overrides}
    )
