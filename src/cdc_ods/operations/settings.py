"""The operations settings, read in one place.

The model is `cdc_ods.config.OperationsConfig` (the `operations:` section of cdc.yaml).
"""

from __future__ import annotations

from cdc_ods.config import Config, OperationsConfig


def operations_config(config: Config) -> OperationsConfig:
    """The `operations:` section of cdc.yaml."""
    return config.operations
