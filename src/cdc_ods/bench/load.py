"""The benches' load: `cdc produce` (and other `cdc` commands) run as child processes on the
same cdc.yaml, against the sources the producers write."""

from __future__ import annotations

import sys

from cdc_ods.config import Config, SourceConfig
from cdc_ods.errors import CdcError


def cdc_command(config: Config, *args: str) -> list[str]:
    """`cdc --config <this cdc.yaml> <args>` for a child process."""
    if config.file is None:
        raise CdcError("the benches need the configuration read from a file")
    return [sys.executable, "-m", "cdc_ods", "--config", str(config.file), *args]


def produced_sources(config: Config) -> list[SourceConfig]:
    """The sources `cdc produce all` writes: enabled, with a catalog (not MongoDB)."""
    sources = [s for s in config.sources if s.enabled and s.has_catalog]
    if not sources:
        raise CdcError("cdc.yaml enables no MariaDB, MySQL or PostgreSQL source for the producers to write")
    return sources
