"""The connector configs under connectors/ are complete, hold no secret, and are checked
for what Kafka Connect's own validation misses."""

import json

import pytest

from cdc_ods.config import SourceConfig, load_config
from cdc_ods.connectors.configs import (
    CONNECTOR_CLASSES,
    CONNECTORS_DIR,
    HEARTBEAT_TABLE,
    SIGNAL_TABLE,
    connector_kind,
    load_connector,
    source_connector,
)
from cdc_ods.connectors.validation import problems, table_problems
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import ConfigError
from cdc_ods.paths import PROJECT_DIR

FILES = sorted(CONNECTORS_DIR.glob("*.json"))
CONFIG = load_config(PROJECT_DIR / "cdc.yaml")


def _address_keys(config: dict) -> list[str]:
    return [k for k in ("database.hostname", "database.port", "mongodb.connection.string") if k in config]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_no_secret_or_address_is_written_in_the_file(path) -> None:
    config = json.loads(path.read_text())["config"]
    for key, value in config.items():
        if "password" in key:
            assert value.startswith("${env:"), f"{path.name}: {key} must come from the environment"
    assert _address_keys(config)
    for key in _address_keys(config):
        assert "{{" in config[key], f"{path.name}: {key} must be a placeholder"
    assert "@" not in config.get("mongodb.connection.string", ""), (
        "credentials belong in mongodb.user/password"
    )


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_placeholders_are_filled_from_the_endpoints(path, monkeypatch) -> None:
    monkeypatch.setenv("CDC_MONGODB_ADDRESS", "mongodb:27017")
    config = load_connector(path.stem, Endpoints.from_config(CONFIG))["config"]
    assert not any("{{" in str(v) for v in config.values())
    if "database.hostname" in config:
        assert config["database.hostname"] == "127.0.0.1"
        assert int(config["database.port"]) in (3306, 5432)
    else:
        assert config["mongodb.connection.string"] == "mongodb://mongodb:27017/?replicaSet=rs0"


def test_each_source_has_a_connector_named_and_prefixed_after_it() -> None:
    for source in CONFIG.sources:
        spec = load_connector(source.name)
        assert spec["name"] == source.name
        assert spec["config"]["topic.prefix"] == source.name
        assert connector_kind(spec["config"]) in (source.kind, "mariadb")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_shared_choices_hold_in_every_file(path) -> None:
    config = json.loads(path.read_text())["config"]
    assert config["tombstones.on.delete"] == "false"
    assert int(config["heartbeat.interval.ms"]) > 0
    assert config["signal.data.collection"] == f"maf.{SIGNAL_TABLE}"
    if connector_kind(config) != "mongodb":  # Mongo has no decimal/time column types to map
        assert config["decimal.handling.mode"] == "string"
        assert config["time.precision.mode"] == "adaptive_time_microseconds"


def test_postgres_heartbeat_touches_only_the_heartbeat_table() -> None:
    query = load_connector("postgres")["config"]["heartbeat.action.query"]
    assert query.startswith(f"UPDATE maf.{HEARTBEAT_TABLE} ")


def test_mongodb_reads_the_replica_set_with_full_update_documents() -> None:
    config = load_connector("mongodb")["config"]
    assert config["collection.include.list"] == "maf.persons"
    assert config["capture.mode"] == "change_streams_update_full"
    assert config["mongodb.password"] == "${env:CDC_MONGODB_DEBEZIUM_PASSWORD}"


@pytest.mark.parametrize("kind", ["mariadb", "mysql"])
def test_the_mysql_flavour_comes_from_the_source_kind(kind: str) -> None:
    source = SourceConfig(name="mysql", kind=kind, tables=["movies"])
    ends = Endpoints.from_config(CONFIG)
    assert source_connector(source, ends)["config"]["connector.class"] == CONNECTOR_CLASSES[kind]
    overridden = source_connector(source, ends, **{"connector.class": "x.Y", "topic.prefix": "t"})
    assert overridden["config"]["connector.class"] == "x.Y"
    assert overridden["config"]["topic.prefix"] == "t"


def test_overrides_apply_and_unknown_connectors_are_named() -> None:
    spec = load_connector("mysql", **{"topic.prefix": "itest"})
    assert spec["config"]["topic.prefix"] == "itest"
    with pytest.raises(ConfigError, match=r"have: .*mysql"):
        load_connector("oracle")
    with pytest.raises(ConfigError, match=r"unknown connector\.class"):
        connector_kind({"connector.class": "com.example.Oracle"})


def _validate_result(*fields: tuple[str, list[str]]) -> dict:
    return {"configs": [{"definition": {"name": n}, "value": {"name": n, "errors": e}} for n, e in fields]}


def test_problems_lists_connect_errors_and_unknown_keys() -> None:
    result = _validate_result(
        ("connector.class", []), ("snapshot.mode", ["Value must be one of initial"]), ("converters", [])
    )
    config = {
        "connector.class": "C",
        "snapshot.mode": "bogus",
        "decimal.handlng.mode": "string",
        "topic.creation.default.partitions": "1",
        "schema.history.internal.kafka.topic": "h",
        "database.connectionTimeZone": "UTC",
        "transforms.unwrap.type": "X",
        "converters": "isbn",
        "isbn.type": "Y",
        "name": "n",
    }
    assert problems(config, result) == [
        "snapshot.mode: Value must be one of initial",
        "decimal.handlng.mode: unknown option (Connect would silently ignore it)",
    ]


def test_table_problems_name_each_entry_that_matches_nothing() -> None:
    existing = {"maf.movies", "maf.app_events", "maf.debezium_signal"}
    config = {
        "table.include.list": "maf.Movies, maf.app_.*,maf.nope",
        "signal.data.collection": "maf.debezium_signal",
    }
    assert table_problems(config, existing, "db") == [
        "table.include.list: maf.nope matches no existing table in db"
    ]
    assert table_problems({"table.include.list": "maf.movies"}, existing, "db") == []
    missing_signal = table_problems({"signal.data.collection": "maf.debezium_signal"}, {"maf.movies"}, "db")
    assert len(missing_signal) == 1 and missing_signal[0].startswith("signal.data.collection: ")
    assert "not a regular expression" in table_problems({"table.include.list": "maf.(x"}, existing, "db")[0]
