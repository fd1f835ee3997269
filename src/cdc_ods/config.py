"""The one declarative configuration file (`cdc.yaml`), modelled and validated in one place.

Every command reads it through `load_config`. A bad value is reported with its dotted key
path and what was expected, e.g. ``cdc.yaml: stack.ports.kafka: Input should be a valid
integer (got 'abc')``. Credentials are deliberately absent: see `cdc_ods.secrets`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cdc_ods.errors import ConfigError
from cdc_ods.settings import source_overrides

CONFIG_ENV = "CDC_CONFIG"
DEFAULT_CONFIG_NAME = "cdc.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ports(_Model):
    """TCP ports of the local stack; everything binds to `stack.host`."""

    mariadb: int = 3306
    postgres: int = 5432
    kafka: int = 9092
    kafka_controller: int = 9093
    connect: int = 8083
    prometheus: int = 9090
    zookeeper: int = 2181
    hbase_master: int = 16000
    hbase_master_info: int = 16010
    hbase_regionserver: int = 16020
    hbase_regionserver_info: int = 16030
    hbase_thrift: int = 9095
    hbase_thrift_info: int = 9096
    phoenix_query_server: int = 8765
    jmx_kafka: int = 9404
    jmx_connect: int = 9405
    jmx_hbase: int = 9406
    jmx_phoenix_query_server: int = 9407
    superset: int = 8088  # `cdc stack up --with superset`

    @model_validator(mode="after")
    def _distinct(self) -> Ports:
        seen: dict[int, str] = {}
        for name, port in self.model_dump().items():
            if not 1 <= port <= 65535:
                raise ValueError(f"{name}: port {port} is outside 1..65535")
            if port in seen:
                raise ValueError(f"{name} and {seen[port]} both use port {port}")
            seen[port] = name
        return self


class Heaps(_Model):
    """Maximum Java heap per JVM service, in MiB (the box has 2 cores and shares memory)."""

    kafka: int = Field(512, ge=128)
    connect: int = Field(1024, ge=256)
    hbase: int = Field(1024, ge=256)
    phoenix_query_server: int = Field(512, ge=128)
    hbase_thrift: int = Field(256, ge=64)


class StackConfig(_Model):
    host: Literal["127.0.0.1"] = "127.0.0.1"
    data_dir: Path = Path(".stack")
    # resolved jars; default <data_dir>/lib (several stacks may share one)
    lib_dir: Path | None = None
    ports: Ports = Ports()
    heap_mb: Heaps = Heaps()
    start_timeout_s: float = Field(180.0, gt=0)
    # the local MariaDB and PostgreSQL accept TLS connections only, with a certificate from
    # the stack's own CA (<data_dir>/tls/stack/); local sources without a `tls:` block verify it
    tls: bool = False


SOURCE_NAME = r"^[a-z][a-z0-9_]*$"
MYSQL_FAMILY = ("mariadb", "mysql")


class SourceLogin(_Model):
    """A database account: the user name, and the environment variable holding its password
    (looked up in the environment, then in `<data_dir>/secrets.env`; never in this file)."""

    user: str = Field(min_length=1)
    password_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class TableOptions(_Model):
    """Per-table settings where the source's catalog is not enough."""

    # the columns that identify a row of a table without a primary key (Debezium's
    # message.key.columns; the ODS table's primary key)
    key: list[str] | None = None
    # personal data: column -> mask applied by the cleansing script (and by reconcile to the
    # source value it compares): hash, email (hash of the lower-cased address), phone (hash of
    # the digits), year (a date reduced to its year, as column <name without _date>_year)
    pii: dict[str, Literal["hash", "email", "phone", "year"]] = {}
    # partitions of the table's topic when Debezium creates it (default: kafka.partitions)
    partitions: int | None = Field(None, ge=1, le=256)


TLS_FILES = ("ca_file", "cert_file", "key_file")


class TlsConfig(_Model):
    """How the project and Debezium reach a source over TLS (`sources[].tls`).

    `mode` maps one to one onto libpq's sslmode and MySQL's ssl-mode (the table is in
    `cdc_ods.sources.tls`): `disabled` (plain text), `required` (encrypted, the server is not
    verified), `verify_ca` (its certificate must be signed by `ca_file`), `verify_identity`
    (and name the host of `address`). `cert_file`/`key_file` (PEM) are a client certificate
    for servers that ask for one. Paths are relative to the config file's directory.
    """

    mode: Literal["disabled", "required", "verify_ca", "verify_identity"]
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TlsConfig:
        if self.mode == "disabled" and any(getattr(self, key) for key in TLS_FILES):
            raise ValueError("mode disabled uses no certificate: drop ca_file/cert_file/key_file")
        if self.mode.startswith("verify_") and self.ca_file is None:
            raise ValueError(f"mode {self.mode} needs ca_file (the CA that signed the server's certificate)")
        if self.mode == "required" and self.ca_file is not None:
            raise ValueError("mode required does not verify the server: with ca_file, use verify_ca")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (a client certificate and its key)")
        return self

    def file(self, key: str, root: Path) -> Path | None:
        """One of TLS_FILES, absolute (relative paths resolve against `root`)."""
        path: Path | None = getattr(self, key)
        if path is None:
            return None
        return path if path.is_absolute() else (root / path).resolve()


