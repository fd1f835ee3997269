"""Hostile DDL while streaming, on both source kinds: what each does to the ODS, and the way back.

Each DDL runs while producers write to both sources (`under_load`); reconcile runs once they
stopped (under load it would see the changes still in flight). On a table they write to
(MariaDB `movies`, PostgreSQL `tv_series`), two columns are added for the test and given
values, then:
- VARCHAR(50) -> VARCHAR(500), and longer values: applied (the ODS column is a VARCHAR);
- a column added with a DEFAULT: the rows changed since carry its value, the others hold NULL
  in its ODS column (the source filled them in without logging a change): reconcile reports
  them different, `--replace` makes it clean;
- the column renamed: the rows changed since carry the new name, the others hold NULL in its
  ODS column, and reconcile reports them different (lost); `cdc connectors snapshot SOURCE
  TABLE --replace` re-reads the table and reconcile is clean;
- INT -> BIGINT, and a value above 2^31: the cleansing stage dead-letters it with the reason
  and reconcile reports the row rejected (exit 3), never a silently different value. Phoenix
  cannot change a column's type: the way back is `cdc ods rebuild SOURCE TABLE` (the script
  rewritten from the source's schema, the stages stopped, the ODS table dropped, the stages
  started: the loader creates the table from the source's schema; a PostgreSQL connector's
  task restarted; then the table re-read as `--replace` does);
- the columns dropped: applied (the ODS keeps its columns; reconcile compares the source's).
With the columns dropped, the table beside it (`app_events`, `episodes`) is truncated (applied:
the rows before it go, the ones written after stay); then, with no producer running (they
write to it), that table is dropped and created again with a few rows: the ODS keeps the old
rows (reconcile: extra), the watchdog reports the table recreated (MariaDB: a DROP in the
connector's schema history, old rows in the ODS) or not captured (PostgreSQL: it left the
publication), and `--replace` makes the ODS equal again and the report go. Each step's
reconcile result goes into bench-results/faults.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import phoenixdb
import pytest

from cdc_ods import contract
from cdc_ods.endpoints import Endpoints
from cdc_ods.ksql.generate import stream_prefix
from cdc_ods.sources import source_for
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager
from tests.integration.conftest import cdc

from .conftest import Recovery
from .test_kill9 import under_load
from .test_lost_logs import _until, _watchdog_sample

BIG = 5_000_000_000  # above INT's 2^31 - 1
LONG_NOTE = "n" * 300  # above VARCHAR(50)


class Dialect:
    """The DDL and the admin connection of one source kind."""

    def __init__(self, ctx: StackContext, source: str, table: str) -> None:
        self.source, self.table = source, table
        self.src = source_for(ctx.config, source)
        self.mysql = source == "mysql"
        self.ods = self.ods_table(table)

    def ods_table(self, table: str) -> str:
        return contract.ods_table(self.source, self.src.source.database, table)

    def qualified(self, table: str) -> str:
        return f"`{table}`" if self.mysql else f"{self.src.source.namespace}.{table}"

    def run(self, *statements: str) -> list[Any]:
        rows: list[Any] = []
        if self.mysql:
            conn = self.src.connect("admin")
            with conn, conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
                    rows = list(cur.fetchall()) if cur.description else []
                conn.commit()
            return rows
        with self.src.connect("admin") as conn:
            for statement in statements:
                cur = conn.execute(statement)  # type: ignore[arg-type]
                rows = cur.fetchall() if cur.description else []
        return rows

    def retype(self, column: str, sql_type: str) -> str:
        t = self.qualified(self.table)
        if self.mysql:
            return f"ALTER TABLE {t} MODIFY {column} {sql_type} NULL"
        return f"ALTER TABLE {t} ALTER COLUMN {column} TYPE {sql_type}"

    def some_rows(self, count: int, assignments: str) -> str:
        t = self.qualified(self.table)
        if self.mysql:
            return f"UPDATE {t} SET {assignments} ORDER BY id LIMIT {count}"
        return f"UPDATE {t} SET {assignments} WHERE id IN (SELECT id FROM {t} ORDER BY id LIMIT {count})"


def _reconcile(*tables: str) -> tuple[int, list[dict[str, Any]]]:
    args = [a for t in tables for a in ("--table", t)]
    result = cdc("reconcile", "--json", "--timeout", "400", *args, timeout=600)
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else []


def _summary(code: int, reports: list[dict[str, Any]]) -> str:
    parts = [
        f"{r['table']}: {r['source_rows']} rows, missing/extra/different/rejected "
        f"{r['missing']}/{r['extra']}/{r['different']}/{r['rejected']}"
        for r in reports
    ]
    return f"exit {code}: " + "; ".join(parts)


def _clean(record: Recovery, *tables: str) -> None:
    code, reports = _reconcile(*tables)
    ok = code == 0 and bool(reports) and all(r["ok"] for r in reports)
    record.reconcile = f"{'ok' if ok else 'FAILED'}: {_summary(code, reports)}"
    print(f"RECONCILE {record.component} {record.reconcile}")
    assert ok, _summary(code, reports)


def _replace(d: Dialect, table: str) -> None:
    result = cdc("connectors", "snapshot", d.source, table, "--replace", "--timeout", "600", timeout=700)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("source", "table", "other"), [("mysql", "movies", "app_events"), ("postgres", "tv_series", "episodes")]
)
def test_hostile_ddl_is_applied_or_named_with_its_way_back(
    source: str,
    table: str,
    other: str,
    pipeline: StackContext,
    endpoints: Endpoints,
    recoveries: list[Recovery],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    d = Dialect(pipeline, source, table)
    _keep_script(pipeline, d, request)
    name = f"{source}.{table}"
    seeds = iter(range(951 if d.mysql else 961, 1000))
    t = d.qualified(table)
    d.run(
        *(
            f"ALTER TABLE {t} DROP COLUMN IF EXISTS {c}"
            for c in ("hd_note", "hd_text", "hd_count", "hd_default")
        )
    )

    widened = Recovery(f"{source}: VARCHAR(50) -> VARCHAR(500)", restarted_by="-")
    recoveries.append(widened)
    with under_load(next(seeds), tmp_path / "producers.log"):
        d.run(
            f"ALTER TABLE {t} ADD COLUMN hd_note VARCHAR(50) NULL",
            f"ALTER TABLE {t} ADD COLUMN hd_count INT NULL",
        )
        d.run(d.some_rows(20, "hd_note = 'short', hd_count = 7"))
        d.run(d.retype("hd_note", "VARCHAR(500)"), d.some_rows(5, f"hd_note = '{LONG_NOTE}'"))
    _clean(widened, name)

    for what, statements in (
        ("a column added with a DEFAULT", [f"ALTER TABLE {t} ADD COLUMN hd_default INT NOT NULL DEFAULT 5"]),
        (
            "a column renamed",
            [f"ALTER TABLE {t} RENAME COLUMN hd_note TO hd_text", d.some_rows(3, "hd_count = 8")],
        ),
    ):
        _lost_then_replaced(d, what, statements, next(seeds), recoveries, tmp_path)

    retyped = Recovery(
        f"{source}: INT -> BIGINT, a value above 2^31", restarted_by=f"cdc ods rebuild {source} {table}"
    )
    recoveries.append(retyped)
    with under_load(next(seeds), tmp_path / "producers.log"):
        d.run(d.retype("hd_count", "BIGINT"), d.some_rows(1, f"hd_count = {BIG}"))
    code, reports = _reconcile(name)
    reasons = " ".join(str(k) for k in reports[0].get("rejected_keys", [])) if reports else ""
    print(f"RETYPED {source}: before the way back: {_summary(code, reports)} {reasons[:300]}")
    assert code == 3 and reports[0]["rejected"] == 1, _summary(code, reports)
    assert "hd_count: expected INT, got number 5000000000" in reasons, reports[0]
    started = time.monotonic()
    result = cdc("ods", "rebuild", d.source, table, "--timeout", "600", timeout=700)
    assert result.returncode == 0, result.stdout + result.stderr
    retyped.recovery_s = time.monotonic() - started
    print(f"REBUILT {source}: {' '.join(result.stderr.split())[-400:]}")
    _clean(retyped, name)
    assert _ods(endpoints, f"SELECT COUNT(*) FROM {d.ods} WHERE HD_COUNT = {BIG}") == [[1]]

    dropped = Recovery(f"{source}: columns dropped; TRUNCATE {other}", restarted_by="-")
    recoveries.append(dropped)
    before = _ods(endpoints, f"SELECT COUNT(*) FROM {d.ods_table(other)}")[0][0]
    with under_load(next(seeds), tmp_path / "producers.log"):
        d.run(*(f"ALTER TABLE {t} DROP COLUMN {c}" for c in ("hd_text", "hd_count", "hd_default")))
        d.run(f"TRUNCATE TABLE {d.qualified(other)}")
        time.sleep(5)  # rows written after it stay
    _clean(dropped, name, f"{source}.{other}")
    print(f"TRUNCATED {source}.{other}: {before} ODS rows before")

    recreated = Recovery(
        f"{source}: {other} dropped and created again",
        restarted_by=f"cdc connectors snapshot {source} {other} --replace",
    )
    recoveries.append(recreated)
    _recreate(d, other)
    code, reports = _reconcile(f"{source}.{other}")
    print(f"RECREATED {source}.{other}: before the resync: {_summary(code, reports)}")
    if d.mysql:  # the binlog goes on: the new rows arrive, the old ones stay, the watchdog says so
        assert code == 1 and reports[0]["extra"] > 0, _summary(code, reports)
        gauge = f'cdc_source_table_recreated{{source="{source}",table="{other}"}}'
    else:  # out of the publication: nothing arrives, and the watchdog says so
        gauge = f'cdc_source_table_not_captured{{source="{source}",table="{other}"}}'
    _until(f"{gauge} == 1", lambda: _watchdog_sample(pipeline, gauge) == 1)
    started = time.monotonic()
    _replace(d, other)
    recreated.recovery_s = time.monotonic() - started
    _clean(recreated, f"{source}.{other}")
    _until(f"no {gauge}", lambda: _watchdog_sample(pipeline, gauge) is None)


def _keep_script(ctx: StackContext, d: Dialect, request: pytest.FixtureRequest) -> None:
    """`cdc ods rebuild` rewrites the table's script in ksql/ from the source's schema, which has
    the test's columns then: the project's script is put back after the test (its columns are
    gone by then) and the cleansing stage restarted with it."""
    config = ctx.config
    script = config.scripts_dir / f"{stream_prefix(d.source, d.src.source.database, d.table)}.sql"
    original = script.read_text(encoding="utf-8")

    def put_back() -> None:
        if script.read_text(encoding="utf-8") != original:
            script.write_text(original, encoding="utf-8")
            manager = StackManager(ctx)
            if stopped := manager.stop(["cleansing"]):
                manager.up(stopped)

    request.addfinalizer(put_back)


def _lost_then_replaced(
    d: Dialect, what: str, statements: list[str], seed: int, recoveries: list[Recovery], tmp_path: Path
) -> None:
    """DDL under load that leaves the rows unchanged since NULL in a column of the ODS (the
    source changed them without logging a change): reconcile says so, `--replace` mends it."""
    name = f"{d.source}.{d.table}"
    record = Recovery(
        f"{d.source}: {what}", restarted_by=f"cdc connectors snapshot {d.source} {d.table} --replace"
    )
    recoveries.append(record)
    with under_load(seed, tmp_path / "producers.log"):
        d.run(*statements)
    code, reports = _reconcile(name)
    print(f"{what.upper()} {d.source}: before the resync: {_summary(code, reports)}")
    assert code == 1 and reports[0]["different"] > 0, _summary(code, reports)  # unchanged since: NULL
    started = time.monotonic()
    _replace(d, d.table)
    record.recovery_s = time.monotonic() - started
    _clean(record, name)


def _recreate(d: Dialect, table: str) -> None:
    """DROP TABLE and CREATE TABLE with the same definition, then three of its old rows again."""
    keep = f"{table}_hd_keep"
    if d.mysql:
        ((_, ddl),) = d.run(f"SHOW CREATE TABLE {d.qualified(table)}")
        d.run(
            f"CREATE TABLE {d.qualified(keep)} AS SELECT * FROM {d.qualified(table)} ORDER BY id LIMIT 3",
            f"DROP TABLE {d.qualified(table)}",
            ddl,
            f"INSERT INTO {d.qualified(table)} SELECT * FROM {d.qualified(keep)}",
            f"DROP TABLE {d.qualified(keep)}",
        )
        return
    q = d.qualified
    d.run(
        f"CREATE TABLE {q(keep)} AS SELECT * FROM {q(table)} ORDER BY id LIMIT 3",
        f"CREATE TABLE {q(table + '_hd_new')} (LIKE {q(table)} INCLUDING ALL)",
        f"DROP TABLE {q(table)}",
        f"ALTER TABLE {q(table + '_hd_new')} RENAME TO {table}",
        f"INSERT INTO {q(table)} SELECT * FROM {q(keep)}",
        f"DROP TABLE {q(keep)}",
    )


def _ods(endpoints: Endpoints, query: str) -> list[list[Any]]:
    with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as conn:
        cursor = conn.cursor()
        cursor.execute(query)
        return cursor.fetchall()
