"""The Prometheus endpoint every Python stage serves (prometheus-client's HTTP server).

Binds to the stack host (127.0.0.1) unless CDC_METRICS_BIND says otherwise: in a container
Prometheus scrapes from another host, so docker-compose sets it to 0.0.0.0.
"""

from __future__ import annotations

import os

from prometheus_client import start_http_server

from cdc_ods.config import Config

BIND_ENV = "CDC_METRICS_BIND"


def serve_metrics(config: Config, port: int) -> None:
    start_http_server(port, addr=os.environ.get(BIND_ENV, config.stack.host))
