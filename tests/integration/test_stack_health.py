"""Every service of the running stack answers in its own protocol."""

from __future__ import annotations

import json
import time

import httpx
import psycopg
import pymysql
import pytest

from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.endpoints import Endpoints, split_host_port
from cdc_ods.errors import ConfigError
from cdc_ods.kafka import round_trip
from cdc_ods.secrets import ADMIN_USER, CONNECT_USER, DEBEZIUM_USER
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.services import SERVICES
from cdc_ods.stack.services.connect import PLUGINS

from .conftest import cdc


def test_status_json_lists_every_service_running_with_its_endpoint(stack: StackContext) -> None:
    result = cdc("stack", "status", "--json")
    assert result.returncode == 0, result.stderr
    statuses = {s["name"]: s for s in json.loads(result.stdout)}
    assert set(statuses) == {s.name for s in SERVICES}
    for service in SERVICES:
        if service.optional:  # started by `--with` only (test_superset.py)
            continue
        assert statuses[service.name]["state"] == "running", statuses[service.name]
        assert statuses[service.name]["endpoint"] == service.endpoint(stack)
        assert statuses[service.name]["pid"]


def test_mariadb_sql_round_trip_and_binlog_for_cdc(stack: StackContext, endpoints: Endpoints) -> None:
    host, port = split_host_port(endpoints.mysql)
    conn = pymysql.connect(
        host=host, port=port, user=ADMIN_USER, password=stack.credentials.mysql_admin.get_secret_value()
    )
    with conn, conn.cursor() as cur:
        cur.execute("SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@bind_address")
        assert cur.fetchone() == (1, "ROW", "FULL", "127.0.0.1")
        cur.execute("SHOW GRANTS FOR 'debezium'@'127.0.0.1'")
        grants = " ".join(row[0] for row in cur.fetchall())
    assert "REPLICATION SLAVE" in grants
    assert "ALL PRIVILEGES" not in grants  # least privilege


def test_postgres_sql_round_trip_and_logical_decoding(stack: StackContext, endpoints: Endpoints) -> None:
    host, port = split_host_port(endpoints.postgres)
    password = stack.credentials.postgres_admin.get_secret_value()
    with psycopg.connect(host=host, port=port, user=ADMIN_USER, password=password, dbname="maf") as conn:
        assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
        role = conn.execute(
            "SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = %s", (DEBEZIUM_USER,)
        ).fetchone()
        assert role == (True, False)
        assert conn.execute(
            "SELECT count(*) FROM pg_publication WHERE pubname = 'cdc_postgres'"
        ).fetchone() == (1,)


def test_kafka_produce_consume_round_trip(endpoints: Endpoints) -> None:
    round_trip(endpoints.kafka_bootstrap, "_cdc_itest_roundtrip")


def test_connect_lists_the_debezium_plugins_to_its_user_only(
    stack: StackContext, endpoints: Endpoints
) -> None:
    url = f"{endpoints.connect_url}/connector-plugins"
    password = stack.credentials.connect.get_secret_value()
    plugins = {p["class"]: p for p in httpx.get(url, timeout=10, auth=(CONNECT_USER, password)).json()}
    for connector_class in PLUGINS.values():
        assert plugins[connector_class]["type"] == "source"
    # HTTP basic authentication: no credentials, or wrong ones, are refused
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, timeout=10, auth=(CONNECT_USER, password + "x")).status_code == 401
    assert httpx.post(f"{endpoints.connect_url}/connectors", json={}, timeout=10).status_code == 401
    with pytest.raises(ConfigError, match=r"401 unauthorized .* CDC_CONNECT_PASSWORD"):
        ConnectClient(endpoints.connect_url).connectors()


def test_prometheus_is_ready_and_scrapes_the_stack(endpoints: Endpoints) -> None:
    assert httpx.get(f"{endpoints.prometheus_url}/-/ready", timeout=5).status_code == 200
    deadline = time.monotonic() + 60
    while True:
        targets = httpx.get(f"{endpoints.prometheus_url}/api/v1/targets", timeout=5).json()["data"][
            "activeTargets"
        ]
        # the stack's own targets; pipeline stages (the loader) are up only while they run
        jobs = {s.name for s in SERVICES if s.metrics_port_name}
        health = {t["labels"]["job"]: t["health"] for t in targets if t["labels"]["job"] in jobs}
        if (set(health) == jobs and all(h == "up" for h in health.values())) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert set(health) == {"prometheus", "kafka", "connect", "hbase", "phoenix-query-server"}
    assert all(h == "up" for h in health.values()), health


def test_env_prints_exports_for_every_endpoint(stack: StackContext) -> None:
    result = cdc("stack", "env")
    assert result.returncode == 0
    exported = dict(line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines())
    for var in Endpoints.ENV.values():
        assert var in exported
    assert exported["CDC_KAFKA_BOOTSTRAP"] == f"127.0.0.1:{stack.ports.kafka}"
