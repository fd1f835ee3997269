"""What every kind of source database offers the rest of the pipeline.

One subclass of `Source` per kind (`mysql.py` for MariaDB/MySQL, `postgres.py`,
`mongodb.py`) owns everything about it: connecting with each of its accounts, reading its
catalog, its current log position, the Debezium connector config it needs, the preflight
checks (`cdc sources check`) and the statements that prepare it (`cdc sources prepare`).
The stages, reconcile, the producers and `cdc status` ask a `Source`; none of them reads an
information_schema or branches on the kind.
"""

from __future__ import annotations

import fnmatch
import re
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import SecretStr

from cdc_ods import contract
from cdc_ods.config import Config, SourceConfig, SourceLogin
from cdc_ods.contract import MAX_RECORD_BYTES, binlog_number
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError, ConfigError, TransientError
from cdc_ods.secrets import lookup_secret
from cdc_ods.sources.tls import Tls
from cdc_ods.sources.types import ColumnType, EventSource

Role = Literal["capture", "read", "admin"]

ROWS_PER_FETCH = 5000  # rows per round trip when `rows` streams a table

# Created by the admin in every source database/schema (`cdc sources prepare`, and
# `cdc stack up` locally): Debezium's signal table (ad-hoc incremental snapshots write their
# window watermarks there) and PostgreSQL's heartbeat table (see `PostgresSource`).
SIGNAL_TABLE = "debezium_signal"
HEARTBEAT_TABLE = "debezium_heartbeat"
OWN_TABLES = frozenset({SIGNAL_TABLE, HEARTBEAT_TABLE})
# What the capture user needs on those tables, and why (`cdc sources check` names what lacks)
OWN_TABLE_NEEDS: dict[str, tuple[tuple[str, ...], str]] = {
    SIGNAL_TABLE: (
        ("SELECT", "INSERT"),
        "Debezium reads it and writes there the windows of incremental snapshots of tables added later",
    ),
    HEARTBEAT_TABLE: (
        ("SELECT", "UPDATE"),
        "the heartbeat query updates its row so the replication slot advances while the captured tables"
        " are idle; otherwise the server keeps all WAL from then on",
    ),
}

# Options every Debezium connector of the project shares (each is explained in
# cdc_ods.connectors.configs); a kind adds its own.
COMMON_CONNECTOR_OPTIONS: dict[str, str] = {
    "tasks.max": "1",
    "snapshot.mode": "initial",
    "decimal.handling.mode": "string",
    "time.precision.mode": "adaptive_time_microseconds",
    "binary.handling.mode": "hex",
    "tombstones.on.delete": "false",
    # TRUNCATE is an event (op t) the loader applies; Debezium's default skips it ("t")
    "skipped.operations": "none",
    # a source position that moves on an idle database, every 2 s: lag and freshness stay
    # true, and a catch-up wait (`cdc reconcile`, `--replace`) sees it reached within seconds
    "heartbeat.interval.ms": "2000",
    "errors.max.retries": "3",
    "topic.creation.default.replication.factor": "1",
    "topic.creation.default.partitions": "1",
    # rows of several MB (contract.MAX_RECORD_BYTES): the raw topic and Connect's producer take them
    "topic.creation.default.max.message.bytes": str(MAX_RECORD_BYTES),
    "producer.override.max.request.size": str(MAX_RECORD_BYTES),
    "poll.interval.ms": "50",
    # Connect's JSON converter writes a Decimal (BIGINT UNSIGNED in precise mode) as base64 of
    # its bytes by default; as a JSON number it stays readable and exact
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "key.converter.schemas.enable": "false",
    "key.converter.decimal.format": "NUMERIC",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "false",
    "value.converter.decimal.format": "NUMERIC",
}


# Column names that usually hold personal data -> the mask `cdc sources check` suggests
PERSONAL_DATA = {"email": "email", "phone": "phone", "birth_date": "year", "date_of_birth": "year"}


class UnknownTableError(CdcError):
    """The source has no such table, or a table has no key to identify its rows by."""


@dataclass(frozen=True)
class CatalogColumn:
    """One column as the source's catalog describes it."""

    name: str
    data_type: str  # information_schema data_type, lower case ("array" for PostgreSQL arrays)
    column_type: str = ""  # MySQL family: the full type, e.g. "int(10) unsigned", "enum('a','b')"
    precision: int | None = None
    scale: int | None = None
    datetime_precision: int | None = None
    nullable: bool = True
    element_type: str | None = None  # PostgreSQL: udt_name, "_int4" for an int4 array
    unsigned: bool = False
    json: bool = False  # MariaDB's JSON is LONGTEXT with a json_valid() check


