"""The collector's settings, read in one place.

The model is `cdc_ods.config.CollectorConfig` (the `collector:` section of cdc.yaml).
"""

from __future__ import annotations

from cdc_ods import contract
from cdc_ods.config import CollectorConfig, Config
from cdc_ods.settings import Stages

# The raw events topic follows the raw-topic naming `<source>.<database>.<table>`.
EVENTS_SOURCE, EVENTS_DATABASE, EVENTS_TABLE = (
    contract.EVENTS_SOURCE,
    contract.EVENTS_DATABASE,
    contract.EVENTS_TABLE,
)
EVENTS_TOPIC = contract.raw_topic(EVENTS_SOURCE, EVENTS_DATABASE, EVENTS_TABLE)
STAGE = "collector"


def collector_config(config: Config) -> CollectorConfig:
    """The `collector:` section of the config, its blocklist path made absolute."""
    settings = config.collector
    path = settings.blocklist_file
    if path is not None and not path.is_absolute():
        settings = settings.model_copy(update={"blocklist_file": (config.root / path).resolve()})
    return settings


def collector_url(config: Config) -> str:
    """Where clients reach the collector: $CDC_COLLECTOR_URL, else the configured port."""
    return Stages().collector_url or f"http://{config.stack.host}:{collector_config(config).port}"
