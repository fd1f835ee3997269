"""The contracts between stages (docs/architecture.md, "The contracts between stages"), in one place.

Raw topics      `<source>.<namespace>.<table>`: Debezium's JSON envelope, no embedded schema;
                the namespace is the MySQL-family database or the PostgreSQL schema.
Cleansed topics `ods.<source>.<database>.<table>`: key = the primary key columns as a JSON
                object; value = one flat JSON row of the table's columns plus the metadata
                fields below. Value conventions, the same for every source:
                - timestamps: ISO-8601 in UTC with microseconds, `2024-02-29T23:59:58.123456Z`
                  (full source precision; Phoenix TIMESTAMP keeps it);
                - dates `YYYY-MM-DD`; times `HH:MM:SS.ffffff`;
                - decimals as strings (exact); booleans as JSON booleans;
                - doubles as JSON numbers, except a non-finite one (PostgreSQL's NaN and
                  infinities), which JSON has no number for: the string "NaN", "Infinity" or
                  "-Infinity" (`NON_FINITE_DOUBLES`), as Kafka Connect's and ksqlDB's JSON
                  (Jackson) write it;
                - JSON documents as their JSON text; arrays as JSON arrays.
                Deletes are a row with `__deleted = true` carrying at least the key.
Dead letters    `ods.dlq` (see cdc_ods.dlq).
ODS tables      `ODS.<SOURCE>_<DATABASE>_<TABLE>`, columns = source names upper-cased, plus
                the metadata columns below. Phoenix stores an empty VARCHAR or VARBINARY as
                NULL, so `CDC_EMPTY` (VARCHAR ARRAY) lists the (ODS) names of the row's columns
                whose value is the empty string or binary value (also text the cleansing
                trimmed to nothing); NULL when there is none. A column it names reads as NULL
                and is empty; any other NULL is NULL.
"""

from __future__ import annotations

import math

OP = "__op"
SOURCE_TS_MS = "__source_ts_ms"
SOURCE_POS = "__source_pos"
DELETED = "__deleted"
METADATA_FIELDS = (OP, SOURCE_TS_MS, SOURCE_POS, DELETED)
NON_FINITE_DOUBLES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

ODS_SCHEMA = "ODS"
CDC_OP = "CDC_OP"
CDC_SOURCE_TS = "CDC_SOURCE_TS"
CDC_SOURCE_POS = "CDC_SOURCE_POS"
CDC_LOADED_AT = "CDC_LOADED_AT"
CDC_DELETED = "CDC_DELETED"
CDC_EMPTY = "CDC_EMPTY"
ODS_METADATA_COLUMNS = (CDC_OP, CDC_SOURCE_TS, CDC_SOURCE_POS, CDC_LOADED_AT, CDC_DELETED, CDC_EMPTY)

CLEANSED_PREFIX = "ods."
# The largest record a raw or cleansed topic takes: one change event carries a row's before
# and after images, so a row of several MB (a large TEXT or BLOB) must fit twice. Kafka's
# 1 MB default would fail the connector, and with it every table of the source.
MAX_RECORD_BYTES = 16 * 1024 * 1024
CLEANSED_TOPIC_CONFIG = {"max.message.bytes": str(MAX_RECORD_BYTES)}

# The apps' behaviour events (collector -> raw topic -> cleansing -> ODS) use the same
# naming as a replicated table: source `events`, database `app`, table `client_events`.
EVENTS_SOURCE, EVENTS_DATABASE, EVENTS_TABLE = "events", "app", "client_events"

# __source_pos for the MySQL family: binlog file number, byte position and row within the
# event packed into one integer that grows with the log: file * 10^13 + pos * 10^3 + row.
BINLOG_FILE_FACTOR = 10**13
BINLOG_POS_FACTOR = 10**3


def raw_topic(source: str, namespace: str, table: str) -> str:
    return f"{source}.{namespace}.{table}"


def notification_topic(source: str) -> str:
    """Where a source's connector reports its snapshots' progress (Debezium's sink notification
    channel): `cdc connectors snapshot --replace` waits there for its snapshot to complete."""
    return f"_cdc-notifications.{source}"


def heartbeat_topic(source: str) -> str:
    """Where a source's connector writes its heartbeats (Debezium's default name)."""
    return f"__debezium-heartbeat.{source}"


def schema_history_group(source: str) -> str:
    """The consumer group a MySQL-family connector reads its schema history in (Debezium's)."""
    return f"{source}-schemahistory"


def schema_history_topic(source: str) -> str:
    """Where a MySQL-family source's connector keeps the tables' DDL history (Debezium's own)."""
    return f"_schema-history.{source}"


def cleansed_topic(source: str, database: str, table: str) -> str:
    return f"{CLEANSED_PREFIX}{source}.{database}.{table}"


def ods_table(source: str, database: str, table: str) -> str:
    """Fully qualified Phoenix table name."""
    return f"{ODS_SCHEMA}.{source}_{database}_{table}".upper()


def parse_cleansed_topic(topic: str) -> tuple[str, str, str]:
    """(source, database, table) of a cleansed topic name."""
    if not topic.startswith(CLEANSED_PREFIX) or topic.count(".") != 3:
        raise ValueError(f"not a cleansed topic name: {topic!r}")
    _, source, database, table = topic.split(".")
    return source, database, table


def binlog_number(file: str) -> int:
    """A binlog file's sequence number: mariadb-bin.000012 -> 12."""
    return int(file.rsplit(".", 1)[-1])


def binlog_position(file: str, pos: int, row: int = 0) -> int:
    """__source_pos of a MySQL/MariaDB change from Debezium's source block fields."""
    return binlog_number(file) * BINLOG_FILE_FACTOR + pos * BINLOG_POS_FACTOR + row
