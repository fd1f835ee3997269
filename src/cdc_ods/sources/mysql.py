"""MariaDB and MySQL sources: Debezium's binlog connectors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pymysql
import pymysql.cursors

from cdc_ods.contract import binlog_number
from cdc_ods.endpoints import split_host_port
from cdc_ods.errors import CdcError, ConfigError, TransientError
from cdc_ods.sources import mysql_types
from cdc_ods.sources.base import (
    COMMON_CONNECTOR_OPTIONS,
    OWN_TABLES,
    ROWS_PER_FETCH,
    SIGNAL_TABLE,
    CatalogColumn,
    Finding,
    Preparation,
    Role,
    Source,
    TableCatalog,
    UnknownTableError,
    matches,
)
from cdc_ods.sources.tls import Tls, binlog_connector_options, pymysql_options

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


BINLOG_TAIL_EVENTS = 1000  # more binlog events than this after a connector's position: not a tail


def quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def unparseable_ddl_filter(captured: list[str]) -> str:
    """Debezium's DDL filter (a Java regex it matches against a whole statement, case-blind and
    across lines): statements that declare a column of a type its parser does not know
    (`PARSER_UNKNOWN_TYPES`) and name none of the `captured` tables.

    Debezium parses every DDL statement of the database, also those of tables it does not
    capture, and a statement it cannot parse fails the task and stops every table of the
    source; a filtered statement is neither parsed nor kept in its schema history. Only these
    statements are filtered: a table whose DDL the history misses could not be added to
    `tables` later (its first change would find no schema), and these tables cannot be
    captured anyway (`cdc sources check` refuses their columns). A type is recognised after a
    column name (`addr INET6`), not after ADD/CHANGE/MODIFY/COLUMN, so a column named `uuid`
    does not count. Debezium splits the option at commas: table names' commas are escaped.
    """
    names = "|".join(re.escape(t).replace(",", "\\,") for t in captured)
    types = "|".join(mysql_types.PARSER_UNKNOWN_TYPES)
    outside = rf"(?!.*(?<![\w$])(?:{names})(?![\w$]))" if captured else ""
    declared = rf"(?<=[\w$`\"])(?<!ADD)(?<!COLUMN)(?<!CHANGE)(?<!MODIFY)\s+(?:{types})(?![\w$])"
    return f"{outside}.*{declared}.*"


def open_connection(
    address: str,
    user: str,
    password: str,
    database: str | None = None,
    autocommit: bool = True,
    tls: Tls | None = None,
) -> pymysql.Connection:
    """A PyMySQL connection; an unreachable server, a refused login or a failed TLS handshake
    is one line naming both."""
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
            **pymysql_options(tls),
        )
    except pymysql.MySQLError as exc:
        reason = " ".join(str(exc.args[-1]).split())
        raise TransientError(f"MySQL-family source at {address} as {user}: {reason}") from None


# What `server_findings` looks at (SHOW GLOBAL VARIABLES: a variable the server lacks is absent)
SERVER_VARIABLES = (
    "version", "log_bin", "binlog_format", "binlog_row_image", "server_id", "expire_logs_days",
    "binlog_expire_logs_seconds", "gtid_mode", "enforce_gtid_consistency",  # MySQL
    "gtid_strict_mode", "gtid_domain_id", "gtid_slave_pos", "log_bin_compress", "binlog_legacy_event_pos",
)  # fmt: skip
_CNF = "in the server's my.cnf [mysqld] section, then restart it"


def _on(value: str | None) -> bool:
    return str(value).upper() in ("ON", "1", "TRUE")


def server_findings(source: str, variables: dict[str, str]) -> list[Finding]:
    """What the server's settings (SHOW GLOBAL VARIABLES, names in lower case) mean for
    Debezium: the binlog, its retention, and GTIDs (MySQL's or MariaDB's)."""

    def server(problem: str, fix: str, severity: Literal["error", "warning"] = "error") -> Finding:
        return Finding(source, "server", problem, fix, severity)

    found: list[Finding] = []
    if not _on(variables.get("log_bin")):
        found.append(server("the binary log is off (log_bin=0)", f"set `log-bin` {_CNF}"))
    fmt = variables.get("binlog_format")
    if fmt != "ROW":
        found.append(
            server(
                f"binlog_format is {fmt}: Debezium reads row events only",
                f"set `binlog-format=ROW` {_CNF} (SET GLOBAL binlog_format = 'ROW' lasts until a restart)",
            )
        )
    image = variables.get("binlog_row_image")
    if image != "FULL":
        found.append(
            server(
                f"binlog_row_image is {image}: updates would lack the columns they did not change",
                f"set `binlog-row-image=FULL` {_CNF}",
            )
        )
    if not int(variables.get("server_id") or 0):
        found.append(server("server_id is 0: no binlog client can attach", f"set `server-id` {_CNF}"))
    retention_s = int(variables.get("binlog_expire_logs_seconds") or 0) or int(
        float(variables.get("expire_logs_days") or 0) * 86400
    )
    if retention_s and retention_s < 86400:
        found.append(
            server(
                f"binlogs are kept only {retention_s / 3600:.1f} h:"
                " a connector stopped longer loses its position",
                "keep them at least a day: `binlog_expire_logs_seconds=259200` (3 days)",
                "warning",
            )
        )
    if "mariadb" in variables.get("version", "").lower():
        return found + _mariadb_findings(server, variables)
    return found + _mysql_gtid_findings(server, variables)


def _mysql_gtid_findings(server: Callable[..., Finding], variables: dict[str, str]) -> list[Finding]:
    """MySQL's GTIDs: with them Debezium's position is a GTID set, valid on every server of
    the replication topology; without, a binlog file and offset that exist on this one only."""
    mode = (variables.get("gtid_mode") or "OFF").upper()
    enforce = (variables.get("enforce_gtid_consistency") or "OFF").upper()
    both = (
        "set `gtid-mode=ON` and `enforce-gtid-consistency=ON` in my.cnf [mysqld] on this server and its"
        " replicas, then restart them (or online, as MySQL's manual on enabling GTID transactions online"
        " describes)"
    )
    if mode in ("ON", "ON_PERMISSIVE") and enforce != "ON":
        return [
            server(
                f"gtid_mode is {mode} but enforce_gtid_consistency is {enforce}: transactions that cannot"
                " be logged safely with a GTID are let through, and replicas may refuse them",
                both,
            )
        ]
    if mode == "ON":
        return []
    if mode == "OFF":
        problem = (
            "GTIDs are off (gtid_mode=OFF): Debezium records its position as a binlog file and offset of"
            " this server, so after a failover to a replica it cannot resume there (a new snapshot)"
        )
    else:
        problem = f"gtid_mode is {mode}, a step of an online change: not every transaction has a GTID yet"
    return [server(problem, both, "warning")]


def _mariadb_findings(server: Callable[..., Finding], variables: dict[str, str]) -> list[Finding]:
    """What Debezium's MariaDB connector documents: no compressed binlog events, the legacy
    event positions from MariaDB 11.4 on; MariaDB's GTIDs are always on, and matter when the
    server replicates (a failover moves the connector to another server of the chain)."""
    found: list[Finding] = []
    cnf = _CNF.replace("[mysqld]", "[mariadbd]")
    if _on(variables.get("log_bin_compress")):
        found.append(
            server(
                "log_bin_compress is ON: Debezium's MariaDB connector cannot read compressed binlog events",
                f"set `log-bin-compress=OFF` {cnf} (SET GLOBAL log_bin_compress = OFF for new events)",
            )
        )
    version = tuple(int(n) for n in re.findall(r"\d+", variables.get("version", ""))[:2])
    if version >= (11, 4) and not _on(variables.get("binlog_legacy_event_pos")):
        found.append(
            server(
                "binlog_legacy_event_pos is OFF (MariaDB 11.4 or later): after a restart Debezium may not"
                " find its position in the new binlog format",
                f"set `binlog-legacy-event-pos=ON` {cnf}",
            )
        )
    replicated = (variables.get("gtid_slave_pos") or "").strip()
    if replicated and not _on(variables.get("gtid_strict_mode")):
        domain = variables.get("gtid_domain_id", "0")
        found.append(
            server(
                f"this server replicates (gtid_slave_pos {replicated}; its own GTID domain {domain}) with"
                " gtid_strict_mode OFF: Debezium resumes from the GTID it recorded, which names the same"
                " transaction on another server of the chain after a failover only when every server"
                " keeps strict GTID order",
                f"set `gtid-strict-mode=ON` {cnf} on every server of the chain, and give each primary"
                " that takes writes its own `gtid-domain-id`",
                "warning",
            )
        )
    return found


class MySqlSource(Source):
    column_type = staticmethod(mysql_types.column_type)
    event_source = mysql_types.EVENT_SOURCE
    open_connection = staticmethod(open_connection)

    def _local_address(self) -> str:
        return self.endpoints.mysql

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
        return self._visible_tables("read")

    def _visible_tables(self, role: Role) -> list[str]:
        """The database's base tables `role` sees: the server hides those it has no privilege on."""
        rows = self._query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
            " AND table_type = 'BASE TABLE' ORDER BY table_name",
            (self.source.database,),
            role,
        )
        return [name for (name,) in rows]

    def _seen_by_either(self) -> tuple[set[str], set[str]]:
        """(tables the read user sees, those only the capture user sees); the capture user's
        refused login is a finding of its own."""
        read = set(self.namespace_tables())
        try:
            capture = set(self._visible_tables("capture"))
        except TransientError:
            capture = set()
        return read, capture - read

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
        return binlog_number(file), int(pos)

    def only_uncaptured_between(self, reached: tuple[int, int], target: tuple[int, int]) -> bool:
        """A connector commits the start of the event group it is in, and a DDL group (no
        COMMIT event) keeps it there until the next change: a short binlog tail (same file)
        without a row event of a captured table counts as reached."""
        if reached[0] != target[0]:
            return False
        captured = tuple(f"({self.source.database}.{table})" for table in self.tables())
        conn = self.connect("capture")
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW MASTER STATUS")
                file = cur.fetchone()[0]
                if binlog_number(file) != target[0]:
                    return False
                cur.execute(
                    f"SHOW BINLOG EVENTS IN '{file}' FROM {int(reached[1])} LIMIT {BINLOG_TAIL_EVENTS}"
                )
                events = cur.fetchall()
        finally:
            conn.close()
        if len(events) >= BINLOG_TAIL_EVENTS:
            return False
        return not any(
            event_type == "Table_map" and str(info).endswith(captured)
            for _file, pos, event_type, _server, _end, info in events
            if pos < target[1]
        )

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
            # Field.createInternal prefixes the key with "internal.": without it, it is ignored
            "internal.schema.history.internal.ddl.filter": unparseable_ddl_filter([*tables, SIGNAL_TABLE]),
            **COMMON_CONNECTOR_OPTIONS,
            **self._key_columns(tables),
            **self._tls_options(),
        }

    def _tls_options(self) -> dict[str, str]:
        tls, login = self.tls, self.login("capture")
        password = None
        if tls is not None and tls.cert is not None:
            try:
                password = self.password("capture").get_secret_value()
            except ConfigError as exc:
                why = f"it also protects the keystore of sources.{self.name}.tls.cert_file"
                raise ConfigError(f"{exc}; {why}") from None
        return binlog_connector_options(self.kind, tls, login.password_env, password)

    def signal_table_sql(self) -> str:
        return f"{quote(self.source.database)}.{quote(SIGNAL_TABLE)}"

    # --- preflight -----------------------------------------------------------------------

    def _check_server(self) -> list[Finding]:
        placeholders = ", ".join(["%s"] * len(SERVER_VARIABLES))
        rows = self._query(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({placeholders})", SERVER_VARIABLES)
        return server_findings(self.name, {name.lower(): value for name, value in rows})

    def check(self, tables: list[str]) -> list[Finding]:
        """As `Source.check`, with the tables each user sees listed once for both steps."""
        seen = self._seen_by_either()
        capture = self._capture_user_findings(tables, seen)
        return [*self._check_server(), *capture, *self._table_findings(tables, seen)]

    def _capture_user_findings(self, tables: list[str], seen: tuple[set[str], set[str]]) -> list[Finding]:
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
                for table in self._unreadable(cur, tables):
                    found.append(
                        self.finding(
                            subject,
                            f"cannot SELECT from {self.source.database}.{table} (the snapshot reads it)",
                            f"GRANT SELECT ON {quote(self.source.database)}.* TO '{login.user}'@'%'",
                        )
                    )
                if SIGNAL_TABLE in set().union(*seen):  # missing: a finding of its own
                    found += self.own_table_findings({SIGNAL_TABLE: self._signal_privileges(cur)})
        finally:
            conn.close()
        return found

    def _unreadable(self, cur: Any, tables: list[str]) -> list[str]:
        """The tables the cursor's user cannot SELECT from."""
        refused = []
        for table in tables:
            try:
                cur.execute(f"SELECT 1 FROM {quote(self.source.database)}.{quote(table)} LIMIT 0")
            except pymysql.MySQLError:
                refused.append(table)
        return refused

    def _signal_privileges(self, cur: Any) -> set[str]:
        """SELECT and INSERT on the signal table, as far as the cursor's user has them: EXPLAIN
        checks an INSERT's privileges without running it."""
        signal = self.signal_table_sql()
        held = set()
        for privilege, statement in (
            ("SELECT", f"SELECT 1 FROM {signal} LIMIT 0"),
            ("INSERT", f"EXPLAIN INSERT INTO {signal} (id, type, data) VALUES ('cdc-check', 'check', NULL)"),
        ):
            try:
                cur.execute(statement)
                held.add(privilege)
            except pymysql.MySQLError:
                pass  # denied: `own_table_findings` names the privilege and its GRANT
        return held

    def grant_sql(self, privileges: tuple[str, ...], table: str, user: str) -> str:
        """`GRANT privileges ON table TO user` (for a fix's text)."""
        target = f"{quote(self.source.database)}.{quote(table)}"
        return f"GRANT {', '.join(privileges)} ON {target} TO '{user}'@'%'"

    def _table_findings(self, tables: list[str], seen_by_either: tuple[set[str], set[str]]) -> list[Finding]:
        found: list[Finding] = []
        db = self.source.database
        seen, hidden = seen_by_either
        if SIGNAL_TABLE not in seen | hidden:
            found.append(
                self.finding(
                    f"table {db}.{SIGNAL_TABLE}",
                    "Debezium's signal table is missing (needed to snapshot tables added later)",
                    f"cdc sources prepare {self.name}",
                )
            )
        read = self.login("read").user
        conn = self.connect("read")
        try:
            with conn.cursor() as cur:
                unreadable = self._unreadable(cur, tables)
        finally:
            conn.close()
        # a table the read user cannot see at all is missing from `tables` ("*" resolves as it)
        unreadable += sorted(t for t in hidden if t not in OWN_TABLES and matches(self.source.tables, t))
        for table in unreadable:  # its catalog is hidden from the read user too
            grant = f"GRANT SELECT ON {quote(db)}.* TO '{read}'@'%'  (cdc sources prepare {self.name})"
            found.append(self.finding(f"read user {read}", f"cannot SELECT from {db}.{table}", grant))
        for table in [t for t in tables if t not in unreadable]:
            try:
                catalog = self.catalog(table)
            except UnknownTableError as exc:
                found.append(self.finding(f"table {db}.{table}", str(exc).split(": ", 1)[-1], _KEY_FIX))
                continue
            found += self.column_findings(catalog)
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
