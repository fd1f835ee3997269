"""The admin's view of a connector's source database: which tables exist, and signals.

`cdc connectors` checks tables and writes signal rows as the admin user (cdc_admin), never
as the debezium user, which keeps its read-mostly privileges.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from psycopg import sql

from cdc_ods.connectors.configs import connector_kind
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError, ConfigError
from cdc_ods.secrets import Credentials
from cdc_ods.sources import open_mysql, open_postgres


class SourceDatabase(ABC):
    """One source database, reached as the admin user."""

    address: str

    @abstractmethod
    def tables(self) -> set[str]:
        """Qualified names (`database.table` / `schema.table`), lower case, of every user table."""

    @abstractmethod
    def insert_signal(self, signal_table: str, signal_id: str, signal_type: str, data: str) -> None:
        """Add one row to Debezium's signal table (`namespace.table`)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> SourceDatabase:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _split(qualified: str) -> tuple[str, str]:
    namespace, _, table = qualified.partition(".")
    if not namespace or not table:
        raise ConfigError(f"expected a qualified table name namespace.table, got {qualified!r}")
    return namespace, table


class MySqlSource(SourceDatabase):
    def __init__(self, address: str, password: str) -> None:
        self.address = address
        self._conn = open_mysql(address, password)

    def tables(self) -> set[str]:
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT LOWER(CONCAT(table_schema, '.', table_name)) FROM information_schema.tables"
                " WHERE table_type = 'BASE TABLE'"
                " AND table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')"
            )
            return {row[0] for row in cur.fetchall()}

    def insert_signal(self, signal_table: str, signal_id: str, signal_type: str, data: str) -> None:
        database, table = _split(signal_table)
        quoted = ".".join("`" + part.replace("`", "``") + "`" for part in (database, table))
        with self._conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO {quoted} (id, type, data) VALUES (%s, %s, %s)", (signal_id, signal_type, data)
            )

    def close(self) -> None:
        self._conn.close()


class PostgresSource(SourceDatabase):
    def __init__(self, address: str, password: str, dbname: str) -> None:
        self.address = address
        self._conn = open_postgres(address, password, dbname)

    def tables(self) -> set[str]:
        rows = self._conn.execute(
            "SELECT LOWER(table_schema || '.' || table_name) FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        return {row[0] for row in rows}

    def insert_signal(self, signal_table: str, signal_id: str, signal_type: str, data: str) -> None:
        self._conn.execute(
            sql.SQL("INSERT INTO {} (id, type, data) VALUES (%s, %s, %s)").format(
                sql.Identifier(*_split(signal_table))
            ),
            (signal_id, signal_type, data),
        )

    def close(self) -> None:
        self._conn.close()


def open_source(config: dict[str, Any], endpoints: Endpoints, credentials: Credentials) -> SourceDatabase:
    """The database a connector config reads, as the admin; MongoDB has no client here."""
    kind = connector_kind(config)
    if kind in ("mariadb", "mysql"):
        password = credentials.mysql_admin.get_secret_value()
        if not password:
            raise ConfigError("no MySQL admin password: set CDC_MYSQL_ADMIN_PASSWORD")
        return MySqlSource(endpoints.mysql, password)
    if kind == "postgres":
        password = credentials.postgres_admin.get_secret_value()
        if not password:
            raise ConfigError("no PostgreSQL admin password: set CDC_POSTGRES_ADMIN_PASSWORD")
        return PostgresSource(endpoints.postgres, password, config.get("database.dbname", "maf"))
    raise CdcError(f"{kind} sources cannot be inspected by cdc (no {kind} client is installed)")
