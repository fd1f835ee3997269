"""Health check of a long-running `cdc` stage container: `healthcheck.py loader|collector|watchdog`.

Healthy when the stage's Prometheus metrics endpoint answers on the port cdc.yaml gives it
(ods.metrics_port, collector.port, operations.metrics_port): the same file the stage reads,
so each port is written in one place.
"""

import sys
import urllib.request

from cdc_ods.config import load_config

config = load_config()
stage = sys.argv[1] if len(sys.argv) > 1 else "loader"
ports = {
    "loader": config.ods.metrics_port,
    "collector": config.collector.port,
    "watchdog": config.operations.metrics_port,
}
port = ports[stage]
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as exc:
    sys.exit(f"{stage}: metrics endpoint on port {port}: {exc}")
