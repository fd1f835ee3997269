"""How every Kafka client of the project authenticates and checks the broker, in one place.

cdc.yaml's `kafka.security` chooses `plaintext` (the default: the local stack listens on
loopback only) or `sasl_ssl`: SCRAM-SHA-512 over TLS, the broker's certificate verified against
`kafka.ca_file`. With `sasl_ssl` each process is one Kafka user, and the broker's ACLs let a
user read and write only its own topics and groups (the local stack's: `cdc_ods.stack.kafka_acls`).
A process's user is

- `CDC_KAFKA_USER` / `CDC_KAFKA_PASSWORD` when set (a deployment's own users);
- else the local stack's user of its role, whose password is in the secrets file: the stack
  sets `CDC_KAFKA_USER` for each process it supervises; a command run by hand is
  `cdc-operations`.

librdkafka (every Python client: `client_settings`) and Java (Connect's worker and its
connectors' schema-history clients: `java_settings`) get the same login in their own keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from cdc_ods.config import Config
from cdc_ods.errors import ConfigError
from cdc_ods.secrets import KAFKA_ROLES, kafka_password_var, kafka_user, lookup_secret
from cdc_ods.settings import KafkaCredentials

MECHANISM = "SCRAM-SHA-512"
DEFAULT_ROLE = "operations"  # a command run by hand


@dataclass(frozen=True)
class KafkaLogin:
    user: str
    password: SecretStr
    ca_file: Path  # the CA that signed the broker's certificate (PEM)

    def __repr__(self) -> str:  # the password never appears in a log or traceback
        return f"KafkaLogin(user={self.user!r}, ca_file={str(self.ca_file)!r})"


def login_of(config: Config) -> KafkaLogin | None:
    """This process's Kafka login (None with `kafka.security: plaintext`); a missing password
    or CA file is a ConfigError naming what to set."""
    if config.kafka.security == "plaintext":
        return None
    given = KafkaCredentials()
    user = given.user or kafka_user(DEFAULT_ROLE)
    password = given.password
    role = user.removeprefix("cdc-")
    if password is None and role in KAFKA_ROLES:
        password = lookup_secret(config.data_dir, kafka_password_var(role))
    if password is None:
        raise ConfigError(
            f"kafka.security is sasl_ssl: no password for Kafka user {user}: set CDC_KAFKA_PASSWORD"
            + (f" (or {kafka_password_var(role)})" if role in KAFKA_ROLES else "")
        )
    if not config.kafka_ca_file.is_file():
        raise ConfigError(
            f"kafka.ca_file: {config.kafka_ca_file} not found (the CA that signed the broker's certificate;"
            " the local stack makes its own at `cdc stack up`)"
        )
    return KafkaLogin(user, password, config.kafka_ca_file)


def client_settings(login: KafkaLogin | None) -> dict[str, object]:
    """librdkafka's settings for `login` (none for plain text)."""
    if login is None:
        return {}
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": MECHANISM,
        "sasl.username": login.user,
        "sasl.password": login.password.get_secret_value(),
        "ssl.ca.location": str(login.ca_file),
        "ssl.endpoint.identification.algorithm": "https",
    }


def java_settings(user: str, password: str, ca_file: Path) -> dict[str, str]:
    """A Java client's settings; `password` may be a config-provider reference such as
    `${env:CDC_KAFKA_PASSWORD}`, which keeps the secret out of Connect's config topic."""
    module = "org.apache.kafka.common.security.scram.ScramLoginModule"
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": MECHANISM,
        "sasl.jaas.config": f'{module} required username="{user}" password="{password}";',
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(ca_file),
    }


# Connect's worker gets its login in its environment; the connectors refer to it there
WORKER_USER, WORKER_PASSWORD = "${env:CDC_KAFKA_USER}", "${env:CDC_KAFKA_PASSWORD}"


def connector_settings(config: Config) -> dict[str, str]:
    """What a connector's own Kafka clients (Debezium's schema history) take: the worker's
    login, by reference to its environment (none in plain text)."""
    if config.kafka.security == "plaintext":
        return {}
    return java_settings(WORKER_USER, WORKER_PASSWORD, config.kafka_ca_file)
