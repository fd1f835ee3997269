"""A table added to, then removed from, a running source's connector with `cdc sources sync`.

A MariaDB and a PostgreSQL database of the test's own (`cdc_addtable` on each server), each
with tables `alpha` and `beta` holding rows, join a private cdc.yaml as two more sources next to
the demo ones:
1. `tables: [alpha]`: sync creates the connectors; alpha reaches the ODS (reconcile clean), its
   raw topic holds one snapshot read per row, and beta has neither a raw topic nor an ODS table.
2. While alpha keeps changing (a few hundred changes per source), `tables: [alpha, beta]` and
   one `cdc sources sync`: beta's rows arrive as an incremental snapshot, alpha is not read
   again (its raw topic holds exactly step 1's snapshot reads), reconcile is clean for both.
3. `tables: [alpha]` again and a sync: a later change to beta at the source reaches neither its
   raw topic nor its ODS table, which keeps its rows; alpha keeps flowing (reconcile clean).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import phoenixdb
import pytest
import yaml

from cdc_ods import contract
from cdc_ods.config import load_config
from cdc_ods.endpoints import Endpoints
from cdc_ods.secrets import DEBEZIUM_USER
from cdc_ods.sources import source_for
from cdc_ods.stack.context import StackContext

from .conftest import restore_services
from .workspaces import (
    cdc,
    create_test_databases,
    drop_test_sources,
    mariadb,
    psql,
    raw_events,
    reconcile,
    workspace,
)

PREFIX = "addtable_"
RUN = uuid.uuid4().hex[:6]  # Connect keeps a deleted connector's offsets: a fresh name per run
MY, PG = f"{PREFIX}my_{RUN}", f"{PREFIX}pg_{RUN}"
DATABASE = "cdc_addtable"
ALPHA_ROWS, BETA_ROWS = 40, 25
NEW_IDS = 1000  # the background changes insert rows from this id on
MIN_CHANGES, MAX_CHANGES = 200, 800  # per source, while the sync of step 2 runs
LATE_ID = 9001  # the rows written after beta is removed


def _rows(table: str, count: int) -> str:
    values = ", ".join(f"({i}, '{table} {i}', {i * 10})" for i in range(1, count + 1))
    return f"INSERT INTO {table} (id, note, n) VALUES {values};"


# the same statements on both servers
TABLES = f"""
CREATE TABLE alpha (id INT PRIMARY KEY, note VARCHAR(64) NOT NULL, n INT NOT NULL);
CREATE TABLE beta (id INT PRIMARY KEY, note VARCHAR(64) NOT NULL, n INT NOT NULL);
{_rows("alpha", ALPHA_ROWS)}
{_rows("beta", BETA_ROWS)}
"""
# after beta is removed: beta changes, then alpha (each its own transaction), so a connector that
# has passed alpha's row has passed beta's changes too
LATE_CHANGES = f"""
INSERT INTO beta (id, note, n) VALUES ({LATE_ID}, 'after removal', 1);
UPDATE beta SET n = n + 1 WHERE id = 1;
DELETE FROM beta WHERE id = 2;
INSERT INTO alpha (id, note, n) VALUES ({LATE_ID}, 'after removal', 1);
"""


@dataclass(frozen=True)
class Side:
    """One of the test's two sources."""

    name: str
    namespace: str  # Debezium's: the MariaDB database, the PostgreSQL schema

    def raw_topic(self, table: str) -> str:
        return contract.raw_topic(self.name, self.namespace, table)

    def ods_table(self, table: str) -> str:
        return contract.ods_table(self.name, DATABASE, table)

    def report(self, table: str) -> str:
        """The table's name in `cdc reconcile --json`."""
        return f"{self.name}.{DATABASE}.{table}"


SIDES = (Side(MY, DATABASE), Side(PG, "public"))


@pytest.fixture
def sync_workspace(pipeline: StackContext, private_dir: Path) -> Iterator[Path]:
    drop_test_sources(pipeline, PREFIX, DATABASE)
    create_test_databases(pipeline, DATABASE, TABLES)
    yield workspace(
        private_dir,
        [
            {"name": MY, "kind": "mariadb", "database": DATABASE, "tables": ["alpha"]},
            {"name": PG, "kind": "postgres", "database": DATABASE, "schema": "public", "tables": ["alpha"]},
        ],
    )
    drop_test_sources(pipeline, PREFIX, DATABASE)
    restore_services("cleansing", "loader")


