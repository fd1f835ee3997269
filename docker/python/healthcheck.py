"""Health check of the long-running `cdc ods run` container.

Healthy when the loader's Prometheus metrics endpoint answers on the port cdc.yaml gives it
(ods.metrics_port): the same file the loader reads, so the port is written in one place.
"""

import sys
import urllib.request

from cdc_ods.config import load_config

port = load_config().ods.metrics_port
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as exc:
    sys.exit(f"metrics endpoint on port {port}: {exc}")
