"""PostgreSQL sources: Debezium's pgoutput connector, a slot and a publication per source.

The publication (`cdc_<name>`) is created and kept in step by the admin (`cdc sources
prepare`, and `cdc connectors apply` when the admin login is configured), never by Debezium
(`publication.autocreate.mode=disabled`), so the capture user needs no table ownership. It
lists exactly the captured tables: a schema-wide publication would make PostgreSQL refuse
UPDATE and DELETE on every table of the schema without a primary key or replica identity,
breaking applications that never asked to be captured. `publish_via_partition_root` makes a
partitioned table's changes arrive under the parent's name (one topic, as its rows are one
table), not under each partition's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.adapt import Loader
from psycopg.types.datetime import DateLoader, TimeLoader, TimestampLoader, TimestamptzLoader
from psycopg.types.string import TextLoader

from cdc_ods.endpoints import split_host_port
from cdc_ods.errors import TransientError
from cdc_ods.sources import postgres_types
from cdc_ods.sources.base import (
    COMMON_CONNECTOR_OPTIONS,
    HEARTBEAT_TABLE,
    OWN_TABLE_NEEDS,
    ROWS_PER_FETCH,
    SIGNAL_TABLE,
    CatalogColumn,
    Finding,
    LogRetention,
    Preparation,
    Role,
    Source,
    TableCatalog,
    UnknownTableError,
)
from cdc_ods.sources.tls import Tls, libpq_options, postgres_connector_options

CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector"

_COLUMNS = """
SELECT c.column_name, LOWER(c.data_type), c.udt_name, c.numeric_precision, c.numeric_scale,
       c.datetime_precision, c.is_nullable = 'YES', format_type(a.atttypid, a.atttypmod), a.attstorage
FROM information_schema.columns c
JOIN pg_attribute a ON a.attrelid = format('%%I.%%I', c.table_schema, c.table_name)::regclass
                   AND a.attname = c.column_name
WHERE c.table_schema = %s AND c.table_name = %s
ORDER BY c.ordinal_position
"""
_PRIMARY_KEY = """
SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = %s::regclass AND i.indisprimary
ORDER BY array_position(i.indkey, a.attnum)
"""
_TABLE = """
SELECT c.relreplident, c.relkind = 'p' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s
"""
_BASE_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname
"""
# by oid: a name would need USAGE on the schema just to be looked up
_CAN_SELECT = """
SELECT COALESCE(bool_or(has_table_privilege(c.oid, 'SELECT')), false) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s
"""
# the current user's privileges on the project's own tables that exist (a missing one is a
# finding of its own)
_PRIVILEGES = ("SELECT", "INSERT", "UPDATE")
_OWN_TABLE_PRIVILEGES = """
SELECT c.relname, has_table_privilege(c.oid, 'SELECT'), has_table_privilege(c.oid, 'INSERT'),
       has_table_privilege(c.oid, 'UPDATE')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = ANY (%s)
"""
_REPLICA_IDENTITY = {"d": "default", "f": "full", "i": "index", "n": "nothing"}


def _text_when_out_of_range(base: type[Loader]) -> type[Loader]:
    """`base`, but a value Python cannot hold (a BC or year-10000 date, `infinity`) loads as
    the server's text instead of failing the whole read."""

    class Loader(base):  # type: ignore[valid-type, misc]
        def load(self, data: Any) -> Any:
            try:
                return super().load(data)
            except psycopg.DataError:
                return bytes(data).decode()

    return Loader


# Read as the server's text, the form the ODS keeps (postgres_types): an interval as a
# timedelta would count a month as 30 days, JSON parsed would turn 1e400 into infinity, a
# range object prints otherwise.
_AS_TEXT = ("interval", "json", "jsonb", "int4range", "int8range", "numrange", "daterange", "tsrange",
            "tstzrange")  # fmt: skip
_OUT_OF_RANGE_AS_TEXT = {
    "date": _text_when_out_of_range(DateLoader),
    "timestamp": _text_when_out_of_range(TimestampLoader),
    "timestamptz": _text_when_out_of_range(TimestamptzLoader),
    "time": _text_when_out_of_range(TimeLoader),  # 24:00:00
}


