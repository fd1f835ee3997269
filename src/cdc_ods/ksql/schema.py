"""Reads a source table's columns (names, types, primary key) for `cdc ksql generate`."""

from __future__ import annotations

from cdc_ods.config import SourceConfig
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError
from cdc_ods.ksql.generate import SourceColumn
from cdc_ods.secrets import Credentials
from cdc_ods.sources import open_mysql, open_postgres

_MYSQL_COLUMNS = """
SELECT c.column_name,
       -- MariaDB's JSON is LONGTEXT with a json_valid() check; MySQL says json itself
       CASE WHEN EXISTS (SELECT 1 FROM information_schema.check_constraints cc
                         WHERE cc.constraint_schema = c.table_schema AND cc.table_name = c.table_name
                           AND cc.check_clause LIKE CONCAT('json_valid(`', c.column_name, '`)%%'))
            THEN 'json' ELSE c.data_type END,
       c.datetime_precision, c.column_type LIKE '%%unsigned%%', c.column_key = 'PRI'
FROM information_schema.columns c
WHERE c.table_schema = %s AND c.table_name = %s
ORDER BY c.ordinal_position
"""
_PG_COLUMNS = """
SELECT c.column_name, c.data_type, c.datetime_precision, c.udt_name,
       EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a
                 ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
               WHERE i.indrelid = format('%%I.%%I', c.table_schema, c.table_name)::regclass
                 AND i.indisprimary AND a.attname = c.column_name)
FROM information_schema.columns c
WHERE c.table_schema = %s AND c.table_name = %s
ORDER BY c.ordinal_position
"""


def mysql_columns(address: str, password: str, database: str, table: str) -> list[SourceColumn]:
    conn = open_mysql(address, password)
    with conn, conn.cursor() as cur:
        cur.execute(_MYSQL_COLUMNS, (database, table))
        return [
            SourceColumn(name, data_type.lower(), precision, bool(unsigned), key=bool(key))
            for name, data_type, precision, unsigned, key in cur.fetchall()
        ]


def postgres_columns(
    address: str, password: str, database: str, schema: str, table: str
) -> list[SourceColumn]:
    with open_postgres(address, password, database) as conn:
        rows = conn.execute(_PG_COLUMNS, (schema, table)).fetchall()
    return [
        SourceColumn(name, data_type.lower(), precision, element_type=udt, key=bool(key))
        for name, data_type, precision, udt, key in rows
    ]


def table_columns(
    source: SourceConfig, table: str, endpoints: Endpoints, credentials: Credentials
) -> list[SourceColumn]:
    if source.kind in ("mariadb", "mysql"):
        return mysql_columns(
            endpoints.mysql, credentials.mysql_admin.get_secret_value(), source.database, table
        )
    if source.kind == "postgres":
        return postgres_columns(
            endpoints.postgres,
            credentials.postgres_admin.get_secret_value(),
            source.database,
            source.schema_ or "public",
            table,
        )
    raise CdcError(f"{source.name}: {source.kind} has no schema to read; write its scripts by hand")
