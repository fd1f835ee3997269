"""Prometheus on the live stack: every dashboard query and alert expression evaluates, and an
outage of the Connect worker drives its alert."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
import yaml

from cdc_ods.endpoints import Endpoints
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager
from tests import PROJECT_DIR

MONITORING = PROJECT_DIR / "monitoring"
# metrics every running stack has, before any pipeline stage runs
STACK_METRICS = re.compile(
    r"kafka_server_\w+|kafka_controller_\w+|jvm_\w+|hadoop_hbase_\w+|kafka_connect_worker_\w+"
)


FUNCTIONS = {"histogram_quantile"}


def queries() -> list[tuple[str, str]]:
    found = []
    for file in sorted((MONITORING / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(file.read_text())["panels"]:
            found += [(f"{file.stem}: {panel['title']}", t["expr"]) for t in panel["targets"]]
    for file in sorted((MONITORING / "rules").glob("*.yml")):
        for group in yaml.safe_load(file.read_text())["groups"]:
            found += [(f"alert {r['alert']}", r["expr"]) for r in group["rules"]]
    return found


def query(prometheus: str, expr: str) -> dict:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    return body["data"]


def test_every_dashboard_query_and_alert_expression_evaluates(
    stack: StackContext, endpoints: Endpoints
) -> None:
    time.sleep(12)  # two scrapes, so rate() over a fresh stack has points
    for where, expr in queries():
        data = query(endpoints.prometheus_url, expr)
        if where.startswith("alert"):
            continue  # an alert expression returns series only while it fires
        metrics = [m for m in re.findall(r"\b[a-z][a-z0-9_]*\b", expr) if "_" in m and m not in FUNCTIONS]
        if metrics and all(STACK_METRICS.fullmatch(m) for m in metrics) and "rate(" not in expr:
            # a scrape of a busy JVM can time out (CI saw HBase's miss one): a few more scrapes
            deadline = time.monotonic() + 30
            while not data["result"] and time.monotonic() < deadline:
                time.sleep(2)
                data = query(endpoints.prometheus_url, expr)
            if not data["result"]:
                up = query(endpoints.prometheus_url, "up")["result"]
                pytest.fail(f"{where}: no data for {expr}; scrape targets: {up}")


def firing_state(prometheus: str, alert: str) -> str | None:
    alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    states = [a["state"] for a in alerts if a["labels"]["alertname"] == alert]
    return states[0] if states else None


def test_stopping_connect_raises_its_alert_within_the_window(
    stack: StackContext, endpoints: Endpoints
) -> None:
    manager = StackManager(stack)
    assert firing_state(endpoints.prometheus_url, "ConnectWorkerDown") is None
    stopped = manager.stop(["connect"])  # and the stages that need it (the watchdog)
    try:
        deadline = time.monotonic() + 60
        state = None
        while time.monotonic() < deadline and state is None:
            state = firing_state(endpoints.prometheus_url, "ConnectWorkerDown")
            time.sleep(2)
        assert state in ("pending", "firing")
    finally:
        manager.up(stopped)