class SourceConfig(_Model):
    """One source database whose changes Debezium captures.

    `name` is the Debezium topic prefix and the ODS table prefix. Without `address`, the
    source is the local stack's server of its kind, reached with the stack's generated
    accounts; with one, `capture` (the account Debezium logs in with) and `read` (the one
    the loader, reconcile and `cdc ksql generate` read the catalog and rows with) are
    required, and `admin` is needed only by `cdc sources prepare`.
    """

    name: str = Field(pattern=SOURCE_NAME)
    kind: Literal["mariadb", "mysql", "postgres", "mongodb"]
    address: str | None = Field(None, pattern=r"^[^\s:]+:[0-9]{1,5}$")  # host:port
    database: str = Field("maf", min_length=1)
    schema_: str | None = Field(None, alias="schema")
    # table names or glob patterns (fnmatch); "*" = every base table (views excluded)
    tables: list[str]
    capture: SourceLogin | None = None
    read: SourceLogin | None = None
    admin: SourceLogin | None = None
    # table name -> settings (key columns of a table without a primary key)
    table_options: dict[str, TableOptions] = {}
    # MySQL family: the replication client id Debezium uses (default: derived from the name)
    server_id: int | None = Field(None, ge=1, le=2**32 - 1)
    # TLS to the source (the project's connections and Debezium's); none: the drivers' defaults
    tls: TlsConfig | None = None
    enabled: bool = True

    @field_validator("tables")
    @classmethod
    def _tables_not_empty(cls, tables: list[str]) -> list[str]:
        if not tables:
            raise ValueError('list at least one table (or "*" for all)')
        return tables

    @model_validator(mode="after")
    def _logins_for_external(self) -> SourceConfig:
        if self.address is not None and self.kind != "mongodb":
            missing = [role for role in ("capture", "read") if getattr(self, role) is None]
            if missing:
                raise ValueError(
                    f"{' and '.join(missing)} required when address is set"
                    " (user: NAME, password_env: VARIABLE)"
                )
        if self.kind in MYSQL_FAMILY and self.schema_ is not None:
            raise ValueError("schema is for PostgreSQL; a MySQL-family source has only a database")
        if self.kind == "mongodb" and self.tls is not None:
            raise ValueError("tls is for MariaDB, MySQL and PostgreSQL sources (MongoDB's is not generated)")
        return self

    @property
    def namespace(self) -> str:
        """Where the tables live: PostgreSQL's schema (default public); the MySQL family's and
        MongoDB's database. Debezium's qualified table names are `namespace.table`."""
        if self.kind in MYSQL_FAMILY or self.kind == "mongodb":
            return self.database
        return self.schema_ or "public"

    def options(self, table: str) -> TableOptions:
        """The table's `table_options` (the defaults when cdc.yaml gives none)."""
        return self.table_options.get(table) or TableOptions()

    @property
    def has_catalog(self) -> bool:
        """A relational source: its tables have a catalog to read (MongoDB's collections do not:
        their cleansing scripts are hand-written, reconcile does not compare them)."""
        return self.kind != "mongodb"

    @property
    def is_local(self) -> bool:
        """The local stack's server of this kind (no `address` in cdc.yaml)."""
        return self.address is None


class PlatformConfig(_Model):
    """Where the shared services are, when they are not the local stack's (an existing
    cluster). Unset: the local stack's, from `stack.ports`. The CDC_* environment variables
    (docker-compose) still win over both."""

    kafka_bootstrap: str | None = None
    connect_url: str | None = None
    phoenix_url: str | None = None
    prometheus_url: str | None = None
    hbase_thrift: str | None = None
    superset_url: str | None = None


class KafkaConfig(_Model):
    """How every Kafka client of the project connects: the collector, the stages, the tools,
    Connect's worker and its connectors (`cdc_ods.kafka_security`).

    `sasl_ssl`: SCRAM-SHA-512 over TLS, the broker verified against `ca_file`; the local stack
    then runs its broker that way, with a user per stage and ACLs (`cdc stack up`). Unset
    `ca_file` with the local stack: its generated CA. Relative paths resolve against the
    config file's directory."""

    security: Literal["plaintext", "sasl_ssl"] = "plaintext"
    ca_file: Path | None = None
    # partitions of each raw table topic Debezium creates; the cleansed topics take as many.
    # A topic keeps the count it was created with (see README, "Scaling the stages out")
    partitions: int = Field(1, ge=1, le=256)


