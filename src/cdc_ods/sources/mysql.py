"""MariaDB and MySQL sources: Debezium's binlog connectors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pymysql
import pymysql.cursors

from cdc_ods.endpoints import split_host_port
from cdc_ods.errors import CdcError, TransientError
from cdc_ods.sources import mysql_types
from cdc_ods.sources.base import (
    COMMON_CONNECTOR_OPTIONS,
    SIGNAL_TABLE,
    CatalogColumn,
    Finding,
    Preparation,
    Role,
    Source,
    TableCatalog,
    UnknownTableError,
)

CONNECTOR_CLASSES = {
    "mariadb": "io.debezium.connector.mariadb.MariaDbConnector",
    "mysql": "io.debezium.connector.mysql.MySqlConnector",
}

# What Debezium's MySQL-family connectors document: SELECT on the captured tables for
# snapshots, RELOAD for FLUSH, SHOW DATABASES, and the two replication privileges for
# reading the binlog (MariaDB calls REPLICATION CLIENT "BINLOG MONITOR" since 10.5 and
# accepts both names). The global ones are global by nature.
CAPTURE_GLOBAL_GRANTS = "RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT"

_COLUMNS = """
SELECT c.column_name, LOWER(c.data_type), c.column_type, c.numeric_precision, c.numeric_scale,
       c.datetime_precision, c.is_nullable = 'YES',
       EXISTS (SELECT 1 FROM information_schema.check_constraints cc
               WHERE cc.constraint_schema = c.table_schema AND cc.table_name = c.table_name
                 AND cc.check_clause LIKE CONCAT('json_valid(`', c.column_name, '`)%%'))
FROM information_schema.columns c
WHERE c.table_schema = %s AND c.table_name = %s
ORDER BY c.ordinal_position
"""
_PRIMARY_KEY = """
SELECT column_name FROM information_schema.key_column_usage
WHERE table_schema = %s AND table_name = %s AND constraint_name = 'PRIMARY'
ORDER BY ordinal_position
"""
_CASCADES = """
SELECT rc.table_name, rc.constraint_name, rc.referenced_table_name, rc.delete_rule, rc.update_rule
FROM information_schema.referential_constraints rc
WHERE rc.constraint_schema = %s
  AND (rc.delete_rule IN ('CASCADE', 'SET NULL', 'SET DEFAULT')
       OR rc.update_rule IN ('CASCADE', 'SET NULL', 'SET DEFAULT'))
