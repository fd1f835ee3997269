"""Operations end to end on the whole running stack: dead letters replayed into Phoenix by the
real loader. (A source account locked under a running connector, watched by the watchdog, is a
fault test: tests/fault/test_locked_account.py.)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import phoenixdb
import pytest
from confluent_kafka import Consumer, TopicPartition

from cdc_ods import contract
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import client_config
from cdc_ods.ods.schema import create_table_ddl
from cdc_ods.ods.source_schema import read_table_schema
from cdc_ods.sources import source_for
from cdc_ods.stack.context import StackContext

from .conftest import cdc
from .test_loader import produce, record


@pytest.fixture
def widened_table(stack: StackContext) -> Iterator[str]:
    """A source table whose DECIMAL column was widened after its ODS table was created."""
    table = f"itops_dlq_{uuid.uuid4().hex[:8]}"
    source = stack.config.source("mysql")
    url = Endpoints.from_config(stack.config).phoenix_url
    conn = source_for(stack.config, "mysql").connect("admin")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, title VARCHAR(50), rating DECIMAL(3,1))")
    with phoenixdb.connect(url, autocommit=True) as ph:
        ph.cursor().execute(create_table_ddl(read_table_schema(stack.config, source, table)))
    with conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {table} MODIFY rating DECIMAL(5,1)")
    yield table
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
    conn.close()
    with phoenixdb.connect(url, autocommit=True) as ph:
        ph.cursor().execute(f"DROP TABLE IF EXISTS {contract.ods_table('mysql', source.database, table)}")


def _high_watermark(bootstrap: str, topic: str) -> int:

    consumer = Consumer(client_config(bootstrap, **{"group.id": f"itops-{uuid.uuid4().hex}"}))
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()


def test_dead_letters_replayed_into_phoenix_never_overtake_a_newer_change(
    stack: StackContext, endpoints: Endpoints, widened_table: str
) -> None:
    table, database = widened_table, stack.config.source("mysql").database
    topic, ods = (
        contract.cleansed_topic("mysql", database, table),
        contract.ods_table("mysql", database, table),
    )
    group = f"itops-{table}"

    def load() -> None:  # the real loader, until the topic is idle
        result = cdc("ods", "run", "--topic", topic, "--group", group, "--idle-exit", "8",
                     "--metrics-port", "0", timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr

    def dlq(*args: str) -> dict[str, Any]:
        result = cdc("dlq", *args, "--stage", "loader", "--topic", topic, "--json", timeout=120)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def ods_rows() -> dict[int, tuple]:
        with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as ph:
            cur = ph.cursor()
            cur.execute(f'SELECT "ID", "TITLE", "RATING", CDC_SOURCE_POS FROM {ods}')
            return {row[0]: (row[1], str(row[2]), row[3]) for row in cur.fetchall()}

    source = source_for(stack.config, "mysql").connect("admin")
    with source.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {table} VALUES (%s, %s, %s)",
            [(1, "old", "1234.5"), (2, "b", "2345.6"), (3, "c", "99.9")],
        )
    produce(endpoints.kafka_bootstrap, topic, [
        record(1, "c", 10, title="old", rating="1234.5"),
        record(2, "c", 11, title="b", rating="2345.6"),
        record(3, "c", 12, title="c", rating="99.9"),
    ])  # fmt: skip
    load()
    assert ods_rows() == {3: ("c", "99.9", 12)}  # the ODS column is still DECIMAL(3,1)
    listed = dlq("list")
    assert listed["total"] == 2 and all("Phoenix rejected the row" in g["reason"] for g in listed["groups"])

    # the fix: the ODS table is recreated from the source's current schema and reloaded
    with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as ph:
        ph.cursor().execute(f"DROP TABLE {ods}")
    # ... meanwhile key 1 changes again at the source: this newer change is applied first
    with source.cursor() as cur:
        cur.execute(f"UPDATE {table} SET title = 'newer', rating = 4321.5 WHERE id = 1")
    source.close()
    produce(endpoints.kafka_bootstrap, topic, [
        record(3, "r", 13, title="c", rating="99.9"),
        record(1, "u", 20, title="newer", rating="4321.5"),
    ])  # fmt: skip
    load()
    assert ods_rows() == {1: ("newer", "4321.5", 20), 3: ("c", "99.9", 13)}

    first = dlq("replay")
    assert (first["selected"], first["replayed"], first["already_replayed"]) == (2, 2, 0)
    load()
    # key 2 is applied; the replay of key 1's old change (position 10) does not overtake 20
    assert ods_rows() == {1: ("newer", "4321.5", 20), 2: ("b", "2345.6", 11), 3: ("c", "99.9", 13)}
    reconciled = cdc("reconcile", "--table", f"mysql.{table}", "--no-wait", "--json", timeout=300)
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert [r["ok"] for r in json.loads(reconciled.stdout)] == [True]

    end = _high_watermark(endpoints.kafka_bootstrap, topic)
    second = dlq("replay")
    assert (second["selected"], second["replayed"], second["already_replayed"]) == (2, 0, 2)
    assert _high_watermark(endpoints.kafka_bootstrap, topic) == end  # nothing sent, nothing to apply