class CollectorConfig(_Model):
    """The HTTP event collector (`cdc collector run`)."""

    port: int = Field(8090, ge=1, le=65535)
    # a request body (gzip) larger than this is refused with 413
    max_body_kb: int = Field(256, ge=1, le=16_384)
    # cap on the decompressed body: a gzip bomb is refused with 413 before it is inflated
    max_decompressed_kb: int = Field(4096, ge=1, le=131_072)
    # JSON {"version": N, "events": [...]}; re-read when it changes; none: nothing is blocked
    blocklist_file: Path | None = None
    partitions: int = Field(3, ge=1, le=256)
    # how long Kafka may take to acknowledge a batch before the request gets 503
    kafka_timeout_ms: int = Field(10_000, ge=1000, le=300_000)
    # events more than this far in the future (client clock) are rejected
    max_clock_skew_s: int = Field(86_400, ge=0)
    dead_letter_rejects: bool = True
    # JSON {"keys": [{"app", "sha256", "per_s", "burst"}]} (`cdc collector key add`); re-read
    # when it changes; none: every request is taken (collector/api_keys.py)
    api_keys_file: Path | None = None
    # HTTPS on the listener: a PEM certificate (chain) and its private key, both or neither
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> CollectorConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(
                "collector.tls_cert_file and collector.tls_key_file go together: set both or neither"
            )
        return self


# a stage's process k (from 0) serves its metrics on metrics_port + k * this
METRICS_PORT_STEP = 10


class _ScaledStage(_Model):
    """A stage the local stack can run as several processes of one consumer group: each takes
    a share of the topics' partitions (more processes than partitions leaves some idle)."""

    processes: int = Field(1, ge=1, le=8)
    metrics_port: int = Field(..., ge=1, le=65535)

    def metrics_ports(self) -> list[int]:
        return [self.metrics_port + k * METRICS_PORT_STEP for k in range(self.processes)]


class CleansingConfig(_ScaledStage):
    """The embedded KSQL runner (cdc ksql run): raw topics -> cleansed topics."""

    group_id: str = "cdc-ksql-embedded"
    batch_size: int = Field(2000, ge=1, le=100_000)
    metrics_port: int = Field(9411, ge=1, le=65535)


class OdsConfig(_ScaledStage):
    """The loader: cleansed topics -> Phoenix tables."""

    group_id: str = "cdc-ods-loader"
    # a batch is what arrived while the previous one was written, up to batch_size records
    batch_size: int = Field(5000, ge=1, le=100_000)
    # no longer used (batches are adaptive): still read so older files load, with a warning
    linger_ms: int | None = Field(None, ge=0, le=60_000)
    delete_mode: Literal["hard", "soft"] = "hard"
    # Phoenix connections applying a batch in parallel (split by key)
    writers: int = Field(2, ge=1, le=16)
    metrics_port: int = Field(9410, ge=1, le=65535)


class OperationsConfig(_Model):
    """The watchdog (`cdc watch`) and the dead-letter tools (`cdc dlq ...`)."""

    # Prometheus endpoint of `cdc watch` (restarts, gave-up, freshness)
    metrics_port: int = Field(9412, ge=1, le=65535)
    # how often the watchdog looks at the connectors and measures freshness
    interval_s: float = Field(5.0, gt=0, le=300)
    # wait before the first restart of a FAILED task; doubles per attempt up to the max
    restart_backoff_s: float = Field(10.0, ge=0, le=3600)
    restart_backoff_max_s: float = Field(300.0, ge=0, le=86_400)
    # restarts of one task that end FAILED again before the watchdog gives up on it
    restart_max_attempts: int = Field(5, ge=1, le=100)
    # a task RUNNING this long after a restart counts as recovered (its attempts reset)
    healthy_after_s: float = Field(60.0, ge=0, le=3600)
    # a RUNNING connector whose heartbeat is this old has stopped reading its source (e.g. the
    # binlog reader reconnecting forever to a locked account): restarted like a FAILED task
    stalled_after_s: float = Field(60.0, gt=0, le=3600)
    # compacted topic remembering which dead letters were replayed
    replayed_topic: str = "ods.dlq.replayed"


