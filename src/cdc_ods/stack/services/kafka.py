"""Apache Kafka: one KRaft node acting as broker and controller."""

from __future__ import annotations

import base64
import subprocess
import uuid

from cdc_ods.errors import ServiceError
from cdc_ods.kafka import round_trip
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.java import java_binary, java_command, log4j_flag
from cdc_ods.stack.services.base import Service
from cdc_ods.stack.supervisor import Program

HEALTH_TOPIC = "_cdc_health"


def render_properties(settings: dict[str, object]) -> str:
    return "".join(f"{key}={value}\n" for key, value in settings.items())


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
            "log.dirs": ctx.data(self.name),
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
        }
        ctx.conf(self.name).mkdir(parents=True, exist_ok=True)
        self._properties(ctx).write_text(render_properties(settings), encoding="utf-8")
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

    def check(self, ctx: StackContext) -> None:
        round_trip(self.endpoint(ctx), HEALTH_TOPIC)
