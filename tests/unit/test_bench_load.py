"""The benches' load: which sources the producers write, and the command they run."""

import sys
from pathlib import Path

import pytest

from cdc_ods.bench.load import cdc_command, produced_sources
from cdc_ods.config import parse_config
from cdc_ods.errors import CdcError

SHOP = {"name": "shop", "kind": "postgres", "database": "shop", "tables": ["orders"]}
EVENTS = {"name": "events", "kind": "mongodb", "database": "app", "tables": ["clicks"]}


def test_the_producers_write_the_enabled_sources_with_a_catalog() -> None:
    off = {**SHOP, "name": "old_shop", "enabled": False}
    file = Path("/tmp/cdc.yaml")
    config = parse_config({"sources": [SHOP, EVENTS, off]}, file.parent, str(file), file)
    assert [s.name for s in produced_sources(config)] == ["shop"]
    # a child `cdc` on the same cdc.yaml, with this interpreter
    command = cdc_command(config, "produce", "all")
    assert command == [sys.executable, "-m", "cdc_ods", "--config", str(file), "produce", "all"]


def test_a_configuration_not_read_from_a_file_cannot_be_handed_to_a_child() -> None:
    config = parse_config({"sources": [SHOP]}, Path("/tmp"), "in memory")
    with pytest.raises(CdcError, match="read from a file"):
        cdc_command(config, "produce", "all")


def test_a_bench_without_a_source_to_write_says_so() -> None:
    config = parse_config({"sources": [EVENTS]}, Path("/tmp"), "cdc.yaml")
    with pytest.raises(CdcError, match="no MariaDB, MySQL or PostgreSQL source"):
        produced_sources(config)
