"""ALTER TABLE ... ADD COLUMN at MariaDB and PostgreSQL while the producers run.

The stack's own cleansing runner (`cdc ksql run`, supervised) sees the new column in the raw
records, regenerates the generated scripts of movies and tv_series into its runtime
directory and reloads them; the loader adds the Phoenix column; the values written into the
new column (a MariaDB BOOLEAN, a PostgreSQL varchar) arrive exactly, and reconcile finds
both tables equal to their sources (every column, the rows written before the ALTER included).

The tables are shared with the other tests, so the column is taken away again afterwards:
dropped at the sources, and the cleansing stage restarted (it runs ksql/ as committed
again). The ODS keeps its column, as after any source DROP COLUMN (the loader never drops
one; reconcile compares the source's columns); its values are set back to NULL so that a
next run starts from the same state. (Dropping the Phoenix column instead is not an option:
the Query Server's per-connection metadata caches then disagree about it when it is added
again.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import phoenixdb
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cdc_ods import contract
from cdc_ods.endpoints import Endpoints
from cdc_ods.ksql.drift import runtime_dir
from cdc_ods.ksql.generate import is_unedited, stream_prefix
from cdc_ods.sources import source_for
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager
from tests import PROJECT_DIR

from .conftest import background_producers, cdc

COLUMN = "itest_flag"
ROWS = 20  # rows given a value in the new column


class Table:
    def __init__(self, source: str, name: str, ddl: str, value: Callable[[int], Any]) -> None:
        self.source, self.name, self.ddl, self.value = source, name, ddl, value
        self.topic = contract.raw_topic(source, "maf", name)
        self.ods = contract.ods_table(source, "maf", name)


TABLES = (
    # a BOOLEAN declared while Debezium streams: it sends true/false (from the DDL it parsed),
    # where a snapshot of the same column (TINYINT(1) in the catalog) sends 1/0
    Table("mysql", "movies", "BOOLEAN", lambda i: i % 3 != 0),
    Table("postgres", "tv_series", "varchar(40)", lambda i: f"note {i} \u00e9t\u00e9"),
)


def source_sql(stack: StackContext, table: Table, sql: str, args: tuple = ()) -> list[tuple]:
    if table.source == "mysql":
        conn = source_for(stack.config, "mysql").connect("admin")
        with conn, conn.cursor() as cur:
            cur.execute(sql.replace("%T", f"`{table.name}`"), args)
            return list(cur.fetchall())
    with source_for(stack.config, "postgres").connect("admin") as conn:
        cur = conn.execute(sql.replace("%T", f"maf.{table.name}"), args)
        return cur.fetchall() if cur.description else []


def ods_sql(endpoints: Endpoints, sql: str) -> list[list[Any]]:
    conn = phoenixdb.connect(endpoints.phoenix_url, autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def ods_has_column(endpoints: Endpoints, table: Table) -> bool:
    schema, name = table.ods.split(".")
    found = ods_sql(
        endpoints,
        f"SELECT COUNT(*) FROM SYSTEM.CATALOG WHERE TABLE_SCHEM = '{schema}' AND TABLE_NAME = '{name}'"
        f" AND COLUMN_NAME = '{COLUMN.upper()}'",
    )
    return found[0][0] > 0


def ods_values(endpoints: Endpoints, table: Table) -> dict[int, Any]:
    """The ODS rows' values in the new column, where not NULL, by key."""
    if not ods_has_column(endpoints, table):
        return {}
    column = COLUMN.upper()
    rows = ods_sql(endpoints, f'SELECT "ID", "{column}" FROM {table.ods} WHERE "{column}" IS NOT NULL')
    return {key: value for key, value in rows}


