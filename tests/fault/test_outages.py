"""Long outages under load: Kafka, then the Query Server, stopped for five minutes each.

Producers write to both sources throughout. While the service is down every stage must wait
(no process of the pipeline exits: supervisord restarts none of them), nothing may be
dead-lettered for the outage, and Prometheus must fire the alerts an operator relies on
(checked live in its API): `TargetDown` for the stopped service, and for the Query Server
`TableFreshnessStale` (changes waiting for the stuck loader). Then the service is started
again, every stage resumes by itself, and `cdc reconcile` must find every table equal.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from cdc_ods.dlq import DLQ_TOPIC
from cdc_ods.endpoints import Endpoints
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager
from tests.integration.conftest import end_offsets

from .conftest import Recovery
from .test_kill9 import caught_up, reconcile_clean, under_load

OUTAGE_S = int(os.environ.get("CDC_FAULT_OUTAGE_S", "300"))  # a shorter one to reproduce a finding
STAGES = ("connect", "cleansing", "loader", "collector", "watchdog")
# service -> the alerts that must fire while it is down (alert name, label that must match)
EXPECTED = {
    "kafka": [("TargetDown", {"job": "kafka"})],
    "phoenix-query-server": [("TargetDown", {"job": "phoenix-query-server"}), ("TableFreshnessStale", {})],
}


def _firing(prometheus_url: str) -> list[dict[str, str]]:
    """The labels of every alert firing now."""
    try:
        body = httpx.get(f"{prometheus_url}/api/v1/alerts", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return []
    return [a["labels"] for a in body.get("data", {}).get("alerts", []) if a.get("state") == "firing"]


@pytest.mark.parametrize("service", list(EXPECTED))
def test_a_five_minute_outage_under_load_waits_and_resumes(
    service: str, pipeline: StackContext, endpoints: Endpoints, recoveries: list[Recovery], tmp_path: Path
) -> None:
    manager = StackManager(pipeline)
    record = Recovery(f"{service} down {OUTAGE_S // 60} min", restarted_by="cdc stack up")
    recoveries.append(record)
    dlq_start = end_offsets(endpoints.kafka_bootstrap, DLQ_TOPIC)
    pids = {name: manager.supervisor.info(name)["pid"] for name in STAGES}
    fired: dict[str, list[dict[str, str]]] = {}  # alert -> the label sets it fired with
    with under_load(950 + list(EXPECTED).index(service), tmp_path / "producers.log"):
        started = time.monotonic()
        manager.supervisor.stop_process(service)
        while time.monotonic() - started < OUTAGE_S:
            for labels in _firing(endpoints.prometheus_url):
                if labels not in fired.setdefault(labels["alertname"], []):
                    fired[labels["alertname"]].append(labels)
            time.sleep(10)
        manager.up([service])
        record.restart_s = time.monotonic() - started
        caught_up(pipeline.config, record, started)
    record.alerts = ", ".join(sorted(fired)) or "none"
    print(f"ALERTS {service}: {record.alerts}")
    restarted = {n for n in STAGES if manager.supervisor.info(n)["pid"] != pids[n]}
    # an outage is never a data error: no stage dead-letters anything
    reconcile_clean(record, endpoints, dlq_start, stages=("cleansing", "loader", "collector"))
    assert not restarted, f"these processes exited during the outage and were restarted: {restarted}"
    for alert, labels in EXPECTED[service]:
        assert alert in fired, f"{alert} did not fire during the {service} outage (fired: {sorted(fired)})"
        assert any(labels.items() <= seen.items() for seen in fired[alert]), fired[alert]
