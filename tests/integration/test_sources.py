"""A source that is not the local stack's: a second PostgreSQL server on its own port, with
its own users, reached with credentials from environment variables only.

`cdc sources check` names each misconfiguration with its fix and exits non-zero; `cdc
sources prepare` fixes what SQL can; the connector generated from cdc.yaml captures every
table (`tables: ["*"]`, a partitioned one under its parent's name, a keyless one by its
configured key) through the real Connect worker; and the cleansing runner, the loader and
`cdc reconcile` carry it into the ODS with nothing else than those variables.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import yaml

from cdc_ods.config import load_config
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.endpoints import Endpoints
from cdc_ods.stack.certificates import Certificates, write_certificates
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.services.postgres import PG_BIN
from tests import PROJECT_DIR

from .conftest import config_path, restore_services
from .test_connectors_cli import read_until

SCHEMA = """
CREATE TABLE sales.orders (id INT PRIMARY KEY, customer TEXT NOT NULL, total NUMERIC(10,2));
CREATE TABLE sales.notes (note_id INT NOT NULL, body TEXT);
CREATE TABLE sales.payments (id INT NOT NULL, paid_on DATE NOT NULL, amount NUMERIC(8,2),
                             PRIMARY KEY (id, paid_on)) PARTITION BY RANGE (paid_on);
CREATE TABLE sales.payments_2024 PARTITION OF sales.payments FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE sales.payments_2025 PARTITION OF sales.payments FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE total > 100;
INSERT INTO sales.orders VALUES (1, 'Ada', 10.50), (2, 'Grace', 250.00);
INSERT INTO sales.notes VALUES (1, 'first'), (2, 'second');
INSERT INTO sales.payments VALUES (1, '2024-05-01', 10.50), (2, '2025-02-01', 250.00);
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SecondPostgres:
    """A PostgreSQL server of the test's own, on its own port and data directory."""

    directory: Path
    port: int
    passwords: dict[str, str]  # env variable -> password
    settings: dict[str, str] = field(default_factory=dict)  # more postgresql.conf settings
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, wal_level: str) -> None:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            "wal_level": wal_level,
            "max_replication_slots": "4",
            "max_wal_senders": "4",
            **self.settings,
        }
        command = [str(PG_BIN / "postgres"), "-D", str(self.directory / "data")]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        with (self.directory / "postgres.log").open("ab") as log:  # the child keeps its own handle
            self.process = subprocess.Popen(command, stdout=log, stderr=log, user="postgres")
        deadline = time.monotonic() + 30
        while True:
            try:
                self.admin("postgres").close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=60)
            self.process = None

    def admin(self, dbname: str = "shop") -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="shop_admin", dbname=dbname,
            password=self.passwords["ITEST_SHOP_ADMIN_PASSWORD"], autocommit=True, connect_timeout=3,
        )  # fmt: skip


def start_postgres(
    directory: Path, wal_level: str, settings: dict[str, str] | None = None, hba: str | None = None
) -> SecondPostgres:
    """A second PostgreSQL under `directory`, started: the admin `shop_admin`, the `shop`
    database with SCHEMA, the roles `shop_capture` and `shop_reader` without grants. `hba`
    replaces the pg_hba.conf initdb writes."""
    passwords = {
        var: secrets.token_urlsafe(12)
        for var in ("ITEST_SHOP_ADMIN_PASSWORD", "ITEST_SHOP_CAPTURE_PASSWORD", "ITEST_SHOP_READ_PASSWORD")
    }
    server = SecondPostgres(directory, _free_port(), passwords, settings or {})
    data = directory / "data"
    data.mkdir(mode=0o700)
    shutil.chown(directory, "postgres", "postgres")
    shutil.chown(data, "postgres", "postgres")
    pwfile = directory / "pw"
    pwfile.write_text(passwords["ITEST_SHOP_ADMIN_PASSWORD"] + "\n")
    shutil.chown(pwfile, "postgres", "postgres")
    subprocess.run(
        [str(PG_BIN / "initdb"), "-D", str(data), "-U", "shop_admin", f"--pwfile={pwfile}",
         "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"],
        check=True, capture_output=True, user="postgres",
    )  # fmt: skip
    pwfile.unlink()
    if hba is not None:
        (data / "pg_hba.conf").write_text(hba)  # initdb's file: stays the server's
    server.start(wal_level)
    with server.admin("postgres") as conn:
        conn.execute("CREATE DATABASE shop")
        conn.execute(f"CREATE ROLE shop_capture LOGIN PASSWORD '{passwords['ITEST_SHOP_CAPTURE_PASSWORD']}'")
        conn.execute(f"CREATE ROLE shop_reader LOGIN PASSWORD '{passwords['ITEST_SHOP_READ_PASSWORD']}'")
    with server.admin() as conn:
        conn.execute("CREATE SCHEMA sales")
        conn.execute(SCHEMA)
    return server


