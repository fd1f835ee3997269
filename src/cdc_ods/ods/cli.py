"""`cdc ods ...`: run the loader."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cdc_ods.connectors.cli import ConnectorArg, TableArg

ods_app = typer.Typer(help="The ODS loader: cleansed topics -> Phoenix tables.", no_args_is_help=True)


@ods_app.command()
def run(
    ctx: typer.Context,
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", "-t", help="Cleansed topic(s) to load (default: every configured table)."),
    ] = None,
    idle_exit: Annotated[
        float | None,
        typer.Option(help="Exit after this many seconds without a new record (batch jobs, tests)."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Prometheus metrics port (default: ods.metrics_port; 0: any free port)."),
    ] = None,
    group: Annotated[str | None, typer.Option(help="Consumer group (default: ods.group_id).")] = None,
) -> None:
    """Load every change of the cleansed topics into Phoenix; stops cleanly on Ctrl-C / SIGTERM."""
    from cdc_ods.dlq import ensure_dlq_topic
    from cdc_ods.endpoints import Endpoints
    from cdc_ods.ods.loader import Loader
    from cdc_ods.runtime import stage_process
    from cdc_ods.topology import stages

    config = ctx.obj.config()
    if group:
        config = config.model_copy(update={"ods": config.ods.model_copy(update={"group_id": group})})
    endpoints = Endpoints.from_config(config)
    topics = topic or next(s.topics for s in stages(config) if s.name == "loader")
    log = logging.getLogger("cdc_ods.loader")
    with stage_process(config, config.ods.metrics_port if metrics_port is None else metrics_port) as stop:
        ensure_dlq_topic(endpoints.kafka_bootstrap)
        loader = Loader(config, endpoints.kafka_bootstrap, endpoints.phoenix_url, topics, stop=stop)
        log.info("loading %s into %s", ", ".join(topics), endpoints.phoenix_url)
        loader.run(idle_exit_s=idle_exit)
    log.info("stopped after %d records", loader.applied)


@ods_app.command(
    help="Make a table's ODS table again from its source table's schema, and fill it.\n\n"
    "For a change Phoenix cannot ALTER: a column's type widened at the source (INT -> BIGINT, "
    "FLOAT -> DOUBLE, a larger DECIMAL), whose values that no longer fit are dead-lettered. Rewrites "
    "the table's cleansing script from the source's schema (unless edited by hand), stops the local "
    "stack's cleansing and loader stages (stages run elsewhere: stop them first), drops the ODS "
    "table, starts the stages again (the loader creates the table), restarts a PostgreSQL "
    "connector's task, and re-reads the table as `cdc connectors snapshot --replace` does. Safe to "
    "run again. Then `cdc reconcile`."
)
def rebuild(
    ctx: typer.Context,
    connector: ConnectorArg,
    table: TableArg,
    timeout: Annotated[float, typer.Option(help="Seconds for the snapshot and the catch-up.")] = 1800.0,
) -> None:
    from rich.console import Console

    from cdc_ods.connectors.rest import ConnectClient
    from cdc_ods.operations.rebuild import rebuild as run_rebuild
    from cdc_ods.stack.context import StackContext
    from cdc_ods.stack.manager import StackManager

    err = Console(stderr=True)

    def report(message: str) -> None:
        err.print(f"[cyan]•[/] {message}", highlight=False, soft_wrap=True)

    config = ctx.obj.config()
    manager = StackManager(StackContext(config), report)
    with ConnectClient.of(config) as connect:
        result = run_rebuild(connect, config, connector, table, manager, timeout, report)
    report(
        f"{result.resync.ods_table}: made again from {result.resync.table}'s schema and filled in"
        f" {result.resync.snapshot_s:.0f}s; script {result.script}. Check with `cdc reconcile`."
    )
