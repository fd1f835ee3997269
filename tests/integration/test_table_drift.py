"""A captured table renamed or dropped at the source, on MariaDB and on PostgreSQL.

Debezium's connector stops sending a renamed or dropped table's changes without an error. Two
sources of the test's own (`cdc_drift` on each server, tables `orders` and `notes`, cdc.yaml's
`tables: ["orders*", "notes"]`) are applied; then `orders` is renamed to `orders_v2` and
`notes` dropped at both sources. `cdc watch --once` (one look of the watchdog, which exports
the same findings as `cdc_captured_table_gone` and `cdc_source_table_not_captured`) names
both gone tables and the new name not captured yet, with the command that captures it; after
`notes` leaves `tables` and `cdc connectors apply` (what `cdc sources sync` runs), it names
nothing, and a row written to `orders_v2` reaches its raw topic.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cdc_ods import contract
from cdc_ods.endpoints import Endpoints
from cdc_ods.stack.context import StackContext

from .workspaces import cdc, create_test_databases, drop_test_sources, mariadb, psql, raw_events, workspace

PREFIX = "drift_"
RUN = uuid.uuid4().hex[:6]  # Connect keeps a deleted connector's offsets: a fresh name per run
MY, PG = f"{PREFIX}my_{RUN}", f"{PREFIX}pg_{RUN}"
DATABASE = "cdc_drift"
TABLES = """
CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(20));
CREATE TABLE notes (id INT PRIMARY KEY, note VARCHAR(20));
INSERT INTO orders VALUES (1, 'first'); INSERT INTO notes VALUES (1, 'first');
"""


@pytest.fixture
def drift_workspace(pipeline: StackContext, private_dir: Path) -> Iterator[Path]:
    drop_test_sources(pipeline, PREFIX, DATABASE)
    create_test_databases(pipeline, DATABASE, TABLES)
    tables = ["orders*", "notes"]
    yield workspace(
        private_dir,
        [
            {"name": MY, "kind": "mariadb", "database": DATABASE, "tables": tables},
            {"name": PG, "kind": "postgres", "database": DATABASE, "schema": "public", "tables": tables},
        ],
    )
    drop_test_sources(pipeline, PREFIX, DATABASE)


def _look(config: Path) -> list[str]:
    """What one look of the watchdog says of the test's sources' tables."""
    looked = cdc(config, "watch", "--once")
    assert looked.returncode == 0, looked.stdout + looked.stderr
    return sorted(" ".join(line.split()) for line in looked.stdout.splitlines() if PREFIX in line)


def _arrived(ctx: StackContext, source: str, namespace: str, table: str, key: int) -> bool:
    topic = contract.raw_topic(source, namespace, table)
    return any(
        (e.get("after") or {}).get("id") == key
        for e in raw_events(Endpoints.from_config(ctx.config).kafka_bootstrap, topic)
    )


def test_a_renamed_or_dropped_captured_table_is_named_with_the_new_name_to_capture(
    drift_workspace: Path, pipeline: StackContext
) -> None:
    config = drift_workspace
    for name in (MY, PG):
        for step in (("sources", "prepare", name), ("connectors", "apply", name)):
            done = cdc(config, *step)
            assert done.returncode == 0, done.stdout + done.stderr
    assert _look(config) == []

    mariadb(pipeline, f"USE {DATABASE}; RENAME TABLE orders TO orders_v2; DROP TABLE notes;")
    psql(pipeline, DATABASE, "ALTER TABLE orders RENAME TO orders_v2; DROP TABLE notes;")
    assert _look(config) == sorted(
        line
        for name in (MY, PG)
        for line in (
            f"source {name}: captured table orders is gone (renamed or dropped)",
            f"source {name}: captured table notes is gone (renamed or dropped)",
            f"source {name}: table orders_v2 not captured: `cdc sources sync {name}`",
        )
    )

    data = yaml.safe_load(config.read_text())
    for entry in data["sources"]:
        if entry["name"] in (MY, PG):
            entry["tables"] = ["orders*"]
    config.write_text(yaml.safe_dump(data))
    for name in (MY, PG):
        applied = cdc(config, "connectors", "apply", name)
        assert applied.returncode == 0, applied.stdout + applied.stderr
    assert _look(config) == []

    mariadb(pipeline, f"USE {DATABASE}; INSERT INTO orders_v2 VALUES (2, 'renamed');")
    psql(pipeline, DATABASE, "INSERT INTO orders_v2 VALUES (2, 'renamed');")
    deadline = time.monotonic() + 90
    for name, namespace in ((MY, DATABASE), (PG, "public")):
        while not _arrived(pipeline, name, namespace, "orders_v2", 2):
            assert time.monotonic() < deadline, f"{name}: orders_v2's new row not in its raw topic in 90 s"
            time.sleep(0.5)
