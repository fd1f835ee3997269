"""Databases of a test's own, added to cdc.yaml as more sources in a workspace of its own.

The tests that bring whole databases into the running pipeline (the sample databases, the
column types, adding and removing tables) load them as the servers' administrators, write a
cdc.yaml next to the project's with their extra sources, and drive the real `cdc` with it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from cdc_ods.config import load_config
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.kafka import client_config
from cdc_ods.stack.context import StackContext
from tests import PROJECT_DIR

from .conftest import config_path


def mariadb(ctx: StackContext, sql: str) -> None:
    """`sql` run by MariaDB's root through its socket (DELIMITER blocks work: it is the client)."""
    socket = ctx.data("mariadb") / "mariadb.sock"
    result = subprocess.run(
        ["mariadb", "--no-defaults", f"--socket={socket}", "-uroot", "--batch",
         "--default-character-set=utf8mb4"],
        input=sql, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


def psql(ctx: StackContext, database: str, sql: str) -> None:
    """`sql` run by the local stack's PostgreSQL admin in `database`."""
    env = {**os.environ, "PGPASSWORD": ctx.credentials.postgres_admin.get_secret_value()}
    result = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", ctx.host, "-p", str(ctx.ports.postgres),
         "-U", "cdc_admin", "-d", database],
        input=sql, capture_output=True, text=True, check=False, timeout=600, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


def drop_sources(ctx: StackContext, prefix: str) -> None:
    """Every connector named `prefix`... and its replication slot, also those an interrupted
    earlier run left behind (a deleted connector's walsender may hold its slot a moment)."""
    with ConnectClient.of(ctx.config) as connect:
        for name in connect.connectors():
            if name.startswith(prefix):
                connect.delete(name)
    escaped = f"cdc_{prefix}".replace("_", "\\_")  # LIKE: an unescaped _ matches any character
    slots = f"FROM pg_replication_slots WHERE slot_name LIKE '{escaped}%'"
    psql(ctx, "postgres", f"SELECT pg_terminate_backend(active_pid) {slots} AND active_pid IS NOT NULL;"
                          " SELECT pg_sleep(1);"
                          f" SELECT pg_drop_replication_slot(slot_name) {slots}")  # fmt: skip


def create_test_databases(ctx: StackContext, database: str, tables: str) -> None:
    """Database `database` on the MariaDB and the PostgreSQL server, each with `tables` (the
    same statements on both)."""
    mariadb(ctx, f"CREATE DATABASE {database} CHARACTER SET utf8mb4; USE {database}; {tables}")
    psql(ctx, "postgres", f"CREATE DATABASE {database}")
    psql(ctx, database, tables)


def drop_test_sources(ctx: StackContext, prefix: str, database: str) -> None:
    """A test's sources gone (connectors named `prefix`..., also those an interrupted earlier run
    left behind) with its database `database` on the MariaDB and the PostgreSQL server."""
    drop_sources(ctx, prefix)
    mariadb(ctx, f"DROP DATABASE IF EXISTS {database};")
    psql(ctx, "postgres", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def workspace(directory: Path, sources: list[dict[str, Any]]) -> Path:
    """A cdc.yaml in `directory`: the project's (same stack) plus `sources`, with the
    project's cleansing scripts and monitoring next to it."""
    data = yaml.safe_load(config_path().read_text())
    main = load_config(config_path())
    data.setdefault("stack", {}).update({"data_dir": str(main.data_dir), "lib_dir": str(main.lib_dir)})
    data["sources"] += sources
    path = directory / "cdc.yaml"
    path.write_text(yaml.safe_dump(data))
    shutil.copytree(PROJECT_DIR / "ksql", directory / "ksql")
    shutil.copytree(PROJECT_DIR / "monitoring", directory / "monitoring", symlinks=True)
    return path


def cdc(config: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """The real `cdc` with the workspace's cdc.yaml."""
    return subprocess.run(
        [sys.executable, "-m", "cdc_ods", "--config", str(config), *args],
        capture_output=True, text=True, check=False, timeout=timeout, cwd=config.parent,
    )  # fmt: skip


def reconcile(config: Path, *tables: str, wait: bool = True) -> tuple[int, dict[str, dict]]:
    """`cdc reconcile --json` of `tables`: its exit code and the report per table. `wait=False`
    right after one that waited for the pipeline to catch up, with no change since."""
    no_wait = () if wait else ("--no-wait",)
    result = cdc(config, "reconcile", "--json", *no_wait, *(f"--table={t}" for t in tables))
    assert result.stdout, result.stderr
    return result.returncode, {r["table"]: r for r in json.loads(result.stdout)}


def not_ok(reports: dict[str, dict]) -> str:
    """The tables reconcile found different, for an assertion message."""
    return json.dumps({t: r for t, r in reports.items() if not r["ok"]}, indent=1, default=str)


def raw_events(bootstrap: str, topic: str) -> list[dict]:
    """Every event in `topic` now, from its start ([] when the topic does not exist)."""
    return [orjson.loads(value) for _key, value in topic_records(bootstrap, topic) if value is not None]


def topic_records(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every record's key and value in `topic` now, from its start ([] when the topic does not
    exist)."""
    consumer = Consumer(
        client_config(bootstrap, **{"group.id": f"itest-{uuid.uuid4().hex}", "enable.auto.commit": False})
    )
    try:
        metadata = consumer.list_topics(timeout=10)
        if topic not in metadata.topics:
            return []
        ends = {}
        for p in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        records: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + 60
        while ends:
            assert time.monotonic() < deadline, f"{topic} not read to its end offsets {ends} in 60 s"
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            records.append((msg.key(), msg.value()))
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                ends.pop(msg.partition(), None)
        return records
    finally:
        consumer.close()
