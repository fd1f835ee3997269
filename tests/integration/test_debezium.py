"""Debezium connectors registered through Connect's REST API capture real changes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import orjson
import psycopg
import pymysql
import pytest
from confluent_kafka import Consumer

from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.endpoints import Endpoints, split_host_port
from cdc_ods.kafka import client_config
from cdc_ods.secrets import ADMIN_USER
from cdc_ods.stack.context import StackContext

from .conftest import connector_spec


def read_events(bootstrap: str, topic: str, count: int, timeout_s: float = 90) -> list[dict]:
    consumer = Consumer(
        client_config(bootstrap, **{"group.id": f"itest-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"})
    )
    consumer.subscribe([topic])
    events: list[dict] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(events) < count and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error() or msg.value() is None:
                continue
            events.append({"key": orjson.loads(msg.key()), "value": orjson.loads(msg.value())})
    finally:
        consumer.close()
    return events


@pytest.fixture
def connect(stack: StackContext) -> Iterator[ConnectClient]:
    with ConnectClient.of(stack.config) as client:
        yield client


def run_connector(connect: ConnectClient, name: str, config: dict) -> None:
    assert connect.validate(name, config) == []
    # created; (re-PUTting the same config would restart the task, and a task restarted before
    # its first offset flush snapshots again: `cdc connectors apply` compares configs first)
    assert connect.put(name, config) is True
    connect.wait_running(name, timeout_s=120)


def test_mariadb_connector_streams_inserts_updates_deletes(
    stack: StackContext, endpoints: Endpoints, connect: ConnectClient
) -> None:
    suffix = uuid.uuid4().hex[:8]
    table, prefix, name = f"itest_{suffix}", f"itest{suffix}", f"itest-mysql-{suffix}"
    host, port = split_host_port(endpoints.mysql)
    db = pymysql.connect(
        host=host,
        port=port,
        user=ADMIN_USER,
        password=stack.credentials.mysql_admin.get_secret_value(),
        database="maf",
        autocommit=True,
    )
    with db, db.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, title VARCHAR(100), rating DECIMAL(3,1))")
        cur.execute(f"INSERT INTO {table} VALUES (1, 'Amélie', 8.3)")
        spec = connector_spec(
            stack.config,
            "mysql",
            **{
                "topic.prefix": prefix,
                "table.include.list": f"maf.{table}",
                # unique among every binlog client of the session (a repeated id evicts the other)
                "database.server.id": str(100_000 + int(suffix, 16) % 900_000),
                "schema.history.internal.kafka.topic": f"_schema-history.{prefix}",
            },
        )
        try:
            run_connector(connect, name, spec["config"])
            # the snapshot is done (and streaming about to start) once its read is in the topic
            assert read_events(endpoints.kafka_bootstrap, f"{prefix}.maf.{table}", 1)
            cur.execute(f"INSERT INTO {table} VALUES (2, '東京物語', 8.2)")
            cur.execute(f"UPDATE {table} SET rating = 8.4 WHERE id = 1")
            cur.execute(f"DELETE FROM {table} WHERE id = 2")
            events = read_events(endpoints.kafka_bootstrap, f"{prefix}.maf.{table}", 4)
        finally:
            connect.delete(name)
            cur.execute(f"DROP TABLE {table}")
    assert [e["value"]["op"] for e in events] == ["r", "c", "u", "d"]
    assert events[0]["key"] == {"id": 1}
    assert events[1]["value"]["after"] == {"id": 2, "title": "東京物語", "rating": "8.2"}
    assert events[2]["value"]["before"]["rating"] == "8.3"
    assert events[2]["value"]["after"]["rating"] == "8.4"
    assert events[3]["value"]["before"]["id"] == 2 and events[3]["value"]["after"] is None
    assert events[3]["value"]["source"]["table"] == table


def test_postgres_connector_streams_inserts_updates_deletes(
    stack: StackContext, endpoints: Endpoints, connect: ConnectClient
) -> None:
    suffix = uuid.uuid4().hex[:8]
    table, prefix, name, slot = (
        f"itest_{suffix}",
        f"itest{suffix}",
        f"itest-postgres-{suffix}",
        f"itest_{suffix}",
    )
    host, port = split_host_port(endpoints.postgres)
    password = stack.credentials.postgres_admin.get_secret_value()
    with psycopg.connect(
        host=host, port=port, user=ADMIN_USER, password=password, dbname="maf", autocommit=True
    ) as db:
        db.execute(f"CREATE TABLE maf.{table} (id INT PRIMARY KEY, title TEXT, tags TEXT[], active BOOLEAN)")
        db.execute(f"ALTER TABLE maf.{table} REPLICA IDENTITY FULL")
        db.execute(f"INSERT INTO maf.{table} VALUES (1, 'Twin Peaks', ARRAY['drama'], true)")
        spec = connector_spec(
            stack.config,
            "postgres",
            **{"topic.prefix": prefix, "table.include.list": f"maf.{table}", "slot.name": slot},
        )
        try:
            run_connector(connect, name, spec["config"])
            assert read_events(endpoints.kafka_bootstrap, f"{prefix}.maf.{table}", 1)  # snapshot done
            db.execute(f"INSERT INTO maf.{table} VALUES (2, 'Fargo', ARRAY['crime','drama'], true)")
            db.execute(f"UPDATE maf.{table} SET active = false WHERE id = 1")
            db.execute(f"DELETE FROM maf.{table} WHERE id = 2")
            events = read_events(endpoints.kafka_bootstrap, f"{prefix}.maf.{table}", 4)
        finally:
            connect.delete(name)
            db.execute(f"DROP TABLE maf.{table}")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    db.execute(
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                        " WHERE slot_name = %s",
                        (slot,),
                    )
                    break
                except psycopg.errors.ObjectInUse:
                    time.sleep(1)
    assert [e["value"]["op"] for e in events] == ["r", "c", "u", "d"]
    assert events[1]["value"]["after"] == {
        "id": 2,
        "title": "Fargo",
        "tags": ["crime", "drama"],
        "active": True,
    }
    assert events[2]["value"]["before"]["active"] is True and events[2]["value"]["after"]["active"] is False
    assert events[3]["value"]["before"]["id"] == 2 and events[3]["value"]["after"] is None
