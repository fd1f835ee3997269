"""The Prometheus endpoint every Python stage serves (prometheus-client's HTTP server).

Binds to the stack host (127.0.0.1) unless CDC_METRICS_BIND says otherwise: in a container
Prometheus scrapes from another host, so docker-compose sets it to 0.0.0.0.
"""

from __future__ import annotations

import os

from prometheus_client import start_http_server

from cdc_ods.config import Config
from cdc_ods.errors import ServiceError

BIND_ENV = "CDC_METRICS_BIND"


def serve_metrics(config: Config, port: int) -> None:
    address = os.environ.get(BIND_ENV, config.stack.host)
    try:
        start_http_server(port, addr=address)
    except OSError as exc:
        raise ServiceError(
            f"metrics endpoint {address}:{port}: {exc.strerror} (is this stage already running?)"
        ) from None
