"""What a service of the local stack is: how it is prepared, launched and health-checked."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import httpx

from cdc_ods.errors import TransientError
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.supervisor import Program


def check_http_ready(service: str, url: str, timeout_s: float = 3) -> None:
    """A GET of a service's readiness URL answers 200; else TransientError naming the service."""
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise TransientError(f"{service}: {exc}") from None
    if response.status_code != 200:
        raise TransientError(f"{service}: not ready ({response.status_code} {response.text.strip()[:200]})")


class Service(ABC):
    """One process of the local stack.

    The manager calls, in order: `prepare` (idempotent on-disk setup, rendering config),
    starts `program` under supervisord, retries `bootstrap` until it succeeds (idempotent
    in-service setup such as users and databases), then retries `check` (a round trip in
    the service's own protocol) until healthy. `bootstrap` and `check` raise
    `TransientError` while the service is not ready yet.
    """

    name: ClassVar[str]
    # services that must be healthy before this one starts
    requires: ClassVar[tuple[str, ...]] = ()
    # Maven profiles (stack/pom.xml) whose jars this service runs on
    maven_profiles: ClassVar[tuple[str, ...]] = ()
    # names of the `stack.ports` entries this service listens on
    port_names: ClassVar[tuple[str, ...]] = ()
    # the `stack.ports` entry Prometheus scrapes (a JMX exporter or the service itself)
    metrics_port_name: ClassVar[str | None] = None
    # a pipeline stage (started by `up --pipeline` or by name), not infrastructure
    stage: ClassVar[bool] = False
    # an optional service: started only by `up --with <this name>` (or by its own name)
    optional: ClassVar[str | None] = None
    # seconds supervisord waits after SIGTERM before SIGKILL
    stop_wait_s: ClassVar[int] = 30

    @abstractmethod
    def endpoint(self, ctx: StackContext) -> str:
        """How a client reaches it: host:port or URL."""

    def prepare(self, ctx: StackContext) -> None:
        """Create data directories and render configuration files (idempotent)."""
        return None

    @abstractmethod
    def program(self, ctx: StackContext) -> Program:
        """The supervised process (the first, when it runs several)."""

    def programs(self, ctx: StackContext) -> list[Program]:
        """Every supervised process of the service; supervisord starts and stops them together."""
        return [self.program(ctx)]

    def processes(self, ctx: StackContext) -> dict[str, str]:
        """Its processes' names (as supervisord and the logs know them) and endpoints."""
        return {self.name: self.endpoint(ctx)}

    def bootstrap(self, ctx: StackContext) -> None:
        """In-service setup after the process is up (idempotent)."""
        return None

    def reload(self, ctx: StackContext) -> None:
        """Pick up re-rendered configuration without a restart, where the service can."""
        return None

    @abstractmethod
    def check(self, ctx: StackContext) -> None:
        """One protocol round trip; raises TransientError when not healthy."""

    def ports(self, ctx: StackContext) -> list[int]:
        return [getattr(ctx.ports, n) for n in self.port_names]
