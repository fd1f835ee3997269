"""Databases nobody here designed: Sakila (MariaDB), Pagila (PostgreSQL) and Debezium's
`inventory` (both), from ../shared/sample-dbs (read there, never copied into the repository).

Added to cdc.yaml as four more sources with `tables: ["*"]` next to the demo ones and
brought in with `cdc sources sync` while the demo sources keep streaming: every table
reaches the ODS and `cdc reconcile` is clean; then changes on their tables (ENUM, SET, YEAR,
BLOB, arrays, tsvector, Pagila's partitioned `payment`) and reconcile is clean again.
`cdc sources check` names Sakila's cascading foreign keys, and a cascade performed on purpose
is caught by reconcile.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdc_ods.config import load_config
from cdc_ods.sources import source_for
from cdc_ods.stack.context import StackContext
from tests import PROJECT_DIR

from .conftest import background_producers, restore_services
from .workspaces import cdc, drop_sources, mariadb, psql, reconcile, workspace

SAMPLES = PROJECT_DIR.parent / "shared" / "sample-dbs"
# per run: Connect keeps a deleted connector's offsets, which a re-created one would resume from
RUN = uuid.uuid4().hex[:6]
SAKILA, INVENTORY_MY, PAGILA, INVENTORY_PG = (
    f"{n}_{RUN}" for n in ("sakila", "inventory_my", "pagila", "inventory_pg")
)
SOURCES = {
    SAKILA: {"kind": "mariadb", "database": "sakila"},
    INVENTORY_MY: {"kind": "mariadb", "database": "inventory"},
    PAGILA: {"kind": "postgres", "database": "pagila", "schema": "public"},
    INVENTORY_PG: {"kind": "postgres", "database": "inventory", "schema": "inventory"},
}

pytestmark = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"the sample databases are read from {SAMPLES}, which is not there"
)


def _drop(ctx: StackContext) -> None:
    for prefix in ("sakila_", "inventory_my_", "pagila_", "inventory_pg_"):
        drop_sources(ctx, prefix)
    mariadb(ctx, "DROP DATABASE IF EXISTS sakila; DROP DATABASE IF EXISTS inventory;")
    psql(ctx, "postgres", "DROP DATABASE IF EXISTS pagila WITH (FORCE)")
    psql(ctx, "postgres", "DROP DATABASE IF EXISTS inventory WITH (FORCE)")


def _load(ctx: StackContext) -> None:
    mariadb(ctx, (SAMPLES / "sakila-mysql-schema.sql").read_text(encoding="utf-8"))
    mariadb(ctx, (SAMPLES / "sakila-mysql-data.sql").read_text(encoding="utf-8"))
    inventory = (SAMPLES / "inventory-mariadb.sql").read_text(encoding="utf-8")
    # its accounts have hard-coded passwords and wide grants: the project's own are used
    mariadb(
        ctx, "\n".join(line for line in inventory.splitlines() if not re.match(r"(CREATE USER|GRANT )", line))
    )
    psql(ctx, "postgres", "CREATE DATABASE pagila")
    schema = (SAMPLES / "pagila-schema.sql").read_text(encoding="utf-8")
    schema = "\n".join(
        line for line in schema.splitlines()
        if not line.endswith(" OWNER TO postgres;") and "ON SCHEMA public" not in line
    )  # fmt: skip
    psql(ctx, "pagila", schema)
    psql(ctx, "pagila", (SAMPLES / "pagila-data.sql").read_text(encoding="utf-8"))
    psql(ctx, "postgres", "CREATE DATABASE inventory")
    inventory = (SAMPLES / "inventory-postgres.sql").read_text(encoding="utf-8")
    # no PostGIS here: the extension and the geometry table are left out
    inventory = inventory.replace("CREATE EXTENSION postgis;", "")
    inventory = (
        inventory[: inventory.index("CREATE TABLE geom")] if "CREATE TABLE geom" in inventory else inventory
    )
    psql(ctx, "inventory", inventory)


def _summary(reports: dict[str, dict]) -> str:
    """(source rows, ODS rows, missing, extra, different, some keys, sequence) per table not ok."""
    bad = {t: (r["source_rows"], r["ods_rows"], r["missing"], r["extra"], r["different"],
               (r["missing_keys"] + r["extra_keys"] + r["different_keys"])[:5], r["sequence"])
           for t, r in reports.items() if not r["ok"]}  # fmt: skip
    return json.dumps(bad, indent=1)


@pytest.fixture
def samples(pipeline: StackContext, private_dir: Path) -> Iterator[Path]:
    _drop(pipeline)
    _load(pipeline)
    config = workspace(private_dir, [{"name": n, **entry, "tables": ["*"]} for n, entry in SOURCES.items()])
    yield config
    _drop(pipeline)
    restore_services("cleansing", "loader")


CHANGES_MARIADB = """
USE sakila;
INSERT INTO actor (first_name, last_name) VALUES ('ŽOFIE', 'DVOŘÁKOVÁ');
UPDATE film SET rating = 'NC-17', special_features = 'Trailers,Deleted Scenes', release_year = 2007,
                rental_rate = 1.99 WHERE film_id = 1;
