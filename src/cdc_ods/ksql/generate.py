"""`cdc ksql generate`: a starting cleansing script per configured table, from its source schema.

Each column gets the raw type Debezium sends for it (with decimal.handling.mode=string and
time.precision.mode=adaptive_time_microseconds, see connectors/*.json) and the expression
that normalizes it to the contract (cdc_ods.contract). Rules by column name, so a new table
gets them without hand-written SQL:
- `email`: keyed hash of the trimmed, lower-cased value; `phone`: keyed hash of its digits;
- `birth_date`: reduced to `birth_year`;
- `rating` must lie in 0..10; `runtime_min`, `season`, `number`, `budget_usd`,
  `viewers_millions` must not be negative; JSON columns must hold valid JSON;
- every key column must be present.
MongoDB collections have no schema to read: their scripts are written by hand.

A generated script starts with a mark carrying the digest of the rest of the text: while it
matches, the script is still exactly what the generator wrote, and the cleansing runner may
regenerate it when the source gains a column (cdc_ods.ksql.drift); once someone edits the
script, the digest no longer matches and nothing rewrites it. The streams are declared with
CREATE OR REPLACE and list the metadata before the table's columns, so a column added at the
source comes last in every stream: the in-place upgrade ksqlDB accepts for a changed script.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cdc_ods import contract
from cdc_ods.dlq import DLQ_TOPIC
from cdc_ods.errors import CdcError

NON_NEGATIVE = ("runtime_min", "season", "number", "budget_usd", "viewers_millions")
IMAGE = "COALESCE(`after`, `before`)"
GENERATED_MARK = "-- cdc ksql generate, unedited: sha256="


@dataclass(frozen=True)
class SourceColumn:
    name: str
    data_type: str  # information_schema data_type, lower case ("ARRAY" element in element_type)
    datetime_precision: int | None = None
    unsigned: bool = False
    element_type: str | None = None  # PostgreSQL arrays: the element's type
    key: bool = False
    column_type: str = ""  # MySQL family: the full type, e.g. "tinyint(1)", "bigint(20) unsigned"


@dataclass(frozen=True)
class Mapping:
    raw_type: str  # KSQL type of the column in Debezium's before/after
    expression: str  # cleansing expression; {v} is the column in the row image
    json: bool = False


def _string(_c: SourceColumn) -> Mapping:
    return Mapping("STRING", "TRIM(CDC_NFC({v}))")


_NUMERIC = frozenset(
    {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric", "float", "double",
     "real", "double precision", "money"}
)  # fmt: skip
_TINYINT1_AS_BOOLEAN = "CASE WHEN {v} IN ('true', '1') THEN TRUE WHEN {v} IN ('false', '0') THEN FALSE END"
_MYSQL_INTS = {"tinyint": "INT", "smallint": "INT", "mediumint": "INT", "int": "INT", "bigint": "BIGINT"}
_PG_INTS = {"smallint": "INT", "integer": "INT", "bigint": "BIGINT"}
_STRINGS = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
_PG_STRINGS = {"text", "character varying", "character", "citext", "name"}
_PG_ELEMENTS = {"_text": "STRING", "_varchar": "STRING", "_int2": "INT", "_int4": "INT", "_int8": "BIGINT"}


def map_column(kind: str, column: SourceColumn) -> Mapping:
    """The raw type and cleansing expression of one source column."""
    t = column.data_type
    if kind in ("mariadb", "mysql"):
        if t == "tinyint" and column.column_type.lower().startswith("tinyint(1)"):
            # BOOLEAN is TINYINT(1) in the catalog, but Debezium sends what the DDL said:
            # true/false for a BOOLEAN column, a number for a TINYINT(1); both arrive as text
            return Mapping("STRING", _TINYINT1_AS_BOOLEAN)
        if t == "bigint" and column.unsigned:
            # bigint.unsigned.handling.mode=precise: the exact value as a decimal string
            return Mapping("STRING", "{v}")
        if t in _MYSQL_INTS:
            wide = column.unsigned and t == "int"
            return Mapping("BIGINT" if wide else _MYSQL_INTS[t], "{v}")
        if t in _STRINGS:
            return _string(column)
        if t == "datetime":
            micros = (column.datetime_precision or 0) > 3
            return Mapping("BIGINT", "CDC_TS_MICROS({v})" if micros else "CDC_TS_MILLIS({v})")
        if t == "timestamp":
            return Mapping("STRING", "CDC_TS_ISO({v})")
    if kind == "postgres":
        if t in _PG_INTS:
            return Mapping(_PG_INTS[t], "{v}")
        if t in _PG_STRINGS:
            return _string(column)
        if t == "timestamp with time zone":
            return Mapping("STRING", "CDC_TS_ISO({v})")
        if t == "timestamp without time zone":
            micros = (column.datetime_precision or 6) > 3
            return Mapping("BIGINT", "CDC_TS_MICROS({v})" if micros else "CDC_TS_MILLIS({v})")
        if t == "array":
            return Mapping(f"ARRAY<{_PG_ELEMENTS.get(column.element_type or '', 'STRING')}>", "{v}")
        if t == "boolean":
            return Mapping("BOOLEAN", "{v}")
    common = {
        "date": Mapping("INT", "CAST(FROM_DAYS({v}) AS STRING)"),
        "time": Mapping("BIGINT", "CDC_TIME_MICROS({v})"),
        "time without time zone": Mapping("BIGINT", "CDC_TIME_MICROS({v})"),
        "json": Mapping("STRING", "{v}", json=True),
        "jsonb": Mapping("STRING", "{v}", json=True),
        "float": Mapping("DOUBLE", "{v}"),
        "double": Mapping("DOUBLE", "{v}"),
        "real": Mapping("DOUBLE", "{v}"),
        "double precision": Mapping("DOUBLE", "{v}"),
        "year": Mapping("INT", "{v}"),
    }
    # decimals and money arrive as strings (decimal.handling.mode=string); uuid, binary
    # (base64) and anything unknown are carried as the text Debezium sends.
    return common.get(t, Mapping("STRING", "{v}"))


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _column_expression(column: SourceColumn, mapping: Mapping) -> tuple[str, str]:
    """(output column name, expression) with the personal-data rules applied."""
    value = f"{IMAGE}->{_ident(column.name)}"
    normalized = mapping.expression.format(v=value)
    name = column.name.lower()
    if name == "email":
        return column.name, f"CDC_HMAC(LCASE(TRIM({value})))"
    if name == "phone":
        return column.name, f"CDC_HMAC(REGEXP_REPLACE({value}, '[^0-9]', ''))"
    if name == "birth_date":
        return "birth_year", f"CAST(SUBSTRING({normalized}, 1, 4) AS INT)"
    return column.name, normalized


MASKED_COLUMNS = frozenset({"email", "phone"})


def masked(column: str, value: Any, key: bytes) -> Any:
    """What the personal-data rules above make of a source value (`email` and `phone`), so
    that reconcile can compare the ODS's masked column with its source."""
    if value is None:
        return None
    name = column.lower()
    if name == "email":
        text = str(value).strip().lower()
    elif name == "phone":
        text = re.sub("[^0-9]", "", str(value))
    else:
        return value
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _rules(columns: Sequence[SourceColumn], mappings: dict[str, Mapping]) -> list[tuple[str, str]]:
    """(condition, reason) pairs, checked in order; the first that holds rejects the record."""
    rules = [
        ("`k` IS NULL", "no key"),
        ("`op` IS NULL OR `op` NOT IN ('c', 'u', 'd', 'r')", "unknown op (not c, u, d, r)"),
        ("`after` IS NULL AND `op` <> 'd'", "no after image in a change that is not a delete"),
        ("`before` IS NULL AND `after` IS NULL", "no row image"),
    ]
    for column in columns:
        value = f"{IMAGE}->{_ident(column.name)}"
        if column.key:
            rules.append((f"{value} IS NULL", f"no key value {column.name}"))
        numeric = column.data_type in _NUMERIC  # the demo's range rules: numbers only
        if column.name == "rating" and numeric:
            rules.append((f"CAST({value} AS DOUBLE) NOT BETWEEN 0 AND 10", "rating outside 0..10"))
        if mappings[column.name].expression == _TINYINT1_AS_BOOLEAN:
            rules.append(
                (f"{value} IS NOT NULL AND {value} NOT IN ('true', 'false', '1', '0')",
                 f"{column.name} is TINYINT(1) with a value other than 0 and 1 (its ODS column is BOOLEAN)")
            )  # fmt: skip
        if column.name in NON_NEGATIVE and numeric:
            rules.append((f"CAST({value} AS DOUBLE) < 0", f"negative {column.name}"))
        if mappings[column.name].json:
            rules.append(
                (f"{value} IS NOT NULL AND NOT IS_JSON_STRING({value})", f"malformed JSON in {column.name}")
            )
    return rules


