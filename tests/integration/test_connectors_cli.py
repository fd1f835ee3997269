"""`cdc connectors ...` against the real MariaDB, PostgreSQL, Kafka and Connect.

Every test works on tables of its own and registers its connectors under unique names,
topic prefixes and slots (`apply SOURCE --name ... --set ...`), so it neither needs the
producers' tables nor disturbs the `mysql` / `postgres` connectors.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import orjson
import psycopg
import pymysql
import pytest
from confluent_kafka import Consumer

from cdc_ods.connectors.rest import ConnectClient, summarize
from cdc_ods.endpoints import split_host_port
from cdc_ods.kafka import client_config
from cdc_ods.secrets import ADMIN_USER

from .conftest import Stack, cdc, services_stack

SERVICES = ["mariadb", "postgres", "kafka", "connect"]


@pytest.fixture(scope="module")
def cdc_stack() -> Iterator[Stack]:
    """Just the services connectors need (the session `stack` fixture starts every one)."""
    with services_stack(SERVICES) as stack:
        yield stack


@pytest.fixture
def connect(cdc_stack: Stack) -> Iterator[ConnectClient]:
    with ConnectClient.of(cdc_stack.ctx.config) as client:
        yield client


def run(stack: Stack, *args: str):
    return cdc("connectors", *args, config=stack.config_path)


@dataclass
class Source:
    """One test table in a source database and the CLI arguments of a connector for it."""

    source: str  # mysql | postgres
    table: str  # bare name, in database/schema maf
    name: str  # connector name
    prefix: str  # topic.prefix
    execute: Callable[[str], None]
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        return f"{self.prefix}.maf.{self.table}"

    def args(self, **extra: str) -> list[str]:
        args = [self.source, "--name", self.name]
        for key, value in {**self.settings, **extra}.items():
            args += ["--set", f"{key}={value}"]
        return args


def _mysql(stack: Stack):
    host, port = split_host_port(stack.endpoints.mysql)
    password = stack.ctx.credentials.mysql_admin.get_secret_value()
    return pymysql.connect(
        host=host, port=port, user=ADMIN_USER, password=password, database="maf", autocommit=True
    )


def _postgres(stack: Stack) -> psycopg.Connection:
    host, port = split_host_port(stack.endpoints.postgres)
    password = stack.ctx.credentials.postgres_admin.get_secret_value()
    return psycopg.connect(
        host=host, port=port, user=ADMIN_USER, password=password, dbname="maf", autocommit=True
    )


@pytest.fixture
def mysql_source(cdc_stack: Stack, connect: ConnectClient) -> Iterator[Source]:
    suffix = uuid.uuid4().hex[:8]
    db = _mysql(cdc_stack)

    def execute(statement: str) -> None:
        with db.cursor() as cur:
            cur.execute(statement)

    src = Source("mysql", f"itest_{suffix}", f"itest-mysql-{suffix}", f"itest{suffix}", execute)
    src.settings = {
        "table.include.list": f"maf.{src.table}",
        "topic.prefix": src.prefix,
        "schema.history.internal.kafka.topic": f"_schema-history.{src.prefix}",
        "database.server.id": str(random.randint(10_000, 60_000)),
    }
    execute(f"CREATE TABLE {src.table} (id INT PRIMARY KEY, title VARCHAR(100))")
    execute(f"INSERT INTO {src.table} VALUES (1, 'Amélie'), (2, '東京物語')")
    yield src
    connect.delete(src.name)
    execute(f"DROP TABLE {src.table}")
    db.close()


@pytest.fixture
def postgres_source(cdc_stack: Stack, connect: ConnectClient) -> Iterator[Source]:
    suffix = uuid.uuid4().hex[:8]
    db = _postgres(cdc_stack)

    def execute(statement: str) -> None:
        db.execute(statement)

    src = Source("postgres", f"itest_{suffix}", f"itest-postgres-{suffix}", f"itest{suffix}", execute)
    src.settings = {
        "table.include.list": f"maf.{src.table}",
        "topic.prefix": src.prefix,
        "slot.name": src.table,
    }
    execute(f"CREATE TABLE maf.{src.table} (id INT PRIMARY KEY, title TEXT)")
    execute(f"INSERT INTO maf.{src.table} VALUES (1, 'Twin Peaks'), (2, 'Fargo')")
    yield src
    connect.delete(src.name)
    execute(f"DROP TABLE maf.{src.table}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the slot stays active until the task has stopped
        try:
            db.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                (src.table,),
            )
            break
        except psycopg.errors.ObjectInUse:
            time.sleep(1)
    db.close()


@pytest.fixture(params=["mysql", "postgres"])
def any_source(request: pytest.FixtureRequest) -> Source:
    return request.getfixturevalue(f"{request.param}_source")


def read_until(
    bootstrap: str, topic: str, done: Callable[[list[dict]], bool], timeout_s: float = 90
) -> list[dict]:
    """Event values from the start of `topic` until `done(values)` holds (or the timeout)."""
    consumer = Consumer(
        client_config(bootstrap, **{"group.id": f"itest-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"})
    )
    consumer.subscribe([topic])
    values: list[dict] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not done(values) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error() and msg.value() is not None:
                values.append(orjson.loads(msg.value()))
    finally:
        consumer.close()
    return values


def wait_for_a_failed_task(
    connect: ConnectClient, name: str, timeout_s: float = 60, settle_s: float = 3
) -> None:
    """Until a task of `name` has reported FAILED for `settle_s` in a row (the test broke its
    config behind the CLI's back). Connect may restart a task once more after a config update;
    the restarted task says RUNNING until its first poll fails, so one FAILED is not yet the
    state a `status` right after will see."""
    deadline = time.monotonic() + timeout_s
    failed_since: float | None = None
    while time.monotonic() < deadline:
        status = connect.status(name) or {"tasks": []}
        if any(t["state"] == "FAILED" for t in status["tasks"]):
            failed_since = failed_since or time.monotonic()
            if time.monotonic() - failed_since >= settle_s:
                return
        else:
            failed_since = None
        time.sleep(0.5)
    pytest.fail(f"no task of {name} FAILED within {timeout_s:.0f}s ({summarize(connect.status(name))})")


def status_until(
    stack: Stack, name: str, text: str, timeout_s: float = 30
) -> subprocess.CompletedProcess[str]:
    """`cdc connectors status NAME` until its table shows `text` (Connect may be restarting the
    task: each status is a snapshot); fails with the last table."""
    deadline = time.monotonic() + timeout_s
    while True:
        shown = run(stack, "status", name)
        if text in shown.stdout or time.monotonic() > deadline:
            assert text in shown.stdout, shown.stdout
            return shown
        time.sleep(1)


def break_publication(connect: ConnectClient, src: Source, publication: str) -> None:
    """Point the connector at a publication that does not exist, behind the CLI's back: its
    task fails on start."""
    connect.put(src.name, {**connect.get_config(src.name), "publication.name": publication})
    wait_for_a_failed_task(connect, src.name)


def test_every_command_has_help(cdc_stack: Stack) -> None:
    result = run(cdc_stack, "--help")
    assert result.returncode == 0
    commands = ("apply", "status", "restart", "pause", "resume", "delete", "snapshot")
    for command in commands:
        assert command in result.stdout
        assert run(cdc_stack, command, "--help").returncode == 0


def test_apply_is_idempotent_and_updates_a_changed_config(
    cdc_stack: Stack, connect: ConnectClient, mysql_source: Source
) -> None:
    first = run(cdc_stack, "apply", *mysql_source.args())
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout and "RUNNING" in first.stdout
    second = run(cdc_stack, "apply", *mysql_source.args())
    assert second.returncode == 0, second.stderr
    assert "unchanged" in second.stdout
    changed = run(cdc_stack, "apply", *mysql_source.args(**{"heartbeat.interval.ms": "5000"}))
    assert changed.returncode == 0, changed.stderr
    assert "updated" in changed.stdout
    assert connect.get_config(mysql_source.name)["heartbeat.interval.ms"] == "5000"


def test_apply_skips_disabled_sources(cdc_stack: Stack) -> None:
    disabled = [s.name for s in cdc_stack.ctx.config.sources if not s.enabled]
    if not disabled:
        pytest.skip("every source of this cdc.yaml is enabled")
    result = run(cdc_stack, "apply", disabled[0])
    assert result.returncode == 0, result.stderr
    assert f"{disabled[0]}: skipped (enabled: false in cdc.yaml)" in result.stderr


def test_validation_prints_every_invalid_field_and_registers_nothing(
    cdc_stack: Stack, connect: ConnectClient, postgres_source: Source
) -> None:
    bad = {"decimal.handling.mode": "exact", "snapshot.mode": "sometimes", "decimal.handlng.mode": "string"}
    result = run(cdc_stack, "apply", *postgres_source.args(**bad))
    assert result.returncode == 1
    for key in bad:
        assert f"invalid: {key}: " in result.stderr
    assert "Value must be one of string, double, precise" in result.stderr
    assert "unknown option" in result.stderr
    assert "nothing registered" in result.stderr.strip().splitlines()[-1]
    assert postgres_source.name not in connect.connectors()


def test_a_wrong_password_is_named_and_nothing_stays_registered(
    cdc_stack: Stack, connect: ConnectClient, any_source: Source
) -> None:
    result = run(cdc_stack, "apply", *any_source.args(**{"database.password": "not-the-password"}))
    assert result.returncode == 1
    assert "database.password" in result.stderr or "database.hostname" in result.stderr
    assert "Access denied" in result.stderr or "password authentication failed" in result.stderr
    assert any_source.name not in connect.connectors()


def test_a_task_that_fails_on_start_is_named_and_its_connector_removed(
    cdc_stack: Stack, connect: ConnectClient, postgres_source: Source
) -> None:
    # passes Connect's validation; the task fails when it finds no publication
    result = run(
        cdc_stack, "apply", *postgres_source.args(**{"publication.name": "itest_no_such_publication"})
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "task 0 FAILED" in last and "Publication autocreation is disabled" in last
    assert "deleted the connector this apply created" in last
    assert postgres_source.name not in connect.connectors()


def test_an_update_that_fails_restores_the_previous_config(
    cdc_stack: Stack, connect: ConnectClient, postgres_source: Source
) -> None:
    assert run(cdc_stack, "apply", *postgres_source.args()).returncode == 0
    result = run(
        cdc_stack, "apply", *postgres_source.args(**{"publication.name": "itest_no_such_publication"})
    )
    assert result.returncode == 1
    assert "restored its previous config" in result.stderr
    assert connect.get_config(postgres_source.name)["publication.name"] == "cdc_postgres"


def test_an_update_that_repairs_a_failed_task_is_kept(
    cdc_stack: Stack, connect: ConnectClient, postgres_source: Source
) -> None:
    # right after an update Connect's status still shows the old FAILED task: the apply must
    # judge the task that runs the new config, not undo a good update
    assert run(cdc_stack, "apply", *postgres_source.args()).returncode == 0
    break_publication(connect, postgres_source, "itest_no_such_publication")
    repaired = run(cdc_stack, "apply", *postgres_source.args())
    assert repaired.returncode == 0, repaired.stderr
    assert "updated" in repaired.stdout and "RUNNING" in repaired.stdout
    assert connect.get_config(postgres_source.name)["publication.name"] == "cdc_postgres"
    assert {t["state"] for t in connect.status(postgres_source.name)["tasks"]} == {"RUNNING"}


def test_a_missing_table_is_refused_by_name(
    cdc_stack: Stack, connect: ConnectClient, any_source: Source
) -> None:
    tables = f"maf.{any_source.table},maf.itest_no_such_table"
    result = run(cdc_stack, "apply", *any_source.args(**{"table.include.list": tables}))
    assert result.returncode == 1
    assert "table.include.list: maf.itest_no_such_table matches no existing table" in result.stderr
    assert any_source.name not in connect.connectors()


def test_status_shows_a_failed_task_trace_and_restart_recovers_it(
    cdc_stack: Stack, connect: ConnectClient, postgres_source: Source
) -> None:
    publication = f"{postgres_source.table}_pub"
    applied = run(cdc_stack, "apply", *postgres_source.args())
    assert applied.returncode == 0, applied.stderr
    break_publication(connect, postgres_source, publication)

    shown = status_until(cdc_stack, postgres_source.name, "FAILED")
    assert shown.returncode == 0, shown.stderr
    assert "Publication autocreation is disabled" in shown.stdout
    as_json = json.loads(run(cdc_stack, "status", "--json", postgres_source.name).stdout)
    assert as_json[0]["tasks"][0]["state"] == "FAILED"
    assert "ConnectException" in as_json[0]["tasks"][0]["trace"]

    postgres_source.execute(f"CREATE PUBLICATION {publication} FOR TABLE maf.{postgres_source.table}")
    try:
        restarted = run(cdc_stack, "restart", "--failed-only", postgres_source.name)
        assert restarted.returncode == 0, restarted.stderr
        connect.wait_running(postgres_source.name, timeout_s=60, settle_s=2)
    finally:
        connect.delete(postgres_source.name)
        postgres_source.execute(f"DROP PUBLICATION {publication}")


def test_pause_stops_streaming_and_resume_catches_up(
    cdc_stack: Stack, connect: ConnectClient, mysql_source: Source
) -> None:
    assert run(cdc_stack, "apply", *mysql_source.args()).returncode == 0
    paused = run(cdc_stack, "pause", mysql_source.name)
    assert paused.returncode == 0, paused.stderr
    status = json.loads(run(cdc_stack, "status", "--json", mysql_source.name).stdout)[0]
    assert status["connector"]["state"] == "PAUSED"
    assert {t["state"] for t in status["tasks"]} == {"PAUSED"}

    mysql_source.execute(f"INSERT INTO {mysql_source.table} VALUES (3, 'written while paused')")
    resumed = run(cdc_stack, "resume", mysql_source.name)
    assert resumed.returncode == 0, resumed.stderr
    assert connect.status(mysql_source.name)["connector"]["state"] == "RUNNING"
    events = read_until(
        cdc_stack.endpoints.kafka_bootstrap, mysql_source.topic, lambda vs: any(v["op"] == "c" for v in vs)
    )
    assert [v["after"]["id"] for v in events if v["op"] == "c"] == [3]


def test_snapshot_re_emits_a_table_while_streaming_continues(
    cdc_stack: Stack, connect: ConnectClient, any_source: Source
) -> None:
    applied = run(cdc_stack, "apply", *any_source.args())
    assert applied.returncode == 0, applied.stderr

    refused = run(cdc_stack, "snapshot", any_source.name, "itest_not_captured")
    assert refused.returncode == 1
    assert "does not capture maf.itest_not_captured" in refused.stderr

    requested = run(cdc_stack, "snapshot", any_source.name, any_source.table)
    assert requested.returncode == 0, requested.stderr
    assert f"rows arrive as op 'r' events on {any_source.topic}" in requested.stderr
    any_source.execute(f"INSERT INTO maf.{any_source.table} VALUES (3, 'streamed during the snapshot')")

    def incremental(values: list[dict]) -> list[int]:
        return sorted(v["after"]["id"] for v in values if v["source"]["snapshot"] == "incremental")

    events = read_until(
        cdc_stack.endpoints.kafka_bootstrap,
        any_source.topic,
        lambda vs: len(incremental(vs)) >= 2 and any(v["op"] == "c" for v in vs),
    )
    initial = sorted(
        v["after"]["id"] for v in events if v["op"] == "r" and v["source"]["snapshot"] != "incremental"
    )
    assert initial == [1, 2]
    # the incremental snapshot reads every row as 'r'; row 3 may come as 'r' too, or only as 'c'
    assert {1, 2} <= set(incremental(events))
    assert all(v["op"] == "r" for v in events if v["source"]["snapshot"] == "incremental")
    assert [v["after"]["id"] for v in events if v["op"] == "c"] == [3]
