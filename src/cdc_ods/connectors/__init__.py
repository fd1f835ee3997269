"""Debezium source connectors: their configs (connectors/*.json) and Connect's REST API."""
