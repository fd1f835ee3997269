"""The one console command, `cdc`.

Sub-command groups live with their stage (`cdc_ods.stack.cli`, ...) and import their heavy
dependencies inside the command body so `cdc --help` stays instant. Any `CdcError` ends
the program with one red line and exit code 1; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cdc_ods import __version__
from cdc_ods.errors import CdcError

err_console = Console(stderr=True)

app = typer.Typer(
    name="cdc",
    help="Change-data-capture from MySQL/MariaDB, PostgreSQL and MongoDB into a Phoenix/HBase ODS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class State:
    """Global options, shared by every sub-command through typer's context."""

    def __init__(self, config_path: Path | None, debug: bool) -> None:
        self.config_path = config_path
        self.debug = debug

    def config(self):  # -> Config
        """cdc.yaml; this process's Kafka clients take their security from it."""
        from cdc_ods import kafka, kafka_security
        from cdc_ods.config import load_config

        config = load_config(self.config_path)
        kafka.use_security(lambda: kafka_security.client_settings(kafka_security.login_of(config)))
        return config


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cdc-ods {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="CDC_CONFIG",
            help="Configuration file (default: cdc.yaml here or in a parent).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    ctx.obj = State(config, debug)


def _register() -> None:
    from cdc_ods.bench.cli import bench, soak
    from cdc_ods.collector.cli import collector_app
    from cdc_ods.connectors.cli import connectors_app
    from cdc_ods.ksql.cli import ksql_app
    from cdc_ods.monitoring.cli import status
    from cdc_ods.ods.cli import ods_app
    from cdc_ods.ods.sql_cli import sql
    from cdc_ods.operations.cli import dlq_app, watch
    from cdc_ods.producers.cli import produce
    from cdc_ods.reconcile.cli import reconcile
    from cdc_ods.sources.cli import sources_app
    from cdc_ods.stack.cli import stack_app
    from cdc_ods.superset.cli import superset_app

    app.add_typer(stack_app, name="stack")
    app.add_typer(sources_app, name="sources")
    app.add_typer(connectors_app, name="connectors")
    app.add_typer(ksql_app, name="ksql")
    app.add_typer(collector_app, name="collector")
    app.add_typer(dlq_app, name="dlq")
    app.command(name="watch")(watch)
    app.add_typer(ods_app, name="ods")
    app.add_typer(superset_app, name="superset")
    app.command(name="produce")(produce)
    app.command(name="sql")(sql)
    app.command(name="reconcile")(reconcile)
    app.command(name="status")(status)
    app.command(name="bench")(bench)
    app.command(name="soak")(soak)


_register()


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where the workspace goes (created if missing).")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace files that differ from their defaults (cdc.yaml too).")
    ] = False,
) -> None:
    """A starting workspace: cdc.yaml with an example source, connectors/, ksql/, monitoring/.

    Run again, it writes only what is missing and keeps the files you edited."""
    from cdc_ods.workspace import NEXT_STEPS, init_workspace

    report = init_workspace(directory, force)
    for path in report.written:
        typer.echo(f"wrote {path}")
    for path in report.kept:
        typer.echo(f"kept {path} (differs from the default; --force replaces it)")
    if not report.written and not report.kept:
        typer.echo(f"{directory}: every file is already there")
    typer.echo(NEXT_STEPS.format(config=directory / "cdc.yaml"))


def main() -> None:
    try:
        app()  # standalone: usage errors print themselves and exit 2
    except CdcError as exc:
        if "--debug" in sys.argv:
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/]")
        sys.exit(130)