def source_position(kind: str) -> str:
    """__source_pos in SQL: grows with the source's log (see cdc_ods.contract)."""
    if kind in ("mariadb", "mysql"):
        return (
            "CAST(SPLIT(`source`->`file`, '.')[-1] AS BIGINT) * "
            f"{contract.BINLOG_FILE_FACTOR} + `source`->`pos` * {contract.BINLOG_POS_FACTOR}"
            " + COALESCE(`source`->`row`, 0)"
        )
    if kind == "postgres":
        return "`source`->`lsn`"
    # MongoDB: the oplog timestamp (seconds, as ts_ms) and the order within that second
    return "`source`->`ts_ms` * 1000000 + COALESCE(`source`->`ord`, 0)"


_SOURCE_BLOCK = {
    "mariadb": "STRUCT<`ts_ms` BIGINT, `file` STRING, `pos` BIGINT, `row` INT>",
    "mysql": "STRUCT<`ts_ms` BIGINT, `file` STRING, `pos` BIGINT, `row` INT>",
    "postgres": "STRUCT<`ts_ms` BIGINT, `lsn` BIGINT>",
}
_WITH_JSON = "KEY_FORMAT='JSON', VALUE_FORMAT='JSON'"


def stream_prefix(source: str, database: str, table: str) -> str:
    return f"{source}_{database}_{table}".lower()


