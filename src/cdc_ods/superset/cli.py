"""`cdc superset ...`: the ODS in Superset (the analysts' web UI)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

superset_app = typer.Typer(
    help="Superset on the ODS: datasets, dashboards, saved queries.", no_args_is_help=True
)
console = Console(stderr=True)


@superset_app.command()
def sync(
    ctx: typer.Context,
    every: Annotated[
        float | None,
        typer.Option(
            "--every",
            min=1,
            help="Keep running: every this many seconds, import again if the ODS gained a table or"
            " column or a file changed (the stack's superset-sync process).",
        ),
    ] = None,
) -> None:
    """Import the ODS database, a dataset per ODS table, monitoring/superset/ and the saved
    queries of ods/queries.sql into Superset (idempotent: the same objects each time)."""
    from cdc_ods.superset.sync import keep_in_step, sync_superset

    config = ctx.obj.config()
    if every is None:
        console.print(f"[green]superset synced[/]: {sync_superset(config)}")
        return
    keep_in_step(config, every, report=lambda message: console.print(message, highlight=False))


@superset_app.command()
def check(ctx: typer.Context) -> None:
    """Exit 0 when Superset answers and reaches its ODS database, else name what fails (exit 1)."""
    from cdc_ods.superset.sync import check_ods_database

    check_ods_database(ctx.obj.config())
    console.print("[green]superset ok[/]: its ODS database answers")
