"""Prometheus, scraping every service of the local stack."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx

from cdc_ods.errors import ServiceError
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.services.base import Service, check_http_ready
from cdc_ods.stack.supervisor import Program

# what the local stack's Prometheus reads from the workspace's monitoring/ (`cdc init` writes them)
MONITORING_FILES = ("prometheus.yml", "rules")


def workspace_file(ctx: StackContext, name: str) -> Path:
    """`monitoring/<name>` next to the configuration file: the operator's, never the tool's."""
    path = ctx.config.root / "monitoring" / name
    if not path.exists():
        raise ServiceError(
            f"prometheus: {path} is missing; `cdc init {ctx.config.root}` writes the default"
            " monitoring/ next to cdc.yaml (and keeps the files already there)"
        )
    return path


class Prometheus(Service):
    name = "prometheus"
    port_names = ("prometheus",)
    metrics_port_name = "prometheus"

    def endpoint(self, ctx: StackContext) -> str:
        return f"http://{ctx.host}:{ctx.ports.prometheus}"

    def prepare(self, ctx: StackContext) -> None:
        """Link the workspace's monitoring/ files in and write file-SD targets from the ports."""
        if shutil.which("prometheus") is None:
            raise ServiceError("prometheus: binary not found; run `make setup` (installs prometheus)")
        from cdc_ods.stack.services import SERVICES  # the registry imports this module

        conf = ctx.conf(self.name)
        (conf / "targets").mkdir(parents=True, exist_ok=True)
        for name in MONITORING_FILES:
            target, link = workspace_file(ctx, name), conf / name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target)
        targets = {s.name: [getattr(ctx.ports, s.metrics_port_name)] for s in SERVICES if s.metrics_port_name}
        # the pipeline's Python stages (every process of one), scraped whenever they run
        targets["collector"] = [ctx.config.collector.port]
        targets["cleansing"] = ctx.config.cleansing.metrics_ports()
        targets["ods-loader"] = ctx.config.ods.metrics_ports()
        targets["watchdog"] = [ctx.config.operations.metrics_port]
        for job, ports in targets.items():
            group = {"targets": [f"{ctx.host}:{port}" for port in ports], "labels": {"stack": "local"}}
            (conf / "targets" / f"{job}.json").write_text(json.dumps([group]) + "\n")
        ctx.data(self.name).mkdir(parents=True, exist_ok=True)

    def program(self, ctx: StackContext) -> Program:
        return Program(
            name=self.name,
            command=[
                shutil.which("prometheus") or "prometheus",
                f"--config.file={ctx.conf(self.name) / 'prometheus.yml'}",
                f"--storage.tsdb.path={ctx.data(self.name)}",
                f"--web.listen-address={ctx.host}:{ctx.ports.prometheus}",
                "--storage.tsdb.retention.time=7d",
                "--web.enable-lifecycle",
            ],
            directory=ctx.data(self.name),
            log=ctx.log(self.name),
        )

    def reload(self, ctx: StackContext) -> None:
        """Re-render the targets, then re-read prometheus.yml, the rules and the targets."""
        self.prepare(ctx)
        try:
            httpx.post(f"{self.endpoint(ctx)}/-/reload", timeout=10).raise_for_status()
        except httpx.HTTPError as exc:
            raise ServiceError(f"prometheus: reload failed: {exc}") from None

    def check(self, ctx: StackContext) -> None:
        check_http_ready(self.name, f"{self.endpoint(ctx)}/-/ready")
