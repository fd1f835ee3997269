"""Superset on the ODS (`cdc stack up --with superset`): the real Superset, installed and
started by the stack, read through its REST API and a real headless Chromium."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager
from cdc_ods.superset.client import SupersetClient
from cdc_ods.superset.sync import build_bundle, import_bundle, read_catalog
from tests import PROJECT_DIR

from .conftest import cdc
from .superset_browser import browser
from .workspaces import mariadb

# screenshots of each dashboard and of SQL Lab, kept after the run (gitignored)
ARTIFACTS = PROJECT_DIR / "test-artifacts" / "superset"
DASHBOARDS = ("app-behaviour", "replication")
QUERIES = PROJECT_DIR / "ods" / "queries.sql"


@pytest.fixture(scope="module")
def superset(pipeline: StackContext) -> Iterator[SupersetClient]:
    """Superset and its sync process up on the running pipeline (installed the first time);
    stopped afterwards unless they were already running."""
    manager = StackManager(pipeline, report=lambda msg: print(f"[stack] {msg}", file=sys.stderr))
    was_running = manager.supervisor.state("superset") == "RUNNING"
    manager.up(with_=("superset",))
    # the first sync has run (bootstrap); the events dashboard needs events in the ODS
    produced = cdc("produce", "events", "--count", "300", "--rate", "0", "--seed", "23")
    assert produced.returncode == 0, produced.stderr
    client = SupersetClient.of(pipeline.config)
    yield client
    client.close()
    if not was_running and not os.environ.get("CDC_KEEP_STACK"):
        manager.stop(["superset"])


def _chart_rows(client: SupersetClient, dataset: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of one query through Superset's chart-data API (what a chart renders from)."""
    found = client.find("dataset", "table_name", dataset)
    assert found, f"no dataset {dataset}"
    context = {
        "datasource": {"id": found[0]["id"], "type": "table"},
        "force": True,
        "queries": [query],
        "result_format": "json",
        "result_type": "full",
    }
    result = client.request("POST", "/api/v1/chart/data", json=context)["result"][0]
    assert not result.get("error"), result["error"]
    return result["data"]


def test_every_ods_table_is_a_dataset_with_its_columns(
    superset: SupersetClient, endpoints: Endpoints
) -> None:
    catalog = read_catalog(endpoints.phoenix_url)
    datasets = {
        d["table_name"]: d
        for d in superset.request("GET", "/api/v1/dataset/", params={"q": "(page_size:100)"})["result"]
    }
    for _schema, table in catalog:
        assert table in datasets, f"{table}: no dataset"
    movies = superset.find("dataset", "table_name", "MYSQL_MAF_MOVIES")[0]
    detail = superset.request("GET", f"/api/v1/dataset/{movies['id']}")["result"]
    assert {c["column_name"] for c in detail["columns"]} == {
        c for c, _ in catalog[("ODS", "MYSQL_MAF_MOVIES")]
    }
    # the ARRAY column phoenixdb's own dialect could not reflect
    assert any(c["column_name"] == "CDC_EMPTY" for c in detail["columns"])


def test_sync_is_idempotent_and_keeps_the_same_objects(superset: SupersetClient) -> None:
    before = superset.find("dataset", "table_name", "MYSQL_MAF_MOVIES")[0]["id"]
    result = cdc("superset", "sync")
    assert result.returncode == 0, result.stderr
    assert "datasets" in result.stderr
    assert superset.find("dataset", "table_name", "MYSQL_MAF_MOVIES")[0]["id"] == before
    assert len(superset.find("database", "database_name", "ODS")) == 1


def test_sql_lab_reads_but_refuses_to_write(superset: SupersetClient) -> None:
    database = superset.find("database", "database_name", "ODS")[0]["id"]
    read = superset.request(
        "POST",
        "/api/v1/sqllab/execute/",
        json={
            "database_id": database,
            "sql": "SELECT COUNT(*) AS N FROM ODS.MYSQL_MAF_MOVIES",
            "runAsync": False,
        },
    )
    assert read["status"] == "success" and read["data"][0]["N"] > 0
    # a query's own LIMIT is kept under SQL Lab's row limit
    limited = superset.request(
        "POST",
        "/api/v1/sqllab/execute/",
        json={
            "database_id": database,
            "sql": "SELECT 1 AS X FROM SYSTEM.CATALOG LIMIT 1",
            "queryLimit": 1000,
        },
    )
    assert len(limited["data"]) == 1, limited["query"]["executedSql"]
    # CURRENT_DATE() survives Superset's re-formatting of the statement
    today = superset.request(
        "POST",
        "/api/v1/sqllab/execute/",
        json={"database_id": database, "sql": "SELECT CURRENT_DATE() - 1 AS D FROM SYSTEM.CATALOG LIMIT 1"},
    )
    assert today["status"] == "success" and len(today["data"]) == 1
    with pytest.raises(CdcError, match=r"(?i)DML"):
        superset.request(
            "POST",
            "/api/v1/sqllab/execute/",
            json={"database_id": database, "sql": "DELETE FROM ODS.MYSQL_MAF_MOVIES", "runAsync": False},
        )


