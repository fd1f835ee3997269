"""The embedded KSQL runner against the real stack: sources -> Debezium -> runner -> cleansed topics.

Starts only MariaDB, PostgreSQL, Kafka and Connect (module fixture), with $CDC_CONFIG's ports.
Each test uses its own tables, Debezium topic prefix and consumer group, so tests do not
see each other's data; the runner is the real `cdc ksql run` in a subprocess.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import psycopg
import pymysql
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from cdc_ods import contract
from cdc_ods.config import load_config
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.dlq import DLQ_TOPIC, DeadLetter
from cdc_ods.endpoints import Endpoints, split_host_port
from cdc_ods.kafka import client_config, ensure_topic
from cdc_ods.ksql.generate import DLQ_HEADER, generate_script
from cdc_ods.secrets import ADMIN_USER
from cdc_ods.sources import source_for
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager
from tests import PROJECT_DIR

from .conftest import connector_spec

SERVICES = ["mariadb", "postgres", "kafka", "connect"]
RUNNER = [sys.executable, "-m", "cdc_ods.ksql"]
PII_KEY = "itest-pii-key"
SENTINEL = 10**6  # the last row written: once it is cleansed, everything before it is too
ISO_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def config_path() -> Path:
    return Path(os.environ["CDC_CONFIG"]) if os.environ.get("CDC_CONFIG") else PROJECT_DIR / "cdc.yaml"


@pytest.fixture(scope="module")
def ctx() -> Iterator[StackContext]:
    context = StackContext(load_config(config_path()))
    manager = StackManager(context, report=lambda msg: print(f"[stack] {msg}", file=sys.stderr))
    was_running = manager.supervisor.is_running()
    manager.up(SERVICES)
    yield context
    if not was_running and not os.environ.get("CDC_KEEP_STACK"):
        manager.down()


@pytest.fixture(scope="module")
def eps(ctx: StackContext) -> Endpoints:
    return Endpoints.from_config(ctx.config)


@pytest.fixture
def connect(ctx: StackContext) -> Iterator[ConnectClient]:
    with ConnectClient.of(ctx.config) as client:
        yield client


@pytest.fixture
def scripts(request: pytest.FixtureRequest, ctx: StackContext) -> Iterator[Path]:
    directory = ctx.config.data_dir / "itest-ksql" / uuid.uuid4().hex[:8]
    directory.mkdir(parents=True)
    (directory / "00_dlq.sql").write_text(DLQ_HEADER)
    yield directory
    for path in directory.glob("*"):
        path.unlink()
    directory.rmdir()


def mysql(ctx: StackContext, eps: Endpoints) -> pymysql.Connection:
    host, port = split_host_port(eps.mysql)
    password = ctx.credentials.mysql_admin.get_secret_value()
    return pymysql.connect(
        host=host, port=port, user=ADMIN_USER, password=password, database="maf", autocommit=True
    )


def postgres(ctx: StackContext, eps: Endpoints) -> psycopg.Connection:
    host, port = split_host_port(eps.postgres)
    password = ctx.credentials.postgres_admin.get_secret_value()
    return psycopg.connect(
        host=host, port=port, user=ADMIN_USER, password=password, dbname="maf", autocommit=True
    )


def start_connector(
    connect: ConnectClient, ctx: StackContext, kind: str, name: str, **overrides: str
) -> None:
    spec = connector_spec(ctx.config, kind, **overrides)
    connect.put(name, spec["config"])
    connect.wait_running(name, timeout_s=120)


def drop_slot(db: psycopg.Connection, slot: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            db.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                (slot,),
            )
            return
        except psycopg.errors.ObjectInUse:
            time.sleep(1)


def start_runner(directory: Path, group: str, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                *RUNNER,
                "-c",
                str(config_path()),
                "ksql",
                "run",
                "--dir",
                str(directory),
                "--group",
                group,
                "--metrics-port",
                "0",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CDC_PII_HASH_KEY": PII_KEY},
            cwd=PROJECT_DIR,
        )


def read_until(
    bootstrap: str, topic: str, done: Callable[[list[dict]], bool], timeout_s: float = 120
) -> list[dict]:
    """Every record of `topic` from the start, in offset order, until `done(records)` holds."""
    consumer = Consumer(
        client_config(bootstrap, **{"group.id": f"itest-{uuid.uuid4().hex}", "enable.auto.commit": False})
    )
    ensure_topic(bootstrap, topic)
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    records: list[dict] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not done(records) and time.monotonic() < deadline:
            for msg in consumer.consume(500, 1.0):
                if msg.error() is None:
                    key = orjson.loads(msg.key()) if topic != DLQ_TOPIC and msg.key() else msg.key()
                    records.append({"key": key, "value": orjson.loads(msg.value()), "offset": msg.offset()})
    finally:
        consumer.close()
    return records


def masked(text: str) -> str:
    return hmac.new(PII_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()


def assert_contract(record: dict, columns: set[str], timestamps: set[str], dates: set[str]) -> None:
    value = record["value"]
    assert set(value) == columns | set(contract.METADATA_FIELDS), value
    assert value["__op"] in ("c", "u", "d", "r")
    assert value["__deleted"] is (value["__op"] == "d")
    assert isinstance(value["__source_ts_ms"], int) and isinstance(value["__source_pos"], int)
    assert record["key"] == {"id": value["id"]}
    for column in timestamps:
        assert value[column] is None or ISO_TS.match(value[column]), (column, value[column])
    for column in dates:
        assert value[column] is None or ISO_DATE.match(value[column]), (column, value[column])


def test_changes_are_cleansed_masked_and_bad_records_dead_lettered(
    ctx: StackContext, eps: Endpoints, connect: ConnectClient, scripts: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    prefix, movies, people = f"itest{suffix}", f"mv_{suffix}", f"pp_{suffix}"
    mysql_name, pg_name, slot = f"itest-ksql-my-{suffix}", f"itest-ksql-pg-{suffix}", f"itest_{suffix}"
    log = scripts / "runner.log"
    with mysql(ctx, eps) as my, my.cursor() as cur, postgres(ctx, eps) as pg:
        cur.execute(
            f"CREATE TABLE {movies} (id BIGINT PRIMARY KEY, title VARCHAR(200) NOT NULL, genres VARCHAR(200),"
            " release_date DATE, rating DECIMAL(3,1), runtime_min SMALLINT UNSIGNED, metadata JSON,"
            " created_at DATETIME(6) NOT NULL, event_ts TIMESTAMP(6) NULL DEFAULT NULL)"
        )
        pg.execute(
            f"CREATE TABLE maf.{people} (id INT PRIMARY KEY, email TEXT, phone TEXT, birth_date DATE,"
            " tags TEXT[], rating NUMERIC(3,1), active BOOLEAN, metadata JSONB, updated_at TIMESTAMPTZ)"
        )
        pg.execute(f"ALTER TABLE maf.{people} REPLICA IDENTITY FULL")
        my_table = replace(source_for(ctx.config, "mysql").catalog(movies), source=prefix)
        pg_table = replace(source_for(ctx.config, "postgres").catalog(people), source=prefix)
        pii = {"email": "email", "phone": "phone", "birth_date": "year"}
        (scripts / "my.sql").write_text(generate_script("mariadb", my_table, "maf"))
        (scripts / "pg.sql").write_text(generate_script("postgres", pg_table, "maf", pii))
        runner = start_runner(scripts, f"itest-ksql-{suffix}", log)
        try:
            start_connector(
                connect,
                ctx,
                "mysql",
                mysql_name,
                **{
                    "topic.prefix": prefix,
                    "table.include.list": f"maf.{movies}",
                    "database.server.id": str(7000 + int(suffix[:4], 16) % 1000),
                    "schema.history.internal.kafka.topic": f"_schema-history.{prefix}",
                },
            )
            start_connector(
                connect,
                ctx,
                "postgres",
                pg_name,
                **{"topic.prefix": prefix, "table.include.list": f"maf.{people}", "slot.name": slot},
            )
            cur.execute(
                f"INSERT INTO {movies} VALUES (1, ' Ame\u0301lie ', 'Comedy', '2001-04-25', 8.3, 122,"
                " '{\"lang\": \"fr\"}', '2024-02-29 23:59:58.123456', '2024-03-01 10:00:00.5')"
            )
            cur.execute(
                f"INSERT INTO {movies} VALUES (2, 'Ran', 'Drama', NULL, 8.2, 162, NULL, NOW(6), NULL)"
            )
            cur.execute(f"UPDATE {movies} SET rating = 8.4 WHERE id = 1")
            cur.execute(f"DELETE FROM {movies} WHERE id = 2")
            cur.execute(
                f"INSERT INTO {movies} VALUES (3, 'Bad', 'Drama', NULL, 11.0, 90, NULL, NOW(6), NULL)"
            )
            pg.execute(
                f"INSERT INTO maf.{people} VALUES (1, ' Alice@Example.COM ', '+1 (555) 010-9999',"
                " '1984-07-02', ARRAY['a','b'], 7.5, true, '{\"x\": 1}', '2024-02-29 23:59:58.123+02')"
            )
            pg.execute(
                f"INSERT INTO maf.{people} VALUES (2, 'alice@example.com', '15550109999', NULL, '{{}}', NULL,"
                " false, NULL, now())"
            )
            pg.execute(f"UPDATE maf.{people} SET active = false WHERE id = 1")
            pg.execute(f"DELETE FROM maf.{people} WHERE id = 2")
            raw_topic = f"{prefix}.maf.{movies}"
            producer = Producer(client_config(eps.kafka_bootstrap))
            producer.produce(raw_topic, b"not json {", key=b'{"id": 9}')
            producer.produce(raw_topic, b'{"after": "x", "op": "c"}', key=b'{"id": 9}')
            producer.flush(10)
            cur.execute(
                f"INSERT INTO {movies} VALUES (4, 'After', 'Drama', NULL, 5.0, 90, NULL, NOW(6), NULL)"
            )

            cleansed_my = read_until(
                eps.kafka_bootstrap, f"ods.{raw_topic}", lambda rs: any(r["value"]["id"] == 4 for r in rs)
            )
            cleansed_pg = read_until(
                eps.kafka_bootstrap, f"ods.{prefix}.maf.{people}", lambda rs: len(rs) >= 4
            )

            def mine(rs: list[dict]) -> list[dict]:
                return [r for r in rs if DeadLetter.from_json(orjson.dumps(r["value"])).topic == raw_topic]

            letters = mine(read_until(eps.kafka_bootstrap, DLQ_TOPIC, lambda rs: len(mine(rs)) >= 3))
            assert runner.poll() is None, log.read_text()  # kept going through the bad records
        finally:
            runner.send_signal(signal.SIGTERM)
            assert runner.wait(60) == 0, log.read_text()
            connect.delete(mysql_name)
            connect.delete(pg_name)
            cur.execute(f"DROP TABLE {movies}")
            pg.execute(f"DROP TABLE maf.{people}")
            drop_slot(pg, slot)

    assert [(r["value"]["id"], r["value"]["__op"]) for r in cleansed_my] == [
        (1, "c"),
        (2, "c"),
        (1, "u"),
        (2, "d"),
        (4, "c"),
    ]
    columns = {c.name for c in my_table.columns}
    for record in cleansed_my:
        assert_contract(record, columns, {"created_at", "event_ts"}, {"release_date"})
    first = cleansed_my[0]["value"]
    assert first["title"] == "Amélie" and first["rating"] == "8.3" and first["release_date"] == "2001-04-25"
    assert first["created_at"] == "2024-02-29T23:59:58.123456Z" and orjson.loads(first["metadata"]) == {
        "lang": "fr"
    }
    assert cleansed_my[2]["value"]["rating"] == "8.4" and cleansed_my[3]["value"]["__deleted"] is True
    positions = [r["value"]["__source_pos"] for r in cleansed_my]
    assert positions == sorted(positions)

    # Debezium's reject and the two records written by hand race: compare without order.
    by_reason = {
        r["value"]["reason"].split(":")[0]: DeadLetter.from_json(orjson.dumps(r["value"])) for r in letters
    }
    assert set(by_reason) == {"rating outside 0..10", "value is not JSON", "after"}
    assert by_reason["after"].reason.startswith("after: expected a STRUCT")
    assert by_reason["value is not JSON"].value == b"not json {"
    assert orjson.loads(by_reason["rating outside 0..10"].key or b"") == {"id": 3}
    assert all(letter.stage == "cleansing" for letter in by_reason.values())

    assert [(r["value"]["id"], r["value"]["__op"]) for r in cleansed_pg] == [
        (1, "c"),
        (2, "c"),
        (1, "u"),
        (2, "d"),
    ]
    pg_columns = {c.name for c in pg_table.columns} - {"birth_date"} | {"birth_year"}
    for record in cleansed_pg:
        assert_contract(record, pg_columns, {"updated_at"}, set())
        value = record["value"]
        assert re.fullmatch(r"[0-9a-f]{64}", value["email"]) and re.fullmatch(r"[0-9a-f]{64}", value["phone"])
        assert "@" not in orjson.dumps(value).decode()
    one, two = cleansed_pg[0]["value"], cleansed_pg[1]["value"]
    assert one["email"] == two["email"] == masked("alice@example.com")  # equal people still join
    assert one["phone"] == two["phone"] == masked("15550109999")
    assert one["birth_year"] == 1984 and two["birth_year"] is None
    assert one["updated_at"] == "2024-02-29T21:59:58.123000Z"
    assert one["tags"] == ["a", "b"] and one["active"] is True and one["rating"] == "7.5"
    assert cleansed_pg[2]["value"]["active"] is False


def test_kill_9_and_restart_keeps_final_state_per_key(
    ctx: StackContext, eps: Endpoints, connect: ConnectClient, scripts: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    prefix, table, name = f"itest{suffix}", f"kill_{suffix}", f"itest-ksql-kill-{suffix}"
    group, log = f"itest-ksql-{suffix}", scripts / "runner.log"
    with mysql(ctx, eps) as my, my.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, title VARCHAR(100) NOT NULL, rating DECIMAL(3,1),"
            " updated_at DATETIME(6) NOT NULL)"
        )
        catalog = replace(source_for(ctx.config, "mysql").catalog(table), source=prefix)
        (scripts / "kill.sql").write_text(generate_script("mariadb", catalog, "maf"))
        start_connector(
            connect,
            ctx,
            "mysql",
            name,
            **{
                "topic.prefix": prefix,
                "table.include.list": f"maf.{table}",
                "database.server.id": str(8000 + int(suffix[:4], 16) % 1000),
                "schema.history.internal.kafka.topic": f"_schema-history.{prefix}",
            },
        )
        writes_done = threading.Event()

        def write() -> None:
            with mysql(ctx, eps) as conn, conn.cursor() as w:
                for i in range(3000):
                    key = i % 150 + 1
                    if i % 7 == 6:
                        w.execute(f"DELETE FROM {table} WHERE id = %s", (key,))
                    else:
                        w.execute(
                            f"INSERT INTO {table} VALUES (%s, %s, %s, NOW(6)) ON DUPLICATE KEY UPDATE"
                            " title = VALUES(title), rating = VALUES(rating),"
                            " updated_at = VALUES(updated_at)",
                            (key, f"title {i}", (i % 100) / 10),
                        )
            writes_done.set()

        writer = threading.Thread(target=write)
        runner = start_runner(scripts, group, log)
        try:
            writer.start()
            cleansed_topic = f"ods.{prefix}.maf.{table}"
            read_until(eps.kafka_bootstrap, cleansed_topic, lambda rs: len(rs) >= 500)
            runner.kill()  # SIGKILL mid-stream: no flush, no commit
            runner.wait(10)
            time.sleep(2)
            runner = start_runner(scripts, group, log)
            writer.join(300)
            assert writes_done.is_set()
            cur.execute(f"INSERT INTO {table} VALUES (%s, 'last', 1.0, NOW(6))", (SENTINEL,))
            cur.execute(f"SELECT id, title, rating FROM {table}")
            source = {row[0]: (row[1], str(row[2])) for row in cur.fetchall()}

            def final(records: list[dict]) -> dict[int, tuple[str, str]]:
                state: dict[int, tuple[str, str]] = {}
                for r in records:
                    value = r["value"]
                    if value["__deleted"]:
                        state.pop(value["id"], None)
                    else:
                        state[value["id"]] = (value["title"], value["rating"])
                return state

            records = read_until(eps.kafka_bootstrap, cleansed_topic, lambda rs: final(rs) == source, 180)
            raw = read_until(
                eps.kafka_bootstrap,
                f"{prefix}.maf.{table}",
                lambda rs: any(r["key"] == {"id": SENTINEL} for r in rs),
            )
            assert runner.poll() is None, log.read_text()
        finally:
            runner.send_signal(signal.SIGTERM)
            runner.wait(60)
            connect.delete(name)
            cur.execute(f"DROP TABLE {table}")
    assert final(records) == source
    # Per key, the cleansed changes (replays removed) are exactly the raw ones, in the same order:
    # nothing lost, nothing reordered; a replay after the kill only repeats a tail.
    raw_positions: dict[int, list[int]] = {}
    for r in raw:
        source_block = r["value"]["source"]
        position = contract.binlog_position(source_block["file"], source_block["pos"], source_block["row"])
        raw_positions.setdefault(r["key"]["id"], []).append(position)
    cleansed_positions: dict[int, list[int]] = {}
    for r in records:
        seen = cleansed_positions.setdefault(r["value"]["id"], [])
        if r["value"]["__source_pos"] not in seen:
            seen.append(r["value"]["__source_pos"])
    assert cleansed_positions == raw_positions
    text = log.read_text()
    assert text.count("running ") == 2
