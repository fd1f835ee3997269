"""`cdc ksql generate`: a starting cleansing script per configured table, from its source schema.

Each column gets the form Debezium sends it in, the expression that normalizes it to the
contract (cdc_ods.contract) and the rules that refuse a value the ODS would store differently:
all three come from the source kind's type map (cdc_ods.sources.types). Personal data is
masked as cdc.yaml says per table (`table_options.<table>.pii`, PII_MASKS). Further rules:
- every key column must be present; JSON columns must hold valid JSON;
- the demo's range rules, by column name on numeric columns: `rating` must lie in 0..10;
  `runtime_min`, `season`, `number`, `budget_usd`, `viewers_millions` must not be negative.
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
from collections.abc import Mapping
from typing import Any, NamedTuple

from cdc_ods import contract
from cdc_ods.config import SourceConfig
from cdc_ods.dlq import DLQ_TOPIC
from cdc_ods.errors import CdcError
from cdc_ods.sources import CatalogColumn, ColumnType, TableCatalog, column_type, event_source

NON_NEGATIVE = ("runtime_min", "season", "number", "budget_usd", "viewers_millions")
IMAGE = "COALESCE(`after`, `before`)"
GENERATED_MARK = "-- cdc ksql generate, unedited: sha256="
_NOT_TRUNCATE = "`op` <> 't'"
_NUMERIC = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL"})


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Mask(NamedTuple):
    expression: str  # over the source value `{v}`, or its normalized form `{n}`
    phoenix: str  # the ODS column's type


# Personal-data masks (cdc.yaml: sources[].table_options.<table>.pii: {column: mask})
PII_MASKS = {
    # a keyed hash of the trimmed text: equal values still join
    "hash": Mask("CDC_HMAC(TRIM({v}))", "VARCHAR"),
    "email": Mask("CDC_HMAC(LCASE(TRIM({v})))", "VARCHAR"),  # ... of the lower-cased address
    "phone": Mask("CDC_HMAC(REGEXP_REPLACE({v}, '[^0-9]', ''))", "VARCHAR"),  # ... of the digits
    "year": Mask("CAST(SUBSTRING({n}, 1, 4) AS INT)", "INTEGER"),  # a date reduced to its year
}


def masked_name(column: str, mask: str | None) -> str:
    """The ODS column a masked source column becomes: `birth_date` with mask `year` is
    `birth_year`; hashed columns keep their name."""
    if mask != "year":
        return column
    return f"{column.removesuffix('_date')}_year"


def _column_expression(column: CatalogColumn, mapped: ColumnType, mask: str | None) -> tuple[str, str]:
    """(output column name, expression) with the column's personal-data mask applied."""
    value = f"{IMAGE}->{_ident(column.name)}"
    normalized = mapped.cleanse.format(v=value)
    if mask is None:
        return column.name, normalized
    return masked_name(column.name, mask), PII_MASKS[mask].expression.format(v=value, n=normalized)


