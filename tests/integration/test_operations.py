"""Operations against the real Kafka, Kafka Connect, PostgreSQL: DLQ list and replay, the
failed-task watchdog, freshness measured from Kafka.

Needs only mariadb, postgres, kafka and connect (the fixture starts just those). Every test
uses topics, groups, connectors and publications of its own.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import typer
from confluent_kafka import Consumer, Producer
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from cdc_ods.cli import State
from cdc_ods.config import Config, SourceConfig
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.dlq import DLQ_TOPIC, DeadLetter, DeadLetters
from cdc_ods.endpoints import split_host_port
from cdc_ods.errors import Rejected
from cdc_ods.kafka import client_config, ensure_topic
from cdc_ods.operations.cli import dlq_app
from cdc_ods.operations.freshness import FreshnessProbe
from cdc_ods.operations.settings import OperationsConfig
from cdc_ods.operations.topics import read_all
from cdc_ods.operations.watchdog import WatchClient, Watchdog
from cdc_ods.secrets import ADMIN_USER

from .conftest import Stack, cdc, connector_spec, services_stack

SERVICES = ["mariadb", "postgres", "kafka", "connect"]


@pytest.fixture(scope="module")
def ops_stack() -> Iterator[Stack]:
    # these tests run watchdogs of their own: the stack's must not restart their tasks too
    with services_stack(SERVICES, paused=("watchdog",)) as stack:
        yield stack


def _cli(stack: Stack, *args: str) -> str:
    """Run the `cdc dlq` typer app in-process, as `cdc` registers it."""
    root = typer.Typer()

    @root.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = State(stack.config_path, debug=True)

    root.add_typer(dlq_app, name="dlq")
    result = CliRunner().invoke(root, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    ensure_topic(bootstrap, topic)
    producer = Producer(client_config(bootstrap))
    for key, value in records:
        producer.produce(topic, value, key=key)
    assert producer.flush(30) == 0


def _consume(bootstrap: str, topic: str, count: int, timeout_s: float = 30) -> list:
    consumer = Consumer(
        client_config(bootstrap, **{"group.id": f"itops-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"})
    )
    consumer.subscribe([topic])
    got: list = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                got.append(msg)
    finally:
        consumer.close()
    return got


def _dead_letter(
    stack: Stack, topic: str, records: list[tuple[bytes, bytes]], stage: str, reason: str
) -> list:
    """Real dead letters: records produced, consumed back, sent through DeadLetters."""
    _produce(stack.bootstrap, topic, records)
    messages = _consume(stack.bootstrap, topic, len(records))
    assert len(messages) == len(records)
    ensure_topic(stack.bootstrap, DLQ_TOPIC)
    dlq = DeadLetters(stack.bootstrap)
    for msg in messages:
        dlq.send(Rejected(reason, stage, msg.topic(), msg.partition(), msg.offset()), msg.key(), msg.value())
    dlq.flush()
    return messages


def test_dlq_list_groups_by_stage_and_reason_and_shows_records(ops_stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    topic = f"itops.list.{run}"
    _dead_letter(
        ops_stack, topic, [(b'{"id":1}', b"{oops"), (b'{"id":2}', b"{oops2")], "loader", f"bad {run} A"
    )
    _dead_letter(
        ops_stack, f"{topic}.b", [(b'{"id":3}', b'{"id":3,"rating":"x"}')], "cleansing", f"bad {run} B"
    )

    listed = json.loads(_cli(ops_stack, "dlq", "list", "--reason", run, "--json"))
    groups = {(g["stage"], g["reason"]): g for g in listed["groups"]}
    assert listed["total"] == 3
    assert groups[("loader", f"bad {run} A")]["count"] == 2
    first = groups[("loader", f"bad {run} A")]["records"][0]
    assert (first["source"]["topic"], first["source"]["offset"], first["key"], first["value"]) == (
        topic,
        0,
        '{"id":1}',
        "{oops",
    )
    only_cleansing = json.loads(
        _cli(ops_stack, "dlq", "list", "--reason", run, "--stage", "cleansing", "--json")
    )
    assert [g["count"] for g in only_cleansing["groups"]] == [1]
    assert (
        json.loads(_cli(ops_stack, "dlq", "list", "--reason", run, "--since", "2000-01-01", "--json"))[
            "total"
        ]
        == 3
    )
    assert (
        json.loads(_cli(ops_stack, "dlq", "list", "--reason", run, "--since", "0s", "--json"))["total"] == 0
    )

    text = _cli(ops_stack, "dlq", "list", "--reason", run)
    assert f"bad {run} A" in text and f"{topic}[0]@0" in text and "{oops" in text


def test_replay_sends_each_dead_letter_back_once(ops_stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    topic = f"itops.replay.{run}"
    records = [(f'{{"id":{i}}}'.encode(), f'{{"id":{i},"v":"x"}}'.encode()) for i in range(3)]
    _dead_letter(ops_stack, topic, records, "loader", f"replay me {run}")

    dry = json.loads(_cli(ops_stack, "dlq", "replay", "--reason", run, "--dry-run", "--json"))
    assert (dry["selected"], dry["replayed"], dry["by_topic"]) == (3, 0, {topic: 3})
    time.sleep(1)
    assert len(_consume(ops_stack.bootstrap, topic, 4, timeout_s=5)) == 3  # dry run sent nothing

    first = json.loads(_cli(ops_stack, "dlq", "replay", "--reason", run, "--json"))
    assert (first["replayed"], first["already_replayed"]) == (3, 0)
    messages = _consume(ops_stack.bootstrap, topic, 6)
    replayed = messages[3:]
    assert [(m.key(), m.value()) for m in replayed] == records
    headers = dict(replayed[0].headers())
    assert headers["cdc.replay"] == b"1" and headers["cdc.dlq.reason"] == f"replay me {run}".encode()

    second = json.loads(_cli(ops_stack, "dlq", "replay", "--reason", run, "--json"))
    assert (second["selected"], second["replayed"], second["already_replayed"]) == (3, 0, 3)
    assert len(_consume(ops_stack.bootstrap, topic, 7, timeout_s=5)) == 6


def test_a_replayed_record_that_fails_again_returns_with_the_new_reason(ops_stack: Stack) -> None:
    """The real cleansing stage (`cdc ksql run`) gets the replay and dead-letters it again."""
    run = uuid.uuid4().hex[:8]
    topic = "mysql.maf.movies"
    key = f'{{"id":{run!r}}}'.replace("'", '"').encode()
    [original] = _dead_letter(
        ops_stack, topic, [(key, b"not json " + run.encode())], "cleansing", f"old {run}"
    )
    report = json.loads(_cli(ops_stack, "dlq", "replay", "--reason", f"old {run}", "--json"))
    assert report["replayed"] == 1

    group = f"itops-cleansing-{run}"
    result = cdc(
        "ksql",
        "run",
        "--group",
        group,
        "--idle-exit",
        "5",
        "--metrics-port",
        "0",
        config=ops_stack.config_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr

    again = [
        DeadLetter.from_json(m.value())
        for m in read_all(ops_stack.bootstrap, DLQ_TOPIC)
        if m.key() == key and DeadLetter.from_json(m.value()).stage == "cleansing"
    ]
    reasons = {(d.offset, d.reason) for d in again}
    replay_offset = max(d.offset for d in again)
    assert replay_offset > original.offset()  # the replayed copy, at its new offset
    new_reasons = [r for o, r in reasons if o == replay_offset]
    assert new_reasons and all(r != f"old {run}" for r in new_reasons), reasons


@pytest.fixture
def pg_connector(ops_stack: Stack) -> Iterator[tuple[str, psycopg.Connection, ConnectClient]]:
    """A PostgreSQL connector on a table and publication of its own."""
    run = uuid.uuid4().hex[:8]
    name, table = f"itops-pg-{run}", f"itops_{run}"
    host, port = split_host_port(ops_stack.endpoints.postgres)
    password = ops_stack.ctx.credentials.postgres_admin.get_secret_value()
    db = psycopg.connect(
        host=host, port=port, user=ADMIN_USER, password=password, dbname="maf", autocommit=True
    )
    db.execute(f"CREATE TABLE maf.{table} (id INT PRIMARY KEY, title TEXT)")
    db.execute(f"CREATE PUBLICATION {table} FOR TABLE maf.{table}")
    overrides = {
        "table.include.list": f"maf.{table}",
        "topic.prefix": f"itops{run}",
        "slot.name": table,
        "publication.name": table,
    }
    spec = connector_spec(ops_stack.ctx.config, "postgres", **overrides)
    client = ConnectClient.of(ops_stack.ctx.config)
    client.put(name, spec["config"])
    client.wait_running(name, timeout_s=120, settle_s=2)
    yield name, db, client
    client.delete(name)
    db.execute(f"DROP PUBLICATION IF EXISTS {table}")
    db.execute(f"DROP TABLE maf.{table}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the slot stays active until the task has stopped
        try:
            db.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                (table,),
            )
            break
        except psycopg.errors.ObjectInUse:
            time.sleep(1)
    db.close()
    client.close()


def _fail_task(client: ConnectClient, name: str) -> None:
    """Restart the task while its publication is gone: it FAILS for real on start."""
    client.restart(name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.status(name)
        if status and status["tasks"] and status["tasks"][0]["state"] == "FAILED":
            return
        time.sleep(0.5)
    raise AssertionError(f"{name}: task did not fail: {client.status(name)}")


def _watch_until(watchdog: Watchdog, done, timeout_s: float = 90) -> list:
    actions: list = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        actions += watchdog.check(time.monotonic())
        if done(actions):
            return actions
        time.sleep(0.5)
    raise AssertionError(f"watchdog did not get there: {actions}")


def _sample(name: str, connector: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"connector": connector, "task": "0"})


def test_watchdog_restarts_a_failed_task_and_gives_up_on_a_repeating_failure(
    pg_connector, ops_stack: Stack
) -> None:
    name, db, client = pg_connector
    table = name.replace("itops-pg-", "itops_")
    settings = OperationsConfig(restart_backoff_s=1, restart_max_attempts=2, healthy_after_s=3)
    with WatchClient.of(ops_stack.ctx.config) as watch_client:
        watchdog = Watchdog(watch_client, settings)

        # the cause is fixed while the task is FAILED: one restart brings it back
        db.execute(f"DROP PUBLICATION {table}")
        _fail_task(client, name)
        db.execute(f"CREATE PUBLICATION {table} FOR TABLE maf.{table}")
        actions = _watch_until(watchdog, lambda a: any(x.kind == "recovered" for x in a))
        assert [a.kind for a in actions if a.connector == name] == ["restart", "recovered"]
        assert "publication" in actions[0].trace.lower() or actions[0].trace
        assert client.status(name)["tasks"][0]["state"] == "RUNNING"
        assert _sample("cdc_watchdog_task_restarts_total", name) == 1
        assert _sample("cdc_watchdog_gave_up", name) == 0

        # the failure repeats (like a wrong password): capped restarts, then it gives up
        db.execute(f"DROP PUBLICATION {table}")
        _fail_task(client, name)
        actions = _watch_until(watchdog, lambda a: any(x.kind == "give_up" for x in a))
        assert [a.kind for a in actions if a.connector == name] == ["restart", "restart", "give_up"]
        assert _sample("cdc_watchdog_task_restarts_total", name) == 3
        assert _sample("cdc_watchdog_gave_up", name) == 1
        time.sleep(3)
        assert [a for a in watchdog.check(time.monotonic()) if a.connector == name] == []  # no loop
        assert client.status(name)["tasks"][0]["state"] == "FAILED"

        # an operator fixes it and restarts: the give-up clears
        db.execute(f"CREATE PUBLICATION {table} FOR TABLE maf.{table}")
        client.restart(name, only_failed=True)
        _watch_until(watchdog, lambda a: any(x.kind == "recovered" for x in a))
        assert _sample("cdc_watchdog_gave_up", name) == 0


def test_freshness_is_zero_for_an_idle_table_and_grows_for_a_stuck_stage(ops_stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    table = f"itops_{run}"
    config = Config(
        sources=[SourceConfig(name="mysql", kind="mariadb", tables=[table])],
        cleansing={"group_id": f"itops-c-{run}"},
        ods={"group_id": f"itops-l-{run}"},
    )
    raw, cleansed, ods = f"mysql.maf.{table}", f"ods.mysql.maf.{table}", f"ODS.MYSQL_MAF_{table.upper()}"
    for topic in (raw, cleansed):
        _produce(ops_stack.bootstrap, topic, [(b"k", b"v")] * 3)
        consumer = Consumer(
            client_config(
                ops_stack.bootstrap,
                **{
                    "group.id": config.cleansing.group_id if topic == raw else config.ods.group_id,
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                },
            )
        )
        consumer.subscribe([topic])
        msgs = [m for m in (consumer.poll(5) for _ in range(6)) if m is not None and m.error() is None][:3]
        consumer.commit(msgs[-1], asynchronous=False)  # both stages processed everything
        consumer.close()
    probe = FreshnessProbe(config, ops_stack.bootstrap)
    try:
        measured = probe.measure()
        assert measured[ods] == 0.0  # idle, caught up, however old the last change
        assert set(measured) == {ods, "ODS.EVENTS_APP_CLIENT_EVENTS"}  # the apps' events too
        time.sleep(2)
        assert probe.measure()[ods] == 0.0
        labels = {"stage": "loader", "table": ods}
        assert REGISTRY.get_sample_value("cdc_pipeline_backlog_records", labels) == 0

        _produce(ops_stack.bootstrap, cleansed, [(b"k", b"v2")] * 2)  # the loader does not take them
        first = probe.measure()[ods]
        time.sleep(2)
        second = probe.measure()[ods]
        assert 0 <= first < second  # stuck: grows with the clock
        assert REGISTRY.get_sample_value("cdc_pipeline_backlog_records", labels) == 2
        assert REGISTRY.get_sample_value("cdc_pipeline_freshness_seconds", {"table": ods}) == second
    finally:
        probe.close()