class Config(_Model):
    stack: StackConfig = StackConfig()
    platform: PlatformConfig = PlatformConfig()
    kafka: KafkaConfig = KafkaConfig()
    sources: list[SourceConfig] = []
    cleansing: CleansingConfig = CleansingConfig()
    collector: CollectorConfig = CollectorConfig()
    operations: OperationsConfig = OperationsConfig()
    ods: OdsConfig = OdsConfig()
    # Where the file was read from; relative paths in it resolve against this directory.
    root: Path = Field(Path("."), exclude=True)
    # the file it was read from (passed on to the stages the stack supervises)
    file: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _unique_sources(self) -> Config:
        names = [s.name for s in self.sources]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"source names must be unique, repeated: {sorted(dupes)}")
        return self

    @model_validator(mode="after")
    def _distinct_stage_ports(self) -> Config:
        """The stages' endpoints, every process of a scaled-out stage included, on distinct ports."""
        owners: dict[int, str] = {}
        endpoints = [
            ("collector.port", [self.collector.port]),
            ("operations.metrics_port", [self.operations.metrics_port]),
            ("cleansing.metrics_port", self.cleansing.metrics_ports()),
            ("ods.metrics_port", self.ods.metrics_ports()),
        ]
        for key, ports in endpoints:
            for port in ports:
                if port in owners:
                    raise ValueError(
                        f"{key}: port {port} is also {owners[port]}'s (a stage's process k listens on"
                        f" its metrics_port + {METRICS_PORT_STEP}*k)"
                    )
                owners[port] = key
        return self

    @property
    def data_dir(self) -> Path:
        """The local stack's data directory, absolute."""
        path = self.stack.data_dir
        return path if path.is_absolute() else (self.root / path).resolve()

    @property
    def lib_dir(self) -> Path:
        path = self.stack.lib_dir
        if path is None:
            return self.data_dir / "lib"
        return path if path.is_absolute() else (self.root / path).resolve()

    @property
    def stack_ca_file(self) -> Path:
        """The local stack's CA certificate (`cdc_ods.stack.certificates`)."""
        return self.data_dir / "tls" / "stack" / "ca.pem"

    @property
    def kafka_ca_file(self) -> Path:
        """The CA Kafka's clients verify the broker against (with `kafka.security: sasl_ssl`)."""
        path = self.kafka.ca_file
        if path is None:
            return self.stack_ca_file
        return path if path.is_absolute() else (self.root / path).resolve()

    @property
    def scripts_dir(self) -> Path:
        """The cleansing scripts (`ksql/` next to cdc.yaml): what `cdc ksql generate` writes and
        the cleansing stage runs."""
        return self.root / "ksql"

    def source(self, name: str) -> SourceConfig:
        for src in self.sources:
            if src.name == name:
                return src
        raise ConfigError(f"sources: no source named {name!r} (have {[s.name for s in self.sources]})")


def find_config_file(explicit: Path | None = None) -> Path:
    """`--config`, else $CDC_CONFIG, else cdc.yaml in the current directory or a parent."""
    if explicit is not None:
        candidates = [explicit]
    elif os.environ.get(CONFIG_ENV):
        candidates = [Path(os.environ[CONFIG_ENV])]
    else:
        here = Path.cwd()
        candidates = [d / DEFAULT_CONFIG_NAME for d in (here, *here.parents)]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    looked = ", ".join(str(p) for p in candidates[:3])
    raise ConfigError(f"no configuration file found (looked at {looked}); pass --config or set {CONFIG_ENV}")


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    return f"{key}: {error['msg']}{shown}"


def parse_config(data: object, root: Path, origin: str, file: Path | None = None) -> Config:
    """Validate already-parsed YAML; errors name the file and every bad key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level")
    try:
        config = Config.model_validate({**data, "root": root, "file": file})
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{origin}: {problems}") from None
    missing = [
        f"sources.{i}.tls.{key}: {getattr(source.tls, key)} not found (looked at {path})"
        for i, source in enumerate(config.sources)
        if source.tls is not None
        for key in TLS_FILES
        if (path := source.tls.file(key, root)) is not None and not path.is_file()
    ]
    if missing:
        raise ConfigError(f"{origin}: {'; '.join(missing)}")
    return config


def _source_overrides(data: object) -> object:
    """CDC_SOURCE_<NAME>_KIND / _ENABLED: the deployment decides a source's flavour (MariaDB
    locally, MySQL 8 in docker-compose) and whether it runs (MongoDB only in docker-compose)."""
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        return data
    sources = [
        {**source, **source_overrides(source["name"])}
        if isinstance(source, dict) and isinstance(source.get("name"), str)
        else source
        for source in data["sources"]
    ]
    return {**data, "sources": sources}


def load_config(path: Path | None = None) -> Config:
    file = find_config_file(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    return parse_config(_source_overrides(data), file.parent, str(file), file)
