"""The connector configs under connectors/, one per source, shared with docker-compose.

Two kinds of placeholders keep the files free of addresses and secrets:
- `{{mysql_host}}`, `{{mysql_port}}`, `{{postgres_host}}`, `{{postgres_port}}`,
  `{{kafka_bootstrap}}`: filled in by `cdc` from the endpoints (cdc.yaml or CDC_*_ADDRESS
  variables) before the config is sent; Debezium validates these values as sent.
- `${env:CDC_..._PASSWORD}`: resolved inside the Connect worker by Kafka's
  EnvVarConfigProvider, so a password never enters Connect's config topic.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cdc_ods.endpoints import Endpoints, split_host_port
from cdc_ods.errors import ConfigError
from cdc_ods.paths import PROJECT_DIR

CONNECTORS_DIR = PROJECT_DIR / "connectors"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def placeholder_values(endpoints: Endpoints) -> dict[str, str]:
    mysql_host, mysql_port = split_host_port(endpoints.mysql)
    pg_host, pg_port = split_host_port(endpoints.postgres)
    return {
        "mysql_host": mysql_host,
        "mysql_port": str(mysql_port),
        "postgres_host": pg_host,
        "postgres_port": str(pg_port),
        "kafka_bootstrap": endpoints.kafka_bootstrap,
    }


def load_connector(name: str, endpoints: Endpoints | None = None, **overrides: str) -> dict[str, Any]:
    """`{"name": ..., "config": {...}}` from connectors/<name>.json.

    With `endpoints`, the `{{...}}` placeholders are filled in; `overrides` replace keys.
    """
    path = CONNECTORS_DIR / f"{name}.json"
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        available = sorted(p.stem for p in CONNECTORS_DIR.glob("*.json"))
        raise ConfigError(f"no connector config {path} (have: {', '.join(available)})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(spec.get("config"), dict) or "connector.class" not in spec["config"]:
        raise ConfigError(f"{path}: expected {{'name': ..., 'config': {{'connector.class': ...}}}}")
    config: dict[str, Any] = {**spec["config"], **overrides}
    if endpoints is not None:
        values = placeholder_values(endpoints)

        def fill(match: re.Match[str]) -> str:
            if match.group(1) not in values:
                raise ConfigError(f"{path}: unknown placeholder {match.group(0)} (known: {sorted(values)})")
            return values[match.group(1)]

        config = {k: _PLACEHOLDER.sub(fill, v) if isinstance(v, str) else v for k, v in config.items()}
    return {"name": spec["name"], "config": config}
