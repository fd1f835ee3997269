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
DDL_SKIPPED = Counter(
    "cdc_connector_ddl_skipped_total",
    "DDL statements Debezium could not parse or apply, of tables the connector does not capture,"
    " that the watchdog added to the connector's DDL filter (the task had FAILED on each).",
    ["connector"],
)
LOG_LOST = Gauge(
    "cdc_connector_log_lost",
    "1 while a connector task is FAILED because the source no longer has the log it must read"
    " next (binlog purged, replication slot invalidated or dropped): `cdc connectors recover`.",
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
LOG_AVAILABLE = Gauge(
    "cdc_source_log_available",
    "1 while the log a source's connector must read next (its binlog file, the WAL its replication"
    " slot retains) is on the server; 0 once it is gone: the connector cannot resume.",
    ["source"],
)
LOG_BEHIND_BYTES = Gauge(
    "cdc_source_log_behind_bytes",
    "Bytes of log the source wrote after its connector's position (PostgreSQL: WAL its slot retains).",
    ["source"],
)
LOG_SAFE_BYTES = Gauge(
    "cdc_source_log_safe_bytes",
    "PostgreSQL with max_slot_wal_keep_size: WAL that may still be written before the connector's"
    " slot is invalidated (its safe_wal_size). No series without that limit.",
    ["source"],
)
LOG_RETENTION_SECONDS = Gauge(
    "cdc_source_log_retention_seconds",
    "MariaDB/MySQL: the binlog expiry (binlog_expire_logs_seconds). No series when binlogs never expire.",
    ["source"],
)
CAPTURED_TABLE_GONE = Gauge(
    "cdc_captured_table_gone",
    "1 for each table a source's connector captures that the source no longer has (renamed or"
    " dropped): its changes stop, its ODS table keeps the rows it had. No series otherwise.",
    ["source", "table"],
)
TABLE_NOT_CAPTURED = Gauge(
    "cdc_source_table_not_captured",
    "1 for each table cdc.yaml's `tables` takes that the source's connector does not capture yet"
    " (created or renamed since the last `cdc sources sync`). No series otherwise.",
    ["source", "table"],
)
TABLE_RECREATED = Gauge(
    "cdc_source_table_recreated",
    "MariaDB/MySQL: 1 for each captured table dropped and created again under its name whose ODS"
    " table still holds rows of the old table (changed before the DROP, not deleted). No series"
    " otherwise.",
    ["source", "table"],
)
