"""`cdc status`: the pipeline's health on one screen (or as JSON)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}{unit}" if value < 10 else f"{value:,.0f}{unit}"
    return f"{value}{unit}"


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
) -> None:
    """Pipeline health: connectors, backlog per stage, end-to-end latency, dead letters."""
    from cdc_ods.connectors.failures import CONNECTOR_INSTANCE, log_lost_way_out
    from cdc_ods.monitoring.status import collect

    health = collect(ctx.obj.config())
    if as_json:
        typer.echo(json.dumps(health, indent=2))
        return
    console = Console()
    connectors = Table(title="connectors")
    for column in ("connector", "state", "tasks"):
        connectors.add_column(column)
    for name, c in sorted(health["connectors"].items()):
        color = "green" if c["state"] == "RUNNING" and set(c["tasks"].values()) <= {"RUNNING"} else "red"
        tasks = ", ".join(f"{i}: {s}" for i, s in c["tasks"].items())
        connectors.add_row(name, f"[{color}]{c['state']}[/]", tasks)
    console.print(connectors)
    for name, c in sorted(health["connectors"].items()):
        for ident, why in c["failures"].items():
            what = name if ident == CONNECTOR_INSTANCE else f"{name} task {ident}"
            console.print(f"[red]{what} FAILED:[/] {escape(why)}", highlight=False, soft_wrap=True)
    m = health["metrics"]
    for source in sorted(m.get("log_lost") or {}):
        console.print(
            f"[red]source {source}: the log its connector must read next is gone from the server:[/]"
            f" {escape(log_lost_way_out(source))}",
            highlight=False,
            soft_wrap=True,
        )
    flow = Table(title="flow")
    flow.add_column("measure")
    flow.add_column("value", justify="right")
    for server, lag in sorted((m.get("source_lag_ms") or {}).items()):
        idle = (m.get("source_idle_ms") or {}).get(server)
        flow.add_row(
            f"source {server}: behind the log / since last event", f"{_fmt(lag, ' ms')} / {_fmt(idle, ' ms')}"
        )
    for stage, backlog in health["backlog"].items():
        flow.add_row(f"{stage} backlog (records)", _fmt(backlog))
    flow.add_row("rows applied to the ODS / s (1 min)", _fmt(m.get("rows_applied_per_s")))
    flow.add_row(
        "end-to-end latency p50 / p99 (5 min)",
        f"{_fmt(m.get('latency_p50_s'), ' s')} / {_fmt(m.get('latency_p99_s'), ' s')}",
    )
    flow.add_row("dead letters in the last hour", _fmt(m.get("dead_letters_last_hour")))
    flow.add_row("scrape targets down", _fmt(m.get("targets_down")))
    console.print(flow)
    for part, reason in health["unavailable"].items():
        console.print(f"[yellow]{part} unavailable:[/] {reason}")
