"""Read a source table's columns and primary key from its database's catalog."""

from __future__ import annotations

from cdc_ods.config import Config, SourceConfig
from cdc_ods.errors import CdcError
from cdc_ods.ods.schema import Column, TableSchema, mysql_type, postgres_type
from cdc_ods.sources import mysql_connect, postgres_connect


class UnknownTableError(CdcError):
    """The source has no such table (or it has no primary key)."""


def read_table_schema(config: Config, source: SourceConfig, table: str) -> TableSchema:
    if source.kind in ("mariadb", "mysql"):
        columns, pk = _mysql(config, source.database, table)
    elif source.kind == "postgres":
        columns, pk = _postgres(config, source.database, source.schema_ or "public", table)
    else:
        raise CdcError(f"{source.name}.{table}: reading a {source.kind} schema is not supported")
    if not columns:
        raise UnknownTableError(f"{source.name}: table {source.database}.{table} not found at the source")
    if not pk:
        raise UnknownTableError(f"{source.name}: table {source.database}.{table} has no primary key")
    return TableSchema(source.name, source.database, table, tuple(columns), tuple(pk))


def _mysql(config: Config, database: str, table: str) -> tuple[list[Column], list[str]]:
    conn = mysql_connect(config)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT column_name, data_type, column_type, numeric_precision, numeric_scale, is_nullable,"
                " column_key FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                " ORDER BY ordinal_position",
                (database, table),
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    columns = [Column(name, mysql_type(dtype, ctype, prec, scale), nullable == "YES") for
               name, dtype, ctype, prec, scale, nullable, _key in rows]  # fmt: skip
    pk = [row[0] for row in rows if row[6] == "PRI"]
    return columns, pk


def _postgres(config: Config, database: str, schema: str, table: str) -> tuple[list[Column], list[str]]:
    with postgres_connect(config, database) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type, udt_name, numeric_precision, numeric_scale, is_nullable"
            " FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
            " ORDER BY ordinal_position",
            (schema, table),
        ).fetchall()
        pk = [
            r[0]
            for r in conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary"
                " ORDER BY array_position(i.indkey, a.attnum)",
                (f'"{schema}"."{table}"',),
            ).fetchall()
        ] if rows else []  # fmt: skip
    columns = [Column(name, postgres_type(dtype, udt, prec, scale), nullable == "YES") for
               name, dtype, udt, prec, scale, nullable in rows]  # fmt: skip
    return columns, pk