def generate_script(
    kind: str,
    source: str,
    database: str,
    table: str,
    columns: Sequence[SourceColumn],
    namespace: str | None = None,
) -> str:
    """The cleansing script of one table: raw stream, checked stream, cleansed stream, DLQ insert."""
    if not columns:
        raise CdcError(f"{source}.{database}.{table}: no columns found in the source schema")
    keys = [c for c in columns if c.key]
    if not keys:
        raise CdcError(f"{source}.{database}.{table}: no primary key; Debezium keys records by it")
    mappings = {c.name: map_column(kind, c) for c in columns}
    name = stream_prefix(source, database, table)
    # Debezium's topic carries the PostgreSQL schema (the database for the MySQL family)
    raw_topic = contract.raw_topic(source, namespace or database, table)
    image = "STRUCT<" + ", ".join(f"{_ident(c.name)} {mappings[c.name].raw_type}" for c in columns) + ">"
    key_type = "STRUCT<" + ", ".join(f"{_ident(c.name)} {mappings[c.name].raw_type}" for c in keys) + ">"
    outputs = [_column_expression(c, mappings[c.name]) for c in columns]
    metadata = [
        ("`op`", contract.OP),
        ("`source`->`ts_ms`", contract.SOURCE_TS_MS),
        (source_position(kind), contract.SOURCE_POS),
        ("`op` = 'd'", contract.DELETED),
    ]
    rules = _rules(columns, mappings)
    # metadata first, the table's columns last: a column added at the source is appended
    select_lines = [f"    {expr} AS {_ident(out)}," for expr, out in metadata]
    select_lines += ["    ROWPARTITION AS `__partition`,", "    ROWOFFSET AS `__offset`,", "    CASE"]
    select_lines += [f"        WHEN {cond} THEN {_literal(reason)}" for cond, reason in rules]
    select_lines += ["    END AS `__reject`,"]
    select_lines += [f"    {expr} AS {_ident(out)}," for out, expr in outputs]
    select_lines[-1] = select_lines[-1].rstrip(",")
    cleansed = ", ".join(_ident(m) for _, m in metadata) + ", " + ", ".join(_ident(out) for out, _ in outputs)
    body = "\n".join(
        [
            f"-- Cleansing of {raw_topic} -> {contract.cleansed_topic(source, database, table)}.",
            "-- Generated by `cdc ksql generate` from the source schema (see cdc_ods.ksql.generate for",
            "-- the rules). While the digest on the first line matches, `cdc ksql run` regenerates",
            "-- this script by itself when the source table gains a column, and `cdc ksql generate",
            "-- --update` rewrites it. Edit freely: an edited script is never rewritten (a new source",
            "-- column then raises the CleansingSchemaDrift alert until you add it here).",
            "",
            f"CREATE OR REPLACE STREAM {name}_raw (",
            f"    `k` {key_type} KEY,",
            f"    `before` {image},",
            f"    `after` {image},",
            f"    `source` {_SOURCE_BLOCK[kind]},",
            "    `op` STRING",
            f") WITH (KAFKA_TOPIC='{raw_topic}', {_WITH_JSON});",
            "",
            "-- Every rule and normalization once: the flat row, its metadata and the reject reason.",
            f"CREATE OR REPLACE STREAM {name}_checked",
            f"  WITH (KAFKA_TOPIC='ksql.{raw_topic}.checked', {_WITH_JSON}) AS",
            "SELECT",
            "    `k`,",
            *select_lines,
            f"FROM {name}_raw",
            "EMIT CHANGES;",
            "",
            f"CREATE OR REPLACE STREAM ods_{name}",
            f"  WITH (KAFKA_TOPIC='{contract.cleansed_topic(source, database, table)}', {_WITH_JSON}) AS",
            f"SELECT `k`, {cleansed}",
            f"FROM {name}_checked",
            "WHERE `__reject` IS NULL",
            "EMIT CHANGES;",
            "",
            f"-- Rejected records to {DLQ_TOPIC} (declared in 00_dlq.sql) with their reason.",
            "INSERT INTO ods_dlq",
            "SELECT TO_JSON_STRING(`k`) AS `dlq_key`, 'cleansing' AS `stage`, `__reject` AS `reason`,",
            f"    STRUCT(`topic` := '{raw_topic}', `partition` := `__partition`,",
            "           `offset` := `__offset`) AS `source`",
            f"FROM {name}_checked",
            "WHERE `__reject` IS NOT NULL",
            "PARTITION BY TO_JSON_STRING(`k`)",
            "EMIT CHANGES;",
            "",
        ]
    )
    return f"{GENERATED_MARK}{_digest(body)}\n{body}"


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def is_unedited(text: str) -> bool:
    """Whether a script is exactly as `generate_script` wrote it (its mark's digest matches)."""
    first, _, body = text.partition("\n")
    return first.startswith(GENERATED_MARK) and first.removeprefix(GENERATED_MARK) == _digest(body)


DLQ_HEADER = f"""-- The dead-letter stream every cleansing script inserts its rejects into ({DLQ_TOPIC}).
-- The embedded backend writes these through cdc_ods.dlq (original bytes, topic, partition,
-- offset, stage, reason); a ksqlDB server writes the columns below.
CREATE STREAM IF NOT EXISTS ods_dlq (
    `dlq_key` STRING KEY,
    `stage` STRING,
    `reason` STRING,
    `source` STRUCT<`topic` STRING, `partition` INT, `offset` BIGINT>
) WITH (KAFKA_TOPIC='{DLQ_TOPIC}', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON');
"""
