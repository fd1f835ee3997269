"""The process around a stage: its log lines, its Prometheus endpoint, its signals."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rich.logging import RichHandler

from cdc_ods.config import Config
from cdc_ods.metrics_server import serve_metrics
from cdc_ods.runtime.stop import Stop


@contextmanager
def stage_process(config: Config, metrics_port: int | None) -> Iterator[Stop]:
    """Log lines at INFO on stderr, the metrics endpoint on `metrics_port` (None: none, e.g. the
    collector serves /metrics itself; 0: any free port), and the `Stop` that SIGTERM/SIGINT set."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[RichHandler(show_path=False)])
    if metrics_port is not None:
        serve_metrics(config, metrics_port)
    with Stop().on_signals() as stop:
        yield stop
