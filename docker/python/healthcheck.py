"""Healthy when this stage's Prometheus metrics endpoint answers (long-running stages only).

The port is CDC_METRICS_PORT, the one the stage serves its prometheus-client metrics on.
"""

import os
import sys
import urllib.request

port = os.environ.get("CDC_METRICS_PORT")
if not port:
    sys.exit("CDC_METRICS_PORT is not set")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as exc:
    sys.exit(f"metrics endpoint on port {port}: {exc}")