def reconcile(*tables: Table) -> list[dict]:
    args = [a for t in tables for a in ("--table", f"{t.source}.{t.name}")]
    result = cdc("reconcile", *args, "--json", "--timeout", "400", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def restore(stack: StackContext, endpoints: Endpoints) -> None:
    """The shared tables as they were: no column at the sources, the runner on ksql/, no
    value left in the ODS column."""
    manager = StackManager(stack)
    for table in TABLES:
        source_sql(stack, table, f"ALTER TABLE %T DROP COLUMN IF EXISTS {COLUMN}")
    # changes after the DROP COLUMN: records without the column flow through again
    changed = cdc("produce", "all", "--count", "20", "--rate", "0", "--seed", "107")
    assert changed.returncode == 0, changed.stderr
    manager.supervisor.stop_process("cleansing")
    manager.up(["cleansing"])
    reconcile(*TABLES)  # waits until every record that carried the column is loaded
    for table in TABLES:
        if ods_has_column(endpoints, table):
            ods_sql(
                endpoints,
                f'UPSERT INTO {table.ods} ("ID", "{COLUMN.upper()}") SELECT "ID", NULL FROM {table.ods}'
                f' WHERE "{COLUMN.upper()}" IS NOT NULL',
            )


def leftovers(stack: StackContext, endpoints: Endpoints) -> bool:
    """Whether an earlier run did not get to restore the tables."""
    for table in TABLES:
        at_source = source_sql(
            stack,
            table,
            "SELECT COUNT(*) FROM information_schema.columns"
            " WHERE table_schema = 'maf' AND table_name = %s AND column_name = %s",
            (table.name, COLUMN),
        )
        if at_source[0][0] or ods_values(endpoints, table):
            return True
    return False


@pytest.fixture
def drift_tables(pipeline: StackContext, endpoints: Endpoints) -> Iterator[tuple[Table, ...]]:
    for table in TABLES:
        text = (PROJECT_DIR / "ksql" / f"{stream_prefix(table.source, 'maf', table.name)}.sql").read_text()
        assert is_unedited(text), (
            f"ksql/ script of {table.topic} was edited: the runner will not regenerate it"
        )
    if leftovers(pipeline, endpoints):
        restore(pipeline, endpoints)
    yield TABLES
    restore(pipeline, endpoints)


def cleansing_samples(stack: StackContext, name: str) -> dict[tuple, float]:
    text = httpx.get(f"http://127.0.0.1:{stack.config.cleansing.metrics_port}/metrics", timeout=10).text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_a_column_added_at_the_sources_while_producers_run_reaches_the_ods(
    pipeline: StackContext, endpoints: Endpoints, drift_tables: tuple[Table, ...]
) -> None:
    producer = background_producers(rate=100, duration_s=40, seed=106)
    drift_before = cleansing_samples(pipeline, "cdc_cleansing_schema_drift_total")
    try:
        time.sleep(5)
        ids = {}
        for table in drift_tables:
            ids[table.name] = [
                r[0] for r in source_sql(pipeline, table, f"SELECT id FROM %T ORDER BY id LIMIT {ROWS}")
            ]
            source_sql(pipeline, table, f"ALTER TABLE %T ADD COLUMN {COLUMN} {table.ddl}")
        for start in range(0, ROWS, 5):  # a few transactions while the producers keep writing
            for table in drift_tables:
                for i, key in enumerate(ids[table.name][start : start + 5], start):
                    source_sql(
                        pipeline, table, f"UPDATE %T SET {COLUMN} = %s WHERE id = %s", (table.value(i), key)
                    )
            time.sleep(2)
        _, errors = producer.communicate(timeout=240)
        assert producer.returncode == 0, errors
    finally:
        producer.kill()

    reports = reconcile(*drift_tables)  # every column, the new one included, every row
    assert len(reports) == 2 and all(r["ok"] and r["source_rows"] > 0 for r in reports), reports
    for table in drift_tables:
        expected = {
            key: table.value(i)
            for i, key in enumerate(ids[table.name])
            if source_sql(pipeline, table, "SELECT 1 FROM %T WHERE id = %s", (key,))  # not deleted since
        }
        assert expected and ods_values(endpoints, table) == expected, table.name
        regenerated = runtime_dir(pipeline.config, pipeline.config.cleansing.group_id)
        script = regenerated / f"{stream_prefix(table.source, 'maf', table.name)}.sql"
        assert COLUMN in script.read_text() and is_unedited(script.read_text())
        assert COLUMN not in (PROJECT_DIR / "ksql" / script.name).read_text()  # ksql/ is never written
    drift = cleansing_samples(pipeline, "cdc_cleansing_schema_drift_total")
    for table in drift_tables:
        labels = (("outcome", "regenerated"), ("topic", table.topic))
        assert drift.get(labels, 0) == drift_before.get(labels, 0) + 1, drift  # one new column, once
    assert not any(cleansing_samples(pipeline, "cdc_cleansing_schema_drift_unhandled").values())