ORDER BY rc.table_name, rc.constraint_name
"""


ROWS_PER_FETCH = 5000


def quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def open_connection(
    address: str, user: str, password: str, database: str | None = None, autocommit: bool = True
) -> pymysql.Connection:
    """A PyMySQL connection; an unreachable server or refused login is one line naming both."""
    host, port = split_host_port(address)
    try:
        return pymysql.connect(
            host=host,
            port=port,
            user=user,
            password=password,
            database=database,
            autocommit=autocommit,
            connect_timeout=5,
            charset="utf8mb4",
        )
    except pymysql.MySQLError as exc:
        raise TransientError(f"MySQL-family source at {address} as {user}: {exc.args[-1]}") from None


class MySqlSource(Source):
    column_type = staticmethod(mysql_types.column_type)

    def _local_address(self) -> str:
        return self.endpoints.mysql

    def connect(self, role: Role = "read", autocommit: bool = True) -> pymysql.Connection:
        login = self.login(role)
        return open_connection(
            self.address, login.user, self.password(role).get_secret_value(), self.source.database, autocommit
        )

    def _query(self, sql: str, args: tuple[Any, ...] = (), role: Role = "read") -> list[tuple[Any, ...]]:
        conn = self.connect(role)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    # --- catalog -------------------------------------------------------------------------

    def namespace_tables(self) -> list[str]:
        rows = self._query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
            " AND table_type = 'BASE TABLE' ORDER BY table_name",
            (self.source.database,),
        )
        return [name for (name,) in rows]

    def catalog(self, table: str) -> TableCatalog:
        conn = self.connect("read")
        try:
            with conn.cursor() as cur:
                cur.execute(_COLUMNS, (self.source.database, table))
                rows = cur.fetchall()
                cur.execute(_PRIMARY_KEY, (self.source.database, table))
                key = [name for (name,) in cur.fetchall()]
        finally:
            conn.close()
        columns = [
            CatalogColumn(
                name,
                "json" if is_json else data_type,
                column_type=column_type,
                precision=precision,
                scale=scale,
                datetime_precision=dt_precision,
                nullable=bool(nullable),
                unsigned="unsigned" in column_type.lower(),
                json=bool(is_json) or data_type == "json",
            )
            for name, data_type, column_type, precision, scale, dt_precision, nullable, is_json in rows
        ]
        return self._table(table, columns, key)

    def rows(self, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
        conn = self.connect("read")
        try:
            with conn.cursor(pymysql.cursors.SSCursor) as cur:  # streams, no full fetch
                cur.execute(f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)}")
                while batch := cur.fetchmany(ROWS_PER_FETCH):
                    yield from batch
        finally:
            conn.close()

    def position(self) -> tuple[int, int]:
        rows = self._query("SHOW MASTER STATUS", role="capture")
        if not rows:
            return 0, 0
        file, pos = rows[0][:2]
        return int(file.rsplit(".", 1)[-1]), int(pos)

    # --- Debezium ------------------------------------------------------------------------

    def connector_config(self, tables: list[str]) -> dict[str, str]:
        host, port = split_host_port(self.address)
        database = self.source.database
        return {
            "connector.class": CONNECTOR_CLASSES[self.kind],
            "database.hostname": host,
            "database.port": str(port),
            "database.user": self.login("capture").user,
            "database.password": f"${{env:{self.login('capture').password_env}}}",
            "database.server.id": str(self.server_id()),
            "topic.prefix": self.name,
            "database.include.list": database,
            "table.include.list": ",".join(re.escape(f"{database}.{t}") for t in tables),
            "schema.history.internal.kafka.bootstrap.servers": self.endpoints.kafka_bootstrap,
            "schema.history.internal.kafka.topic": f"_schema-history.{self.name}",
            "include.schema.changes": "false",
            "connect.keep.alive.interval.ms": "15000",
            # BIGINT UNSIGNED above 2^63 would wrap negative in a long: exact, as a decimal
            "bigint.unsigned.handling.mode": "precise",
            # the JDBC driver reads YEAR as a java.sql.Date by default and throws on YEAR 0000,
            # failing the snapshot of every table of the source: as a number it is exact
            "driver.yearIsDateType": "false",
            # dates keep the year stored: the adjuster reads years 0-99 as two-digit ones
            # (YEAR 0000 still arrives as 2000: Debezium adjusts YEAR columns regardless)
            "enable.time.adjuster": "false",
            "signal.data.collection": f"{database}.{SIGNAL_TABLE}",
            **COMMON_CONNECTOR_OPTIONS,
            **self._key_columns(tables),
        }

    def signal_table_sql(self) -> str:
        return f"{quote(self.source.database)}.{quote(SIGNAL_TABLE)}"

    # --- preflight -----------------------------------------------------------------------

    def _check_server(self) -> list[Finding]:
        ((log_bin, fmt, image, server_id, expire_days, expire_s),) = self._query(
            "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@server_id,"
            " @@expire_logs_days, @@binlog_expire_logs_seconds"
        )
        found: list[Finding] = []
        cnf = "in the server's my.cnf [mysqld] section, then restart it"
        if not int(log_bin):
            found.append(self.finding("server", "the binary log is off (log_bin=0)", f"set `log-bin` {cnf}"))
        if fmt != "ROW":
            found.append(
                self.finding(
                    "server",
                    f"binlog_format is {fmt}: Debezium reads row events only",
                    f"set `binlog-format=ROW` {cnf} (SET GLOBAL binlog_format = 'ROW' lasts until a restart)",
                )
            )
        if image != "FULL":
            found.append(
                self.finding(
                    "server",
                    f"binlog_row_image is {image}: updates would lack the columns they did not change",
                    f"set `binlog-row-image=FULL` {cnf}",
                )
            )
        if not int(server_id):
            found.append(
                self.finding(
                    "server", "server_id is 0: no binlog client can attach", f"set `server-id` {cnf}"
                )
            )
        retention_s = int(expire_s or 0) or int(float(expire_days or 0) * 86400)
        if retention_s and retention_s < 86400:
            found.append(
                self.finding(
                    "server",
                    f"binlogs are kept only {retention_s / 3600:.1f} h:"
                    " a connector stopped longer loses its position",
                    "keep them at least a day: `binlog_expire_logs_seconds=259200` (3 days)",
                    "warning",
                )
            )
        return found

    def _check_capture_user(self, tables: list[str]) -> list[Finding]:
        login = self.login("capture")
        subject = f"capture user {login.user}"
        conn, refused = self._capture_connection()
        if refused is not None:
            return [refused]
        found: list[Finding] = []
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW GRANTS FOR CURRENT_USER()")
                grants = " ".join(row[0] for row in cur.fetchall()).upper()
                missing = [
                    p
                    for p in ("RELOAD", "REPLICATION SLAVE", "REPLICATION CLIENT")
                    if p not in grants and "ALL PRIVILEGES ON *.*" not in grants
                    and not (p == "REPLICATION SLAVE" and "REPLICATION REPLICA" in grants)
                    and not (p == "REPLICATION CLIENT" and "BINLOG MONITOR" in grants)
                ]  # fmt: skip
                if missing:
                    found.append(
                        self.finding(
                            subject,
                            f"lacks {', '.join(missing)} (Debezium reads the binlog and snapshots with them)",
                            f"GRANT {CAPTURE_GLOBAL_GRANTS} ON *.* TO '{login.user}'@'%'"
                            f"  (cdc sources prepare {self.name})",
                        )
                    )
                for table in tables:
                    try:
                        cur.execute(f"SELECT 1 FROM {quote(self.source.database)}.{quote(table)} LIMIT 0")
                    except pymysql.MySQLError:
                        found.append(
                            self.finding(
                                subject,
                                f"cannot SELECT from {self.source.database}.{table} (the snapshot reads it)",
                                f"GRANT SELECT ON {quote(self.source.database)}.* TO '{login.user}'@'%'",
                            )
                        )
        finally:
            conn.close()
        return found

    def _check_tables(self, tables: list[str]) -> list[Finding]:
        found: list[Finding] = []
        db = self.source.database
        if SIGNAL_TABLE not in self.namespace_tables():
            found.append(
                self.finding(
                    f"table {db}.{SIGNAL_TABLE}",
                    "Debezium's signal table is missing (needed to snapshot tables added later)",
                    f"cdc sources prepare {self.name}",
                )
            )
        for table in tables:
            try:
                catalog = self.catalog(table)
            except UnknownTableError as exc:
                found.append(self.finding(f"table {db}.{table}", str(exc).split(": ", 1)[-1], _KEY_FIX))
                continue
            found += self.refused_columns(catalog)
        tables_set = set(tables)
        for child, constraint, parent, on_delete, on_update in self._query(_CASCADES, (db,)):
            if child in tables_set or parent in tables_set:
                rules = ", ".join(
                    f"ON {what} {rule}" for what, rule in (("DELETE", on_delete), ("UPDATE", on_update))
                    if rule in ("CASCADE", "SET NULL", "SET DEFAULT")
                )  # fmt: skip
                found.append(
                    self.finding(
                        f"table {db}.{child}",
                        f"foreign key {constraint} -> {parent} {rules}: InnoDB applies cascades inside the"
                        " engine and writes no binlog row event for them, so the ODS keeps rows the source"
                        " changed or removed that way (`cdc reconcile` reports them)",
                        f"make the application delete/update {child} rows itself and change the key to"
                        f" ON DELETE RESTRICT; or re-snapshot {child} after cascades"
                        f" (`cdc connectors snapshot {self.name} {child}`)",
                        "warning",
                    )
                )
        return found

    # --- preparation ---------------------------------------------------------------------

    def preparation(self, tables: list[str]) -> Preparation:
        db = quote(self.source.database)
        capture = self.login("capture").user
        read = self.login("read").user
        signal = self.signal_table_sql()
        plan = Preparation()
        plan.statements.append(
            f"CREATE TABLE IF NOT EXISTS {signal}"
            " (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048) NULL)"
        )
        for host in self._hosts(capture):
            account = f"{literal(capture)}@{literal(host)}"
            plan.statements.append(f"GRANT {CAPTURE_GLOBAL_GRANTS} ON *.* TO {account}")
            plan.statements.append(f"GRANT SELECT ON {db}.* TO {account}")
            plan.statements.append(f"GRANT SELECT, INSERT ON {signal} TO {account}")
        if read != capture:
            for host in self._hosts(read):
                plan.statements.append(f"GRANT SELECT ON {db}.* TO {literal(read)}@{literal(host)}")
        plan.manual.append(
            "server (my.cnf, [mysqld]; restart): log-bin, binlog-format=ROW, binlog-row-image=FULL,"
            " server-id=<unique>, binlog_expire_logs_seconds=259200"
        )
        return plan

    def _hosts(self, user: str) -> list[str]:
        """The host parts the account exists with (the admin sees mysql.user); '%' if none."""
        try:
            rows = self._query("SELECT host FROM mysql.user WHERE user = %s", (user,), role="admin")
        except (pymysql.MySQLError, CdcError):  # the admin may not read mysql.user
            rows = []
        return sorted({host for (host,) in rows}) or ["%"]


_KEY_FIX = (
    "add a primary key, or name the key columns in cdc.yaml: table_options: {TABLE: {key: [COLUMN, ...]}}"
)