def open_connection(
    address: str, user: str, password: str, database: str, autocommit: bool = True, tls: Tls | None = None
) -> psycopg.Connection:
    """A psycopg connection; an unreachable server, a refused login or a failed TLS handshake
    is one line naming both."""
    host, port = split_host_port(address)
    try:
        return psycopg.connect(
            host=host, port=port, user=user, password=password, dbname=database,
            autocommit=autocommit, connect_timeout=5, **libpq_options(tls),
        )  # fmt: skip
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        raise TransientError(f"PostgreSQL source at {address} as {user}: {reason}") from None


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _text(composed: sql.Composable, conn: psycopg.Connection) -> str:
    return composed.as_string(conn)


class PostgresSource(Source):
    column_type = staticmethod(postgres_types.column_type)
    event_source = postgres_types.EVENT_SOURCE
    open_connection = staticmethod(open_connection)

    def _local_address(self) -> str:
        return self.endpoints.postgres

    @property
    def schema(self) -> str:
        return self.source.namespace

    @property
    def publication(self) -> str:
        return f"cdc_{self.name}"

    @property
    def slot(self) -> str:
        return f"cdc_{self.name}"

    def _query(self, query: str, args: tuple[Any, ...] = (), role: Role = "read") -> list[tuple[Any, ...]]:
        with self.connect(role) as conn:
            return list(conn.execute(query, args).fetchall())  # type: ignore[arg-type]

    # --- catalog -------------------------------------------------------------------------

    def namespace_tables(self) -> list[str]:
        return [name for (name,) in self._query(_BASE_TABLES, (self.schema,))]

    def catalog(self, table: str, role: Role = "read") -> TableCatalog:
        with self.connect(role) as conn:
            rows = conn.execute(_COLUMNS, (self.schema, table)).fetchall()  # type: ignore[arg-type]
            if not rows:
                return self._table(table, [], [])
            qualified = _text(sql.Identifier(self.schema, table), conn)
            key = [r[0] for r in conn.execute(_PRIMARY_KEY, (qualified,)).fetchall()]  # type: ignore[arg-type]
            identity, partitioned = conn.execute(_TABLE, (self.schema, table)).fetchone() or ("d", False)  # type: ignore[arg-type]
        columns = [
            CatalogColumn(
                name,
                data_type,
                column_type=formatted,
                precision=precision,
                scale=scale,
                datetime_precision=dt_precision,
                nullable=bool(nullable),
                element_type=udt,
                json=data_type in ("json", "jsonb"),
            )
            for name, data_type, udt, precision, scale, dt_precision, nullable, formatted, _storage in rows
        ]
        catalog = self._table(
            table, columns, key, _REPLICA_IDENTITY.get(identity, identity), bool(partitioned)
        )
        return catalog

    def toastable_columns(self, table: str, role: Role = "read") -> list[str]:
        """Columns whose values PostgreSQL may store out of line (TOAST): an UPDATE that leaves
        one unchanged logs no value for it unless the table's replica identity is FULL."""
        rows = self._query(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
            " AND NOT attisdropped AND attstorage IN ('x', 'e') ORDER BY attnum",
            (f'"{self.schema}"."{table}"',),
            role,
        )
        return [name for (name,) in rows]

    def rows(self, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
        conn = self.connect("read", autocommit=False)
        for type_name, loader in _OUT_OF_RANGE_AS_TEXT.items():
            conn.adapters.register_loader(type_name, loader)
        for type_name in _AS_TEXT:
            conn.adapters.register_loader(type_name, TextLoader)
        conn.execute("SET intervalstyle = 'iso_8601'")
        names = ", ".join(map(quote, columns))
        with conn, conn.cursor(name="cdc_reconcile") as cur:  # a server-side cursor streams
            cur.itersize = ROWS_PER_FETCH
            cur.execute(f"SELECT {names} FROM {quote(self.schema)}.{quote(table)}")  # type: ignore[arg-type]
            yield from cur

    def position(self) -> tuple[int, int]:
        ((lsn,),) = self._query("SELECT pg_current_wal_lsn()::text")
        high, _, low = lsn.partition("/")
        return (int(high, 16) << 32) + int(low, 16), 0

    def log_retention(self, reached: tuple[int, int] | None) -> LogRetention:
        """The connector's replication slot: `wal_status` 'lost' once max_slot_wal_keep_size made
        PostgreSQL remove WAL it retained (invalidated), `safe_wal_size` the WAL that may still
        be written before that (NULL: no limit). A connector with a position and no slot lost
        its place too (Debezium refuses to start; a new slot would start after the gap)."""
        rows = self._query(
            "SELECT wal_status, safe_wal_size, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint"
            " FROM pg_replication_slots WHERE slot_name = %s",
            (self.slot,),
        )
        if not rows:
            return LogRetention(reached is None)
        status, safe, behind = rows[0]
        return LogRetention(
            status != "lost",
            behind_bytes=None if behind is None else int(behind),
            safe_bytes=None if safe is None else int(safe),
        )

    def release_lost_log(self) -> str | None:
        rows = self._query("SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", (self.slot,))
        if not rows or rows[0][0] != "lost":
            return None
        self._query("SELECT pg_drop_replication_slot(%s)", (self.slot,), role="admin")
        return f"dropped the invalidated replication slot {self.slot} (the connector creates it again)"

    # --- Debezium ------------------------------------------------------------------------

    def connector_config(self, tables: list[str]) -> dict[str, str]:
        host, port = split_host_port(self.address)
        schema = self.schema
        heartbeat = f"{quote(schema)}.{quote(HEARTBEAT_TABLE)}"
        return {
            "connector.class": CONNECTOR_CLASS,
            "plugin.name": "pgoutput",
            "database.hostname": host,
            "database.port": str(port),
            "database.user": self.login("capture").user,
            "database.password": f"${{env:{self.login('capture').password_env}}}",
            "database.dbname": self.source.database,
            "topic.prefix": self.name,
            "schema.include.list": schema,
            "table.include.list": ",".join(re.escape(f"{schema}.{t}") for t in tables),
            "slot.name": self.slot,
            "publication.name": self.publication,
            "publication.autocreate.mode": "disabled",
            # an interval as ISO 8601 text: months stay months (numeric mode counts 30.4375 days)
            "interval.handling.mode": "string",
            # the heartbeat's UPDATE makes WAL the slot can be confirmed past on an idle database
            "heartbeat.action.query": f"UPDATE {heartbeat} SET ts = now() WHERE id = 1",
            "signal.data.collection": f"{schema}.{SIGNAL_TABLE}",
            **COMMON_CONNECTOR_OPTIONS,
            **self._notification_options(),
            **self._topic_options(),
            **self._key_columns(tables),
            **postgres_connector_options(self.tls),
        }

    def signal_table_sql(self) -> str:
        return f"{quote(self.schema)}.{quote(SIGNAL_TABLE)}"

    def insert_signal(self, signal_id: str, signal_type: str, data: str) -> None:
        with self.connect("admin") as conn:
            conn.execute(
                sql.SQL("INSERT INTO {} (id, type, data) VALUES (%s, %s, %s)").format(
                    sql.Identifier(self.schema, SIGNAL_TABLE)
                ),
                (signal_id, signal_type, data),
            )

    # --- preflight -----------------------------------------------------------------------

    def _check_server(self) -> list[Finding]:
        ((wal_level, slots, senders, used_slots, ours),) = self._query(
            "SELECT current_setting('wal_level'), current_setting('max_replication_slots')::int,"
            " current_setting('max_wal_senders')::int, (SELECT count(*) FROM pg_replication_slots),"
            " EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = %s)",
            (self.slot,),
        )
        found: list[Finding] = []
        if wal_level != "logical":
            found.append(
                self.finding(
                    "server",
                    f"wal_level is {wal_level}: logical decoding needs logical",
                    "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL",
                )
            )
        if not ours and used_slots >= slots:
            found.append(
                self.finding(
                    "server",
                    f"no free replication slot ({used_slots} of max_replication_slots={slots} in use)",
                    f"ALTER SYSTEM SET max_replication_slots = {slots + 4}; then restart PostgreSQL",
                )
            )
        if senders < 1:
            found.append(
                self.finding(
                    "server",
                    "max_wal_senders is 0: no replication connection is possible",
                    "ALTER SYSTEM SET max_wal_senders = 10; then restart PostgreSQL",
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
        with conn:
            (replication,) = conn.execute(
                "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone() or (False,)
            if not replication:
                found.append(
                    self.finding(
                        subject,
                        "lacks REPLICATION: it cannot open the replication stream",
                        f'ALTER ROLE "{login.user}" WITH REPLICATION',
                    )
                )
            (usage,) = conn.execute(
                "SELECT has_schema_privilege(%s, 'USAGE')", (self.schema,)
            ).fetchone() or (False,)
            if not usage:
                found.append(
                    self.finding(
                        subject,
                        f"lacks USAGE on schema {self.schema}",
                        f'GRANT USAGE ON SCHEMA "{self.schema}" TO "{login.user}"',
                    )
                )
            for table in tables:
                (select,) = conn.execute(
                    _CAN_SELECT,
                    (self.schema, table),
                ).fetchone() or (False,)
                if not select:
                    found.append(
                        self.finding(
                            subject,
                            f"cannot SELECT from {self.schema}.{table} (the snapshot reads it)",
                            f'GRANT SELECT ON "{self.schema}"."{table}" TO "{login.user}"',
                        )
                    )
            rows = conn.execute(_OWN_TABLE_PRIVILEGES, (self.schema, list(OWN_TABLE_NEEDS))).fetchall()
            held = {t: {p for p, has in zip(_PRIVILEGES, flags, strict=True) if has} for t, *flags in rows}
        return found + self.own_table_findings(held)

    def grant_sql(self, privileges: tuple[str, ...], table: str, user: str) -> str:
        """`GRANT privileges ON table TO user` (for a fix's text)."""
        return f"GRANT {', '.join(privileges)} ON {quote(self.schema)}.{quote(table)} TO {quote(user)}"

    def unpublished(self, connector: dict[str, Any], tables: list[str]) -> list[str]:
        """Not in the source's publication: e.g. dropped and created again (a dropped table
        leaves the publication, and the new one is not added to a publication that lists
        tables). A connector naming another publication manages its own: nothing to tell."""
        if connector.get("publication.name") != self.publication:
            return []
        _, _, listed = self._published()
        return [t for t in tables if t not in listed]

    def _published(self) -> tuple[bool, bool, set[str]]:
        """(publication exists, publish_via_partition_root, tables it lists in our schema)."""
        rows = self._query("SELECT pubviaroot FROM pg_publication WHERE pubname = %s", (self.publication,))
        if not rows:
            return False, False, set()
        listed = self._query(
            "SELECT c.relname FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid"
            " JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE p.pubname = %s AND n.nspname = %s",
            (self.publication, self.schema),
        )
        return True, bool(rows[0][0]), {name for (name,) in listed}

    def _check_tables(self, tables: list[str]) -> list[Finding]:
        found: list[Finding] = []
        prepare = f"cdc sources prepare {self.name}"
        existing = self.namespace_tables()
        for own in (SIGNAL_TABLE, HEARTBEAT_TABLE):
            if own not in existing:
                found.append(
                    self.finding(f"table {self.schema}.{own}", "Debezium's table is missing", prepare)
                )
        exists, via_root, listed = self._published()
        if not exists:
            found.append(self.finding("server", f"publication {self.publication} does not exist", prepare))
        read = self.login("read").user
        ((usage,),) = self._query("SELECT has_schema_privilege(%s, 'USAGE')", (self.schema,))
        if not usage:  # the catalog of its tables cannot be read: nothing more to check
            grant = f'GRANT USAGE ON SCHEMA "{self.schema}" TO "{read}"  ({prepare})'
            return [*found, self.finding(f"read user {read}", f"lacks USAGE on schema {self.schema}", grant)]
        for table in tables:
            subject = f"table {self.schema}.{table}"
            ((readable,),) = self._query(
                _CAN_SELECT,
                (self.schema, table),
            )
            if not readable:
                grant = f'GRANT SELECT ON "{self.schema}"."{table}" TO "{read}"  ({prepare})'
                found.append(
                    self.finding(f"read user {read}", f"cannot SELECT from {self.schema}.{table}", grant)
                )
                continue
            try:
                catalog = self.catalog(table)
            except UnknownTableError as exc:
                found.append(self.finding(subject, str(exc).split(": ", 1)[-1], _KEY_FIX))
                continue
            if exists and table not in listed:
                found.append(
                    self.finding(
                        subject, f"not in publication {self.publication}: nothing would arrive", prepare
                    )
                )
            if catalog.partitioned and exists and not via_root:
                found.append(
                    self.finding(
                        subject,
                        "partitioned, but the publication does not publish via the partition root:"
                        " changes would arrive under the partitions' names",
                        f"ALTER PUBLICATION {self.publication} SET (publish_via_partition_root = true)",
                    )
                )
            if catalog.replica_identity != "full":
                toasted = self.toastable_columns(table) if catalog.replica_identity == "default" else []
                if catalog.key_configured or catalog.replica_identity == "nothing":
                    found.append(
                        self.finding(
                            subject,
                            f"replica identity {catalog.replica_identity} without a primary key: once"
                            " published, PostgreSQL refuses its UPDATE and DELETE, and Debezium would"
                            " get no before image",
                            f'ALTER TABLE "{self.schema}"."{table}" REPLICA IDENTITY FULL  ({prepare})',
                        )
                    )
                elif toasted:
                    found.append(
                        self.finding(
                            subject,
                            f"replica identity {catalog.replica_identity} with TOASTable columns"
                            f" ({', '.join(toasted)}): an update that leaves a large value unchanged"
                            " arrives without it (the cleansing stage dead-letters such updates)",
                            f'ALTER TABLE "{self.schema}"."{table}" REPLICA IDENTITY FULL  ({prepare})',
                        )
                    )
            found += self.column_findings(catalog)
        return found

    # --- preparation ---------------------------------------------------------------------

    def preparation(self, tables: list[str]) -> Preparation:
        with self.connect("admin") as conn:
            return self._preparation(conn, tables)

    def _preparation(self, conn: psycopg.Connection, tables: list[str]) -> Preparation:
        capture = self.login("capture").user
        read = self.login("read").user
        ident = {
            "db": sql.Identifier(self.source.database),
            "schema": sql.Identifier(self.schema),
            "signal": sql.Identifier(self.schema, SIGNAL_TABLE),
            "heartbeat": sql.Identifier(self.schema, HEARTBEAT_TABLE),
            "pub": sql.Identifier(self.publication),
        }
        out: list[sql.Composable] = [
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {schema}"),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {signal}"
                " (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048) NULL)"
            ),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {heartbeat}"
                " (id INT PRIMARY KEY, ts TIMESTAMPTZ NOT NULL DEFAULT now())"
            ),
            sql.SQL("INSERT INTO {heartbeat} (id) VALUES (1) ON CONFLICT DO NOTHING"),
        ]
        (replication,) = conn.execute(
            "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = %s", (capture,)
        ).fetchone() or (True,)
        if not replication:
            out.append(sql.SQL("ALTER ROLE {} WITH REPLICATION").format(sql.Identifier(capture)))
        for user in dict.fromkeys((capture, read)):
            who = sql.Identifier(user)
            out.append(sql.SQL("GRANT CONNECT ON DATABASE {db} TO {who}").format(who=who, **ident))
            out.append(sql.SQL("GRANT USAGE ON SCHEMA {schema} TO {who}").format(who=who, **ident))
            for table in tables:
                out.append(
                    sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(self.schema, table), who)
                )
        out.append(
            sql.SQL("GRANT SELECT, INSERT ON {signal} TO {who}").format(who=sql.Identifier(capture), **ident)
        )
        out.append(
            sql.SQL("GRANT SELECT, UPDATE ON {heartbeat} TO {who}").format(
                who=sql.Identifier(capture), **ident
            )
        )
        # before the table joins the publication: a published table without a key or
        # identity would refuse UPDATE and DELETE at the source from then on
        for table in tables:
            if self._needs_full_identity(table):
                out += [
                    sql.SQL("ALTER TABLE {} REPLICA IDENTITY FULL").format(sql.Identifier(self.schema, t))
                    for t in self._with_partitions(conn, table)
                ]
        out += self._publication_statements(conn, tables, exact=True)
        statements = [
            s.format(**ident).as_string(conn) if isinstance(s, sql.SQL) else s.as_string(conn) for s in out
        ]
        return Preparation(
            statements,
            manual=[
                "server (postgresql.conf; restart): wal_level=logical, max_replication_slots, max_wal_senders"
            ],
        )

    def _with_partitions(self, conn: psycopg.Connection, table: str) -> list[str]:
        """The table and, when partitioned, every partition below it: a replica identity set
        on the parent does not reach them, and their UPDATEs are what is published."""
        rows = conn.execute(
            "SELECT c.relname FROM pg_partition_tree(%s::regclass) t JOIN pg_class c ON c.oid = t.relid"
            " ORDER BY t.level, c.relname",
            (f'"{self.schema}"."{table}"',),
        ).fetchall()
        return [name for (name,) in rows] or [table]

    def _needs_full_identity(self, table: str) -> bool:
        """No primary key (a configured key), or TOASTable columns under the default identity
        (read as the admin: the read user may not have its grants yet)."""
        catalog = self.catalog(table, "admin")
        if catalog.replica_identity == "full":
            return False
        return catalog.key_configured or bool(self.toastable_columns(table, "admin"))

    def _publication_statements(
        self, conn: psycopg.Connection, tables: list[str], exact: bool
    ) -> list[sql.Composable]:
        """Create the publication or bring it in step: `exact` sets its tables to `tables`;
        otherwise only the missing ones are added (a one-off connector on a table of its own
        shares the source's publication)."""
        pub = sql.Identifier(self.publication)
        # Debezium reads its signals (incremental snapshots) from the replication stream, and
        # the heartbeat's UPDATE moves the connector's committed position only when Debezium
        # receives it: both tables are published too (neither is captured into a topic)
        tables = [*dict.fromkeys([*tables, SIGNAL_TABLE, HEARTBEAT_TABLE])]
        listed = sql.SQL(", ").join(sql.Identifier(self.schema, t) for t in tables)
        row = conn.execute(
            "SELECT pubviaroot FROM pg_publication WHERE pubname = %s", (self.publication,)
        ).fetchone()
        if row is None:
            target = sql.SQL(" FOR TABLE {}").format(listed) if tables else sql.SQL("")
            return [
                sql.SQL("CREATE PUBLICATION {}{} WITH (publish_via_partition_root = true)").format(
                    pub, target
                )
            ]
        out: list[sql.Composable] = []
        if not row[0]:
            out.append(sql.SQL("ALTER PUBLICATION {} SET (publish_via_partition_root = true)").format(pub))
        present = {
            name
            for (name,) in conn.execute(
                "SELECT c.relname FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid"
                " JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE p.pubname = %s AND n.nspname = %s",
                (self.publication, self.schema),
            ).fetchall()
        }
        if exact and tables and present != set(tables):
            out.append(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(pub, listed))
        elif missing := [t for t in tables if t not in present]:
            added = sql.SQL(", ").join(sql.Identifier(self.schema, t) for t in missing)
            out.append(sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(pub, added))
        return out

    def publish(self, tables: list[str]) -> list[str]:
        """As the admin: what a table newly captured by a running connector needs (`cdc sources
        sync`, `cdc connectors apply`): SELECT for the capture user (Debezium's incremental
        snapshot reads the table) and the read user (catalog reads, reconcile) where they lack
        it, the replica identity, and its place in the publication (adding only). Returns the
        statements run."""
        with self.connect("admin") as conn:
            planned = self._missing_selects(conn, tables)
            for table in tables:  # before the table joins the publication (see `_preparation`)
                if self._needs_full_identity(table):
                    planned += [
                        sql.SQL("ALTER TABLE {} REPLICA IDENTITY FULL").format(sql.Identifier(self.schema, t))
                        for t in self._with_partitions(conn, table)
                    ]
            planned += self._publication_statements(conn, tables, exact=False)
            statements = [s.as_string(conn) for s in planned]
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]
        return statements

    def _missing_selects(self, conn: psycopg.Connection, tables: list[str]) -> list[sql.Composable]:
        """GRANT SELECT on each of `tables` to the capture and read users that lack it (a role
        or table that does not exist is left to Connect's validation and `cdc sources check`)."""
        users = list(dict.fromkeys((self.login("capture").user, self.login("read").user)))
        out: list[sql.Composable] = []
        for table in tables:
            target = sql.Identifier(self.schema, table)
            lacking = conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname = ANY (%s)"
                " AND NOT has_table_privilege(oid, to_regclass(%s), 'SELECT') ORDER BY rolname",
                (users, target.as_string(conn)),
            ).fetchall()
            out += [sql.SQL("GRANT SELECT ON {} TO {}").format(target, sql.Identifier(u)) for (u,) in lacking]
        return out

    def _execute(self, conn: Any, statements: list[str]) -> None:
        for statement in statements:
            conn.execute(statement)


_KEY_FIX = (
    "add a primary key, or name the key columns in cdc.yaml: table_options: {TABLE: {key: [COLUMN, ...]}}"
)
