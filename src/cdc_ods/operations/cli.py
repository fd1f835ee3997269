"""`cdc dlq list|replay` and `cdc watch`."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
dlq_app = typer.Typer(
    help="The dead-letter topic (ods.dlq): look into it, replay records.", no_args_is_help=True
)

StageOption = Annotated[
    str | None, typer.Option("--stage", help="Only records this stage rejected (cleansing, loader, ...).")
]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Only reasons containing this text.")]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="Only records rejected since: 30m, 2h, 7d or an ISO-8601 time.")
]
TopicOption = Annotated[
    str | None, typer.Option("--topic", help="Only records rejected from this topic (one table's).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _selection(stage: str | None, reason: str | None, since: str | None, topic: str | None):  # -> Selection
    from cdc_ods.operations.dlq import Selection, parse_since

    return Selection(stage=stage, reason=reason, since_ms=parse_since(since) if since else None, topic=topic)


def _bootstrap(ctx: typer.Context) -> tuple[object, str]:
    from cdc_ods.endpoints import Endpoints

    config = ctx.obj.config()
    return config, Endpoints.from_config(config).kafka_bootstrap


def _clip(text: str | None, width: int = 160) -> str:
    if text is None:
        return "(null)"
    return text if len(text) <= width else text[: width - 1] + "…"


@dlq_app.command("list")
def list_(
    ctx: typer.Context,
    stage: StageOption = None,
    reason: ReasonOption = None,
    since: SinceOption = None,
    topic: TopicOption = None,
    show: Annotated[int, typer.Option("--show", help="Records shown per group.", min=0)] = 3,
    as_json: JsonOption = False,
) -> None:
    """What is in the dead-letter topic, grouped by stage and reason, with the first records."""
    from cdc_ods.operations.dlq import read_dead_letters

    _config, bootstrap = _bootstrap(ctx)
    listing = read_dead_letters(bootstrap, _selection(stage, reason, since, topic))
    groups = listing.groups()
    if as_json:
        out = {
            "total": len(listing.entries),
            "unreadable": listing.unreadable,
            "groups": [
                {"stage": s, "reason": r, "count": len(e), "records": [x.as_dict() for x in e[:show]]}
                for (s, r), e in groups
            ],
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if not groups:
        console.print(
            "[green]no dead letters[/] match"
            + (f" ({listing.unreadable} unreadable)" if listing.unreadable else "")
        )
        return
    summary = Table(title=f"ods.dlq: {len(listing.entries)} dead letters")
    for column in ("stage", "count", "reason"):
        summary.add_column(column, overflow="fold")
    for (group_stage, group_reason), entries in groups:
        summary.add_row(group_stage, str(len(entries)), group_reason)
    console.print(summary)
    for (group_stage, group_reason), entries in groups:
        if not show:
            break
        console.print(
            f"\n[bold]{group_stage}[/]: {_clip(group_reason, 200)} [dim]({len(entries)})[/]", highlight=False
        )
        for entry in entries[:show]:
            record = entry.as_dict()
            src = record["source"]
            console.print(
                f"  {src['topic']}[{src['partition']}]@{src['offset']}  key={_clip(record['key'], 80)}"
                f"  at {record['failed_at']}  (dlq {entry.ledger_key})",
                highlight=False,
                soft_wrap=True,
            )
            console.print(f"    value: {_clip(record['value'])}", highlight=False, soft_wrap=True)
    if listing.unreadable:
        console.print(
            f"[yellow]{listing.unreadable} records in ods.dlq are not dead letters of this format[/]"
        )


@dlq_app.command()
def replay(
    ctx: typer.Context,
    stage: StageOption = None,
    reason: ReasonOption = None,
    since: SinceOption = None,
    topic: TopicOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be replayed; send nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Send the selected dead letters back to the topic they came from, each only once."""
    from cdc_ods.operations.dlq import Ledger, read_dead_letters
    from cdc_ods.operations.dlq import replay as run_replay
    from cdc_ods.operations.settings import operations_config

    config, bootstrap = _bootstrap(ctx)
    listing = read_dead_letters(bootstrap, _selection(stage, reason, since, topic))
    ledger = Ledger(bootstrap, operations_config(config).replayed_topic)
    report = run_replay(bootstrap, listing.entries, ledger, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    verb = "would replay" if dry_run else "replayed"
    console.print(
        f"{verb} [bold]{sum(report.by_topic.values())}[/] of {report.selected}"
        f" selected dead letters ({report.already_replayed} replayed before)"
    )
    for topic, count in sorted(report.by_topic.items()):
        console.print(f"  {topic}: {count}", highlight=False)


def watch(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Look once, print what was done, exit.")] = False,
    metrics_port: Annotated[
        int | None, typer.Option(help="Prometheus port (default: operations.metrics_port; 0: any free port).")
    ] = None,
) -> None:
    """Restart FAILED connector tasks (backoff, capped), measure freshness and the sources' log
    retention, until Ctrl-C / SIGTERM."""
    from cdc_ods.endpoints import Endpoints
    from cdc_ods.errors import CdcError, ConfigError
    from cdc_ods.operations.freshness import FreshnessProbe
    from cdc_ods.operations.log_retention import LogRetentionProbe
    from cdc_ods.operations.settings import operations_config
    from cdc_ods.operations.table_drift import TableDriftProbe
    from cdc_ods.operations.watchdog import WatchClient, Watchdog
    from cdc_ods.runtime import stage_process

    log = logging.getLogger("cdc_ods.watchdog")
    config = ctx.obj.config()
    settings = operations_config(config)
    endpoints = Endpoints.from_config(config)
    port = None if once else settings.metrics_port if metrics_port is None else metrics_port
    with (
        stage_process(config, port) as stop,
        WatchClient.of(config) as client,
        contextlib.closing(FreshnessProbe(config, endpoints.kafka_bootstrap)) as probe,
        contextlib.closing(TableDriftProbe(config, client)) as drift_probe,
    ):
        logging.getLogger("httpx").setLevel(logging.WARNING)  # not one line per status poll
        watchdog = Watchdog(client, settings)
        retention = LogRetentionProbe(config, client)
        log.info("watching %s every %.0fs", endpoints.connect_url, settings.interval_s)
        while not stop.is_set():
            try:
                fresh = probe.measure()
                # connectors are named as their sources: heartbeat ages find stalled ones
                actions = watchdog.check(time.monotonic(), probe.heartbeat_ages)
                retention.measure()
                drift = drift_probe.measure()
            except ConfigError:
                raise  # no look can succeed: stop, named, rather than warn forever
            except CdcError as exc:
                # a service slow or answering an error: the next look tries again (exiting would
                # lose the restart history that caps restarts, and the counters)
                if once:
                    raise
                log.warning("%s; trying again in %.0fs", exc, settings.interval_s)
            else:
                if once:
                    for action in actions:
                        console.print(f"{action.kind} {action.connector} task {action.task}: {action.trace}")
                    for table, seconds in sorted(fresh.items()):
                        state = "caught up" if seconds == 0 else f"{seconds:.0f}s behind"
                        console.print(f"{table}: {state}", highlight=False)
                    for source, found in sorted(drift.items()):
                        for line in found.lines(source):  # one line each, for whoever greps it
                            console.print(line, highlight=False, soft_wrap=True)
                    return
            stop.wait(settings.interval_s)
