"""Kafka's security settings from one place (`kafka.security`), the local stack's users and
ACLs, and TLS to the local stack's sources (`stack.tls`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdc_ods.config import Config, parse_config
from cdc_ods.connectors.configs import source_connector
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import ConfigError
from cdc_ods.kafka_security import client_settings, connector_settings, java_settings, login_of
from cdc_ods.secrets import KAFKA_ROLES, kafka_password_var, load_credentials
from cdc_ods.sources.tls import Tls
from cdc_ods.stack.certificates import stack_certificates
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.kafka_acls import grants
from cdc_ods.stack.services import by_name

SOURCES = [
    {"name": "mysql", "kind": "mariadb", "database": "maf", "tables": ["movies"]},
    {"name": "postgres", "kind": "postgres", "database": "maf", "schema": "maf", "tables": ["episodes"]},
]


def _config(tmp_path: Path, security: str = "sasl_ssl", **stack: object) -> Config:
    data = {"stack": {"data_dir": "state", **stack}, "kafka": {"security": security}, "sources": SOURCES}
    return parse_config(data, tmp_path, "cdc.yaml", tmp_path / "cdc.yaml")


@pytest.fixture(autouse=True)
def _no_login_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CDC_KAFKA_USER", "CDC_KAFKA_PASSWORD", *(kafka_password_var(r) for r in KAFKA_ROLES)):
        monkeypatch.delenv(var, raising=False)


def test_plain_text_needs_no_login(tmp_path: Path) -> None:
    assert login_of(_config(tmp_path, "plaintext")) is None
    assert client_settings(None) == {}
    assert connector_settings(_config(tmp_path, "plaintext")) == {}


def test_a_command_run_by_hand_is_the_operations_user_with_its_password_from_the_secrets_file(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    stack_certificates(config)
    credentials = load_credentials(config.data_dir)
    login = login_of(config)
    assert login is not None and login.user == "cdc-operations"
    assert login.password == credentials.kafka["cdc-operations"]
    assert login.password.get_secret_value() not in repr(login)
    settings = client_settings(login)
    assert settings["security.protocol"] == "SASL_SSL" and settings["sasl.mechanism"] == "SCRAM-SHA-512"
    assert settings["ssl.ca.location"] == str(config.stack_ca_file)
    assert settings["ssl.endpoint.identification.algorithm"] == "https"


def test_the_environment_names_the_user_and_a_foreign_user_needs_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path)
    stack_certificates(config)
    credentials = load_credentials(config.data_dir)
    monkeypatch.setenv("CDC_KAFKA_USER", "cdc-loader")
    login = login_of(config)
    assert login is not None and login.password == credentials.kafka["cdc-loader"]
    monkeypatch.setenv("CDC_KAFKA_USER", "team-etl")
    with pytest.raises(ConfigError, match="no password for Kafka user team-etl: set CDC_KAFKA_PASSWORD"):
        login_of(config)
    monkeypatch.setenv("CDC_KAFKA_PASSWORD", "theirs")
    login = login_of(config)
    assert login is not None and (login.user, login.password.get_secret_value()) == ("team-etl", "theirs")


def test_a_missing_ca_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path)
    monkeypatch.setenv("CDC_KAFKA_PASSWORD", "x")
    with pytest.raises(ConfigError, match=r"kafka.ca_file: .*ca.pem not found"):
        login_of(config)


def test_java_clients_read_the_password_from_the_workers_environment(tmp_path: Path) -> None:
    config = _config(tmp_path)
    settings = java_settings("cdc-connect", "${env:CDC_KAFKA_PASSWORD}", Path("/ca.pem"))
    assert settings["sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required"
        ' username="cdc-connect" password="${env:CDC_KAFKA_PASSWORD}";'
    )
    assert settings["ssl.truststore.type"] == "PEM"
    spec = source_connector(config, config.source("mysql"), Endpoints.from_config(config), ["movies"])
    history = {k: v for k, v in spec["config"].items() if k.startswith("schema.history.internal.")}
    for client in ("producer", "consumer"):
        assert history[f"schema.history.internal.{client}.security.protocol"] == "SASL_SSL"
        assert "${env:CDC_KAFKA_USER}" in history[f"schema.history.internal.{client}.sasl.jaas.config"]
        assert history[f"schema.history.internal.{client}.ssl.truststore.location"] == str(
            config.kafka_ca_file
        )


def _allowed(config: Config) -> set[tuple[str, str, str, bool, str]]:
    return {(g.role, g.resource, g.name, g.prefixed, op) for g in grants(config) for op in g.operations}


def test_each_stage_may_write_only_its_own_outputs_and_read_only_its_inputs(tmp_path: Path) -> None:
    allowed = _allowed(_config(tmp_path))
    writes = {(role, name) for role, kind, name, _, op in allowed if kind == "TOPIC" and op == "WRITE"}
    reads = {(role, name) for role, kind, name, _, op in allowed if kind == "TOPIC" and op == "READ"}
    groups = {(role, name) for role, kind, name, _, op in allowed if kind == "GROUP"}
    assert {name for role, name in writes if role == "cleansing"} == {
        "ods.mysql.",
        "ods.postgres.",
        "ods.events.",
        "ods.dlq",
    }
    assert {name for role, name in reads if role == "cleansing"} == {"mysql.", "postgres.", "events."}
    assert {name for role, name in writes if role == "loader"} == {"ods.dlq"}
    assert {name for role, name in reads if role == "loader"} == {
        "ods.mysql.",
        "ods.postgres.",
        "ods.events.",
    }
    assert {name for role, name in writes if role == "collector"} == {"events.app.client_events", "ods.dlq"}
    assert not {name for role, name in reads if role == "collector"}
    assert {name for role, name in groups if role == "cleansing"} == {"cdc-ksql-embedded"}
    assert {name for role, name in groups if role == "loader"} == {"cdc-ods-loader"}
    connect_writes = {name for role, name in writes if role == "connect"}
    assert {"mysql.", "postgres.", "_schema-history.", "__debezium-heartbeat.mysql"} <= connect_writes
    assert not {name for name in connect_writes if name.startswith("ods.")}
    assert "admin" not in {role for role, *_ in allowed}  # the super user needs none


def test_each_stage_connects_as_its_own_user(tmp_path: Path) -> None:
    ctx = StackContext(_config(tmp_path))
    users = {"cleansing": "cdc-cleansing", "loader": "cdc-loader", "collector": "cdc-collector",
             "watchdog": "cdc-operations"}  # fmt: skip
    for service, user in users.items():
        environment = by_name(service).program(ctx).environment
        assert environment["CDC_KAFKA_USER"] == user
        assert environment["CDC_KAFKA_PASSWORD"] == ctx.credentials.kafka[user].get_secret_value()
    plain = StackContext(_config(tmp_path, "plaintext"))
    assert "CDC_KAFKA_USER" not in by_name("cleansing").program(plain).environment


def test_the_local_sources_are_verified_against_the_stacks_ca_with_stack_tls(tmp_path: Path) -> None:
    config = _config(tmp_path, tls=True)
    tls = Tls.of(config, config.source("postgres"))
    assert tls is not None and (tls.mode, tls.ca) == ("verify_identity", config.stack_ca_file)
    assert Tls.of(_config(tmp_path, tls=False), config.source("postgres")) is None
