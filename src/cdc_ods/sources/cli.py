"""`cdc sources ...`: the configured source databases: their tables, preflight, preparation.

Tables and findings go to stdout (`--json` for scripts), progress to stderr. `check` exits
non-zero when something stops capture; warnings (what endangers it) are printed and leave
the exit status alone.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

sources_app = typer.Typer(
    help="The source databases of cdc.yaml: tables, preflight checks, preparation.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)


def _chosen(ctx: typer.Context, names: list[str] | None):  # -> list[Source]
    from cdc_ods.sources import source_for

    config = ctx.obj.config()
    entries = [config.source(n) for n in names] if names else [s for s in config.sources if s.enabled]
    return [source_for(config, entry) for entry in entries]


@sources_app.command("list")
def list_tables(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Sources (default: every enabled one).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Each source's address, users and captured tables (patterns resolved at the source)."""
    rows = []
    for src in _chosen(ctx, names):
        tables = src.resolve_tables() if src.source.has_catalog else src.source.tables
        rows.append(
            {
                "source": src.name,
                "kind": src.kind,
                "address": src.address,
                "namespace": src.source.namespace,
                "capture_user": src.login("capture").user if src.source.has_catalog else None,
                "tables": tables,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("source", "kind", "address", "namespace", "tables")
    for row in rows:
        table.add_row(row["source"], row["kind"], row["address"], row["namespace"], ", ".join(row["tables"]))
    console.print(table)


@sources_app.command(
    help="What stops or endangers capture, per source and per table, each with the statement that fixes "
    "it: binlog settings and GTIDs, wal_level, replication slots, the publication, replica identities, "
    "keys, cascading foreign keys, column types, the capture and read users' privileges (Debezium's "
    "signal and heartbeat tables included). Exit 1 on any error."
)
def check(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Sources (default: every enabled one).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Findings as JSON on stdout.")] = False,
) -> None:
    from cdc_ods.errors import CdcError
    from cdc_ods.sources import Finding

    findings: list[Finding] = []
    for src in _chosen(ctx, names):
        err.print(f"[cyan]•[/] {src.name}: checking {src.kind} at {src.address}", highlight=False)
        try:
            findings += src.preflight()
        except CdcError as exc:
            findings.append(src.finding("server", str(exc), "fix the address, the login or cdc.yaml"))
    errors = [f for f in findings if f.severity == "error"]
    if as_json:
        typer.echo(json.dumps([f.as_dict() for f in findings]))
    elif findings:  # plain lines, never cut: a fix is often a statement to copy
        for f in findings:
            mark = "[red]error[/]" if f.severity == "error" else "[yellow]warning[/]"
            console.print(f"{mark} {f.source}: {f.subject}: {f.problem}", highlight=False, soft_wrap=True)
            console.print(f"    fix: {f.fix}", highlight=False, markup=False, soft_wrap=True)
    else:
        console.print("[green]ok[/]: nothing stops or endangers capture")
    if errors:
        raise CdcError(
            f"{len(errors)} problem(s) stop capture ({len(findings) - len(errors)} warning(s)); fixes above"
        )


@sources_app.command(
    help="As the source's admin, grant the capture and read users what they need and create Debezium's "
    "signal (and heartbeat) table, the publication and the replica identities (PostgreSQL). Idempotent. "
    "--print shows the statements without running them."
)
def prepare(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The source to prepare.")],
    print_only: Annotated[bool, typer.Option("--print", help="Print the statements, run nothing.")] = False,
) -> None:
    (src,) = _chosen(ctx, [name])
    tables = src.tables()
    plan = src.preparation(tables) if print_only else src.prepare(tables)
    for statement in plan.statements:
        typer.echo(f"{statement};")
    for note in plan.manual:
        typer.echo(f"-- by hand: {note}")
    if not print_only:
        err.print(
            f"[cyan]•[/] {src.name}: prepared {len(tables)} table(s) ({len(plan.statements)} statements)"
        )


@sources_app.command(
    help="Bring cdc.yaml's sources and tables into the running pipeline, after adding or removing "
    "some: update (or create) each connector, snapshot only the tables it did not capture before "
    "(an incremental snapshot; nothing already captured is re-read), write the cleansing scripts "
    "that are missing, and restart the local stack's cleansing and loader stages so they read the "
    "new topics (the loader creates the ODS tables). A removed table stops being captured; its "
    "ODS table stays."
)
def sync(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Sources (default: every enabled one).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each connector to run.")] = 120.0,
) -> None:
    from cdc_ods.connectors import apply as applying
    from cdc_ods.connectors.rest import ConnectClient
    from cdc_ods.endpoints import Endpoints
    from cdc_ods.errors import CdcError
    from cdc_ods.ksql.schema import write_scripts
    from cdc_ods.stack.context import StackContext
    from cdc_ods.stack.manager import StackManager

    def report(message: str) -> None:
        err.print(f"[cyan]•[/] {message}", highlight=False, soft_wrap=True)

    config = ctx.obj.config()
    endpoints = Endpoints.from_config(config)
    with ConnectClient.of(config) as connect:
        planned = applying.plan(config, endpoints, names or [], report)
        applying.apply(connect, planned, timeout, report)
    refused: CdcError | None = None
    try:
        written = write_scripts(config, config.scripts_dir, force=False, update=False, report=report)
    except CdcError as exc:  # the tables that got a script still flow; the refusal is raised below
        refused, written = exc, []
    manager = StackManager(StackContext(config), report)
    running = [s for s in ("cleansing", "loader") if manager.supervisor.state(s) == "RUNNING"]
    if running:
        manager.stop(running)
        manager.up(running)
    console.print(
        f"synced {len(planned)} source(s); {len(written)} new cleansing script(s);"
        f" restarted: {', '.join(running) or 'none (no local stage runs)'}"
    )
    if refused is not None:
        raise refused
