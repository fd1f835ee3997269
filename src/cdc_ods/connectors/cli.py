"""`cdc connectors ...`: register, watch and operate the Debezium source connectors.

Tables go to stdout, progress lines to stderr; `status --json` is for scripts. Commands
that act on connectors default to every connector registered in Connect, except `apply`
(default: every enabled source in cdc.yaml) and `delete` (names required).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

connectors_app = typer.Typer(
    help="Register and operate the Debezium connectors through Kafka Connect's REST API.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

# the arguments of the commands that act on one connector or one of its tables (also `cdc ods rebuild`)
ConnectorArg = Annotated[str, typer.Argument(help="The connector (its source's name, e.g. mysql).")]
TableArg = Annotated[str, typer.Argument(help="A captured table: movies, or qualified maf.movies.")]

_STATE_STYLE = {"RUNNING": "green", "PAUSED": "yellow", "UNASSIGNED": "yellow", "FAILED": "red"}


def _report(message: str) -> None:
    err.print(f"[cyan]•[/] {message}", highlight=False, soft_wrap=True)


def _styled(state: str) -> str:
    style = _STATE_STYLE.get(state)
    return f"[{style}]{state}[/]" if style else state


def _setup(ctx: typer.Context):  # -> (Config, Endpoints, ConnectClient)
    from cdc_ods.connectors.rest import ConnectClient
    from cdc_ods.endpoints import Endpoints

    config = ctx.obj.config()
    endpoints = Endpoints.from_config(config)
    return config, endpoints, ConnectClient.of(config)


def _registered_or(connect, names: list[str] | None) -> list[str]:
    from cdc_ods.errors import CdcError

    chosen = names or connect.connectors()
    if not chosen:
        raise CdcError("no connector is registered in Kafka Connect; run `cdc connectors apply`")
    return chosen


def _parse_settings(settings: list[str]) -> dict[str, str]:
    from cdc_ods.errors import ConfigError

    parsed = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {setting!r}")
        parsed[key.strip()] = value
    return parsed


def _tasks_cell(status: dict[str, Any]) -> str:
    tasks = status.get("tasks", [])
    return ", ".join(f"{t['id']}: {_styled(t['state'])}" for t in tasks) or "-"


@connectors_app.command(
    help="Create or update connectors (idempotent) and wait until their tasks run.\n\n"
    "Everything is checked first (Connect's validation, unknown keys, that the listed tables exist); "
    "any problem is printed and nothing is registered. A connector that fails to start is removed "
    "again, or gets its previous config back."
)
def apply(
    ctx: typer.Context,
    sources: Annotated[
        list[str] | None, typer.Argument(help="Sources of cdc.yaml (default: every enabled one).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the tasks to run.")] = 120.0,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE overriding the connector config (one source only)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Register under this name instead (one source only).")
    ] = None,
) -> None:
    from cdc_ods.connectors import apply as applying

    config, endpoints, connect = _setup(ctx)
    with connect:
        planned = applying.plan(
            config, endpoints, sources or [], _report, _parse_settings(settings or []), rename=name
        )
        if not planned:
            err.print("nothing to apply")
            return
        outcomes = applying.apply(connect, planned, timeout, _report)
    table = Table("connector", "action", "state", "tasks")
    for outcome in outcomes:
        table.add_row(
            outcome.name,
            outcome.action,
            _styled(outcome.status["connector"]["state"]),
            _tasks_cell(outcome.status),
        )
    console.print(table)


@connectors_app.command()
def status(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Connectors (default: all registered).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Connect's statuses as JSON on stdout.")] = False,
) -> None:
    """Connector and task states, and the trace of every failed task."""
    from cdc_ods.connectors.failures import CONNECTOR_INSTANCE, failed_instances, story, way_out

    _, _, connect = _setup(ctx)
    with connect:
        statuses = connect.statuses()
    chosen = names or list(statuses)
    if as_json:
        typer.echo(json.dumps([statuses.get(n, {"name": n, "connector": None, "tasks": []}) for n in chosen]))
        return
    if not chosen:
        err.print("no connector is registered in Kafka Connect")
        return
    table = Table("connector", "state", "worker", "tasks")
    failed: list[tuple[str, str, str]] = []  # (connector, which instance, trace)
    for name in chosen:
        entry = statuses.get(name)
        if entry is None:
            table.add_row(name, "[dim]not registered[/]", "-", "-")
            continue
        table.add_row(
            name, _styled(entry["connector"]["state"]), entry["connector"]["worker_id"], _tasks_cell(entry)
        )
        failed += [
            (name, name if ident == CONNECTOR_INSTANCE else f"{name} task {ident}", trace)
            for ident, trace in failed_instances(entry)
        ]
    console.print(table)
    for name, what, trace in failed:
        console.print(f"[red]{what} FAILED:[/]", highlight=False)
        lines = story(trace)
        if (how := way_out(trace, name)) is not None:
            lines.append(f"way out: {how}")
        for line in lines:
            console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


@connectors_app.command()
def restart(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Connectors (default: all registered).")] = None,
    failed_only: Annotated[
        bool, typer.Option("--failed-only", help="Restart only the FAILED connector instances and tasks.")
    ] = False,
) -> None:
    """Restart connectors together with their tasks."""
    _, _, connect = _setup(ctx)
    with connect:
        for name in _registered_or(connect, names):
            connect.restart(name, only_failed=failed_only)
            _report(f"{name}: restart requested{' (failed instances only)' if failed_only else ''}")


def _pause_or_resume(ctx: typer.Context, names: list[str] | None, pause: bool, timeout: float) -> None:
    _, _, connect = _setup(ctx)
    with connect:
        chosen = _registered_or(connect, names)
        for name in chosen:
            (connect.pause if pause else connect.resume)(name)
        for name in chosen:
            connect.wait_state(name, "PAUSED" if pause else "RUNNING", timeout_s=timeout)
            _report(f"{name}: {'PAUSED' if pause else 'RUNNING'}")


@connectors_app.command()
def pause(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Connectors (default: all registered).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for PAUSED.")] = 30.0,
) -> None:
    """Pause connectors (they stop reading; their position is kept) and wait until PAUSED."""
    _pause_or_resume(ctx, names, pause=True, timeout=timeout)


@connectors_app.command()
def resume(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Connectors (default: all registered).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for RUNNING.")] = 30.0,
) -> None:
    """Resume paused connectors and wait until they run."""
    _pause_or_resume(ctx, names, pause=False, timeout=timeout)


@connectors_app.command(
    help="Delete connectors.\n\n"
    "Their offsets stay in Connect (a connector re-created under the same name resumes there); "
    "a PostgreSQL replication slot stays too."
)
def delete(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Connectors to delete.")],
) -> None:
    from cdc_ods.connectors.rest import NoSuchConnector

    _, _, connect = _setup(ctx)
    with connect:
        for name in names:
            if not connect.delete(name):
                raise NoSuchConnector(f"Kafka Connect has no connector named {name!r}")
            _report(f"{name}: deleted")


@connectors_app.command(
    help="Re-read one table as op 'r' events while streaming continues (incremental snapshot).\n\n"
    "Sends Debezium an execute-snapshot signal through the source's signal table, as the admin user. "
    "With --replace it also waits until the snapshot is over and every stage has consumed it, then "
    "removes from the table's ODS table the rows the source no longer has (those loaded before the "
    "command started and not written again; ods.delete_mode): for a table dropped and created again, "
    "a column renamed or added with a DEFAULT. Safe to run again. Then `cdc reconcile`."
)
def snapshot(
    ctx: typer.Context,
    connector: ConnectorArg,
    table: TableArg,
    replace: Annotated[
        bool, typer.Option("--replace", help="Wait for it, then remove the rows the source no longer has.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds for the snapshot and the catch-up (--replace).")
    ] = 1800.0,
) -> None:
    from cdc_ods.connectors.snapshot import request_snapshot
    from cdc_ods.errors import CdcError
    from cdc_ods.operations.resync import resync

    config, endpoints, connect = _setup(ctx)
    with connect:
        state = (connect.status(connector) or {}).get("connector", {}).get("state")
        if replace:
            if state != "RUNNING":
                raise CdcError(f"connector {connector} is {state}: --replace needs it running")
            result = resync(connect, config, connector, table, timeout, _report)
            _report(
                f"{connector}: {result.table} re-read in {result.snapshot_s:.0f}s; {result.removed} row(s)"
                f" the source no longer has removed from {result.ods_table}. Check with `cdc reconcile`."
            )
            return
        request = request_snapshot(connect, connector, table, config, endpoints)
    _report(f"{connector}: snapshot of {request.table} requested (signal {request.signal_id})")
    _report(f"rows arrive as op 'r' events on {request.topic}")
    if state != "RUNNING":
        err.print(f"[yellow]warning:[/] {connector} is {state}: the snapshot starts once it runs")


@connectors_app.command(
    help="Re-read every table of a connector whose log is gone (binlog purged, replication slot "
    "invalidated), and remove from the ODS the rows deleted at the source meanwhile.\n\n"
    "The changes in the lost log cannot be read any more; the tables' current state can: the "
    "connector snapshots every captured table (PostgreSQL: its invalidated slot is dropped first), "
    "streams on from the snapshot, and once every stage has consumed it, the rows of the source's "
    "ODS tables that the snapshot did not write again are deleted (ods.delete_mode). Safe to run "
    "again. Then `cdc reconcile`."
)
def recover(
    ctx: typer.Context,
    connector: ConnectorArg,
    timeout: Annotated[float, typer.Option(help="Seconds for the snapshot and the catch-up.")] = 1800.0,
) -> None:
    from cdc_ods.operations.recover import recover as run_recover

    config, _, connect = _setup(ctx)
    with connect:
        result = run_recover(connect, config, connector, timeout, _report)
    removed = sum(result.removed.values())
    _report(
        f"{connector}: recovered in {result.snapshot_s:.0f}s; {removed} row(s) deleted at the source"
        f" meanwhile removed from {len(result.removed)} ODS table(s). Check with `cdc reconcile`."
    )
