"""The configuration file is validated on load and errors name the bad key."""

from pathlib import Path

import pytest
import yaml

from cdc_ods.config import load_config, parse_config
from cdc_ods.errors import ConfigError
from tests import PROJECT_DIR


def test_the_shipped_config_is_valid() -> None:
    config = load_config(PROJECT_DIR / "cdc.yaml")
    assert config.stack.host == "127.0.0.1"
    assert {s.name for s in config.sources} == {"mysql", "postgres", "mongodb"}
    assert config.source("postgres").namespace == "maf"
    assert config.data_dir == (PROJECT_DIR / ".stack").resolve()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"stack": {"ports": {"kafka": "abc"}}}, "stack.ports.kafka: Input should be a valid integer"),
        ({"stack": {"ports": {"kafka": 3306}}}, "kafka and mariadb both use port 3306"),
        ({"stack": {"portz": {}}}, "stack.portz: Extra inputs are not permitted"),
        ({"stack": {"host": "0.0.0.0"}}, "stack.host: Input should be '127.0.0.1'"),
        ({"sources": [{"name": "mysql", "kind": "mariadb", "tables": []}]}, "sources.0.tables"),
        ({"sources": [{"name": "1shop", "kind": "mariadb", "tables": ["t"]}]}, "sources.0.name"),
        (["not", "a", "mapping"], "expected a mapping"),
        ({"ods": {"processes": 9}}, "ods.processes: Input should be less than or equal to 8"),
        ({"kafka": {"partitions": 0}}, "kafka.partitions: Input should be greater than or equal to 1"),
        # the loader's second process would listen on 9410 + 10: the cleansing stage's port
        ({"ods": {"processes": 2}, "cleansing": {"metrics_port": 9420}}, "port 9420 is also cleansing"),
    ],
)
def test_bad_values_name_their_key(data: object, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, Path("/tmp"), "test.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("test.yaml: ")


def test_duplicate_sources_are_refused() -> None:
    source = {"name": "mysql", "kind": "mariadb", "tables": ["movies"]}
    with pytest.raises(ConfigError, match="repeated: \\['mysql'\\]"):
        parse_config({"sources": [source, source]}, Path("/tmp"), "x.yaml")


def test_unknown_source_lookup_names_the_available_ones() -> None:
    config = parse_config(
        {"sources": [{"name": "mysql", "kind": "mariadb", "tables": ["t"]}]}, Path("/"), "x"
    )
    with pytest.raises(ConfigError, match="no source named 'postgres'"):
        config.source("postgres")


def test_invalid_yaml_and_missing_file_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "cdc.yaml"
    bad.write_text("stack: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no configuration file found"):
        load_config(tmp_path / "missing.yaml")


def test_relative_data_dir_resolves_against_the_config_file(tmp_path: Path) -> None:
    file = tmp_path / "cdc.yaml"
    file.write_text(yaml.safe_dump({"stack": {"data_dir": "state"}}))
    assert load_config(file).data_dir == tmp_path / "state"


def test_deployment_overrides_a_source_flavour_and_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_SOURCE_MYSQL_KIND", "mysql")
    monkeypatch.setenv("CDC_SOURCE_MONGODB_ENABLED", "true")
    config = load_config(PROJECT_DIR / "cdc.yaml")
    assert config.source("mysql").kind == "mysql"
    assert config.source("mongodb").enabled is True
    monkeypatch.setenv("CDC_SOURCE_MYSQL_KIND", "oracle")
    with pytest.raises(ConfigError, match=r"sources\.0\.kind"):
        load_config(PROJECT_DIR / "cdc.yaml")


def _sources(*entries: dict) -> object:
    from cdc_ods.config import parse_config

    return parse_config({"sources": list(entries)}, Path("."), "cdc.yaml")


def test_any_number_of_sources_with_names_that_are_topic_prefixes() -> None:
    config = _sources(
        {"name": "shop", "kind": "mariadb", "database": "sakila", "tables": ["*"]},
        {"name": "films2", "kind": "postgres", "database": "pagila", "schema": "public", "tables": ["f*"]},
    )
    assert [s.name for s in config.sources] == ["shop", "films2"]
    assert config.source("shop").namespace == "sakila" and config.source("shop").is_local
    with pytest.raises(ConfigError, match=r"sources\.0\.name: String should match pattern"):
        _sources({"name": "Shop-1", "kind": "mariadb", "tables": ["t"]})


def test_a_source_with_an_address_must_say_which_users_it_uses() -> None:
    with pytest.raises(ConfigError, match=r"sources\.0: Value error, capture and read required when address"):
        _sources({"name": "shop", "kind": "postgres", "address": "db1:5432", "tables": ["t"]})
    login = {"user": "dbz", "password_env": "SHOP_PASSWORD"}
    config = _sources(
        {
            "name": "shop",
            "kind": "postgres",
            "address": "db1:5432",
            "tables": ["t"],
            "capture": login,
            "read": login,
        }
    )
    assert config.source("shop").capture.password_env == "SHOP_PASSWORD"
    with pytest.raises(ConfigError, match=r"password_env: String should match pattern"):
        _sources(
            {"name": "s", "kind": "mariadb", "tables": ["t"], "capture": {"user": "u", "password_env": "x y"}}
        )


def test_platform_addresses_come_from_the_file_and_the_environment_still_wins(monkeypatch) -> None:
    from cdc_ods.config import parse_config
    from cdc_ods.endpoints import Endpoints

    config = parse_config(
        {"platform": {"kafka_bootstrap": "kafka1:9092", "connect_url": "http://connect1:8083"}},
        Path("."),
        "x",
    )
    monkeypatch.delenv("CDC_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("CDC_CONNECT_URL", "http://other:8083")
    ends = Endpoints.from_config(config)
    assert ends.kafka_bootstrap == "kafka1:9092" and ends.connect_url == "http://other:8083"
    assert ends.phoenix_url == "http://127.0.0.1:8765/"