@pytest.fixture
def second_postgres(private_dir: Path) -> Iterator[SecondPostgres]:
    server = start_postgres(private_dir, wal_level="replica")  # misconfigured: logical decoding is off
    yield server
    server.stop()


@pytest.fixture
def tls_postgres(private_dir: Path) -> Iterator[tuple[SecondPostgres, Certificates]]:
    """A second PostgreSQL that accepts only TLS connections (`hostssl`), its server
    certificate (for 127.0.0.1) signed by a CA of the test's own."""
    certs = write_certificates(private_dir / "tls")
    for path in (certs.server_cert, certs.server_key):
        shutil.chown(path, "postgres", "postgres")
    settings = {"ssl": "on", "ssl_cert_file": str(certs.server_cert), "ssl_key_file": str(certs.server_key)}
    hba = "hostssl all all 127.0.0.1/32 scram-sha-256\nhostssl replication all 127.0.0.1/32 scram-sha-256\n"
    server = start_postgres(private_dir, "logical", settings, hba)
    yield server, certs
    server.stop()


def _shop_config(directory: Path, server: SecondPostgres, name: str, **entry: object) -> Path:
    """The main cdc.yaml plus the second server as source `name` (its tables by pattern;
    `entry`: more keys of its entry)."""
    base = yaml.safe_load(config_path().read_text())
    main = load_config(config_path())
    base.setdefault("stack", {}).update({"data_dir": str(main.data_dir), "lib_dir": str(main.lib_dir)})

    def login(user: str, var: str) -> dict[str, str]:
        return {"user": user, "password_env": var}

    base["sources"].append(
        {
            "name": name,
            "kind": "postgres",
            "address": server.address,
            "database": "shop",
            "schema": "sales",
            "tables": ["*"],
            "capture": login("shop_capture", "ITEST_SHOP_CAPTURE_PASSWORD"),
            "read": login("shop_reader", "ITEST_SHOP_READ_PASSWORD"),
            "admin": login("shop_admin", "ITEST_SHOP_ADMIN_PASSWORD"),
            "table_options": {"notes": {"key": ["note_id"]}},
            **entry,
        }
    )
    path = directory / "cdc.yaml"
    path.write_text(yaml.safe_dump(base))
    shutil.copytree(PROJECT_DIR / "ksql", directory / "ksql")  # the demo tables' scripts
    return path


def _cdc(config: Path, *args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cdc_ods", "--config", str(config), *args],
        capture_output=True, text=True, check=False, timeout=timeout, cwd=config.parent,
        env={**os.environ, **env},
    )  # fmt: skip


