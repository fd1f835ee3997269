"""The local stack's Kafka users and what each may do, with `kafka.security: sasl_ssl`.

`cdc stack up` creates a SCRAM-SHA-512 user per role (`cdc_ods.secrets.KAFKA_ROLES`, the
passwords from the secrets file) and these ACLs, as the broker's super user `cdc-admin`; both
are brought in step on every `up`: a source added to cdc.yaml gets its topics at the next one,
and one removed loses them.
Anything not granted is refused (`allow.everyone.if.no.acl.found=false`):

- `cdc-connect` (the worker and its connectors): Connect's topics and group, the schema
  histories; writes the raw topics `<source>.*`, the heartbeats and `_cdc-notifications.*`.
- `cdc-collector`: writes the events topic and `ods.dlq`.
- `cdc-cleansing`: reads the raw topics in its group; writes the cleansed topics
  `ods.<source>.*` and `ods.dlq`.
- `cdc-loader`: reads the cleansed topics in its group; writes `ods.dlq`.
- `cdc-operations` (the watchdog, commands run by hand): reads every topic and every group's
  offsets; writes the raw and cleansed topics (DLQ replay), its replay ledger and
  `_cdc-notifications.*` (snapshots).

Production creates its own users; this list is what each stage needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from pydantic import SecretStr

from cdc_ods import contract
from cdc_ods.config import Config
from cdc_ods.dlq import DLQ_TOPIC
from cdc_ods.errors import TransientError
from cdc_ods.kafka import admin_client
from cdc_ods.secrets import kafka_user

CONNECT_GROUP = "cdc-connect"
CONNECT_TOPICS = ("connect-configs", "connect-offsets", "connect-status")
SCRAM_ITERATIONS = 8192

READ = ("READ", "DESCRIBE")
WRITE = ("WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS")


@dataclass(frozen=True)
class Grant:
    """Operations a user may do on a topic, group or the cluster (by name, or by name prefix)."""

    role: str
    resource: str  # TOPIC | GROUP | BROKER (the cluster)
    name: str  # "*": every one
    operations: tuple[str, ...]
    prefixed: bool = False

    def bindings(self) -> list[AclBinding]:
        pattern = ResourcePatternType.PREFIXED if self.prefixed else ResourcePatternType.LITERAL
        return [
            AclBinding(
                ResourceType[self.resource],
                self.name,
                pattern,
                f"User:{kafka_user(self.role)}",
                "*",
                AclOperation[operation],
                AclPermissionType.ALLOW,
            )
            for operation in dict.fromkeys(self.operations)
        ]


def grants(config: Config) -> list[Grant]:
    """Every ACL of the local stack's users, from cdc.yaml's sources and stages."""
    raw = [f"{s.name}." for s in config.sources] + [f"{contract.EVENTS_SOURCE}."]
    cleansed = [f"{contract.CLEANSED_PREFIX}{prefix}" for prefix in raw]
    events = contract.raw_topic(contract.EVENTS_SOURCE, contract.EVENTS_DATABASE, contract.EVENTS_TABLE)
    notifications = contract.notification_topic("")
    connect = [
        *(Grant("connect", "TOPIC", t, (*READ, *WRITE)) for t in CONNECT_TOPICS),
        Grant("connect", "TOPIC", contract.schema_history_topic(""), (*READ, *WRITE), prefixed=True),
        Grant("connect", "TOPIC", notifications, WRITE, prefixed=True),
        *(Grant("connect", "TOPIC", prefix, WRITE, prefixed=True) for prefix in raw),
        *(Grant("connect", "TOPIC", contract.heartbeat_topic(s.name), WRITE) for s in config.sources),
        Grant("connect", "GROUP", CONNECT_GROUP, READ),
        *(Grant("connect", "GROUP", contract.schema_history_group(s.name), READ) for s in config.sources),
        # the schema history asks the broker for its defaults before creating its topic
        Grant("connect", "BROKER", "kafka-cluster", ("DESCRIBE_CONFIGS",)),
    ]
    stages = [
        Grant("collector", "TOPIC", events, WRITE),
        *(Grant("cleansing", "TOPIC", prefix, READ, prefixed=True) for prefix in raw),
        *(Grant("cleansing", "TOPIC", prefix, WRITE, prefixed=True) for prefix in cleansed),
        Grant("cleansing", "GROUP", config.cleansing.group_id, READ),
        *(Grant("loader", "TOPIC", prefix, READ, prefixed=True) for prefix in cleansed),
        Grant("loader", "GROUP", config.ods.group_id, READ),
        *(Grant(role, "TOPIC", DLQ_TOPIC, WRITE) for role in ("collector", "cleansing", "loader")),
    ]
    operations = [
        Grant("operations", "TOPIC", "*", READ),
        Grant("operations", "GROUP", "*", READ),
        *(Grant("operations", "TOPIC", prefix, WRITE, prefixed=True) for prefix in (*raw, *cleansed)),
        Grant("operations", "TOPIC", config.operations.replayed_topic, WRITE),
        Grant("operations", "TOPIC", notifications, WRITE, prefixed=True),
    ]
    return [*connect, *stages, *operations]


def provision(config: Config, bootstrap: str, passwords: dict[str, SecretStr], **admin: object) -> None:
    """Upsert every role's SCRAM user (`passwords`: user -> password), create the ACLs of
    `grants` and delete the other ACLs of these users (a source no longer in cdc.yaml), as the
    super user whose client settings are `admin`."""
    client = admin_client(bootstrap, **admin)
    mechanism = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    users = [
        UserScramCredentialUpsertion(user, mechanism, password.get_secret_value().encode())
        for user, password in passwords.items()
        if user != kafka_user("admin")
    ]
    bindings = list(dict.fromkeys(binding for grant in grants(config) for binding in grant.bindings()))
    principals = {f"User:{user}" for user in passwords}
    every = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
    )
    try:
        for future in client.alter_user_scram_credentials(users).values():
            future.result()
        for future in client.create_acls(bindings).values():
            future.result()
        wanted = set(bindings)
        stale = [
            b for b in client.describe_acls(every).result() if b.principal in principals and b not in wanted
        ]
        if stale:
            exact = [
                AclBindingFilter(
                    b.restype,
                    b.name,
                    b.resource_pattern_type,
                    b.principal,
                    b.host,
                    b.operation,
                    b.permission_type,
                )
                for b in stale
            ]
            for future in client.delete_acls(exact).values():
                future.result()
    except KafkaException as exc:
        raise TransientError(f"kafka at {bootstrap}: creating its users and ACLs: {exc.args[0]}") from None
