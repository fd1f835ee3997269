"""The deployment's settings: environment variables, then the untracked secrets file, read in
one place (pydantic-settings).

cdc.yaml says what the pipeline is; these say where this deployment's services are and what
its secrets are. A variable set (non-empty) in the environment wins over the same one in
`<data_dir>/secrets.env` (the file the local stack generates, where an operator may also keep
a source's passwords); names are case-sensitive; secrets are typed `SecretStr`.

- `KafkaCredentials`: the user a process connects to Kafka as (`CDC_KAFKA_USER`, `_PASSWORD`).
- `Addresses`: where the services are when not where cdc.yaml says (docker-compose sets
  them): `cdc_ods.endpoints` applies them. `Stages`, `KsqlDb`: the same for the pipeline's
  own stages and a ksqlDB server.
- `source_overrides`: `CDC_SOURCE_<NAME>_KIND` / `_ENABLED`, the deployment's flavour of a
  source (MariaDB locally, MySQL 8 in docker-compose) and whether it runs.
- `read_variables`: variables whose names cdc.yaml chooses (a source's `password_env`; the
  secrets of `cdc_ods.secrets`, with the secrets file).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

_SETTINGS = SettingsConfigDict(
    case_sensitive=True, env_ignore_empty=True, extra="ignore", env_file_encoding="utf-8", frozen=True
)


class Addresses(BaseSettings):
    """Service addresses from the environment; unset: cdc.yaml's `platform`, else the local stack."""

    model_config = _SETTINGS

    mysql: str | None = Field(None, validation_alias="CDC_MYSQL_ADDRESS")
    postgres: str | None = Field(None, validation_alias="CDC_POSTGRES_ADDRESS")
    mongodb: str | None = Field(None, validation_alias="CDC_MONGODB_ADDRESS")
    kafka_bootstrap: str | None = Field(None, validation_alias="CDC_KAFKA_BOOTSTRAP")
    connect_url: str | None = Field(None, validation_alias="CDC_CONNECT_URL")
    prometheus_url: str | None = Field(None, validation_alias="CDC_PROMETHEUS_URL")
    phoenix_url: str | None = Field(None, validation_alias="CDC_PHOENIX_URL")
    hbase_thrift: str | None = Field(None, validation_alias="CDC_HBASE_THRIFT")
    superset_url: str | None = Field(None, validation_alias="CDC_SUPERSET_URL")

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Field -> the environment variable that sets it."""
        return {name: str(field.validation_alias) for name, field in cls.model_fields.items()}


class Stages(BaseSettings):
    """How the pipeline's own stages bind and are reached, where not as cdc.yaml says."""

    model_config = _SETTINGS

    # the address the stages' HTTP endpoints bind to (in a container: 0.0.0.0, so Prometheus
    # and the apps reach them from other hosts); unset: stack.host
    bind: str | None = Field(None, validation_alias="CDC_METRICS_BIND")
    # where the apps reach the collector; unset: stack.host and collector.port
    collector_url: str | None = Field(None, validation_alias="CDC_COLLECTOR_URL")
    # the key `cdc produce events` and `cdc bench` send when the collector requires one
    collector_api_key: SecretStr | None = Field(None, validation_alias="CDC_COLLECTOR_API_KEY")


class KafkaCredentials(BaseSettings):
    """Who this process is to Kafka when `kafka.security` is `sasl_ssl` (`cdc_ods.kafka_security`):
    a deployment's own user and password; unset, the local stack's user of the process's role."""

    model_config = _SETTINGS

    user: str | None = Field(None, validation_alias="CDC_KAFKA_USER")
    password: SecretStr | None = Field(None, validation_alias="CDC_KAFKA_PASSWORD")


class KsqlDb(BaseSettings):
    """A ksqlDB server's REST API (`cdc ksql apply --backend ksqldb`; docker-compose runs one)."""

    model_config = _SETTINGS

    url: str = Field("http://127.0.0.1:8088", validation_alias="CDC_KSQLDB_URL")


class _Variables(BaseSettings):
    model_config = _SETTINGS


@functools.cache
def _settings_of(names: tuple[str, ...], secret: bool) -> type[BaseSettings]:
    """A settings class with one field per variable name (names chosen in cdc.yaml)."""
    kind: Any = SecretStr | None if secret else str | None
    fields: dict[str, Any] = {f"v{i}": (kind, Field(None, validation_alias=n)) for i, n in enumerate(names)}
    return create_model("Variables", __base__=_Variables, **fields)


def read_variables(
    names: tuple[str, ...], env_file: Path | None = None, secret: bool = False
) -> dict[str, Any]:
    """The variables among `names` that are set: the environment, then `env_file`; their values
    `SecretStr` when `secret`."""
    values = _settings_of(names, secret)(_env_file=env_file)  # type: ignore[call-arg]
    found = {name: getattr(values, f"v{i}") for i, name in enumerate(names)}
    return {name: value for name, value in found.items() if value is not None}


def source_overrides(name: str) -> dict[str, str]:
    """`CDC_SOURCE_<NAME>_KIND` / `_ENABLED` of source `name`, as its cdc.yaml keys."""
    prefix = f"CDC_SOURCE_{name.upper()}_"
    found = read_variables((prefix + "KIND", prefix + "ENABLED"))
    return {key.removeprefix(prefix).lower(): value for key, value in found.items()}
