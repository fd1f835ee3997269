"""The event collector: apps' telemetry batches over HTTP -> the raw events topic in Kafka.

`settings` (its configuration), `decode` (gzip + JSON body, size caps), `schema` (the common
event schema, a reason per rejected event), `blocklist` (versioned, served to clients),
`sink` (confluent-kafka producer awaited per batch), `ingest` (one request, start to end),
`server` (aiohttp routes, health, metrics), `metrics`, `cli` (`cdc collector run`) and
`simulate` (simulated app clients for `cdc produce events`).
"""
