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
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import yaml

from cdc_ods.config import load_config
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.endpoints import Endpoints
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.services.postgres import PG_BIN
from tests import PROJECT_DIR

from .conftest import config_path, restore_services

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


@pytest.fixture
def second_postgres(private_dir: Path) -> Iterator[SecondPostgres]:
    passwords = {
        var: secrets.token_urlsafe(12)
        for var in ("ITEST_SHOP_ADMIN_PASSWORD", "ITEST_SHOP_CAPTURE_PASSWORD", "ITEST_SHOP_READ_PASSWORD")
    }
    server = SecondPostgres(private_dir, _free_port(), passwords)
    data = private_dir / "data"
    data.mkdir(mode=0o700)
    shutil.chown(private_dir, "postgres", "postgres")
    shutil.chown(data, "postgres", "postgres")
    pwfile = private_dir / "pw"
    pwfile.write_text(passwords["ITEST_SHOP_ADMIN_PASSWORD"] + "\n")
    shutil.chown(pwfile, "postgres", "postgres")
    subprocess.run(
        [str(PG_BIN / "initdb"), "-D", str(data), "-U", "shop_admin", f"--pwfile={pwfile}",
         "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"],
        check=True, capture_output=True, user="postgres",
    )  # fmt: skip
    pwfile.unlink()
    server.start(wal_level="replica")  # misconfigured on purpose: logical decoding is off
    with server.admin("postgres") as conn:
        conn.execute("CREATE DATABASE shop")
        conn.execute(f"CREATE ROLE shop_capture LOGIN PASSWORD '{passwords['ITEST_SHOP_CAPTURE_PASSWORD']}'")
        conn.execute(f"CREATE ROLE shop_reader LOGIN PASSWORD '{passwords['ITEST_SHOP_READ_PASSWORD']}'")
    with server.admin() as conn:
        conn.execute("CREATE SCHEMA sales")
        conn.execute(SCHEMA)
    yield server
    server.stop()


def _shop_config(directory: Path, server: SecondPostgres, name: str) -> Path:
    """The main cdc.yaml plus the second server as source `name` (its tables by pattern)."""
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
    again = _cdc(config, "sources", "prepare", name, env=env)  # idempotent
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
        runner = _cdc(config, "ksql", "run", "--group", group, "--idle-exit", "15",
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
        with ConnectClient(Endpoints.from_config(ctx.config).connect_url) as connect:
            connect.delete(name)
        restore_services("connect")  # the Connect worker and the watchdog on the main config again


@pytest.fixture
def second_mariadb(private_dir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A MariaDB server of the test's own, misconfigured for CDC: no binary log, statement
    format, and a capture user that may only SELECT."""
    port = _free_port()
    passwords = {
        "ITEST_MY_CAPTURE_PASSWORD": secrets.token_urlsafe(12),
        "ITEST_MY_READ_PASSWORD": "r" + secrets.token_urlsafe(12),
    }
    data, socket_path = private_dir / "db", private_dir / "mariadb.sock"
    cnf = private_dir / "my.cnf"
    settings = [
        "[mariadbd]", "user=mysql", f"datadir={data}", f"socket={socket_path}", "bind-address=127.0.0.1",
        f"port={port}", "skip-name-resolve", "skip-log-bin", "binlog-format=STATEMENT",
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
    statements = [
        "CREATE DATABASE shop",
        "CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2))",
        f"CREATE USER 'shop_capture'@'127.0.0.1' IDENTIFIED BY '{passwords['ITEST_MY_CAPTURE_PASSWORD']}'",
        "GRANT SELECT ON shop.* TO 'shop_capture'@'127.0.0.1'",
        f"CREATE USER 'shop_reader'@'127.0.0.1' IDENTIFIED BY '{passwords['ITEST_MY_READ_PASSWORD']}'",
        "GRANT SELECT ON shop.* TO 'shop_reader'@'127.0.0.1'",
    ]
    subprocess.run([*client, "-e", ";".join(statements)], check=True, capture_output=True)
    yield f"127.0.0.1:{port}", passwords
    server.terminate()
    server.wait(timeout=60)


def test_a_misconfigured_mariadb_is_named_with_each_fix(
    second_mariadb: tuple[str, dict[str, str]], private_dir: Path
) -> None:
    address, env = second_mariadb
    config = private_dir / "cdc.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "stack": {"data_dir": str(load_config(config_path()).data_dir)},
                "sources": [
                    {"name": "myshop", "kind": "mariadb", "address": address, "database": "shop",
                     "tables": ["*"],
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
    assert "capture user shop_capture: lacks RELOAD, REPLICATION SLAVE, REPLICATION CLIENT" in out
    assert "GRANT RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.*" in out
    assert "Debezium's signal table is missing" in out
