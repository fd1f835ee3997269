"""Prometheus metrics of the collector, served at its own `/metrics`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("cdc_collector_requests_total", "Ingest requests, by HTTP status.", ["status"])
EVENTS_ACCEPTED = Counter("cdc_collector_events_accepted_total", "Events acknowledged by Kafka.")
EVENTS_REJECTED = Counter(
    "cdc_collector_events_rejected_total", "Events refused, by reason code (schema, blocked).", ["reason"]
)
DEAD_LETTERS = Counter("cdc_collector_dead_letters_total", "Rejected events sent to the dead-letter topic.")
BATCH_EVENTS = Histogram(
    "cdc_collector_batch_events",
    "Events per ingest request.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000),
)
BODY_BYTES = Histogram(
    "cdc_collector_body_bytes",
    "Compressed request body size.",
    buckets=(1024, 4096, 16384, 32768, 65536, 131072, 262144, 524288),
)
KAFKA_ACK_SECONDS = Histogram(
    "cdc_collector_kafka_ack_seconds",
    "From producing a batch to Kafka acknowledging all of it.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BLOCKLIST_VERSION = Gauge("cdc_collector_blocklist_version", "Version of the blocklist in force.")
KAFKA_UP = Gauge("cdc_collector_kafka_up", "1 while the producer reaches a Kafka broker.")
UNAUTHORIZED = Counter(
    "cdc_collector_unauthorized_total",
    "Requests refused with 401, by why (missing or unknown key).",
    ["reason"],
)
RATE_LIMITED = Counter("cdc_collector_rate_limited_total", "Requests refused with 429, by app.", ["app"])
