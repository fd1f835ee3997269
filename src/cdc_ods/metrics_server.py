"""The Prometheus endpoint every Python stage serves (prometheus-client's HTTP server).

Binds to the stack host (127.0.0.1) unless CDC_METRICS_BIND says otherwise
(`cdc_ods.settings.Stages`): in a container Prometheus scrapes from another host, so
docker-compose sets it to 0.0.0.0.
"""

from __future__ import annotations

from prometheus_client import start_http_server

from cdc_ods.config import Config
from cdc_ods.errors import ServiceError
from cdc_ods.settings import Stages


def bind_address(config: Config) -> str:
    """Where the stages' HTTP endpoints listen."""
    return Stages().bind or config.stack.host


def serve_metrics(config: Config, port: int) -> None:
    address = bind_address(config)
    try:
        start_http_server(port, addr=address)
    except OSError as exc:
        raise ServiceError(
            f"metrics endpoint {address}:{port}: {exc.strerror} (is this stage already running?)"
        ) from None
