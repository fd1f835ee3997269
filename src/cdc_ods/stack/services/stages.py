"""The pipeline's own long-running stages, supervised like the stack's services.

They are not started by a plain `cdc stack up` (which brings up the infrastructure) but
by `cdc stack up --pipeline` or by name; supervisord then restarts them if they die, and
`cdc stack status` shows them. Each runs the `cdc` command itself with the same
configuration file, and is healthy when its Prometheus endpoint answers.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import ClassVar

import httpx

from cdc_ods.errors import ServiceError, TransientError
from cdc_ods.secrets import kafka_user
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.services.base import Service
from cdc_ods.stack.supervisor import Program


class PipelineStage(Service):
    stage = True
    arguments: ClassVar[tuple[str, ...]]
    # whose Kafka user it connects as with `kafka.security: sasl_ssl` (cdc_ods.stack.kafka_acls);
    # None: it uses no Kafka
    kafka_role: ClassVar[str | None] = None

    def metrics_ports(self, ctx: StackContext) -> list[int]:
        """One per process (a scaled-out stage runs several: `processes` in cdc.yaml); none for
        a stage without an endpoint."""
        raise NotImplementedError

    def ports(self, ctx: StackContext) -> list[int]:
        return self.metrics_ports(ctx)

    def endpoint(self, ctx: StackContext) -> str:
        return self._endpoint(ctx, self.metrics_ports(ctx)[0])

    def _endpoint(self, ctx: StackContext, port: int) -> str:
        return f"http://{ctx.host}:{port}/metrics"

    def program(self, ctx: StackContext) -> Program:
        return self.programs(ctx)[0]

    def processes(self, ctx: StackContext) -> dict[str, str]:
        """The first process is named after the stage; more (`processes: N`) are <stage>-2 ..
        <stage>-N, each with its own metrics port."""
        ports = enumerate(self.metrics_ports(ctx), start=1)
        named = {self.name if k == 1 else f"{self.name}-{k}": self._endpoint(ctx, port) for k, port in ports}
        return named or {self.name: self.endpoint(ctx)}

    def programs(self, ctx: StackContext) -> list[Program]:
        """One per process, each with its own log; several are one supervisord group, each
        told its port."""
        if ctx.config.file is None:
            raise ServiceError(f"{self.name}: the configuration was not read from a file")
        command = [sys.executable, "-m", "cdc_ods", "--config", str(ctx.config.file), *self.arguments]
        names = list(self.processes(ctx))
        several = len(names) > 1
        # one process reads its port from cdc.yaml; several are each told theirs
        ports = self.metrics_ports(ctx) if several else []
        commands = [[*command, "--metrics-port", str(port)] for port in ports] or [command]
        return [
            Program(
                name=name,
                command=own_command,
                directory=ctx.config.root,  # the workspace: cdc.yaml's directory
                log=ctx.log(name),
                environment={"PYTHONUNBUFFERED": "1", **self._kafka_login(ctx)},
                group=self.name if several else None,
            )
            for name, own_command in zip(names, commands, strict=True)
        ]

    def _kafka_login(self, ctx: StackContext) -> dict[str, str]:
        """Its own Kafka user, whatever the operator's environment says."""
        if ctx.config.kafka.security == "plaintext" or self.kafka_role is None:
            return {}
        user = kafka_user(self.kafka_role)
        return {"CDC_KAFKA_USER": user, "CDC_KAFKA_PASSWORD": ctx.credentials.kafka[user].get_secret_value()}

    def check(self, ctx: StackContext) -> None:
        """Every process's metrics endpoint answers."""
        for port in self.metrics_ports(ctx):
            url = self._endpoint(ctx, port)
            try:
                httpx.get(url, timeout=3).raise_for_status()
            except httpx.HTTPError as exc:
                raise TransientError(f"{self.name}: metrics endpoint {url} not answering: {exc}") from None


class CleansingStage(PipelineStage):
    name = "cleansing"
    requires = ("kafka",)
    arguments = ("ksql", "run")
    kafka_role = "cleansing"

    def metrics_ports(self, ctx: StackContext) -> list[int]:
        return ctx.config.cleansing.metrics_ports()

    def programs(self, ctx: StackContext) -> list[Program]:
        key = ctx.credentials.pii_hash_key.get_secret_value()
        return [
            replace(program, environment={**program.environment, "CDC_PII_HASH_KEY": key})
            for program in super().programs(ctx)
        ]


class CollectorStage(PipelineStage):
    name = "collector"
    requires = ("kafka",)
    arguments = ("collector", "run")
    kafka_role = "collector"

    def metrics_ports(self, ctx: StackContext) -> list[int]:
        return [ctx.config.collector.port]  # /metrics next to /v1/events


class WatchdogStage(PipelineStage):
    name = "watchdog"
    requires = ("connect",)
    arguments = ("watch",)
    kafka_role = "operations"

    def metrics_ports(self, ctx: StackContext) -> list[int]:
        return [ctx.config.operations.metrics_port]


class LoaderStage(PipelineStage):
    name = "loader"
    requires = ("kafka", "phoenix-query-server")
    arguments = ("ods", "run")
    kafka_role = "loader"

    def metrics_ports(self, ctx: StackContext) -> list[int]:
        return ctx.config.ods.metrics_ports()
