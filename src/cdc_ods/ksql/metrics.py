"""Prometheus metrics of the embedded cleansing runner (`cdc ksql run`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("cdc_cleansing_records_consumed_total", "Raw records read, by topic.", ["topic"])
PRODUCED = Counter("cdc_cleansing_records_produced_total", "Cleansed records written, by topic.", ["topic"])
DEAD_LETTERS = Counter("cdc_cleansing_dead_letters_total", "Raw records dead-lettered, by topic.", ["topic"])
BATCH_SECONDS = Histogram(
    "cdc_cleansing_batch_seconds",
    "Time to cleanse a batch and have its outputs acknowledged.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SCHEMA_DRIFT = Counter(
    "cdc_cleansing_schema_drift_total",
    "Source columns seen in raw records that the running script did not declare, by topic and"
    " outcome: regenerated (the unedited generated script was regenerated and reloaded) or manual"
    " (the script was edited by hand, or cannot be regenerated: the column is dropped until it is edited).",
    ["topic", "outcome"],
)
SCHEMA_DRIFT_UNHANDLED = Gauge(
    "cdc_cleansing_schema_drift_unhandled",
    "Source columns the running cleansing script drops because it could not be regenerated, by topic.",
    ["topic"],
)
