"""The pipeline on a secured, scaled-out local stack: Kafka with SASL (SCRAM-SHA-512) over TLS
and a user per stage kept to its own topics and groups by ACLs, sources that accept TLS only,
and the cleansing stage and the loader as two processes each over topics of three partitions.

A second stack of its own (ports shifted, `kafka.security: sasl_ssl`, `kafka.partitions: 3`,
`processes: 2` and `stack.tls: true` in its cdc.yaml), started once for this module and removed
after it; the session's stack is not touched. The stack's CA, server certificates and Kafka
users are made by `cdc stack up`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pymysql
import pytest
import yaml
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)
from prometheus_client.parser import text_string_to_metric_families

from cdc_ods.config import Config, load_config
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.kafka import admin_client, client_config, ensure_topic
from cdc_ods.kafka_security import KafkaLogin, client_settings
from cdc_ods.secrets import ADMIN_USER, kafka_user
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.kafka_acls import provision
from tests import PROJECT_DIR

from .conftest import cdc, isolated_config
from .test_secrets import REPORTS, _leaks, _secrets

PORT_OFFSET = 2000
RAW_TOPIC = "mysql.maf.movies"
PARTITIONS, PROCESSES, MOVIES_PARTITIONS = 3, 2, 4


@dataclass(frozen=True)
class SecureStack:
    path: Path
    config: Config
    ctx: StackContext

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.config.stack.ports.kafka}"

    def login(self, role: str, password: str | None = None) -> dict[str, object]:
        """librdkafka's settings as the stack's user `cdc-<role>` (or with another password)."""
        user = kafka_user(role)
        settings = client_settings(
            KafkaLogin(user, self.ctx.credentials.kafka[user], self.config.kafka_ca_file)
        )
        return settings if password is None else {**settings, "sasl.password": password}


@pytest.fixture(scope="module")
def secure() -> Iterator[SecureStack]:
    # under the project's .stack/, which the services' own accounts (mysql, postgres) can enter
    directory = load_config(PROJECT_DIR / "cdc.yaml").data_dir / "itest" / "secure-stack"
    cdc("stack", "down", "--clean", config=directory / "cdc.yaml")  # an interrupted run's
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    path, _ = isolated_config(directory, PORT_OFFSET)
    data = yaml.safe_load(path.read_text())
    data["stack"]["tls"] = True
    data["kafka"] = {"security": "sasl_ssl", "partitions": PARTITIONS}
    data["cleansing"]["processes"] = data["ods"]["processes"] = PROCESSES
    mysql = next(source for source in data["sources"] if source["name"] == "mysql")
    mysql["table_options"] = {"movies": {"partitions": MOVIES_PARTITIONS}}  # a table's own count
    path.write_text(yaml.safe_dump(data))
    assert cdc("init", str(directory)).returncode == 0  # monitoring/ and the rest of a workspace
    for script in (PROJECT_DIR / "ksql").glob("*.sql"):
        shutil.copy(script, directory / "ksql")
    config = load_config(path)
    try:
        up = cdc("stack", "up", "--pipeline", config=path, timeout=900)
        assert up.returncode == 0, up.stderr[-3000:]
        yield SecureStack(path, config, StackContext(config))
    finally:
        cdc("stack", "down", "--clean", config=path, timeout=300)
        shutil.rmtree(directory, ignore_errors=True)


def test_the_pipeline_runs_end_to_end_with_sasl_ssl_kafka_and_tls_sources(secure: SecureStack) -> None:
    produced = cdc("produce", "all", "--count", "300", "--rate", "0", "--seed", "21", config=secure.path)
    assert produced.returncode == 0, produced.stderr
    applied = cdc("connectors", "apply", config=secure.path, timeout=300)
    assert applied.returncode == 0, applied.stderr
    events = cdc("produce", "events", "--count", "200", "--rate", "0", config=secure.path)
    assert events.returncode == 0, events.stderr
    more = cdc("produce", "all", "--count", "300", "--rate", "0", "--seed", "22", config=secure.path)
    assert more.returncode == 0, more.stderr

    result = cdc("reconcile", "--json", config=secure.path, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    tables = json.loads(result.stdout)
    assert {t["ods_table"] for t in tables} == {
        "ODS.MYSQL_MAF_MOVIES", "ODS.MYSQL_MAF_APP_EVENTS",
        "ODS.POSTGRES_MAF_TV_SERIES", "ODS.POSTGRES_MAF_EPISODES",
    }  # fmt: skip
    assert all(t["ok"] and t["source_rows"] > 0 for t in tables), tables
    counted = cdc(
        "sql", "--json", "SELECT COUNT(*) AS N FROM ODS.EVENTS_APP_CLIENT_EVENTS", config=secure.path
    )
    assert counted.returncode == 0, counted.stderr
    assert json.loads(counted.stdout) == [{"N": 200}]  # the collector's events, through both stages

    # Debezium's PostgreSQL replication connection is one of the TLS ones
    ports, creds = secure.config.stack.ports, secure.ctx.credentials
    with psycopg.connect(
        host="127.0.0.1", port=ports.postgres, user=ADMIN_USER, dbname="maf", sslmode="verify-full",
        sslrootcert=str(secure.config.stack_ca_file), password=creds.postgres_admin.get_secret_value(),
    ) as pg:  # fmt: skip
        rows = pg.execute(
            "SELECT a.usename, a.backend_type, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)"
            " WHERE a.usename = 'debezium'"
        ).fetchall()
    assert rows and all(ssl for _, _, ssl in rows), rows
    assert "walsender" in {backend for _, backend, _ in rows}, rows

    # no password of the stack's Kafka users (or any other generated secret) in a log, a
    # report, `cdc stack env` or a connector's config (which names the worker's ${env:...})
    secrets = _secrets(secure.ctx)
    logs = [*sorted((secure.ctx.root / "logs").glob("*")), *sorted(secure.ctx.run.glob("*.log"))]
    leaks = {log.name: found for log in logs if (found := _leaks(log.read_text(errors="replace"), secrets))}
    for report in REPORTS:
        shown = cdc(*report, config=secure.path)
        if found := _leaks(shown.stdout + shown.stderr, secrets):
            leaks[" ".join(report)] = found
    with ConnectClient.of(secure.config) as connect:
        configs = [connect.get_config(name) or {} for name in connect.connectors()]
    jaas = [c.get("schema.history.internal.producer.sasl.jaas.config", "") for c in configs]
    assert any('password="${env:CDC_KAFKA_PASSWORD}"' in j for j in jaas), jaas  # MariaDB's history
    if found := _leaks(json.dumps(configs), secrets):
        leaks["connector configs"] = found
    assert not leaks, leaks


def _metric_total(url: str, name: str) -> float:
    """The sum of a counter's samples over its labels at one process's metrics endpoint."""
    text = httpx.get(url, timeout=5).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def test_the_stages_run_as_several_processes_over_the_partitions(secure: SecureStack) -> None:
    """After the end-to-end run above (reconciled clean): every table topic, raw and cleansed,
    has `kafka.partitions` or its table's own count; each stage's processes share its consumer
    group's partitions, and every process took a share of the changes."""
    admin = admin_client(secure.bootstrap, **secure.login("operations"))
    topics = {name: len(t.partitions) for name, t in admin.list_topics(timeout=10).topics.items()}
    partitions = {
        "mysql.maf.movies": MOVIES_PARTITIONS,  # its table_options say so
        "mysql.maf.app_events": PARTITIONS, "postgres.maf.tv_series": PARTITIONS,
        "postgres.maf.episodes": PARTITIONS,
    }  # fmt: skip
    assert {t: topics.get(t) for t in partitions} == partitions, topics
    assert {t: topics.get(f"ods.{t}") for t in partitions} == partitions, topics
    assert topics["__debezium-heartbeat.postgres"] == 1  # Debezium's own topics keep one

    config = secure.config
    groups = [config.cleansing.group_id, config.ods.group_id]
    for group, future in admin.describe_consumer_groups(groups, request_timeout=10).items():
        members = future.result().members
        assert len(members) == PROCESSES, (group, members)
        assert all(m.assignment.topic_partitions for m in members), (group, members)

    statuses = json.loads(cdc("stack", "status", "--json", config=secure.path).stdout)
    running = {s["name"] for s in statuses if s["state"] == "running"}
    assert {"cleansing", "cleansing-2", "loader", "loader-2"} <= running, statuses
    for stage, metric in (
        ("cleansing", "cdc_cleansing_records_consumed_total"),
        ("ods", "cdc_ods_rows_applied_total"),
    ):
        ports = getattr(config, stage).metrics_ports()
        totals = [_metric_total(f"http://127.0.0.1:{port}/metrics", metric) for port in ports]
        assert len(totals) == PROCESSES and all(total > 0 for total in totals), (stage, totals)


