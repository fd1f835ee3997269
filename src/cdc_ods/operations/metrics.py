"""Prometheus metrics of `cdc watch`: connector-task restarts and freshness per table."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

TASK_RESTARTS = Counter(
    "cdc_watchdog_task_restarts_total",
    "FAILED connector tasks the watchdog restarted.",
    ["connector", "task"],
)
GAVE_UP = Gauge(
    "cdc_watchdog_gave_up",
    "1 while the watchdog has stopped restarting a task whose failure keeps repeating.",
    ["connector", "task"],
)
UNPARSEABLE_DDL = Gauge(
    "cdc_connector_unparseable_ddl",
    "1 while a connector task is FAILED on a DDL statement Debezium cannot parse or apply"
    " (restarts cannot help: it reads the same statement again).",
    ["connector", "task"],
)
BACKLOG_RECORDS = Gauge(
    "cdc_pipeline_backlog_records",
    "Records of a table waiting in Kafka for a stage (cleansing: raw topic, loader: cleansed topic).",
    ["stage", "table"],
)
BACKLOG_AGE_SECONDS = Gauge(
    "cdc_pipeline_backlog_age_seconds",
    "Age of the oldest record of a table a stage has not processed yet; 0 when nothing waits.",
    ["stage", "table"],
)
FRESHNESS_SECONDS = Gauge(
    "cdc_pipeline_freshness_seconds",
    "How far the ODS table may be behind its source: the oldest waiting change's age over all"
    " stages, 0 when the table is caught up (an idle source stays at 0).",
    ["table"],
)
HEARTBEAT_AGE_SECONDS = Gauge(
    "cdc_source_heartbeat_age_seconds",
    "Seconds since the source connector's last heartbeat record: small while it is connected,"
    " even when the source is idle; grows when the connector is stuck or down.",
    ["source"],
)
