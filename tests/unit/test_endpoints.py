"""Endpoints come from the config, and the environment can point tools elsewhere."""

from pathlib import Path

import pytest

from cdc_ods.config import parse_config
from cdc_ods.endpoints import Endpoints, split_host_port


def test_defaults_follow_the_configured_ports() -> None:
    config = parse_config({"stack": {"ports": {"kafka": 19092}}}, Path("/"), "x")
    ends = Endpoints.from_config(config)
    assert ends.kafka_bootstrap == "127.0.0.1:19092"
    assert ends.phoenix_url == "http://127.0.0.1:8765/"
    assert split_host_port(ends.mysql) == ("127.0.0.1", 3306)


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_KAFKA_BOOTSTRAP", "kafka:29092")
    ends = Endpoints.from_config(parse_config({}, Path("/"), "x"))
    assert ends.kafka_bootstrap == "kafka:29092"
