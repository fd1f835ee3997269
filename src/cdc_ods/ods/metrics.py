"""Prometheus metrics of the loader (`cdc ods run`), served on `ods.metrics_port`."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

ROWS_APPLIED = Counter(
    "cdc_ods_rows_applied_total",
    "Row changes committed to Phoenix, by ODS table and operation.",
    ["table", "op"],
)
BATCH_ROWS = Histogram(
    "cdc_ods_batch_rows",
    "Records per committed batch.",
    buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 25000),
)
COMMIT_SECONDS = Histogram(
    "cdc_ods_phoenix_commit_seconds",
    "Time to send and commit one batch to Phoenix.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
END_TO_END_SECONDS = Histogram(
    "cdc_ods_end_to_end_latency_seconds",
    "Source commit to visible in Phoenix, per ODS table.",
    ["table"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
CONSUMER_LAG = Gauge(
    "cdc_ods_consumer_lag_messages", "Records in a cleansed partition not yet loaded.", ["topic", "partition"]
)
DEAD_LETTERS = Counter(
    "cdc_ods_dead_letters_total", "Records the loader sent to the dead-letter topic.", ["topic"]
)
RETRIES = Counter("cdc_ods_retries_total", "Batches retried because Phoenix or HBase was unavailable.")
SCHEMA_CHANGES = Counter(
    "cdc_ods_schema_changes_total", "ODS tables created or columns added.", ["table", "kind"]
)
LAST_SOURCE_TIMESTAMP = Gauge(
    "cdc_ods_last_source_timestamp_seconds",
    "Source commit time (epoch s) of the newest change applied to the ODS table; time() minus it"
    " is the table's freshness while changes flow (it also grows when the source is idle).",
    ["table"],
)
LAST_APPLIED_TIMESTAMP = Gauge(
    "cdc_ods_last_applied_timestamp_seconds",
    "When (epoch s) the loader last committed changes of the ODS table.",
    ["table"],
)
REPLAYS_SKIPPED = Counter(
    "cdc_ods_replays_skipped_total",
    "Replayed dead letters not applied because the ODS row already holds a newer change.",
    ["table"],
)
SEQUENCE_CHECKED = Counter(
    "cdc_ods_sequence_checked_total",
    "Records whose offset and source position the loader checked (see cdc_ods.ods.sequence).",
    ["table"],
)
SEQUENCE_GAPS = Counter(
    "cdc_ods_sequence_gaps_total",
    "Records of a cleansed partition the loader never read (skipped offsets).",
    ["table"],
)
SEQUENCE_REGRESSIONS = Counter(
    "cdc_ods_sequence_regressions_total",
    "Changes whose source position was lower than one already seen for the same key.",
    ["table"],
)
SEQUENCE_DUPLICATES = Counter(
    "cdc_ods_sequence_duplicates_total",
    "Changes received again after a stage restarted (at-least-once delivery); not a failure.",
    ["table"],
)


def observe_applied(table: str, changes: Iterable, now_ms: float) -> None:
    """A table's changes (`cdc_ods.ods.writer.Change`) just committed to Phoenix at `now_ms`."""
    latency = END_TO_END_SECONDS.labels(table)
    ops: Tally[str] = Tally()
    newest_ms = 0
    for change in changes:
        ops[change.op] += 1
        if change.source_ts_ms:
            latency.observe(max(0.0, (now_ms - change.source_ts_ms) / 1000))
            newest_ms = max(newest_ms, change.source_ts_ms)
    for op, count in ops.items():
        ROWS_APPLIED.labels(table, op).inc(count)
    if newest_ms:
        LAST_SOURCE_TIMESTAMP.labels(table).set(newest_ms / 1000)
    LAST_APPLIED_TIMESTAMP.labels(table).set(now_ms / 1000)