@dataclass(frozen=True)
class TableCatalog:
    """A source table: its columns in order and the key that identifies a row."""

    source: str
    namespace: str  # PostgreSQL schema / MySQL-family database
    name: str
    columns: tuple[CatalogColumn, ...]
    key: tuple[str, ...]  # the primary key, or the key configured in cdc.yaml
    key_configured: bool = False
    replica_identity: str | None = None  # PostgreSQL: default, full, index, nothing
    partitioned: bool = False  # PostgreSQL: a partitioned parent table

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}"

    def column(self, name: str) -> CatalogColumn | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class LogRetention:
    """The log a connector must read next, seen from the source (`cdc watch` exports it)."""

    available: bool  # still on the server: the connector can resume from its position
    behind_bytes: int | None = None  # log written after the connector's position
    safe_bytes: int | None = None  # PostgreSQL: WAL that may still be written before the slot is lost
    retention_s: float | None = None  # MariaDB/MySQL: binlog expiry (None: never expires)


@dataclass(frozen=True)
class Finding:
    """One thing `cdc sources check` found: what stops (error) or endangers (warning)
    capture, where, and the statement or setting that fixes it."""

    source: str
    subject: str  # "server", "capture user", or "table <namespace>.<table>"
    problem: str
    fix: str
    severity: Literal["error", "warning"] = "error"

    def as_dict(self) -> dict[str, str]:
        return {
            "source": self.source,
            "subject": self.subject,
            "severity": self.severity,
            "problem": self.problem,
            "fix": self.fix,
        }


@dataclass
class Preparation:
    """What `cdc sources prepare` runs as the admin, in order; `manual` lists what SQL
    cannot do (server settings that need a restart)."""

    statements: list[str] = field(default_factory=list)
    manual: list[str] = field(default_factory=list)


def local_login(kind: str, role: Role) -> SourceLogin:
    """The local stack's generated accounts (see `cdc_ods.secrets`)."""
    from cdc_ods.secrets import ADMIN_USER, DEBEZIUM_USER

    family = "MYSQL" if kind in ("mariadb", "mysql") else kind.upper()
    if role == "capture":
        return SourceLogin(user=DEBEZIUM_USER, password_env=f"CDC_{family}_DEBEZIUM_PASSWORD")
    return SourceLogin(user=ADMIN_USER, password_env=f"CDC_{family}_ADMIN_PASSWORD")


def matches(patterns: list[str], table: str) -> bool:
    return any(fnmatch.fnmatchcase(table, p) for p in patterns)


