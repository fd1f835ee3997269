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


_FILES = ("blocklist_file", "api_keys_file", "tls_cert_file", "tls_key_file")


def collector_config(config: Config) -> CollectorConfig:
    """The `collector:` section of the config, its file paths made absolute (relative ones
    are next to cdc.yaml)."""
    settings = config.collector
    update = {}
    for name in _FILES:
        path = getattr(settings, name)
        if path is not None and not path.is_absolute():
            update[name] = (config.root / path).resolve()
    return settings.model_copy(update=update) if update else settings


def collector_url(config: Config) -> str:
    """Where clients reach the collector: $CDC_COLLECTOR_URL, else the configured port (https
    when the collector has a certificate)."""
    settings = collector_config(config)
    scheme = "https" if settings.tls_cert_file else "http"
    return Stages().collector_url or f"{scheme}://{config.stack.host}:{settings.port}"


def client_api_key() -> str | None:
    """The key this tool's own clients (`cdc produce events`) send: $CDC_COLLECTOR_API_KEY."""
    key = Stages().collector_api_key
    return key.get_secret_value() if key is not None else None
