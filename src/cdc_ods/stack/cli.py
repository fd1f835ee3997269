"""`cdc stack ...`: install, start, stop and inspect the local stack."""

from __future__ import annotations

import json
import shlex
import sys
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

stack_app = typer.Typer(
    help="Run the local stack (every service as a process on 127.0.0.1).", no_args_is_help=True
)
console = Console(stderr=True)

_STATE_STYLE = {
    "running": "green",
    "starting": "yellow",
    "stopped": "dim",
    "failed": "red",
    "unhealthy": "red",
}


def _manager(ctx: typer.Context):
    from cdc_ods.stack.context import StackContext
    from cdc_ods.stack.manager import StackManager

    stack_ctx = StackContext(ctx.obj.config())
    return StackManager(stack_ctx, report=lambda msg: console.print(f"[cyan]•[/] {msg}", highlight=False))


@stack_app.command()
def install(ctx: typer.Context) -> None:
    """Resolve every Java artifact with Maven into the stack's lib/ (skipped when up to date)."""
    fetched = _manager(ctx).install()
    console.print(f"resolved {len(fetched)} profile(s)" if fetched else "Java artifacts already up to date")


@stack_app.command()
def up(
    ctx: typer.Context,
    services: Annotated[
        list[str] | None, typer.Argument(help="Only these services (and what they need).")
    ] = None,
    pipeline: Annotated[
        bool, typer.Option("--pipeline", help="Also start the pipeline stages (cleansing, loader).")
    ] = False,
    with_: Annotated[
        list[str] | None,
        typer.Option(
            "--with",
            help="Also start an optional service: superset (the analysts' web UI on the ODS;"
            " installs itself the first time, a few minutes).",
        ),
    ] = None,
) -> None:
    """Start the stack (idempotent: what already runs is left alone) and wait until healthy."""
    manager = _manager(ctx)
    t0 = time.monotonic()
    started = manager.up(services or None, pipeline=pipeline, with_=tuple(with_ or ()))
    if started:
        console.print(f"[green]stack up[/] in {time.monotonic() - t0:.1f}s (started: {', '.join(started)})")
    else:
        console.print("[green]stack already running[/]: nothing to start")


@stack_app.command()
def stop(
    ctx: typer.Context,
    services: Annotated[list[str], typer.Argument(help="Services to stop (what requires them stops too).")],
) -> None:
    """Stop some services cleanly; `cdc stack up` starts them again."""
    _manager(ctx).stop(services)


@stack_app.command()
def down(
    ctx: typer.Context,
    clean: Annotated[
        bool,
        typer.Option("--clean", help="Also delete all stack data (databases, topics, tables)."),
    ] = False,
) -> None:
    """Stop every service cleanly (SIGTERM, then SIGKILL after its grace period)."""
    _manager(ctx).down(clean=clean)


@stack_app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
) -> None:
    """Each service's state (checked by protocol when running) and endpoint."""
    statuses = _manager(ctx).status()
    if as_json:
        typer.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
        return
    table = Table(title="cdc-ods local stack")
    for column in ("service", "state", "endpoint", "pid", "uptime", "detail"):
        table.add_column(column)
    for s in statuses:
        style = _STATE_STYLE.get(s.state, "")
        uptime = f"{s.uptime_s}s" if s.uptime_s is not None else ""
        table.add_row(s.name, f"[{style}]{s.state}[/]", s.endpoint, str(s.pid or ""), uptime, s.detail[:80])
    Console().print(table)


@stack_app.command()
def logs(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service or process name, as in `cdc stack status`.")],
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many trailing lines.")] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
) -> None:
    """Print a service's log."""
    from cdc_ods.stack.context import StackContext
    from cdc_ods.stack.services import SERVICES, by_name

    stack_ctx = StackContext(ctx.obj.config())
    if service not in {name for s in SERVICES for name in s.processes(stack_ctx)}:
        by_name(service)  # an unknown name: the error lists the services
    path = stack_ctx.log(service)
    if not path.exists():
        console.print(f"no log yet for {service} ({path})")
        raise typer.Exit(1)
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle.readlines()[-lines:]:
            sys.stdout.write(line)
        while follow:
            line = handle.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.3)


@stack_app.command()
def env(ctx: typer.Context) -> None:
    """Shell `export` lines with the stack's connection settings (eval "$(cdc stack env)")."""
    from cdc_ods.stack.context import StackContext
    from cdc_ods.stack.environment import connection_settings

    for key, value in connection_settings(StackContext(ctx.obj.config())).items():
        typer.echo(f"export {key}={shlex.quote(value)}")
