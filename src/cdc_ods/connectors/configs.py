"""The Debezium connector of each source: generated from cdc.yaml, overridable per source.

The source's module (`cdc_ods.sources`) writes the whole config: class, address, the
capture user, `topic.prefix` = the source's name, the captured tables (cdc.yaml's `tables`,
resolved against the source's catalog), slot and publication, signal and heartbeat tables.
`connectors/<name>.json` next to cdc.yaml, when present, only overrides Debezium options
for that source (`{"config": {"snapshot.mode": "no_data"}}`); `{{kafka_bootstrap}}`-style
placeholders in it are filled in from the endpoints. No secret is ever in a config:
`${env:VARIABLE}` references are resolved inside the Connect worker by Kafka's
EnvVarConfigProvider, so a password never enters Connect's config topic.

Choices every connector shares (JSON holds no comments, so they are written down here):
- `decimal.handling.mode=string`: DECIMAL/NUMERIC arrive as exact strings ("8.3"), not as
  Connect's base64 `Decimal` bytes (unreadable in plain JSON) nor as lossy doubles.
- `time.precision.mode=adaptive_time_microseconds`: DATE/TIME/TIMESTAMP keep the source
  column's own precision, and TIME is always microseconds, one unit for the cleansing stage.
- `tombstones.on.delete=false`: a delete is one event with `op: d` and the `before` image;
  no extra null-valued record, since raw topics are not compacted and the loader reads the
  delete from the envelope.
- `skipped.operations=none` (Debezium's default skips `t`): a TRUNCATE at the source is an
  event with `op: t`, no key and no row image; the cleansing stage passes it on and the
  loader removes the table's rows that its source position follows (see ods/loader.py).
- `poll.interval.ms=50` (Debezium's default 500): how long the task waits for its queue to
  fill before handing records to Kafka; it bounds the capture latency. Shorter costs Connect
  and the stages after it more, smaller batches: at 1,000 changes/s, 50 took ~20 ms off the
  end-to-end p50 against 100, and 25 gained nothing (README, Performance).
- `heartbeat.interval.ms`: the connector commits its source position even when the captured
  tables are idle. On PostgreSQL that alone does not move the replication slot if the whole
  database is idle, so `heartbeat.action.query` updates the one row of the source's
  `debezium_heartbeat` table (UPDATE on that one table is all the capture user gets for
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
- `signal.data.collection=<namespace>.debezium_signal`: the source signalling channel, used
  by `cdc connectors snapshot` and by `cdc sources sync` for incremental snapshots of tables
  added later. Debezium adds the signal table to the captured tables itself, and during an
  incremental snapshot it INSERTs its window watermarks there: the capture user needs
  SELECT and INSERT on that table (the admin inserts the signals).
- `binary.handling.mode=hex`: BLOB/BINARY/bytea arrive as hex text, the form the loader
  decodes (Debezium's default, base64 bytes, was dead-lettered).
- MySQL family: `bigint.unsigned.handling.mode=precise`: a BIGINT UNSIGNED above 2^63 arrives
  as its exact decimal text instead of wrapping negative in a long.
- Table names in `table.include.list` are regular expressions to Debezium: each is escaped,
  so `a_b` never captures `aXb`.
- A table without a primary key gets the key configured in cdc.yaml as Debezium's
  `message.key.columns`.
- MySQL family: `internal.schema.history.internal.ddl.filter` (Debezium reads this key, not
  `schema.history.internal.ddl.filter`): DDL of tables not captured that declares a type
  Debezium's parser does not know is not parsed, so it cannot stop the source
  (`mysql.ddl_filter`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cdc_ods.config import Config, SourceConfig
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import ConfigError
from cdc_ods.sources import source_for
from cdc_ods.sources.mongodb import CONNECTOR_CLASS as MONGODB_CLASS
from cdc_ods.sources.mysql import CONNECTOR_CLASSES as MYSQL_CLASSES
from cdc_ods.sources.postgres import CONNECTOR_CLASS as POSTGRES_CLASS

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")

# source `kind` in cdc.yaml -> the Debezium connector class that reads it
CONNECTOR_CLASSES: dict[str, str] = {**MYSQL_CLASSES, "postgres": POSTGRES_CLASS, "mongodb": MONGODB_CLASS}


def connectors_dir(config: Config) -> Path:
    """The operator's connector overrides: `connectors/` next to cdc.yaml."""
    return config.root / "connectors"


def connector_kind(config: dict[str, Any]) -> str:
    """The source kind (`mariadb`, `mysql`, `postgres`, `mongodb`) a connector config reads."""
    for kind, cls in CONNECTOR_CLASSES.items():
        if config.get("connector.class") == cls:
            return kind
    raise ConfigError(f"unknown connector.class {config.get('connector.class')!r}")


def file_overrides(config: Config, name: str, endpoints: Endpoints) -> dict[str, Any]:
    """The options `connectors/<name>.json` overrides ({} without the file), placeholders
    filled in."""
    path = connectors_dir(config) / f"{name}.json"
    if not path.is_file():
        return {}
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ConfigError(
            f'{path}: expected {{"config": {{OPTION: VALUE, ...}}}} (Debezium options to override)'
        )
    values = {"kafka_bootstrap": endpoints.kafka_bootstrap}

    def fill(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise ConfigError(f"{path}: unknown placeholder {match.group(0)} (known: {sorted(values)})")
        return values[match.group(1)]

    return {k: _PLACEHOLDER.sub(fill, v) if isinstance(v, str) else v for k, v in spec["config"].items()}


def source_connector(
    config: Config,
    source: SourceConfig,
    endpoints: Endpoints,
    tables: list[str] | None = None,
    **overrides: str,
) -> dict[str, Any]:
    """`{"name": ..., "config": {...}}` for one source of cdc.yaml: generated, then the
    options of `connectors/<name>.json`, then explicit `overrides`. `tables` default to the
    configured ones resolved against the source's catalog."""
    src = source_for(config, source, endpoints)
    captured = src.resolve_tables() if tables is None else tables
    generated = src.connector_config(captured)
    return {
        "name": src.connector_name(),
        "config": {**generated, **file_overrides(config, source.name, endpoints), **overrides},
    }
