"""Installing the pipeline on a PostgreSQL schema leaves the tables it does not capture alone.

A publication `FOR TABLES IN SCHEMA` (or `FOR ALL TABLES`) publishes every table of the schema,
and PostgreSQL then refuses UPDATE and DELETE on a published table that has neither a primary
key nor a replica identity: an application that never asked to be captured breaks. A source of
the test's own (database `cdc_pub`: `kept` with a primary key, captured; `loose` without one,
not captured) is prepared with `cdc sources prepare`: its publication lists `kept` (and the
pipeline's signal and heartbeat tables) only, and `loose` still takes UPDATE and DELETE.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdc_ods.stack.context import StackContext

from .workspaces import cdc, psql, workspace

NAME = "pub_pg"
DATABASE = "cdc_pub"


def _drop(ctx: StackContext) -> None:
    psql(ctx, "postgres", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


@pytest.fixture
def publication_workspace(stack: StackContext, private_dir: Path) -> Iterator[Path]:
    _drop(stack)
    psql(stack, "postgres", f"CREATE DATABASE {DATABASE}")
    psql(
        stack,
        DATABASE,
        "CREATE TABLE kept (id INT PRIMARY KEY, note TEXT);"
        " CREATE TABLE loose (line TEXT);"  # no key, no replica identity: an application's log
        " INSERT INTO loose VALUES ('a'), ('b');",
    )
    source = {"name": NAME, "kind": "postgres", "database": DATABASE, "schema": "public", "tables": ["kept"]}
    yield workspace(private_dir, [source])
    _drop(stack)


def _published(ctx: StackContext) -> list[str]:
    env = {**os.environ, "PGPASSWORD": ctx.credentials.postgres_admin.get_secret_value()}
    listed = subprocess.run(
        ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", ctx.host, "-p", str(ctx.ports.postgres),
         "-U", "cdc_admin", "-d", DATABASE, "-c",
         "SELECT tablename FROM pg_publication_tables ORDER BY tablename"],
        capture_output=True, text=True, check=True, timeout=60, env=env,
    )  # fmt: skip
    return listed.stdout.split()


def test_preparing_a_schema_leaves_its_uncaptured_keyless_table_writable(
    publication_workspace: Path, stack: StackContext
) -> None:
    prepared = cdc(publication_workspace, "sources", "prepare", NAME)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    # would fail with "cannot update table "loose" because it does not have a replica identity
    # and publishes updates" had the publication taken the whole schema
    psql(stack, DATABASE, "UPDATE loose SET line = 'c' WHERE line = 'a'; DELETE FROM loose WHERE line = 'b';")
    assert _published(stack) == ["debezium_heartbeat", "debezium_signal", "kept"]
