"""Stream a table's rows from the source database and from the ODS, key columns first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import phoenixdb

from cdc_ods import contract
from cdc_ods.config import Config, SourceConfig
from cdc_ods.errors import ConfigError
from cdc_ods.ksql.functions import PII_KEY_ENV
from cdc_ods.ksql.generate import masked
from cdc_ods.ods import sequence
from cdc_ods.ods.phoenix import connect
from cdc_ods.ods.schema import Column, TableSchema, from_epoch_ms_decimal
from cdc_ods.secrets import lookup_secret
from cdc_ods.sources import source_for

FETCH = 5000  # rows per round trip to the ODS


def source_rows(config: Config, source: SourceConfig, schema: TableSchema) -> Iterator[tuple[Any, ...]]:
    """The table's rows read as the source's read user, personal data masked as the cleansing
    scripts mask it (so the ODS's masked columns compare with their source)."""
    columns = schema.ordered_columns
    to_mask = [(i, c.mask) for i, c in enumerate(columns) if c.mask]
    rows = source_for(config, source).rows(schema.table, [c.source_name for c in columns])
    if not to_mask:
        yield from rows
        return
    secret = lookup_secret(config.data_dir, PII_KEY_ENV)
    if secret is None:
        raise ConfigError(
            f"{PII_KEY_ENV} is not set: reconcile masks {columns[to_mask[0][0]].name}"
            " as the cleansing stage does"
        )
    key = secret.get_secret_value().encode()
    for row in rows:
        values = list(row)
        for i, mask in to_mask:
            values[i] = masked(mask, values[i], key)
        yield tuple(values)


def _catalog_columns(conn: phoenixdb.connection.Connection, ods_table: str, key_only: bool) -> list[str]:
    schema, _, table = ods_table.partition(".")
    cur = conn.cursor()
    cur.execute(
        "SELECT COLUMN_NAME FROM SYSTEM.CATALOG"
        " WHERE TABLE_SCHEM = ? AND TABLE_NAME = ? AND COLUMN_NAME IS NOT NULL"
        + (" AND KEY_SEQ IS NOT NULL ORDER BY KEY_SEQ" if key_only else ""),
        (schema, table),
    )
    return [row[0] for row in cur.fetchall()]


def ods_columns(conn: phoenixdb.connection.Connection, ods_table: str) -> set[str]:
    """The ODS table's column names (empty: no such table)."""
    return set(_catalog_columns(conn, ods_table, key_only=False))


def ods_key_columns(conn: phoenixdb.connection.Connection, ods_table: str) -> list[str]:
    """The ODS table's primary key columns, in key order."""
    return _catalog_columns(conn, ods_table, key_only=True)


def _reads_as_decimal(column: Column) -> bool:
    """A TIMESTAMP is read as CAST(.. AS DECIMAL): Avatica would cut it to the millisecond."""
    return column.base_type == "TIMESTAMP" and not column.is_array


def _select_expression(column: Column) -> str:
    name = f'"{column.ods_name}"'
    return f"CAST({name} AS DECIMAL)" if _reads_as_decimal(column) else name


def ods_rows(url: str, schema: TableSchema) -> Iterator[tuple[Any, ...]]:
    """Live ODS rows (soft-deleted ones excluded), timestamps to the microsecond, the empty
    values the row's CDC_EMPTY names restored (Phoenix stores them as NULL); a column the ODS
    lacks reads as NULL."""
    conn = connect(url)
    try:
        present = ods_columns(conn, schema.ods_name)
        if not present:
            return
        wanted = schema.ordered_columns
        selected = [c for c in wanted if c.ods_name in present]
        expressions = [_select_expression(c) for c in selected]
        marked = contract.CDC_EMPTY in present  # a table no loader has met since CDC_EMPTY exists lacks it
        if marked:
            expressions.append(contract.CDC_EMPTY)
        cur = conn.cursor()
        cur.itersize = FETCH
        cur.execute(
            f"SELECT {', '.join(expressions)} FROM {schema.ods_name}"
            f" WHERE {contract.CDC_DELETED} IS NULL OR {contract.CDC_DELETED} = FALSE"
        )
        positions = [selected.index(c) if c in selected else None for c in wanted]
        as_decimal = {i for i, c in enumerate(selected) if _reads_as_decimal(c)}
        empty_values = {
            c.ods_name: (i, c.empty_value) for i, c in enumerate(selected) if c.empty_value is not None
        }
        for row in cur:
            if as_decimal:
                row = [
                    from_epoch_ms_decimal(v) if i in as_decimal and v is not None else v
                    for i, v in enumerate(row)
                ]
            if marked and row[-1]:
                row = _restore_empty(list(row), row[-1], empty_values)
            yield tuple(None if p is None else row[p] for p in positions)
    finally:
        conn.close()


def _restore_empty(row: list[Any], names: list[str], empty_values: dict[str, tuple[int, Any]]) -> list[Any]:
    """`row` with the NULL of each column `names` (its CDC_EMPTY) as that column's empty value."""
    for name in names:
        position, empty = empty_values.get(name, (None, None))
        if position is not None and row[position] is None:
            row[position] = empty
    return row


def sequence_totals(url: str) -> dict[str, sequence.Totals]:
    """The loader's sequence-integrity totals per ODS table; empty before the loader ran."""
    conn = connect(url)
    try:
        if not ods_columns(conn, sequence.TABLE):
            return {}
        cur = conn.cursor()
        cur.execute(sequence.TOTALS_BY_TABLE)
        return {
            table: sequence.Totals(checked or 0, gaps or 0, regressions or 0, duplicates or 0, problem)
            for table, checked, gaps, regressions, duplicates, problem in cur.fetchall()
        }
    finally:
        conn.close()
