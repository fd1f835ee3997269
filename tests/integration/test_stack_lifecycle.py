"""`cdc stack up/down/status` on a private stack: idempotent, data kept, --clean wipes it.

Runs the real command on a second stack (ports shifted, its own data directory) so the
session's shared stack is not disturbed. A subset of services keeps it quick (every service
goes through the same manager code; HBase and the Query Server, the slowest to start, are
left out: the ODS outliving restarts of HBase is shown by `make fault`, tests/fault).
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pymysql

from cdc_ods.kafka import ensure_topic
from cdc_ods.secrets import ADMIN_USER
from cdc_ods.stack.context import StackContext

from .conftest import cdc, isolated_config

SUBSET = ["mariadb", "postgres", "kafka"]


def states(config: Path) -> dict[str, str]:
    result = cdc("stack", "status", "--json", config=config)
    assert result.returncode == 0, result.stderr
    return {s["name"]: s["state"] for s in json.loads(result.stdout)}


def kafka_topics(bootstrap: str) -> set[str]:
    from confluent_kafka.admin import AdminClient

    from cdc_ods.kafka import client_config

    return set(AdminClient(client_config(bootstrap)).list_topics(timeout=10).topics)


def test_up_twice_down_up_keeps_data_and_clean_wipes_it(private_dir: Path) -> None:
    path, config = isolated_config(private_dir, port_offset=1000)
    ctx = StackContext(config)
    ports = config.stack.ports
    bootstrap = f"127.0.0.1:{ports.kafka}"
    try:
        assert set(states(path).values()) == {"stopped"}

        first = cdc("stack", "up", *SUBSET, config=path)
        assert first.returncode == 0, first.stderr
        assert "healthy" in first.stderr
        assert all(states(path)[name] == "running" for name in SUBSET)

        second = cdc("stack", "up", *SUBSET, config=path)
        assert second.returncode == 0, second.stderr
        assert "stack already running" in second.stderr

        my = pymysql.connect(
            host="127.0.0.1",
            port=ports.mariadb,
            user=ADMIN_USER,
            password=ctx.credentials.mysql_admin.get_secret_value(),
            database="maf",
            autocommit=True,
        )
        with my, my.cursor() as cur:
            cur.execute("CREATE TABLE kept (id INT PRIMARY KEY)")
            cur.execute("INSERT INTO kept VALUES (42)")
        pg_args = {
            "host": "127.0.0.1",
            "port": ports.postgres,
            "user": ADMIN_USER,
            "dbname": "maf",
            "password": ctx.credentials.postgres_admin.get_secret_value(),
            "autocommit": True,
        }
        with psycopg.connect(**pg_args) as pg:
            pg.execute("CREATE TABLE maf.kept (id INT PRIMARY KEY)")
            pg.execute("INSERT INTO maf.kept VALUES (7)")
        ensure_topic(bootstrap, "kept-topic")

        down = cdc("stack", "down", config=path)
        assert down.returncode == 0, down.stderr
        assert set(states(path).values()) == {"stopped"}

        assert cdc("stack", "up", *SUBSET, config=path).returncode == 0
        my = pymysql.connect(
            host="127.0.0.1",
            port=ports.mariadb,
            user=ADMIN_USER,
            password=ctx.credentials.mysql_admin.get_secret_value(),
            database="maf",
        )
        with my, my.cursor() as cur:
            cur.execute("SELECT id FROM kept")
            assert cur.fetchall() == ((42,),)
        with psycopg.connect(**pg_args) as pg:
            assert pg.execute("SELECT id FROM maf.kept").fetchall() == [(7,)]
        assert "kept-topic" in kafka_topics(bootstrap)

        # every service keeps its state under data/ (what the up above read back came from there)
        assert cdc("stack", "down", "--clean", config=path).returncode == 0
        left = {p.name for p in config.data_dir.iterdir()}
        assert not left & {"data", "logs", "conf"}, left
    finally:
        cdc("stack", "down", "--clean", config=path)


def test_a_taken_port_is_reported_with_its_owner(private_dir: Path) -> None:
    import socket

    path, config = isolated_config(private_dir, port_offset=1100)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", config.stack.ports.mariadb))
        squatter.listen()
        result = cdc("stack", "up", "mariadb", config=path)
    cdc("stack", "down", config=path)
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert f"port 127.0.0.1:{config.stack.ports.mariadb} is already in use by pid" in message