def masked(mask: str | None, value: Any, key: bytes) -> Any:
    """What a hashing mask makes of a source value, so that reconcile can compare the ODS's
    masked column with its source (the `year` mask is compared as the year itself)."""
    if value is None or mask is None:
        return value
    if mask == "year":
        return value.year if hasattr(value, "year") else int(str(value)[:4])
    text = str(value).strip()
    if mask == "email":
        text = text.lower()
    elif mask == "phone":
        text = re.sub("[^0-9]", "", str(value))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _rules(catalog: TableCatalog, mapped: dict[str, ColumnType]) -> list[tuple[str, str]]:
    """(condition, reason) pairs, checked in order; the first that holds rejects the record."""
    rules = [
        ("`op` IS NULL OR `op` NOT IN ('c', 'u', 'd', 'r', 't')", "unknown op (not c, u, d, r, t)"),
        # a TRUNCATE (op t) has no key and no row image: it is passed on to the loader, which
        # removes the rows its source position follows; the rules below are about rows
        (f"`k` IS NULL AND {_NOT_TRUNCATE}", "no key"),
        ("`after` IS NULL AND `op` NOT IN ('d', 't')", "no after image in a change that is not a delete"),
        (f"`before` IS NULL AND `after` IS NULL AND {_NOT_TRUNCATE}", "no row image"),
    ]
    for column in catalog.columns:
        value = f"{IMAGE}->{_ident(column.name)}"
        column_type = mapped[column.name]
        if column.name in catalog.key:
            rules.append((f"{value} IS NULL AND {_NOT_TRUNCATE}", f"no key value {column.name}"))
        numeric = column_type.phoenix.split("(")[0] in _NUMERIC  # the demo's range rules: numbers only
        if column.name == "rating" and numeric:
            rules.append((f"CAST({value} AS DOUBLE) NOT BETWEEN 0 AND 10", "rating outside 0..10"))
        if column.name in NON_NEGATIVE and numeric:
            rules.append((f"CAST({value} AS DOUBLE) < 0", f"negative {column.name}"))
        rules += [(c.format(v=value), reason.format(name=column.name)) for c, reason in column_type.rejects]
        if column_type.json:
            rules.append(
                (f"{value} IS NOT NULL AND NOT IS_JSON_STRING({value})", f"malformed JSON in {column.name}")
            )
    return rules


_WITH_JSON = "KEY_FORMAT='JSON', VALUE_FORMAT='JSON'"


def stream_prefix(source: str, database: str, table: str) -> str:
    return f"{source}_{database}_{table}".lower()


def generate_script(
    kind: str, catalog: TableCatalog, database: str, pii: Mapping[str, str] | None = None
) -> str:
    """The cleansing script of one table: raw stream, checked stream, cleansed stream, DLQ insert.
    `pii` maps a column to its personal-data mask (PII_MASKS). A column the pipeline cannot
    carry exactly refuses the whole table (CdcError naming the column and why)."""
    source, table, columns = catalog.source, catalog.name, catalog.columns
    if not columns:
        raise CdcError(f"{source}.{database}.{table}: no columns found in the source schema")
    if not catalog.key:
        raise CdcError(f"{source}.{database}.{table}: no primary key; Debezium keys records by it")
    mapped = {c.name: column_type(kind, c) for c in columns}
    events = event_source(kind)
    refused = [f"{c.name} ({mapped[c.name].refusal})" for c in columns if mapped[c.name].refusal]
    if refused:
        raise CdcError(f"{source}.{database}.{table}: cannot carry column {'; '.join(refused)}")
    masks = dict(pii or {})
    unknown = sorted(set(masks) - {c.name for c in columns}) + sorted(
        f"{c}: {m}" for c, m in masks.items() if m not in PII_MASKS
    )
    if unknown:
        raise CdcError(f"{source}.{table}: pii names no such column or mask: {', '.join(unknown)}")
    name = stream_prefix(source, database, table)
    # Debezium's topic carries the PostgreSQL schema (the database for the MySQL family)
    raw_topic = contract.raw_topic(source, catalog.namespace, table)
    image = "STRUCT<" + ", ".join(f"{_ident(c.name)} {mapped[c.name].raw}" for c in columns) + ">"
    key_type = "STRUCT<" + ", ".join(f"{_ident(k)} {mapped[k].raw}" for k in catalog.key) + ">"
    outputs = [_column_expression(c, mapped[c.name], masks.get(c.name)) for c in columns]
    metadata = [
        ("`op`", contract.OP),
        ("`source`->`ts_ms`", contract.SOURCE_TS_MS),
        (events.position, contract.SOURCE_POS),
        ("`op` = 'd'", contract.DELETED),
    ]
    rules = _rules(catalog, mapped)
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
            f"    `source` {events.block},",
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


def table_script(source: SourceConfig, catalog: TableCatalog) -> str:
    """`generate_script` for a table of a configured source, with its cdc.yaml personal-data masks."""
    return generate_script(source.kind, catalog, source.database, source.options(catalog.name).pii)


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