def _capture(config: Path, tables: list[str]) -> None:
    """The test's two sources capture `tables` in the workspace's cdc.yaml."""
    data = yaml.safe_load(config.read_text())
    for entry in data["sources"]:
        if entry["name"] in (MY, PG):
            entry["tables"] = tables
    config.write_text(yaml.safe_dump(data))


def _sync(config: Path) -> subprocess.CompletedProcess[str]:
    synced = cdc(config, "sources", "sync", timeout=600)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    return synced


def _failed(reports: dict[str, dict]) -> str:
    """Each table reconcile found unequal: counts, some keys, the sequence checks."""
    bad = {t: {**{k: r[k] for k in ("source_rows", "ods_rows", "missing", "extra", "different", "sequence")},
               "some keys": (r["missing_keys"] + r["extra_keys"] + r["different_keys"])[:5]}
           for t, r in reports.items() if not r["ok"]}  # fmt: skip
    return json.dumps(bad, indent=1, default=str)


def _snapshot_reads(events: list[dict]) -> dict[str, list[int]]:
    """The ids read by a snapshot (op 'r'), by snapshot: Debezium's `source.snapshot` is
    'incremental' for an incremental snapshot's reads, true/first/last/... for the initial one's."""
    reads: dict[str, list[int]] = {"initial": [], "incremental": []}
    for event in events:
        if event["op"] == "r":
            kind = "incremental" if event["source"]["snapshot"] == "incremental" else "initial"
            reads[kind].append(event["after"]["id"])
    return {kind: sorted(ids) for kind, ids in reads.items()}