def _produce_error(bootstrap: str, settings: dict[str, object], topic: str) -> KafkaError | None:
    errors: list[KafkaError | None] = []
    producer = Producer(client_config(bootstrap, **settings, **{"message.timeout.ms": 10_000}))
    producer.produce(topic, b"not from this stage", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(15)
    assert errors, "no delivery report"
    return errors[0]


def _consume_error(bootstrap: str, settings: dict[str, object], group: str, topic: str) -> KafkaError | None:
    consumer = Consumer(
        client_config(bootstrap, **settings, **{"group.id": group, "enable.auto.commit": False})
    )
    try:
        consumer.subscribe([topic])
        for _ in range(20):
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is not None:
                return msg.error()
            if msg is not None:
                return None
        return None
    finally:
        consumer.close()


def test_each_stage_is_kept_to_its_own_topics_and_groups(secure: SecureStack) -> None:
    config, bootstrap = secure.config, secure.bootstrap
    ensure_topic(
        bootstrap, RAW_TOPIC, **{**secure.login("admin"), "sasl.mechanism": "PLAIN"}
    )  # the super user

    # the cleansing stage reads raw topics, and may not write them
    refused = _produce_error(bootstrap, secure.login("cleansing"), RAW_TOPIC)
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused
    # nor may the loader or the collector
    for role in ("loader", "collector"):
        refused = _produce_error(bootstrap, secure.login(role), RAW_TOPIC)
        assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, (
            role,
            refused,
        )
    # the cleansing stage may not consume in the loader's group
    cleansed = f"ods.{RAW_TOPIC}"
    refused = _consume_error(bootstrap, secure.login("cleansing"), config.ods.group_id, cleansed)
    assert refused is not None and refused.code() in (
        KafkaError.GROUP_AUTHORIZATION_FAILED, KafkaError.TOPIC_AUTHORIZATION_FAILED,
    ), refused  # fmt: skip
    # the collector reads nothing
    refused = _consume_error(
        bootstrap, secure.login("collector"), "cdc-collector-peek", "events.app.client_events"
    )
    assert refused is not None and refused.code() in (
        KafkaError.GROUP_AUTHORIZATION_FAILED, KafkaError.TOPIC_AUTHORIZATION_FAILED,
    ), refused  # fmt: skip
    # ... and what a stage is granted works: the loader reads its own topic in its own group
    consumer = Consumer(
        client_config(
            bootstrap, **secure.login("loader"), **{"group.id": "cdc-itest-none", "enable.auto.commit": False}
        )
    )
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(cleansed, 0), timeout=10)
        assert high >= low >= 0
    finally:
        consumer.close()