class Source(ABC):
    """One configured source (an entry of cdc.yaml's `sources`)."""

    def __init__(self, config: Config, source: SourceConfig, endpoints: Endpoints | None = None) -> None:
        self.config = config
        self.source = source
        self.endpoints = endpoints or Endpoints.from_config(config)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def kind(self) -> str:
        return self.source.kind

    @property
    def address(self) -> str:
        return self.source.address or self._local_address()

    @abstractmethod
    def _local_address(self) -> str: ...

    @property
    def tls(self) -> Tls | None:
        """cdc.yaml's `tls:` of this source, files resolved (None: the drivers' defaults)."""
        return Tls.of(self.config, self.source)

    def _tls_hint(self, message: str) -> str:
        """A refused plain-text login, with what to set in cdc.yaml."""
        if self.source.is_local or (self.tls is not None and self.tls.mode != "disabled"):
            return message
        fix = f"set sources.{self.name}.tls, e.g. {{mode: verify_identity, ca_file: ca.pem}}"
        if any(s in message for s in ("no encryption", "insecure transport")):
            return f"{message} (the server accepts only TLS connections: {fix})"
        if "Access denied" in message:  # MariaDB's answer to plain text under require_secure_transport
            return f"{message} (if the server accepts only TLS connections: {fix})"
        return message

    # --- accounts ------------------------------------------------------------------------

    def login(self, role: Role) -> SourceLogin:
        configured = getattr(self.source, role)
        if configured is not None:
            return configured
        if self.source.is_local:
            return local_login(self.kind, role)
        raise ConfigError(
            f"sources.{self.name}.{role}: not set; a source with an address needs"
            f" `{role}: {{user: NAME, password_env: VARIABLE}}`"
        )

    def password(self, role: Role) -> SecretStr:
        login = self.login(role)
        secret = lookup_secret(self.config.data_dir, login.password_env)
        if secret is None:
            raise ConfigError(
                f"sources.{self.name}.{role}: the password variable {login.password_env} is not set"
                " (export it, or add it to the secrets file <data_dir>/secrets.env)"
            )
        return secret

    # Debezium's `source` block of the kind's change events and its log position (cleansing)
    event_source: EventSource
    # the kind's driver: (address, user, password, database, autocommit, tls) -> a connection
    open_connection: Callable[..., Any]

    def connect(self, role: Role = "read", autocommit: bool = True) -> Any:
        """A DB-API connection to the source database as `role`; an unreachable server, a
        refused login or a failed TLS handshake is a one-line error naming the address and
        the user (and the TLS setting, when that is what failed)."""
        login = self.login(role)
        password = self.password(role).get_secret_value()
        try:
            return self.open_connection(
                self.address, login.user, password, self.source.database, autocommit, self.tls
            )
        except TransientError as exc:
            raise TransientError(self._tls_hint(str(exc))) from None

    # --- catalog -------------------------------------------------------------------------

    @abstractmethod
    def namespace_tables(self) -> list[str]:
        """Every base table of the captured namespace (views and partitions excluded)."""

    def unpublished(self, connector: dict[str, Any], tables: list[str]) -> list[str]:
        """Of `tables`, those whose changes the source's log does not give `connector` (its
        config). The binlog carries every table; PostgreSQL's publication only those it lists."""
        return []

    def base_tables(self) -> list[str]:
        """The tables `tables` patterns choose from: the namespace's, minus the project's own
        signal and heartbeat tables."""
        return [t for t in self.namespace_tables() if t not in OWN_TABLES]

    def tables(self) -> list[str]:
        """The captured tables: cdc.yaml's names as they are and, when an entry is a pattern,
        every matching table of the source (one catalog read). A name the source no longer has
        (renamed or dropped) stays, as its topics and ODS table do: the stages and the
        watchdog go on for the other tables; only a connector config refuses it
        (`resolve_tables`)."""
        if not any(c in p for p in self.source.tables for c in "*?["):
            return list(self.source.tables)
        existing = self.base_tables()
        gone = [p for p in self.source.tables if not any(c in p for c in "*?[") and p not in existing]
        return [*(t for t in existing if matches(self.source.tables, t)), *gone]

    def existing_tables(self) -> list[str]:
        """The configured tables (names or patterns) that exist at the source now."""
        return [t for t in self.base_tables() if matches(self.source.tables, t)]

    def resolve_tables(self, available: list[str] | None = None) -> list[str]:
        """The configured `tables` (names or glob patterns) matched against the source; an
        explicit name that is not there is an error naming it."""
        existing = self.base_tables() if available is None else available
        missing = [p for p in self.source.tables if not any(c in p for c in "*?[") and p not in existing]
        if missing:
            raise UnknownTableError(
                f"sources.{self.name}.tables: {', '.join(missing)} not found in"
                f" {self.source.namespace} at {self.address}"
            )
        return [t for t in existing if matches(self.source.tables, t)]

    @abstractmethod
    def catalog(self, table: str) -> TableCatalog:
        """The table's columns and key; raises UnknownTableError if it is not there or has
        neither a primary key nor a key configured in cdc.yaml."""

    @abstractmethod
    def rows(self, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
        """Every row of `table`, `columns` in that order, streamed as the read user (reconcile).
        A value the client library cannot represent (a BC date) comes as the server's text."""

    def configured_key(self, table: str) -> list[str] | None:
        return self.source.options(table).key

    def _table(
        self,
        table: str,
        columns: list[CatalogColumn],
        primary_key: list[str],
        replica_identity: str | None = None,
        partitioned: bool = False,
    ) -> TableCatalog:
        where = f"{self.name}: table {self.source.namespace}.{table}"
        if not columns:
            raise UnknownTableError(f"{where} not found at {self.address}")
        configured = self.configured_key(table)
        key = configured or primary_key
        if not key:
            raise UnknownTableError(
                f"{where} has no primary key: add one, or name its key columns in cdc.yaml"
                f" (sources.{self.name}.table_options.{table}.key)"
            )
        unknown = [k for k in key if k not in {c.name for c in columns}]
        if unknown:
            raise ConfigError(
                f"sources.{self.name}.table_options.{table}.key: no column {', '.join(unknown)}"
            )
        return TableCatalog(
            self.name, self.source.namespace, table, tuple(columns), tuple(key),
            key_configured=bool(configured), replica_identity=replica_identity, partitioned=partitioned,
        )  # fmt: skip

    @staticmethod
    @abstractmethod
    def column_type(column: CatalogColumn) -> ColumnType:
        """How the column travels: Debezium's form, the cleansing, the ODS's Phoenix type
        (`sources.types`); a column that cannot be carried exactly says why."""

    def column_findings(self, catalog: TableCatalog) -> list[Finding]:
        """Per column: an error when the pipeline cannot carry it exactly; a warning when its
        name says personal data and cdc.yaml does not mask it."""
        subject = f"table {catalog.qualified}"
        found = [
            self.finding(
                subject,
                f"column {c.name} {c.column_type or c.data_type}: {refusal}",
                f"leave {catalog.name} out of `tables`, or change the column's type",
            )
            for c in catalog.columns
            if (refusal := self.column_type(c).refusal)
        ]
        masked = self.source.options(catalog.name).pii
        found += [
            self.finding(
                subject,
                f"column {c.name} looks like personal data and reaches the ODS as it is",
                f"mask it: sources.{self.name}.table_options.{catalog.name}.pii.{c.name}:"
                f" {PERSONAL_DATA[c.name.lower()]}",
                "warning",
            )
            for c in catalog.columns
            if c.name.lower() in PERSONAL_DATA and c.name not in masked
        ]
        return found

    # --- log position ----------------------------------------------------------------------

    @abstractmethod
    def position(self) -> tuple[int, int]:
        """The source's current log position, comparable with the connector's offsets."""

    @staticmethod
    def offset_position(offset: dict[str, Any]) -> tuple[int, int] | None:
        """A Debezium connector's committed offset as a position comparable with `position()`:
        the MySQL family's (binlog file number, position), PostgreSQL's (LSN, 0)."""
        if "file" in offset:
            return binlog_number(str(offset["file"])), int(offset.get("pos", 0))
        lsns = [int(offset[k]) for k in ("lsn", "lsn_commit", "lsn_proc") if offset.get(k) is not None]
        return (max(lsns), 0) if lsns else None

    def only_uncaptured_between(self, reached: tuple[int, int], target: tuple[int, int]) -> bool:
        """Whether the log from `reached` (a connector's committed position) to `target` holds
        no change of a captured table, so the connector counts as caught up (see
        cdc_ods.reconcile.catchup). Only the MySQL family can tell; the others say no."""
        return False

    def log_retention(self, reached: tuple[int, int] | None) -> LogRetention | None:
        """Whether the log from `reached` (the connector's committed position; None: it has
        none yet) is still on the server, and how close it is to being removed; None when this
        kind cannot tell."""
        return None

    def release_lost_log(self) -> str | None:
        """Before a re-snapshot (`cdc connectors recover`): free what holds the lost log's
        place (PostgreSQL: drop the invalidated replication slot, so the connector creates it
        again). What was done, or None."""
        return None

    # --- Debezium ------------------------------------------------------------------------

    def connector_name(self) -> str:
        return self.name

    def server_id(self) -> int:
        """A stable replication client id per source name (MySQL family)."""
        return self.source.server_id or 5400 + zlib.crc32(self.name.encode()) % 1_000_000

    @abstractmethod
    def connector_config(self, tables: list[str]) -> dict[str, str]:
        """The Debezium connector config capturing `tables` (no secret in it: the password
        is a `${env:...}` reference the Connect worker resolves)."""

    def _notification_options(self) -> dict[str, str]:
        """Debezium reports each snapshot's start, progress and end to the source's
        notification topic (an incremental snapshot's under its signal's id)."""
        return {
            "notification.enabled.channels": "sink",
            "notification.sink.topic.name": contract.notification_topic(self.name),
        }

    def _topic_options(self) -> dict[str, str]:
        """The table topics Debezium creates get `kafka.partitions`, or their table's own
        `partitions` (keyed by the row's key, so one row's changes stay in one partition, in
        order); its other topics (heartbeats, notifications, schema changes) keep the one
        partition of `topic.creation.default`."""
        namespace = self.source.namespace
        own = {
            re.escape(contract.raw_topic(self.name, namespace, table)): options.partitions
            for table, options in self.source.table_options.items()
            if options.partitions is not None
        }
        options = {
            "topic.creation.tables.include": re.escape(contract.raw_topic(self.name, namespace, "")) + ".+",
            "topic.creation.tables.partitions": str(self.config.kafka.partitions),
        }
        if own:
            options["topic.creation.tables.exclude"] = "|".join(own)
        for i, (topic, partitions) in enumerate(own.items(), start=1):
            options[f"topic.creation.table{i}.include"] = topic
            options[f"topic.creation.table{i}.partitions"] = str(partitions)
        groups = ["tables", *(f"table{i}" for i in range(1, len(own) + 1))]
        # a group inherits the default's replication factor, not its topic configs (the
        # record size the raw topics must take): each group gets them again
        default = "topic.creation.default."
        configs = {
            key.removeprefix(default): value
            for key, value in COMMON_CONNECTOR_OPTIONS.items()
            if key.startswith(default) and not key.endswith((".partitions", ".replication.factor"))
        }
        for group in groups:
            options.update({f"topic.creation.{group}.{key}": value for key, value in configs.items()})
        return {"topic.creation.groups": ",".join(groups), **options}

    def _key_columns(self, tables: list[str]) -> dict[str, str]:
        keyed = [
            f"{self.source.namespace}.{t}:{','.join(key)}" for t in tables if (key := self.configured_key(t))
        ]
        return {"message.key.columns": ";".join(keyed)} if keyed else {}

    # --- preflight and preparation -------------------------------------------------------

    def check(self, tables: list[str]) -> list[Finding]:
        """What stops or endangers capturing `tables` (existing ones), each with its fix: the
        server's settings, the capture user's privileges, each table."""
        return [*self._check_server(), *self._check_capture_user(tables), *self._check_tables(tables)]

    def _check_server(self) -> list[Finding]:
        return []

    def _check_capture_user(self, tables: list[str]) -> list[Finding]:
        return []

    def _check_tables(self, tables: list[str]) -> list[Finding]:
        return []

    def grant_sql(self, privileges: tuple[str, ...], table: str, user: str) -> str:
        """`GRANT privileges ON table TO user` in the source's dialect (for a fix's text)."""
        raise NotImplementedError(f"{self.kind} sources name no grants")

    def own_table_findings(self, held: dict[str, set[str]]) -> list[Finding]:
        """The capture user's missing privileges on the project's own tables, each with its
        GRANT. `held`: each own table that exists -> the privileges the user has on it."""
        user = self.login("capture").user
        found = []
        for table, privileges in held.items():
            needed, why = OWN_TABLE_NEEDS[table]
            missing = [p for p in needed if p not in privileges]
            if missing:
                found.append(
                    self.finding(
                        f"capture user {user}",
                        f"lacks {', '.join(missing)} on {self.source.namespace}.{table} ({why})",
                        f"{self.grant_sql(needed, table, user)}  (cdc sources prepare {self.name})",
                    )
                )
        return found

    def _capture_connection(self) -> tuple[Any, Finding | None]:
        """The capture user's connection, or (None, the finding that it cannot log in)."""
        try:
            return self.connect("capture"), None
        except TransientError as exc:
            subject = f"capture user {self.login('capture').user}"
            return None, self.finding(
                subject, f"cannot log in: {exc}", "create it, or fix its password variable"
            )

    def preflight(self) -> list[Finding]:
        """`check` of the configured tables, plus every named table the source lacks."""
        existing = self.base_tables()
        missing = [p for p in self.source.tables if not any(c in p for c in "*?[") and p not in existing]
        found = [
            self.finding(
                f"table {self.source.namespace}.{name}",
                "not found at the source (views are not captured)",
                f"create it, or remove it from sources.{self.name}.tables",
            )
            for name in missing
        ]
        return found + self.check([t for t in existing if matches(self.source.tables, t)])

    @abstractmethod
    def preparation(self, tables: list[str]) -> Preparation:
        """The grants, signal/heartbeat tables, publication and replica identities that
        capturing `tables` needs, as statements for the admin (idempotent)."""

    def prepare(self, tables: list[str]) -> Preparation:
        """Run `preparation(tables)` as the admin; returns what it ran."""
        plan = self.preparation(tables)
        conn = self.connect("admin")
        try:
            self._execute(conn, plan.statements)
        finally:
            conn.close()
        return plan

    def _execute(self, conn: Any, statements: list[str]) -> None:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def insert_signal(self, signal_id: str, signal_type: str, data: str) -> None:
        """One row in Debezium's signal table, as the admin."""
        conn = self.connect("admin")
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"INSERT INTO {self.signal_table_sql()} (id, type, data) VALUES (%s, %s, %s)",
                    (signal_id, signal_type, data),
                )
        finally:
            conn.close()

    @abstractmethod
    def signal_table_sql(self) -> str:
        """The signal table's quoted, qualified name."""

    def finding(self, subject: str, problem: str, fix: str, severity: str = "error") -> Finding:
        return Finding(self.name, subject, problem, fix, severity)  # type: ignore[arg-type]
