"""What `cdc superset sync` imports: the bundle built from the ODS catalog and the workspace's
files (Superset itself is exercised by tests/integration/test_superset.py)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import yaml

from cdc_ods.errors import CdcError
from cdc_ods.superset.sync import Catalog, build_bundle, saved_queries, sqlalchemy_uri
from cdc_ods.superset.uuids import database_uuid, dataset_uuid
from tests import PROJECT_DIR

AUDIT = [("CDC_OP", "CHAR"), ("CDC_SOURCE_TS", "TIMESTAMP"), ("CDC_LOADED_AT", "TIMESTAMP")]
CATALOG: Catalog = {
    ("ODS", "MYSQL_SHOP_ORDERS"): [("ID", "BIGINT"), ("TOTAL", "DECIMAL"), *AUDIT],
    ("ODS", "POSTGRES_SHOP_ITEMS"): [("ID", "INTEGER"), ("TAGS", "VARCHAR ARRAY"), *AUDIT],
    ("ODS", "EVENTS_APP_CLIENT_EVENTS"): [("EVENT_TS", "TIMESTAMP"), ("PLATFORM", "VARCHAR"), *AUDIT],
    ("CDC", "SEQUENCE_INTEGRITY"): [("ODS_TABLE", "VARCHAR"), ("UPDATED_AT", "TIMESTAMP")],
}
ASSETS = PROJECT_DIR / "monitoring" / "superset"
QUERIES = PROJECT_DIR / "ods" / "queries.sql"


def _files(catalog: Catalog = CATALOG, assets: Path = ASSETS) -> dict[str, dict]:
    bundle = build_bundle(catalog, "cdc_phoenix://pqs:8765/", assets, QUERIES)
    with zipfile.ZipFile(io.BytesIO(bundle.zip())) as archive:
        return {name.split("/", 1)[1]: yaml.safe_load(archive.read(name)) for name in archive.namelist()}


def test_the_query_servers_address_becomes_a_cdc_phoenix_uri() -> None:
    assert sqlalchemy_uri("http://127.0.0.1:8765/") == "cdc_phoenix://127.0.0.1:8765/"
    assert sqlalchemy_uri("http://phoenix-query-server:8765") == "cdc_phoenix://phoenix-query-server:8765/"
    with pytest.raises(CdcError, match="http://HOST:PORT/"):
        sqlalchemy_uri("https://pqs.internal:8765/avatica")


def test_the_database_is_read_only_for_sql_lab() -> None:
    database = _files()["databases/ODS.yaml"]
    assert database["sqlalchemy_uri"] == "cdc_phoenix://pqs:8765/"
    assert database["allow_dml"] is False and database["expose_in_sqllab"] is True
    assert database["uuid"] == database_uuid()


def test_every_table_is_a_dataset_under_a_uuid_of_its_name() -> None:
    files = _files()
    orders = files["datasets/ODS/ODS.MYSQL_SHOP_ORDERS.yaml"]
    assert orders["uuid"] == dataset_uuid("ODS.MYSQL_SHOP_ORDERS")
    assert [c["column_name"] for c in orders["columns"]] == [
        c for c, _ in CATALOG[("ODS", "MYSQL_SHOP_ORDERS")]
    ]
    assert orders["main_dttm_col"] == "CDC_LOADED_AT"
    assert {c["column_name"] for c in orders["columns"] if c["is_dttm"]} == {"CDC_SOURCE_TS", "CDC_LOADED_AT"}
    assert files["datasets/ODS/CDC.SEQUENCE_INTEGRITY.yaml"]["schema"] == "CDC"
    # the same catalog gives the same bytes: a sync of an unchanged ODS imports nothing new
    assert (
        build_bundle(CATALOG, "u", ASSETS, QUERIES).digest()
        == build_bundle(CATALOG, "u", ASSETS, QUERIES).digest()
    )


def test_the_replication_datasets_cover_every_ods_table_and_only_those() -> None:
    files = _files()
    tables_sql = files["datasets/ODS/cdc_ods_tables.yaml"]["sql"]
    changes_sql = files["datasets/ODS/cdc_ods_changes.yaml"]["sql"]
    for sql in (tables_sql, changes_sql):
        assert "FROM ODS.MYSQL_SHOP_ORDERS" in sql and "FROM ODS.POSTGRES_SHOP_ITEMS" in sql
        assert "SEQUENCE_INTEGRITY" not in sql
        assert sql.count("UNION ALL") == 2
    # a fresh ODS: the datasets exist with their columns, and return no row
    empty = _files(catalog={})
    assert "LIMIT 0" in empty["datasets/ODS/cdc_ods_tables.yaml"]["sql"]
    assert [c["column_name"] for c in empty["datasets/ODS/cdc_ods_changes.yaml"]["columns"]] == [
        "ODS_TABLE", "CDC_OP", "CDC_LOADED_AT", "CDC_SOURCE_TS", "CHANGES"
    ]  # fmt: skip


def test_each_named_query_of_queries_sql_is_saved() -> None:
    queries = saved_queries(QUERIES)
    labels = [q["label"] for q in queries]
    assert labels == [
        line.split(": ", 1)[1] for line in QUERIES.read_text().splitlines() if line.startswith("-- name: ")
    ]
    titles = next(q for q in queries if q["label"] == "titles")
    assert titles["sql"].startswith("SELECT 'movie' AS KIND") and not titles["sql"].endswith(";")
    assert "movies (MySQL family) and TV series" in titles["description"]
    assert saved_queries(PROJECT_DIR / "no-such-file.sql") == []


def test_provisioned_charts_use_datasets_the_bundle_carries() -> None:
    files = _files()
    carried = {data["uuid"] for name, data in files.items() if name.startswith("datasets/")}
    charts = {name: data for name, data in files.items() if name.startswith("charts/")}
    assert charts, "no chart in monitoring/superset/charts"
    for name, chart in charts.items():
        assert chart["dataset_uuid"] in carried, f"{name}: its dataset is not in the bundle"
    chart_uuids = {chart["uuid"] for chart in charts.values()}
    for name, dashboard in ((n, d) for n, d in files.items() if n.startswith("dashboards/")):
        used = {
            v["meta"]["uuid"]
            for v in dashboard["position"].values()
            if isinstance(v, dict) and v.get("type") == "CHART"
        }
        assert used and used <= chart_uuids, f"{name}: a chart it places is not provisioned"


def test_charts_of_a_table_not_in_the_ods_yet_wait_with_their_dashboards() -> None:
    without_events = {k: v for k, v in CATALOG.items() if k[1] != "EVENTS_APP_CLIENT_EVENTS"}
    bundle = build_bundle(without_events, "u", ASSETS, QUERIES)
    assert "app_behaviour.yaml" in bundle.waiting and "replication.yaml" not in bundle.waiting
    names = set(bundle.files)
    assert "cdc_ods_assets/dashboards/replication.yaml" in names
    assert "cdc_ods_assets/dashboards/app_behaviour.yaml" not in names
    assert any("is not in the ODS yet" in why for why in bundle.waiting.values())


def test_a_workspace_without_superset_files_still_gets_database_and_datasets(tmp_path: Path) -> None:
    files = _files(assets=tmp_path / "missing")
    assert "databases/ODS.yaml" in files and "metadata.yaml" in files
    assert not [name for name in files if name.startswith(("charts/", "dashboards/"))]
