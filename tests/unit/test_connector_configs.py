"""The connector configs under connectors/ are complete and hold no secret."""

import json

import pytest

from cdc_ods.config import load_config
from cdc_ods.connectors.configs import CONNECTORS_DIR, load_connector
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import ConfigError
from cdc_ods.paths import PROJECT_DIR

FILES = sorted(CONNECTORS_DIR.glob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_no_secret_or_address_is_written_in_the_file(path) -> None:
    config = json.loads(path.read_text())["config"]
    for key, value in config.items():
        if "password" in key:
            assert value.startswith("${env:"), f"{path.name}: {key} must come from the environment"
    assert config["database.hostname"].startswith("{{")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_placeholders_are_filled_from_the_endpoints(path) -> None:
    ends = Endpoints.from_config(load_config(PROJECT_DIR / "cdc.yaml"))
    config = load_connector(path.stem, ends)["config"]
    assert config["database.hostname"] == "127.0.0.1"
    assert int(config["database.port"]) in (3306, 5432)
    assert not any("{{" in str(v) for v in config.values())


def test_each_enabled_source_has_a_connector_named_and_prefixed_after_it() -> None:
    for source in load_config(PROJECT_DIR / "cdc.yaml").sources:
        if not source.enabled:
            continue
        spec = load_connector(source.name)
        assert spec["name"] == source.name
        assert spec["config"]["topic.prefix"] == source.name


def test_overrides_apply_and_unknown_connectors_are_named() -> None:
    spec = load_connector("mysql", **{"topic.prefix": "itest"})
    assert spec["config"]["topic.prefix"] == "itest"
    with pytest.raises(ConfigError, match=r"have: .*mysql"):
        load_connector("oracle")