def test_kafka_refuses_plain_text_a_wrong_password_and_an_unknown_ca(secure: SecureStack) -> None:
    def refusal(settings: dict[str, object]) -> list[KafkaError]:
        """The errors a client with `settings` meets; it must get no metadata."""
        errors: list[KafkaError] = []
        extra = {"socket.timeout.ms": 3000, "error_cb": errors.append}
        client = admin_client(secure.bootstrap, **settings, **extra)
        with pytest.raises(KafkaException):
            client.list_topics(timeout=3)
        client.poll(1)  # serves the error callbacks
        return errors

    refusal({})  # plain text on the TLS listener: the connection fails
    wrong = refusal(secure.login("cleansing", password="not-the-password"))
    assert any(e.code() == KafkaError._AUTHENTICATION for e in wrong), wrong[:3]
    system_cas = {**secure.login("cleansing"), "ssl.ca.location": "probe"}  # the system's CAs, not ours
    untrusted = refusal(system_cas)
    assert any(e.code() == KafkaError._SSL or "certificate" in e.str() for e in untrusted), untrusted[:3]


def test_the_local_sources_refuse_connections_without_tls(secure: SecureStack) -> None:
    ports, creds = secure.config.stack.ports, secure.ctx.credentials
    login = {"host": "127.0.0.1", "port": ports.mariadb, "user": ADMIN_USER, "connect_timeout": 5,
             "password": creds.mysql_admin.get_secret_value()}  # fmt: skip
    with pytest.raises(pymysql.MySQLError) as mysql_refusal:
        pymysql.connect(**login, ssl_disabled=True)
    # MariaDB 10.11 words it as a refused login; the same login over TLS is let in (below)
    assert mysql_refusal.value.args[0] in (1045, 3159, 4151), mysql_refusal.value
    with (
        pymysql.connect(**login, ssl={"ca": str(secure.config.stack_ca_file)}) as verified,
        verified.cursor() as cur,
    ):
        cur.execute("SELECT @@require_secure_transport, @@have_ssl")
        assert cur.fetchone() == (1, "YES")
    with pytest.raises(psycopg.OperationalError) as postgres_refusal:
        psycopg.connect(
            host="127.0.0.1", port=ports.postgres, user=ADMIN_USER, dbname="maf", sslmode="disable",
            password=creds.postgres_admin.get_secret_value(), connect_timeout=5,
        )  # fmt: skip
    assert "no encryption" in str(postgres_refusal.value), postgres_refusal.value
    # with TLS, verified against the stack's CA, both accept
    check = cdc("sources", "check", config=secure.path)
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]


def test_the_acls_follow_the_sources_of_cdc_yaml(secure: SecureStack) -> None:
    admin = {**secure.login("admin"), "sasl.mechanism": "PLAIN"}
    connect = AclBindingFilter(
        ResourceType.TOPIC, None, ResourcePatternType.PREFIXED, "User:cdc-connect", None,
        AclOperation.WRITE, AclPermissionType.ALLOW,
    )  # fmt: skip

    client = admin_client(secure.bootstrap, **admin)  # kept: a client collected mid-call fails it

    def raw_prefixes() -> set[str]:
        return {b.name for b in client.describe_acls(connect).result()}

    assert {"mysql.", "postgres."} <= raw_prefixes()
    fewer = secure.config.model_copy(
        update={"sources": [s for s in secure.config.sources if s.name != "postgres"]}
    )
    try:
        provision(fewer, secure.bootstrap, secure.ctx.credentials.kafka, **admin)  # as `cdc stack up` does
        assert "mysql." in raw_prefixes() and "postgres." not in raw_prefixes()
    finally:
        provision(secure.config, secure.bootstrap, secure.ctx.credentials.kafka, **admin)
    assert {"mysql.", "postgres."} <= raw_prefixes()
