"""Apache Kafka: one KRaft node acting as broker and controller."""

from __future__ import annotations

import base64
import subprocess
import uuid

from cdc_ods.errors import ServiceError
from cdc_ods.kafka import round_trip
from cdc_ods.kafka_security import MECHANISM, KafkaLogin, client_settings
from cdc_ods.secrets import kafka_user, write_private
from cdc_ods.stack.certificates import stack_certificates
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.java import java_binary, java_command, log4j_flag
from cdc_ods.stack.kafka_acls import provision
from cdc_ods.stack.services.base import Service
from cdc_ods.stack.supervisor import Program

HEALTH_TOPIC = "_cdc_health"


def render_properties(settings: dict[str, object]) -> str:
    return "".join(f"{key}={value}\n" for key, value in settings.items())


ADMIN = kafka_user("admin")
PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


class Kafka(Service):
    name = "kafka"
    maven_profiles = ("kafka", "jmx-exporter")
    port_names = ("kafka", "kafka_controller", "jmx_kafka")
    metrics_port_name = "jmx_kafka"
    stop_wait_s = 60

    def endpoint(self, ctx: StackContext) -> str:
        return f"{ctx.host}:{ctx.ports.kafka}"

    def _properties(self, ctx: StackContext):
        return ctx.conf(self.name) / "server.properties"

    def _admin_settings(self, ctx: StackContext) -> dict[str, object]:
        """The super user's client settings (PLAIN: see `_security`); none in plain text."""
        if ctx.config.kafka.security == "plaintext":
            return {}
        login = KafkaLogin(ADMIN, ctx.credentials.kafka[ADMIN], ctx.config.stack_ca_file)
        return {**client_settings(login), "sasl.mechanism": "PLAIN"}

    def _security(self, ctx: StackContext) -> dict[str, object]:
        """SASL over TLS on both listeners, ACLs, and `cdc-admin` as the only super user.

        The stages' users are SCRAM-SHA-512 users, kept in the cluster's metadata; `cdc-admin`
        is a PLAIN user written in this (0600) file, because the controller listener cannot use
        SCRAM (the credentials live in the metadata it serves), and because it must exist before
        `cdc stack up` can create the SCRAM users with it (`cdc_ods.stack.kafka_acls`)."""
        certificates = stack_certificates(ctx.config)
        keystore = ctx.conf(self.name) / "broker.pem"  # the key, then its certificate
        write_private(
            keystore,
            certificates.server_key.read_text(encoding="utf-8")
            + certificates.server_cert.read_text(encoding="utf-8"),
        )
        password = ctx.credentials.kafka[ADMIN].get_secret_value()
        plain = f'{PLAIN} required username="{ADMIN}" password="{password}" user_{ADMIN}="{password}";'
        return {
            "listeners": f"SASL_SSL://{ctx.host}:{ctx.ports.kafka},CONTROLLER://{ctx.host}:{ctx.ports.kafka_controller}",
            "advertised.listeners": f"SASL_SSL://{ctx.host}:{ctx.ports.kafka}",
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "CONTROLLER:SASL_SSL,SASL_SSL:SASL_SSL",
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.sasl_ssl.sasl.enabled.mechanisms": f"{MECHANISM},PLAIN",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": plain,
            f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": plain,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": keystore,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": certificates.ca,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN}",
            "allow.everyone.if.no.acl.found": "false",
        }

    def prepare(self, ctx: StackContext) -> None:
        host, ports = ctx.host, ctx.ports
        controller = f"{host}:{ports.kafka_controller}"
        settings: dict[str, object] = {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.bootstrap.servers": controller,
            "listeners": f"PLAINTEXT://{host}:{ports.kafka},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{host}:{ports.kafka},CONTROLLER://{controller}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            # one node: every internal topic has a single replica
            "num.partitions": 1,
            "default.replication.factor": 1,
            "min.insync.replicas": 1,
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "auto.create.topics.enable": "true",
            "group.initial.rebalance.delay.ms": 0,
            "log.retention.hours": 168,
            "log.dirs": ctx.data(self.name),
        }
        ctx.conf(self.name).mkdir(parents=True, exist_ok=True)
        if ctx.config.kafka.security == "sasl_ssl":
            settings.update(self._security(ctx))
        write_private(self._properties(ctx), render_properties(settings))
        if (ctx.data(self.name) / "meta.properties").exists():
            return
        # A Kafka cluster id is a UUID in URL-safe base64 without padding; like Kafka's own
        # Uuid.randomUuid, avoid a leading "-", which command lines read as an option.
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        result = subprocess.run(
            [
                java_binary(),
                log4j_flag(),
                "-cp",
                f"{ctx.lib('kafka')}/*",
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                f"--cluster-id={cluster_id}",
                "-c",
                str(self._properties(ctx)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise ServiceError("kafka: formatting the log directory failed: " + " | ".join(tail))

    def program(self, ctx: StackContext) -> Program:
        return Program(
            name=self.name,
            command=java_command(
                ctx,
                main="kafka.Kafka",
                classpath=[f"{ctx.lib('kafka')}/*"],
                heap_mb=ctx.config.stack.heap_mb.kafka,
                args=[str(self._properties(ctx))],
                jmx=(ctx.ports.jmx_kafka, "kafka.yaml"),
            ),
            directory=ctx.data(self.name),
            log=ctx.log(self.name),
            stop_wait_s=self.stop_wait_s,
        )

    def bootstrap(self, ctx: StackContext) -> None:
        if ctx.config.kafka.security == "sasl_ssl":
            provision(ctx.config, self.endpoint(ctx), ctx.credentials.kafka, **self._admin_settings(ctx))

    def reload(self, ctx: StackContext) -> None:
        self.bootstrap(ctx)  # users and ACLs of sources added since

    def check(self, ctx: StackContext) -> None:
        round_trip(self.endpoint(ctx), HEALTH_TOPIC, **self._admin_settings(ctx))
