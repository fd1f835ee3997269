"""Collect the pipeline's health: connectors, backlog per stage, latency, dead letters.

Read from the same places the dashboards use: Prometheus for rates, lags and latencies,
Kafka Connect's REST API for connector states, Kafka for each consumer stage's backlog.
A part that cannot be read is reported as unavailable with the reason, never guessed.
"""

from __future__ import annotations

from typing import Any

from cdc_ods.config import Config
from cdc_ods.connectors.failures import diagnosis, failed_instances
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError
from cdc_ods.prometheus import instant
from cdc_ods.reconcile.catchup import stage_backlog, stages_read

_LATENCY = "sum by (le) (rate(cdc_ods_end_to_end_latency_seconds_bucket[5m]))"
QUERIES = {
    "source_lag_ms": "max by (server) (debezium_streaming_millisecondsbehindsource)",
    "source_idle_ms": "min by (server) (debezium_streaming_millisecondssincelastevent)",
    "rows_applied_per_s": "sum(rate(cdc_ods_rows_applied_total[1m]))",
    "latency_p50_s": f"histogram_quantile(0.5, {_LATENCY})",
    "latency_p99_s": f"histogram_quantile(0.99, {_LATENCY})",
    "dead_letters_last_hour": (
        'sum(increase(kafka_server_brokertopicmetrics_messagesinpersec_total{topic="ods.dlq"}[1h]))'
    ),
    "targets_down": "count(up == 0) or vector(0)",
    # the watchdog's look at each source: the log its connector must read next is gone
    "log_lost": "max by (source) (cdc_source_log_available) == 0",
}
# one value per Debezium server (topic prefix) or per source (the watchdog's)
PER_SOURCE = {"source_lag_ms", "source_idle_ms", "log_lost"}


def _prometheus(url: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, expr in QUERIES.items():
        series = instant(url, expr)
        values = {
            (s["metric"].get("server") or s["metric"].get("source") or "all"): float(s["value"][1])
            for s in series
            if s["value"][1] not in ("NaN", "+Inf", "-Inf")
        }
        results[name] = values if name in PER_SOURCE else next(iter(values.values()), None)
    return results


def collect(config: Config) -> dict[str, Any]:
    endpoints = Endpoints.from_config(config)
    health: dict[str, Any] = {"connectors": {}, "backlog": {}, "metrics": {}, "unavailable": {}}
    try:
        with ConnectClient.of(config, timeout_s=5) as connect:
            for name, status in connect.statuses().items():
                health["connectors"][name] = {
                    "state": status["connector"]["state"],
                    "tasks": {str(t["id"]): t["state"] for t in status.get("tasks", [])},
                    # FAILED instance (`connector` or a task id) -> why, for an operator
                    "failures": {ident: diagnosis(trace, name) for ident, trace in failed_instances(status)},
                }
    except CdcError as exc:
        health["unavailable"]["connectors"] = str(exc)
    for stage in stages_read(config):
        try:
            health["backlog"][stage.name] = stage_backlog(endpoints.kafka_bootstrap, stage)
        except CdcError as exc:
            health["unavailable"][f"backlog {stage.name}"] = str(exc)
    try:
        health["metrics"] = _prometheus(endpoints.prometheus_url)
    except CdcError as exc:
        health["unavailable"]["metrics"] = str(exc)
    return health