def _wait_for_incremental_reads(bootstrap: str, topic: str, ids: set[int], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not ids <= set(read := _snapshot_reads(raw_events(bootstrap, topic))["incremental"]):
        assert time.monotonic() < deadline, (
            f"{topic}: the incremental snapshot read {len(set(read))} of {len(ids)} rows in {timeout_s:.0f}s"
        )
        time.sleep(0.5)


def _phoenix(url: str, query: str) -> list[list]:
    conn = phoenixdb.connect(url, autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute(query)
        return cur.fetchall()
    finally:
        conn.close()


def _ods_exists(url: str, table: str) -> bool:
    schema, name = table.split(".")
    query = f"SELECT COUNT(*) FROM SYSTEM.CATALOG WHERE TABLE_SCHEM = '{schema}' AND TABLE_NAME = '{name}'"
    return _phoenix(url, query)[0][0] > 0


def _ods_ids(url: str, table: str) -> set[int]:
    return {row[0] for row in _phoenix(url, f'SELECT "ID" FROM {table}')}


def _alpha_change(i: int) -> tuple[str, tuple[object, ...]]:
    """The i-th background change of alpha, in groups of four: a new row, an update of an
    original row, an update of the new row, then the new row's delete (every other group) or
    another update."""
    new = NEW_IDS + i - i % 4
    step = i % 4
    if step == 0:
        return "INSERT INTO alpha (id, note, n) VALUES (%s, %s, %s)", (new, f"new {i}", i)
    if step == 1:
        return "UPDATE alpha SET n = n + 1, note = %s WHERE id = %s", (
            f"changed {i}",
            i // 4 % ALPHA_ROWS + 1,
        )
    if step == 2 or (i // 4) % 2 == 0:
        return "UPDATE alpha SET n = n + 1, note = %s WHERE id = %s", (f"changed {i}", new)
    return "DELETE FROM alpha WHERE id = %s", (new,)


class AlphaChanges(threading.Thread):
    """Changes to alpha at one source, as its admin, until stopped: at least MIN_CHANGES, at
    most MAX_CHANGES."""

    def __init__(self, config: Path, source: str) -> None:
        super().__init__(name=f"alpha-changes-{source}", daemon=True)
        self.source = source
        # connected here, in the test's thread: the test rewrites cdc.yaml while this one runs
        self.conn = source_for(load_config(config), source).connect("admin")
        self.stopping = threading.Event()
        self.done = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while self.done < MAX_CHANGES and not (self.stopping.is_set() and self.done >= MIN_CHANGES):
                with self.conn.cursor() as cur:
                    cur.execute(*_alpha_change(self.done))
                self.done += 1
                time.sleep(0.02)
        except BaseException as exc:  # raised in the test's thread by `finish`
            self.error = exc
        finally:
            self.conn.close()

    def finish(self) -> None:
        self.stopping.set()
        self.join(timeout=120)
        assert not self.is_alive(), f"{self.source}: the background changes did not stop"
        if self.error is not None:
            raise self.error
        assert self.done >= MIN_CHANGES, f"{self.source}: only {self.done} background changes"


def test_a_table_added_to_a_running_source_arrives_alone_and_a_removed_one_stops(
    sync_workspace: Path, pipeline: StackContext
) -> None:
    config = sync_workspace
    endpoints = Endpoints.from_config(pipeline.config)
    bootstrap, phoenix = endpoints.kafka_bootstrap, endpoints.phoenix_url

    # 1. alpha only
    for side in SIDES:
        prepared = cdc(config, "sources", "prepare", side.name)
        assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    _sync(config)
    code, reports = reconcile(config, *(f"{side.name}.alpha" for side in SIDES))
    assert code == 0, _failed(reports)
    first_reads = {}
    for side in SIDES:
        assert reports[side.report("alpha")]["ods_rows"] == ALPHA_ROWS
        first_reads[side] = _snapshot_reads(raw_events(bootstrap, side.raw_topic("alpha")))
        assert first_reads[side] == {"initial": list(range(1, ALPHA_ROWS + 1)), "incremental": []}
        assert raw_events(bootstrap, side.raw_topic("beta")) == []
        assert not _ods_exists(phoenix, side.ods_table("beta"))

    # 2. beta added with one sync, while alpha keeps changing
    changes = [AlphaChanges(config, side.name) for side in SIDES]
    for thread in changes:
        thread.start()
    try:
        _capture(config, ["alpha", "beta"])
        synced = _sync(config)
    finally:
        for thread in changes:
            thread.stopping.set()
    for thread in changes:
        thread.finish()
    flat = " ".join(synced.stderr.split())
    assert f"{MY}: incremental snapshot of the added table(s) {DATABASE}.beta requested" in flat
    assert f"{PG}: incremental snapshot of the added table(s) public.beta requested" in flat
    # the capture user reads beta for the incremental snapshot: sync granted it
    assert f'{PG}: GRANT SELECT ON "public"."beta" TO "{DEBEZIUM_USER}"' in flat
    for side in SIDES:
        _wait_for_incremental_reads(bootstrap, side.raw_topic("beta"), set(range(1, BETA_ROWS + 1)))
    code, reports = reconcile(config, *(f"{side.name}.{t}" for side in SIDES for t in ("alpha", "beta")))
    assert code == 0, _failed(reports)
    for side in SIDES:
        assert reports[side.report("beta")]["ods_rows"] == BETA_ROWS
        # alpha's changes streamed on (reconcile), and not one of its rows was read again
        assert _snapshot_reads(raw_events(bootstrap, side.raw_topic("alpha"))) == first_reads[side], side.name

    # 3. beta removed: its capture stops, its ODS table stays
    _capture(config, ["alpha"])
    synced = _sync(config)
    assert "incremental snapshot" not in synced.stderr
    beta_events = {side: len(raw_events(bootstrap, side.raw_topic("beta"))) for side in SIDES}
    mariadb(pipeline, f"USE {DATABASE}; {LATE_CHANGES}")
    psql(pipeline, DATABASE, LATE_CHANGES)
    # waits until each connector has passed alpha's late row, written after beta's changes
    code, reports = reconcile(config, *(f"{side.name}.alpha" for side in SIDES))
    assert code == 0, _failed(reports)
    for side in SIDES:
        late = raw_events(bootstrap, side.raw_topic("beta"))[beta_events[side] :]
        assert late == [], f"{side.name}: beta is still captured: {late[:3]}"
        assert _ods_ids(phoenix, side.ods_table("beta")) == set(range(1, BETA_ROWS + 1)), side.name
        assert LATE_ID in _ods_ids(phoenix, side.ods_table("alpha")), side.name