def test_time_grains_and_filters_run_on_phoenix(superset: SupersetClient) -> None:
    """Every grain our engine spec offers, with a time filter: the SQL Phoenix must accept."""
    # Superset loaded our spec (a spec that fails to import is only a warning in its log)
    engines = superset.request("GET", "/api/v1/database/available/")["databases"]
    assert "Apache Phoenix (cdc-ods)" in {e["name"] for e in engines}
    for grain in ("PT1S", "PT1M", "PT1H", "P1D", "P1W", "P1M", "P1Y"):
        rows = _chart_rows(
            superset,
            "EVENTS_APP_CLIENT_EVENTS",
            {
                "columns": [
                    {"timeGrain": grain, "columnType": "BASE_AXIS", "sqlExpression": "EVENT_TS",
                     "label": "EVENT_TS", "expressionType": "SQL"},
                    "PLATFORM",
                ],
                "metrics": ["count"],
                "filters": [{"col": "EVENT_TS", "op": "TEMPORAL_RANGE", "val": "Last year : now"}],
                "row_limit": 10,
            },
        )  # fmt: skip
        assert rows and {"EVENT_TS", "PLATFORM", "count"} <= set(rows[0]), (grain, rows[:1])


def test_a_row_committed_at_the_source_reaches_chart_data(
    superset: SupersetClient, pipeline: StackContext
) -> None:
    title = f"superset-itest-{uuid.uuid4().hex[:8]}"
    movie_id = 9_000_000 + int(time.time()) % 1_000_000
    mariadb(
        pipeline,
        "INSERT INTO maf.movies (id, title, genres, created_at, updated_at)"
        f" VALUES ({movie_id}, '{title}', 'Drama', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));",
    )
    query = {
        "columns": ["TITLE"],
        "metrics": ["count"],
        "filters": [{"col": "TITLE", "op": "==", "val": title}],
        "row_limit": 10,
    }
    deadline = time.monotonic() + 90
    while not (rows := _chart_rows(superset, "MYSQL_MAF_MOVIES", query)):
        assert time.monotonic() < deadline, f"{title} not in Superset's chart data after 90 s"
        time.sleep(1)
    assert rows == [{"TITLE": title, "count": 1}]


def test_dashboards_and_sql_lab_in_a_real_browser(superset: SupersetClient, stack: StackContext) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    password = stack.credentials.superset_admin.get_secret_value()
    with browser(ARTIFACTS) as page:
        page.login(superset.url, "admin", password)
        for slug in DASHBOARDS:
            charts = page.open_dashboard(slug)
            assert len(charts) >= 3, (slug, charts)
            for chart in charts:
                assert not chart.error, f"{slug}: {chart.title}: {chart.error}"
                assert chart.has_data, f"{slug}: {chart.title} rendered no data"
        rows = page.run_sql_lab(
            "ODS", "ODS", "SELECT PLATFORM, COUNT(*) AS N FROM ODS.EVENTS_APP_CLIENT_EVENTS GROUP BY PLATFORM"
        )
    assert rows and all(len(row) == 2 for row in rows), rows
    assert {row[0] for row in rows} <= {"android", "ios", "web"}, rows
    for name in (*DASHBOARDS, "sql-lab"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def _status(name: str) -> dict[str, Any]:
    result = cdc("stack", "status", "--json")
    assert result.returncode == 0, result.stderr
    return {s["name"]: s for s in json.loads(result.stdout)}[name]


def _wait_state(name: str, state: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (status := _status(name))["state"] != state:
        assert time.monotonic() < deadline, f"{name} not {state} after {timeout:.0f}s: {status}"
        time.sleep(1)
    return status


def test_a_stopped_or_wrong_query_server_is_named_and_recovers(
    superset: SupersetClient, stack: StackContext, endpoints: Endpoints
) -> None:
    manager = StackManager(stack)
    database = superset.find("database", "database_name", "ODS")[0]["id"]
    query = {
        "database_id": database,
        "sql": "SELECT COUNT(*) AS N FROM ODS.MYSQL_MAF_MOVIES",
        "runAsync": False,
    }

    # stopped: supervisord stops the Query Server alone (`cdc stack stop` would stop Superset too)
    manager.supervisor.stop_process("phoenix-query-server")
    try:
        status = _wait_state("superset", "unhealthy")
        assert "cannot reach its ODS database at cdc_phoenix://127.0.0.1:" in status["detail"], status
        with pytest.raises(CdcError, match=r"(?i)connect|refused|unreachable"):
            superset.request("POST", "/api/v1/sqllab/execute/", json=query)
    finally:
        manager.up(["phoenix-query-server"])
    _wait_state("superset", "running")
    assert superset.request("POST", "/api/v1/sqllab/execute/", json=query)["status"] == "success"

    # a wrong address, imported as a sync whose address is wrong for Superset would (Superset's
    # own UI refuses to save one it cannot reach); the sync process is stopped meanwhile, so
    # it does not put the right one back at once, and the next sync mends it
    manager.supervisor.stop_process("superset-sync")
    try:
        catalog = read_catalog(endpoints.phoenix_url)
        bundle = build_bundle(
            catalog, "cdc_phoenix://127.0.0.1:1/", PROJECT_DIR / "monitoring" / "superset", QUERIES
        )
        import_bundle(stack.config, bundle)
        status = _wait_state("superset", "unhealthy")
        assert "cdc_phoenix://127.0.0.1:1/" in status["detail"], status
        checked = cdc("superset", "check")
        assert checked.returncode == 1 and "127.0.0.1:1" in checked.stderr, checked.stderr
    finally:
        assert cdc("superset", "sync").returncode == 0
        manager.up(["superset-sync"])
    _wait_state("superset", "running")
    assert cdc("superset", "check").returncode == 0


def test_superset_logs_hold_neither_its_password_nor_its_key(
    superset: SupersetClient, stack: StackContext
) -> None:
    secrets = (stack.credentials.superset_admin, stack.credentials.superset_secret_key)
    for name in ("superset", "superset-sync"):
        text = stack.log(name).read_text(encoding="utf-8", errors="replace")
        assert text, f"{name}: empty log"
        for secret in secrets:
            assert secret.get_secret_value() not in text, f"a Superset secret is in {stack.log(name)}"
