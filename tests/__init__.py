"""The test suite runs from the checkout; `PROJECT_DIR` is that checkout (the demo workspace:
cdc.yaml, connectors/, ksql/, monitoring/). The package itself never looks there: see
cdc_ods.paths."""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
