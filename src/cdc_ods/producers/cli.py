"""`cdc produce`: seeded inserts, updates and deletes into the source databases."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


class Which(StrEnum):
    mysql = "mysql"
    postgres = "postgres"
    mongodb = "mongodb"
    events = "events"  # simulated app clients -> the collector (not part of `all`)
    all = "all"


def produce(
    ctx: typer.Context,
    source: Annotated[
        Which,
        typer.Argument(
            help="Source to write into; all: every enabled source, concurrently; events: app clients."
        ),
    ] = Which.all,
    rate: Annotated[
        float, typer.Option("--rate", min=0, help="Changes per second, per source; 0: as fast as possible.")
    ] = 100,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0, help="Run this many seconds.")
    ] = None,
    count: Annotated[int | None, typer.Option("--count", min=1, help="Stop after this many changes.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed and count: same changes, same values.")] = 1,
    ledger: Annotated[
        Path | None,
        typer.Option("--ledger", help="Write what was committed (counts, expected final rows) as JSON."),
    ] = None,
    reconnect_s: Annotated[
        float,
        typer.Option(
            "--reconnect-s",
            min=0,
            help="When a source's connection is lost, reconnect for up to this many seconds and go on"
            " (crash and failover drills): the transaction cut off is written again if it did not"
            " commit, counted in doubt if the server cannot tell. 0: stop.",
        ),
    ] = 0,
) -> None:
    """Write a seeded mix of inserts, updates and deletes at a steady rate (Ctrl-C stops cleanly).

    Creates the source tables if missing. Inserts use ids after the highest one present,
    updates and deletes hit rows this run inserted. The summary counts committed changes.
    """
    from cdc_ods.producers.ledger import write_ledgers
    from cdc_ods.producers.report import progress_bars, summary
    from cdc_ods.producers.runner import Limit, Pacer, opened
    from cdc_ods.producers.runner import produce as run_producers
    from cdc_ods.producers.targets import targets
    from cdc_ods.runtime import Stop

    if (duration is None) == (count is None):
        raise typer.BadParameter("give one of --duration and --count")
    if source is Which.events:
        from cdc_ods.collector.cli import produce_events

        produce_events(ctx.obj.config(), rate, duration, count, seed)
        return
    limit = Limit(count=count, duration_s=duration)
    stop = Stop()
    chosen = targets(ctx.obj.config(), source.value)

    def notify() -> None:
        console.print("[yellow]stopping after the current transaction[/] (Ctrl-C again to abort)")

    with (
        opened(chosen),
        stop.on_signals(notify),
        progress_bars(console, [t.name for t in chosen], limit.expected(rate)) as advance,
    ):
        outcomes = run_producers(
            chosen, Pacer(rate), limit, seed, stop, track_rows=ledger is not None, progress=advance,
            reconnect_s=reconnect_s,
        )  # fmt: skip
    console.print(summary(outcomes))
    if ledger is not None:
        write_ledgers(ledger, seed, {name: outcome.ledger for name, outcome in outcomes.items()})
        console.print(f"ledger written to {ledger}")
    for outcome in outcomes.values():
        if outcome.error is not None:
            raise outcome.error
    if stop.is_set():
        console.print("[yellow]stopped early[/]: the summary counts every committed change")