def test_a_second_postgres_with_env_credentials_is_checked_prepared_and_replicated(
    pipeline: StackContext, second_postgres: SecondPostgres, private_dir: Path
) -> None:
    name = f"shop{uuid.uuid4().hex[:6]}"
    workspace = private_dir / "workspace"
    workspace.mkdir()
    config = _shop_config(workspace, second_postgres, name)
    env = second_postgres.passwords

    # 1. misconfigured: every problem named with its fix, non-zero exit
    checked = _cdc(config, "sources", "check", name, env=env)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    out = " ".join(checked.stdout.split())
    assert "wal_level is replica" in out and "ALTER SYSTEM SET wal_level = logical" in out, checked.stderr
    assert "capture user shop_capture: lacks REPLICATION" in out and 'ALTER ROLE "shop_capture"' in out
    assert "cannot SELECT from sales.orders" in out
    assert f"publication cdc_{name} does not exist" in out
    assert "read user shop_reader: lacks USAGE on schema sales" in out
    assert "payments_2024" not in out  # partitions are not tables of their own
    listed = _cdc(config, "sources", "list", name, "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert '"tables": ["notes", "orders", "payments"]' in listed.stdout  # views excluded
    missing = _cdc(config, "sources", "check", name, env={})  # no variables: each is named
    assert missing.returncode == 1
    assert "ITEST_SHOP_READ_PASSWORD is not set" in missing.stdout + missing.stderr

    # 2. fixed: the server setting by hand, the rest by `cdc sources prepare`
    with second_postgres.admin() as conn:
        conn.execute("ALTER SYSTEM SET wal_level = logical")
    second_postgres.stop()
    second_postgres.start(wal_level="logical")
    printed = _cdc(config, "sources", "prepare", name, "--print", env=env)
    assert printed.returncode == 0, printed.stderr
    assert "CREATE PUBLICATION" in printed.stdout and "publish_via_partition_root = true" in printed.stdout
    # before it is published, the keyless table gets a replica identity its UPDATEs can use
    assert 'ALTER TABLE "sales"."notes" REPLICA IDENTITY FULL' in printed.stdout
    prepared = _cdc(config, "sources", "prepare", name, env=env)
    assert prepared.returncode == 0, prepared.stderr
    with second_postgres.admin() as conn:  # what the capture user needs on Debezium's tables
        conn.execute("REVOKE INSERT ON sales.debezium_signal FROM shop_capture")
        conn.execute("REVOKE UPDATE ON sales.debezium_heartbeat FROM shop_capture")
    checked = _cdc(config, "sources", "check", name, env=env)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    out = " ".join(checked.stdout.split())
    assert "capture user shop_capture: lacks INSERT on sales.debezium_signal" in out, out
    assert 'GRANT SELECT, INSERT ON "sales"."debezium_signal" TO "shop_capture"' in out, out
    assert "capture user shop_capture: lacks UPDATE on sales.debezium_heartbeat" in out, out
    assert 'GRANT SELECT, UPDATE ON "sales"."debezium_heartbeat" TO "shop_capture"' in out, out
    again = _cdc(config, "sources", "prepare", name, env=env)  # idempotent, and grants them again
    assert again.returncode == 0, again.stderr
    checked = _cdc(config, "sources", "check", name, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with second_postgres.admin() as conn:
        # the keyless table accepts UPDATE and DELETE at the source although it is published
        conn.execute("UPDATE sales.notes SET body = 'changed' WHERE note_id = 2")
        conn.execute("DELETE FROM sales.notes WHERE note_id = 1")

    # 3. captured through the real Connect worker, which gets the capture password from the
    # environment of the `cdc stack up` that starts it
    ctx = StackContext(load_config(config))
    try:
        restarted = _cdc(config, "stack", "stop", "connect", env=env)
        assert restarted.returncode == 0, restarted.stderr
        restarted = _cdc(config, "stack", "up", "connect", env=env)
        assert restarted.returncode == 0, restarted.stderr
        applied = _cdc(config, "connectors", "apply", name, env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr

        # 4. cleansed, loaded and reconciled with the same variables
        generated = _cdc(config, "ksql", "generate", env=env)
        assert generated.returncode == 0, generated.stdout + generated.stderr
        for table in ("orders", "notes", "payments"):
            assert (workspace / "ksql" / f"{name}_shop_{table}.sql").is_file()
        with second_postgres.admin() as conn:
            conn.execute("INSERT INTO sales.orders VALUES (3, 'Katherine', 99.99)")
            conn.execute("UPDATE sales.orders SET total = 11.00 WHERE id = 1")
            conn.execute("INSERT INTO sales.payments VALUES (3, '2025-06-01', 7.25)")
            conn.execute("DELETE FROM sales.payments WHERE id = 1")
        group = f"itest-{name}"
        # a runner of its own for this source's scripts only: over the demo's raw topics its new
        # group would start from the beginning and send their whole history to the stack's loader
        scripts = workspace / "ksql-shop"
        scripts.mkdir()
        for script in (workspace / "ksql").glob("*.sql"):
            if script.name == "00_dlq.sql" or script.name.startswith(f"{name}_"):
                shutil.copy(script, scripts / script.name)
        runner = _cdc(config, "ksql", "run", "--dir", str(scripts), "--group", group, "--idle-exit", "15",
                      "--metrics-port", "0", env=env)  # fmt: skip
        assert runner.returncode == 0, runner.stdout + runner.stderr
        topics = [f"--topic=ods.{name}.shop.{t}" for t in ("orders", "notes", "payments")]
        loader = _cdc(config, "ods", "run", *topics, "--group", group, "--idle-exit", "10",
                      "--metrics-port", "0", env=env)  # fmt: skip
        assert loader.returncode == 0, loader.stdout + loader.stderr
        tables = [f"--table={name}.{t}" for t in ("orders", "notes", "payments")]
        reconciled = _cdc(config, "reconcile", *tables, "--no-wait", "--json", env=env)
        assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
        reports = {r["table"].rsplit(".", 1)[-1]: r for r in json.loads(reconciled.stdout)}
        assert {t: (r["source_rows"], r["ods_rows"], r["ok"]) for t, r in reports.items()} == {
            "orders": (3, 3, True),
            "notes": (1, 1, True),
            "payments": (2, 2, True),  # the partitions' rows, under the parent's name
        }
    finally:
        with ConnectClient.of(ctx.config) as connect:
            connect.delete(name)
        restore_services("connect")  # the Connect worker and the watchdog on the main config again


def _with_tls(config: Path, name: str, tls: dict[str, str] | None, file_name: str) -> Path:
    """A copy of `config` next to it whose source `name` has another `tls:` block."""
    data = yaml.safe_load(config.read_text())
    next(s for s in data["sources"] if s["name"] == name)["tls"] = tls
    path = config.with_name(file_name)
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_postgres_that_accepts_only_tls_is_checked_over_verified_tls_and_refused_in_plain_text(
    tls_postgres: tuple[SecondPostgres, Certificates], private_dir: Path
) -> None:
    server, certs = tls_postgres
    name = f"tls{uuid.uuid4().hex[:6]}"
    workspace = private_dir / "workspace"
    (workspace / "certs").mkdir(parents=True)
    shutil.copy(certs.ca, workspace / "certs" / "ca.pem")  # relative to cdc.yaml's directory
    verified = {"mode": "verify_identity", "ca_file": "certs/ca.pem"}
    config = _shop_config(workspace, server, name, tls=verified)
    env = server.passwords

    # every connection of `prepare` and `check` (admin, capture, read user) is TLS: pg_hba
    # accepts nothing else
    prepared = _cdc(config, "sources", "prepare", name, env=env)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    checked = _cdc(config, "sources", "check", name, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    plain = _cdc(
        _with_tls(config, name, {"mode": "disabled"}, "plain.yaml"), "sources", "check", name, env=env
    )
    assert plain.returncode == 1, plain.stdout + plain.stderr
    refusal = [line for line in plain.stdout.splitlines() if "no encryption" in line]
    assert refusal, plain.stdout  # one line: the server's refusal and what to set
    assert f"the server accepts only TLS connections: set sources.{name}.tls" in refusal[0], plain.stdout

    other = write_certificates(private_dir / "other", ca_name="another CA")
    shutil.copy(other.ca, workspace / "certs" / "other-ca.pem")
    wrong_ca = _with_tls(config, name, {"mode": "verify_ca", "ca_file": "certs/other-ca.pem"}, "other.yaml")
    refused = _cdc(wrong_ca, "sources", "check", name, env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "certificate verify failed" in refused.stdout, refused.stdout


def test_debezium_captures_a_postgres_that_accepts_only_tls(
    pipeline: StackContext, tls_postgres: tuple[SecondPostgres, Certificates], private_dir: Path
) -> None:
    """The generated connector (database.sslmode=verify-full, database.sslrootcert) snapshots
    and streams over TLS through the real Connect worker."""
    server, certs = tls_postgres
    name = f"tls{uuid.uuid4().hex[:6]}"
    workspace = private_dir / "workspace"
    workspace.mkdir()
    config = _shop_config(workspace, server, name, tls={"mode": "verify_identity", "ca_file": str(certs.ca)})
    env = server.passwords
    prepared = _cdc(config, "sources", "prepare", name, env=env)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    ctx = StackContext(load_config(config))
    try:  # the Connect worker gets the capture password from the `cdc stack up` that starts it
        restarted = _cdc(config, "stack", "stop", "connect", env=env)
        assert restarted.returncode == 0, restarted.stderr
        restarted = _cdc(config, "stack", "up", "connect", env=env)
        assert restarted.returncode == 0, restarted.stderr
        applied = _cdc(config, "connectors", "apply", name, env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        with server.admin() as conn:
            conn.execute("INSERT INTO sales.orders VALUES (7, 'over TLS', 1.00)")
        topic = f"{name}.sales.orders"

        def streamed(values: list[dict]) -> bool:
            return any((v.get("after") or {}).get("id") == 7 and v.get("op") == "c" for v in values)

        values = read_until(Endpoints.from_config(ctx.config).kafka_bootstrap, topic, streamed)
        assert {v["op"] for v in values} >= {"r", "c"}, values  # the snapshot's rows, then the insert
        assert streamed(values), values
    finally:
        with ConnectClient.of(ctx.config) as connect:
            connect.delete(name)
        restore_services("connect")


@dataclass
class SecondMariaDb:
    address: str
    passwords: dict[str, str]  # env variable -> password
    client: list[str]  # the `mariadb` command, as root over the socket

    def sql(self, *statements: str) -> None:
        subprocess.run([*self.client, "-e", ";".join(statements)], check=True, capture_output=True)


@pytest.fixture
def second_mariadb(private_dir: Path) -> Iterator[SecondMariaDb]:
    """A MariaDB server of the test's own, misconfigured for CDC: no binary log, statement
    format, compressed binlog events, a replica's GTID position without strict mode, a
    capture user that may only SELECT, and a read user that may read one table of two."""
    port = _free_port()
    passwords = {
        "ITEST_MY_CAPTURE_PASSWORD": secrets.token_urlsafe(12),
        "ITEST_MY_READ_PASSWORD": "r" + secrets.token_urlsafe(12),
    }
    data, socket_path = private_dir / "db", private_dir / "mariadb.sock"
    cnf = private_dir / "my.cnf"
    settings = [
        "[mariadbd]", "user=mysql", f"datadir={data}", f"socket={socket_path}", "bind-address=127.0.0.1",
        f"port={port}", "skip-name-resolve", "skip-log-bin", "binlog-format=STATEMENT", "log-bin-compress=ON",
        "innodb-buffer-pool-size=32M", "performance-schema=OFF", "",
    ]  # fmt: skip
    cnf.write_text("\n".join(settings))
    data.mkdir()
    for path in (private_dir, data):
        shutil.chown(path, "mysql", "mysql")
    subprocess.run(["mariadb-install-db", f"--defaults-file={cnf}", "--skip-test-db",
                    "--auth-root-authentication-method=socket", "--auth-root-socket-user=root"],
                   check=True, capture_output=True)  # fmt: skip
    server = subprocess.Popen(["/usr/sbin/mariadbd", f"--defaults-file={cnf}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    client = ["mariadb", "--no-defaults", f"--socket={socket_path}", "-uroot", "--batch"]
    deadline = time.monotonic() + 30
    while subprocess.run([*client, "-e", "SELECT 1"], capture_output=True, check=False).returncode != 0:
        assert time.monotonic() < deadline, "the second MariaDB did not start"
        time.sleep(0.3)
    mariadb = SecondMariaDb(f"127.0.0.1:{port}", passwords, client)
    mariadb.sql(
        "SET GLOBAL gtid_slave_pos = '0-1-42'",  # as a replica that has applied a primary's GTIDs
        "CREATE DATABASE shop",
        "CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2))",
        "CREATE TABLE shop.items (id INT PRIMARY KEY, order_id INT NOT NULL)",
        f"CREATE USER 'shop_capture'@'127.0.0.1' IDENTIFIED BY '{passwords['ITEST_MY_CAPTURE_PASSWORD']}'",
        "GRANT SELECT ON shop.* TO 'shop_capture'@'127.0.0.1'",
        f"CREATE USER 'shop_reader'@'127.0.0.1' IDENTIFIED BY '{passwords['ITEST_MY_READ_PASSWORD']}'",
        "GRANT SELECT ON shop.orders TO 'shop_reader'@'127.0.0.1'",
    )
    yield mariadb
    server.terminate()
    server.wait(timeout=60)


def test_a_misconfigured_mariadb_is_named_with_each_fix(
    second_mariadb: SecondMariaDb, private_dir: Path
) -> None:
    env = second_mariadb.passwords
    config = private_dir / "cdc.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "stack": {"data_dir": str(load_config(config_path()).data_dir)},
                "sources": [
                    {"name": "myshop", "kind": "mariadb", "address": second_mariadb.address,
                     "database": "shop", "tables": ["*"],
                     "capture": {"user": "shop_capture", "password_env": "ITEST_MY_CAPTURE_PASSWORD"},
                     "read": {"user": "shop_reader", "password_env": "ITEST_MY_READ_PASSWORD"}}
                ],
            }
        )
    )  # fmt: skip
    checked = _cdc(config, "sources", "check", env=env)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    out = " ".join(checked.stdout.split())
    assert "the binary log is off (log_bin=0)" in out and "set `log-bin`" in out
    assert "binlog_format is STATEMENT" in out and "binlog-format=ROW" in out
    assert "log_bin_compress is ON" in out and "set `log-bin-compress=OFF`" in out
    assert "warning myshop: server: this server replicates (gtid_slave_pos 0-1-42; its own GTID" in out
    assert "set `gtid-strict-mode=ON`" in out
    # MariaDB's default: the binlog is not synced at commit
    assert "warning myshop: server: sync_binlog=0: a machine crash can lose transactions" in out
    assert "capture user shop_capture: lacks RELOAD, REPLICATION SLAVE, REPLICATION CLIENT" in out
    assert "GRANT RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.*" in out
    # the read user does not even see shop.items, so "*" would leave it out: named all the same
    assert "read user shop_reader: cannot SELECT from shop.items" in out
    assert "GRANT SELECT ON `shop`.* TO 'shop_reader'@'%'" in out
    assert "Debezium's signal table is missing" in out

    second_mariadb.sql(
        "CREATE TABLE shop.debezium_signal (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL,"
        " data VARCHAR(2048) NULL)"
    )
    checked = _cdc(config, "sources", "check", env=env)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    out = " ".join(checked.stdout.split())
    assert "Debezium's signal table is missing" not in out
    assert "capture user shop_capture: lacks INSERT on shop.debezium_signal" in out
    assert "GRANT SELECT, INSERT ON `shop`.`debezium_signal` TO 'shop_capture'@'%'" in out
