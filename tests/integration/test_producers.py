"""Producers against the real MariaDB and PostgreSQL: what the ledger says was committed is
exactly what a SELECT reads back, every column; a seed reproduces a run.

Only the two databases are started (not Kafka, Connect...), and the producers write into
a database of their own, `itest_producers`, so a demo's `maf` tables are left alone.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg import sql
from pymysql.cursors import DictCursor

from cdc_ods.config import load_config
from cdc_ods.endpoints import Endpoints, split_host_port
from cdc_ods.producers.ledger import Ledger, jsonable
from cdc_ods.producers.mysql import MySQLTarget
from cdc_ods.producers.postgres import PostgresTarget
from cdc_ods.producers.runner import Limit, Outcome, Pacer, Target, opened, produce
from cdc_ods.secrets import ADMIN_USER
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager
from tests import PROJECT_DIR

DATABASE = "itest_producers"
SCHEMA = "maf"
Rows = dict[int, dict[str, Any]]


@pytest.fixture(scope="module")
def databases() -> Iterator[StackContext]:
    """MariaDB and PostgreSQL of the configured stack, started if needed (and then stopped,
    unless CDC_KEEP_STACK is set)."""
    path = Path(os.environ["CDC_CONFIG"]) if os.environ.get("CDC_CONFIG") else PROJECT_DIR / "cdc.yaml"
    ctx = StackContext(load_config(path))
    manager = StackManager(ctx, report=lambda msg: print(f"[stack] {msg}", file=sys.stderr))
    was_running = manager.supervisor.is_running()
    manager.up(["mariadb", "postgres"])
    yield ctx
    if not was_running and not os.environ.get("CDC_KEEP_STACK"):
        manager.down()


class MariaDB:
    """The MySQL-family source, seen from the test: fresh database, table contents."""

    tables = ("movies", "app_events")

    def __init__(self, ctx: StackContext) -> None:
        self.address = Endpoints.from_config(ctx.config).mysql
        self.password = ctx.credentials.mysql_admin.get_secret_value()

    def target(self) -> MySQLTarget:
        return MySQLTarget(self.address, ADMIN_USER, self.password, DATABASE)

    def _connect(self) -> pymysql.Connection:
        host, port = split_host_port(self.address)
        return pymysql.connect(
            host=host,
            port=port,
            user=ADMIN_USER,
            password=self.password,
            charset="utf8mb4",
            init_command="SET time_zone = '+00:00'",
            cursorclass=DictCursor,
        )

    def drop(self) -> None:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{DATABASE}`")

    def rows(self, table: str) -> Rows:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT * FROM `{DATABASE}`.`{table}`")
            rows = cur.fetchall()
        for row in rows:
            if row.get("metadata") is not None:  # JSON arrives as text (MariaDB: LONGTEXT)
                row["metadata"] = json.loads(row["metadata"])
        return {row["id"]: row for row in rows}


class PostgreSQL:
    tables = ("tv_series", "episodes")

    def __init__(self, ctx: StackContext) -> None:
        self.address = Endpoints.from_config(ctx.config).postgres
        self.password = ctx.credentials.postgres_admin.get_secret_value()

    def target(self) -> PostgresTarget:
        return PostgresTarget(self.address, ADMIN_USER, self.password, DATABASE, SCHEMA)

    def _connect(self, dbname: str) -> psycopg.Connection:
        host, port = split_host_port(self.address)
        return psycopg.connect(
            host=host, port=port, user=ADMIN_USER, password=self.password, dbname=dbname, autocommit=True
        )

    def drop(self) -> None:
        with self._connect("postgres") as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))

    def rows(self, table: str) -> Rows:
        with self._connect(DATABASE) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table)))
            return {row["id"]: row for row in cur.fetchall()}

    def replica_identity(self, table: str) -> str:
        with self._connect(DATABASE) as conn:
            query = "SELECT relreplident FROM pg_class WHERE oid = %s::regclass"
            return conn.execute(query, (f"{SCHEMA}.{table}",)).fetchone()[0]


Source = MariaDB | PostgreSQL
SOURCES: list[Callable[[StackContext], Source]] = [MariaDB, PostgreSQL]


@pytest.fixture(params=SOURCES, ids=["mariadb", "postgres"])
def source(request: pytest.FixtureRequest, databases: StackContext) -> Iterator[Source]:
    db = request.param(databases)
    db.drop()  # the producer creates database, schema and tables
    yield db
    db.drop()


def run_producer(
    targets: list[Target], seed: int, limit: Limit, rate: float = 0, stop: threading.Event | None = None
) -> dict[str, Outcome]:
    with opened(targets):
        outcomes = produce(targets, Pacer(rate), limit, seed, stop or threading.Event())
    for outcome in outcomes.values():
        assert outcome.error is None, outcome.error
    return outcomes


def assert_matches(db: Source, ledger: Ledger, untouched: dict[str, Rows] | None = None) -> None:
    """Every row the ledger expects reads back identical, column by column (typed values
    and their text forms, so decimal scale and microseconds count), and nothing else is
    there besides the `untouched` rows (per table) of an earlier run."""
    for table in db.tables:
        touched = ledger.tables[table].rows
        expected = {k: v for k, v in (untouched or {}).get(table, {}).items() if k not in touched}
        expected |= {k: v for k, v in touched.items() if v is not None}
        actual = db.rows(table)
        assert actual.keys() == expected.keys(), table
        for key, row in expected.items():
            assert actual[key] == row, (table, key)
            assert jsonable(actual[key]) == jsonable(row), (table, key)


def test_committed_changes_read_back_exactly(source: Source) -> None:
    ledger = run_producer([source.target()], seed=42, limit=Limit(count=5000))[source.target().name].ledger
    assert ledger.total == 5000
    for table in source.tables:
        rows = ledger.tables[table].rows
        assert any(row is None for row in rows.values()), f"{table}: no delete"
        assert len(rows) > 100
    assert ledger.tables[source.tables[0]].counts["update"] > 100
    assert_matches(source, ledger)


def test_same_seed_same_ledger_whatever_the_batching(source: Source) -> None:
    name = source.target().name
    first = run_producer([source.target()], seed=7, limit=Limit(count=2000))[name].ledger
    source.drop()
    # paced: a few changes per transaction instead of 500, same operations
    second = run_producer([source.target()], seed=7, limit=Limit(count=2000), rate=2000)[name].ledger
    assert second.to_json() == first.to_json()
    assert_matches(source, second)


def test_a_second_run_inserts_after_the_existing_ids(source: Source) -> None:
    name = source.target().name
    first = run_producer([source.target()], seed=3, limit=Limit(count=1500))[name].ledger
    before = {table: source.rows(table) for table in source.tables}
    # same seed: same values again, new ids (a repeated unique value would fail the insert)
    second = run_producer([source.target()], seed=3, limit=Limit(count=1500))[name].ledger
    for table in source.tables:
        assert min(second.tables[table].rows) > max(first.tables[table].rows)
    assert_matches(source, second, untouched=before)


def test_a_stop_request_leaves_the_databases_as_the_ledger_says(databases: StackContext) -> None:
    dbs = [db(databases) for db in SOURCES]
    for db in dbs:
        db.drop()
    stop = threading.Event()
    timer = threading.Timer(1.5, stop.set)  # what the first Ctrl-C does
    timer.start()
    outcomes = run_producer(
        [db.target() for db in dbs], seed=1, limit=Limit(duration_s=60), rate=3000, stop=stop
    )
    timer.cancel()
    for db in dbs:
        outcome = outcomes[db.target().name]
        assert outcome.result is not None and outcome.result.interrupted
        assert 1000 < outcome.ledger.total < 60 * 3000
        assert_matches(db, outcome.ledger)
        db.drop()


def test_postgres_tables_log_full_before_images(databases: StackContext) -> None:
    db = PostgreSQL(databases)
    db.drop()
    run_producer([db.target()], seed=1, limit=Limit(count=10))
    assert [db.replica_identity(t) for t in db.tables] == ["f", "f"]
    db.drop()