DELETE FROM film_actor WHERE actor_id = 1 AND film_id = 1;
UPDATE staff SET picture = UNHEX('00FF10'), active = FALSE WHERE staff_id = 2;
UPDATE customer SET active = 0, email = NULL WHERE customer_id = 5;
DELETE FROM payment WHERE payment_id = 1;
USE inventory;
INSERT INTO products VALUES (default, 'kite', 'red', 1.25);
UPDATE addresses SET type = 'BILLING' WHERE id = 10;
DELETE FROM products_on_hand WHERE product_id = 109;
"""
CHANGES_POSTGRES = """
UPDATE film SET rating = 'PG-13', special_features = ARRAY['Commentaries', '', 'Trailers'],
                description = 'A changed description', release_year = 2001 WHERE film_id = 1;
INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date)
       VALUES (1, 1, 1, 3.99, '2022-03-05 10:00:00.123456+00');
DELETE FROM payment WHERE payment_id = 16050;
UPDATE staff SET picture = '\\x00ff10'::bytea WHERE staff_id = 1;
UPDATE customer SET activebool = false, active = 0 WHERE customer_id = 5;
UPDATE language SET name = 'Klingon' WHERE language_id = 6;
"""
# the tables CHANGES_MARIADB and CHANGES_POSTGRES write to (none of their changes cascades)
CHANGED = [
    *(f"{SAKILA}.{t}" for t in ("actor", "film", "film_actor", "staff", "customer", "payment")),
    *(f"{INVENTORY_MY}.{t}" for t in ("products", "addresses", "products_on_hand")),
    *(f"{PAGILA}.{t}" for t in ("film", "payment", "staff", "customer", "language")),
]


def test_sample_databases_arrive_whole_and_stay_equal_under_changes(
    samples: Path, pipeline: StackContext
) -> None:
    config = samples
    for name in SOURCES:
        prepared = cdc(config, "sources", "prepare", name)
        assert prepared.returncode == 0, prepared.stderr
    checked = cdc(config, "sources", "check", SAKILA)
    flat = " ".join(checked.stdout.split())
    assert checked.returncode == 0, checked.stdout + checked.stderr  # warnings only
    for constraint in ("fk_film_actor_actor", "fk_payment_rental", "fk_rental_customer"):
        assert f"foreign key {constraint} ->" in flat
    assert "ON DELETE SET NULL" in flat and "ON UPDATE CASCADE" in flat

    producers = background_producers(rate=200, duration_s=30, seed=909)  # the demo keeps streaming
    try:
        synced = cdc(config, "sources", "sync")
        assert synced.returncode == 0, synced.stdout + synced.stderr
    finally:
        producers.wait(timeout=120)
    assert producers.returncode == 0

    captured = {name: source_for(load_config(config), name).tables() for name in SOURCES}
    assert "payment" in captured[PAGILA] and "payment_p2022_01" not in captured[PAGILA]
    assert len(captured[SAKILA]) == 16 and len(captured[PAGILA]) == 15
    tables = [f"{name}.{t}" for name, found in captured.items() for t in found]
    code, reports = reconcile(config, *tables)
    assert code == 0, _summary(reports)
    assert len(reports) == len(tables)
    assert reports[f"{PAGILA}.pagila.payment"]["ods_rows"] == 16049  # the partitions' rows, once

    mariadb(pipeline, CHANGES_MARIADB)
    psql(pipeline, "pagila", CHANGES_POSTGRES)
    code, reports = reconcile(config, *CHANGED)  # the others were equal above and did not change
    assert code == 0, _summary(reports)
    assert len(reports) == len(CHANGED)

    # InnoDB's cascade is not in the binlog: reconcile finds the rows it changed
    mariadb(pipeline, "USE sakila; UPDATE actor SET actor_id = 5000 WHERE actor_id = 2;")
    code, reports = reconcile(config, f"{SAKILA}.film_actor", f"{SAKILA}.actor")
    assert code == 1
    assert reports[f"{SAKILA}.sakila.actor"]["ok"]
    film_actor = reports[f"{SAKILA}.sakila.film_actor"]
    assert not film_actor["ok"] and film_actor["missing"] > 0 and film_actor["extra"] > 0
