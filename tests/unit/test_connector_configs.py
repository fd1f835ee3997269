"""Each source's connector is generated from cdc.yaml: complete, no secret in it, the
project's shared choices in every one, and overridable per source; plus what Kafka
Connect's own validation misses."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from cdc_ods.config import Config, load_config, parse_config
from cdc_ods.connectors.configs import CONNECTOR_CLASSES, connector_kind, source_connector
from cdc_ods.connectors.validation import problems, table_problems
from cdc_ods.contract import MAX_RECORD_BYTES
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import ConfigError
from cdc_ods.sources import HEARTBEAT_TABLE, SIGNAL_TABLE
from cdc_ods.stack.certificates import write_certificates
from tests import PROJECT_DIR

CONFIG = load_config(PROJECT_DIR / "cdc.yaml")


def _spec(config: Config, name: str, tables: list[str] | None = None, **overrides: str) -> dict:
    source = config.source(name)
    return source_connector(
        config, source, Endpoints.from_config(config), tables or source.tables, **overrides
    )


@pytest.mark.parametrize("name", [s.name for s in CONFIG.sources])
def test_passwords_are_references_and_addresses_come_from_the_endpoints(name: str, monkeypatch) -> None:
    monkeypatch.setenv("CDC_MONGODB_ADDRESS", "mongodb:27017")
    config = _spec(CONFIG, name)["config"]
    for key, value in config.items():
        if "password" in key:
            assert value.startswith("${env:"), f"{key} must come from the Connect worker's environment"
    if "database.hostname" in config:
        assert config["database.hostname"] == "127.0.0.1"
        assert int(config["database.port"]) in (3306, 5432)
    else:
        assert config["mongodb.connection.string"] == "mongodb://mongodb:27017/?replicaSet=rs0"


@pytest.mark.parametrize("name", [s.name for s in CONFIG.sources])
def test_named_and_prefixed_after_the_source_with_the_shared_choices(name: str) -> None:
    spec = _spec(CONFIG, name)
    config = spec["config"]
    assert spec["name"] == name and config["topic.prefix"] == name
    assert connector_kind(config) == CONFIG.source(name).kind
    assert config["tombstones.on.delete"] == "false"
    assert int(config["heartbeat.interval.ms"]) > 0
    assert config["signal.data.collection"] == f"maf.{SIGNAL_TABLE}"
    if connector_kind(config) != "mongodb":  # Mongo has no decimal/time column types to map
        assert config["decimal.handling.mode"] == "string"
        assert config["time.precision.mode"] == "adaptive_time_microseconds"


def test_captured_tables_are_escaped_regular_expressions() -> None:
    config = _spec(CONFIG, "mysql", ["movies", "a_b"])["config"]
    assert config["table.include.list"] == r"maf\.movies,maf\.a_b"
    assert table_problems(config, {"maf.movies", "maf.a_b", "maf.debezium_signal"}, "db") == []
    assert table_problems(config, {"maf.movies", "maf.axb", "maf.debezium_signal"}, "db") != []


@pytest.mark.parametrize("name", [s.name for s in CONFIG.sources])
def test_the_table_topics_get_kafka_partitions_and_debeziums_own_topics_one(name: str) -> None:
    scaled = CONFIG.model_copy(update={"kafka": CONFIG.kafka.model_copy(update={"partitions": 4})})
    config = _spec(scaled, name)["config"]
    assert config["topic.creation.default.partitions"] == "1"
    assert config["topic.creation.groups"] == "tables"
    assert config["topic.creation.tables.partitions"] == "4"
    tables = re.compile(config["topic.creation.tables.include"])
    assert tables.fullmatch(f"{name}.maf.movies") and tables.fullmatch(f"{name}.maf.a_b")
    for own in (name, f"__debezium-heartbeat.{name}", f"_cdc-notifications.{name}", f"{name}Xmaf.movies"):
        assert not tables.fullmatch(own), own
    # a group does not inherit the default group's topic configs: rows of several MB must fit
    assert config["topic.creation.tables.max.message.bytes"] == str(MAX_RECORD_BYTES)


def test_a_table_with_its_own_partitions_gets_a_topic_creation_group_of_its_own() -> None:
    source = CONFIG.source("postgres")
    own = {"tv_series": source.options("tv_series").model_copy(update={"partitions": 6})}
    scaled = CONFIG.model_copy(
        update={
            "sources": [
                source.model_copy(update={"table_options": own}) if s is source else s for s in CONFIG.sources
            ]
        }
    )
    config = _spec(scaled, "postgres")["config"]
    assert config["topic.creation.groups"] == "tables,table1"
    assert config["topic.creation.table1.partitions"] == "6"
    assert config["topic.creation.table1.max.message.bytes"] == str(MAX_RECORD_BYTES)
    assert re.fullmatch(config["topic.creation.table1.include"], "postgres.maf.tv_series")
    excluded = re.compile(config["topic.creation.tables.exclude"])
    assert excluded.fullmatch("postgres.maf.tv_series") and not excluded.fullmatch("postgres.maf.episodes")


def test_postgres_has_a_slot_and_publication_of_its_own_and_a_narrow_heartbeat() -> None:
    config = _spec(CONFIG, "postgres")["config"]
    assert config["slot.name"] == config["publication.name"] == "cdc_postgres"
    assert config["publication.autocreate.mode"] == "disabled"
    assert config["heartbeat.action.query"].startswith(f'UPDATE "maf"."{HEARTBEAT_TABLE}" ')


def test_mongodb_reads_the_replica_set_with_full_update_documents() -> None:
    config = _spec(CONFIG, "mongodb")["config"]
    assert config["collection.include.list"] == "maf.persons"
    assert config["capture.mode"] == "change_streams_update_full"
    assert config["mongodb.password"] == "${env:CDC_MONGODB_DEBEZIUM_PASSWORD}"


def _config(tmp_path: Path, stack: dict | None = None, **source: object) -> Config:
    entry = {"name": "shop", "kind": "mariadb", "database": "sakila", "tables": ["film"], **source}
    return parse_config({"stack": stack or {}, "sources": [entry]}, tmp_path, "cdc.yaml")


@pytest.mark.parametrize("kind", ["mariadb", "mysql"])
def test_the_mysql_flavour_comes_from_the_source_kind(kind: str, tmp_path: Path) -> None:
    assert _spec(_config(tmp_path, kind=kind), "shop")["config"]["connector.class"] == CONNECTOR_CLASSES[kind]


def test_an_external_source_gets_its_address_users_and_a_stable_server_id(tmp_path: Path) -> None:
    login = {"user": "dbz", "password_env": "SHOP_DBZ_PASSWORD"}
    config = _config(tmp_path, address="db1.internal:3307", capture=login, read=login)
    first, again = _spec(config, "shop")["config"], _spec(config, "shop")["config"]
    assert (first["database.hostname"], first["database.port"]) == ("db1.internal", "3307")
    assert first["database.user"] == "dbz" and first["database.password"] == "${env:SHOP_DBZ_PASSWORD}"
    assert first["database.server.id"] == again["database.server.id"]
    assert first["schema.history.internal.kafka.topic"] == "_schema-history.shop"


def test_a_configured_key_becomes_message_key_columns(tmp_path: Path) -> None:
    config = _config(tmp_path, tables=["film", "log"], table_options={"log": {"key": ["a", "b"]}})
    assert _spec(config, "shop", ["film", "log"])["config"]["message.key.columns"] == "sakila.log:a,b"


def test_a_file_next_to_the_config_overrides_options_and_explicit_ones_win(tmp_path: Path) -> None:
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "shop.json").write_text(
        json.dumps({"config": {"snapshot.mode": "no_data", "x.bootstrap": "{{kafka_bootstrap}}"}})
    )
    config = _config(tmp_path)
    spec = _spec(config, "shop")["config"]
    assert spec["snapshot.mode"] == "no_data" and spec["x.bootstrap"] == "127.0.0.1:9092"
    assert _spec(config, "shop", **{"snapshot.mode": "initial"})["config"]["snapshot.mode"] == "initial"
    (tmp_path / "connectors" / "shop.json").write_text(json.dumps({"snapshot.mode": "no_data"}))
    with pytest.raises(ConfigError, match=r"shop\.json: expected"):
        _spec(config, "shop")
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
        "internal.schema.history.internal.ddl.filter": "x",  # read, though not listed
        "schema.history.internal.ddl.filter": "x",  # under a passed-on prefix, yet read by no one
    }
    assert problems(config, result) == [
        "snapshot.mode: Value must be one of initial",
        "decimal.handlng.mode: unknown option (Connect would silently ignore it)",
        "schema.history.internal.ddl.filter: Debezium ignores it;"
        " it reads internal.schema.history.internal.ddl.filter",
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


# --- TLS ------------------------------------------------------------------------------------

TLS_KEYS = ("database.ssl", "database.sslmode")


@pytest.mark.parametrize(
    ("kind", "modes"),
    [
        ("postgres", ("disable", "require", "verify-ca", "verify-full")),
        ("mysql", ("disabled", "required", "verify_ca", "verify_identity")),
        ("mariadb", ("disable", "trust", "verify-ca", "verify-full")),  # Debezium MariaDB's own names
    ],
)
def test_each_tls_mode_has_its_name_in_each_connector(
    tmp_path: Path, kind: str, modes: tuple[str, ...]
) -> None:
    write_certificates(tmp_path / "certs")
    key = "database.sslmode" if kind == "postgres" else "database.ssl.mode"
    extra = {"schema": "public"} if kind == "postgres" else {}
    for mode, expected in zip(("disabled", "required", "verify_ca", "verify_identity"), modes, strict=True):
        tls = {"mode": mode, **({"ca_file": "certs/ca.pem"} if mode.startswith("verify") else {})}
        assert _spec(_config(tmp_path, kind=kind, tls=tls, **extra), "shop")["config"][key] == expected
    untouched = _spec(_config(tmp_path, kind=kind, **extra), "shop")["config"]  # the drivers' defaults
    assert not [k for k in untouched if k.startswith(TLS_KEYS)]


def test_postgres_gets_the_pem_ca_and_certificate_and_the_key_as_pkcs8_der(tmp_path: Path) -> None:
    certs = write_certificates(tmp_path / "certs")
    tls = {"mode": "verify_identity", "ca_file": "certs/ca.pem", "cert_file": "certs/client.pem",
           "key_file": "certs/client.key"}  # fmt: skip
    config = _config(tmp_path, kind="postgres", schema="public", tls=tls, stack={"data_dir": "state"})
    options = {k: v for k, v in _spec(config, "shop")["config"].items() if k.startswith("database.ssl")}
    key_file = tmp_path / "state" / "tls" / "shop.client-key.pk8"
    assert options == {
        "database.sslmode": "verify-full",
        "database.sslrootcert": str(certs.ca),  # absolute: the Connect worker runs elsewhere
        "database.sslcert": str(certs.client_cert),
        "database.sslkey": str(key_file),
    }
    original = serialization.load_pem_private_key(certs.client_key.read_bytes(), None)
    der = serialization.load_der_private_key(key_file.read_bytes(), None)
    assert der.private_numbers() == original.private_numbers()  # type: ignore[union-attr]
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_the_mysql_family_gets_a_jks_truststore_made_from_the_pem_ca(tmp_path: Path) -> None:
    certs = write_certificates(tmp_path / "certs")
    config = _config(tmp_path, tls={"mode": "verify_ca", "ca_file": "certs/ca.pem"})
    options = _spec(config, "shop")["config"]
    store = Path(options["database.ssl.truststore"])
    assert store == config.data_dir / "tls" / "shop.truststore.jks"
    assert "database.ssl.truststore.password" not in options  # opened without one
    first = store.read_bytes()
    _spec(config, "shop")
    assert store.read_bytes() == first  # deterministic: the same CA, the same bytes
    if shutil.which("keytool") is None:
        pytest.skip("keytool (Java) not installed: the truststore's format is not checked by Java")
    listed = subprocess.run(
        ["keytool", "-list", "-v", "-keystore", str(store), "-storepass", ""],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    ca = x509.load_pem_x509_certificate(certs.ca.read_bytes())
    fingerprint = ca.fingerprint(hashes.SHA256()).hex(":").upper()
    assert "Keystore type: JKS" in listed.stdout and "Entry type: trustedCertEntry" in listed.stdout
    assert f"SHA256: {fingerprint}" in listed.stdout


def test_a_mysql_family_client_certificate_is_a_keystore_under_the_capture_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs = write_certificates(tmp_path / "certs")
    login = {"user": "dbz", "password_env": "SHOP_DBZ_PASSWORD"}
    tls = {"mode": "verify_identity", "ca_file": "certs/ca.pem", "cert_file": "certs/client.pem",
           "key_file": "certs/client.key"}  # fmt: skip
    config = _config(tmp_path, address="db1:3306", capture=login, read=login, tls=tls)
    with pytest.raises(ConfigError, match=r"SHOP_DBZ_PASSWORD is not set .*; it also protects the keystore"):
        _spec(config, "shop")
    monkeypatch.setenv("SHOP_DBZ_PASSWORD", "s3cret")
    options = _spec(config, "shop")["config"]
    assert options["database.ssl.keystore.password"] == "${env:SHOP_DBZ_PASSWORD}"  # never the value
    keystore = Path(options["database.ssl.keystore"])
    assert keystore == config.data_dir / "tls" / "shop.keystore.p12"
    _, cert, _ = pkcs12.load_key_and_certificates(keystore.read_bytes(), b"s3cret")
    assert cert == x509.load_pem_x509_certificate(certs.client_cert.read_bytes())
    first = keystore.read_bytes()
    _spec(config, "shop")
    assert keystore.read_bytes() == first  # the same contents: not salted anew
    monkeypatch.setenv("SHOP_DBZ_PASSWORD", "rotated")
    _spec(config, "shop")
    assert pkcs12.load_key_and_certificates(keystore.read_bytes(), b"rotated")[1] == cert
