"""`cdc collector ...`: run the HTTP event collector."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from cdc_ods.config import Config

collector_app = typer.Typer(help="The HTTP event collector: app telemetry -> Kafka.", no_args_is_help=True)


@collector_app.command()
def run(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Listen port (default: collector.port).")] = None,
) -> None:
    """Accept gzip event batches over HTTP and write them to the raw events topic (Ctrl-C / SIGTERM stop)."""
    import asyncio

    from cdc_ods.collector.server import CollectorServer, serve_until_stopped
    from cdc_ods.collector.settings import EVENTS_TOPIC, collector_config
    from cdc_ods.dlq import ensure_dlq_topic
    from cdc_ods.endpoints import Endpoints
    from cdc_ods.kafka import ensure_topic
    from cdc_ods.metrics_server import bind_address
    from cdc_ods.runtime import stage_process

    config = ctx.obj.config()
    settings = collector_config(config)
    bootstrap = Endpoints.from_config(config).kafka_bootstrap
    ensure_topic(bootstrap, EVENTS_TOPIC, partitions=settings.partitions)
    ensure_dlq_topic(bootstrap)
    host = bind_address(config)
    with stage_process(config, None) as stop:  # /metrics is a route of the collector's own server
        asyncio.run(serve_until_stopped(CollectorServer(settings, bootstrap, host, port), stop))


def produce_events(
    config: Config, rate: float, duration: float | None, count: int | None, seed: int = 1, clients: int = 20
) -> None:
    """`cdc produce events`: simulated app installs send events to the collector; prints a summary.

    Not a command of its own: `cdc produce` delegates here when its source is `events`.
    """
    from rich.console import Console
    from rich.progress import Progress

    from cdc_ods.collector.settings import collector_url
    from cdc_ods.collector.simulate import simulate
    from cdc_ods.errors import CdcError

    console = Console(stderr=True)
    url = collector_url(config)
    total = count if count is not None else (int(rate * duration) if rate and duration else None)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"events -> {url}", total=total)
        report = simulate(
            url,
            rate,
            duration_s=duration,
            count=count,
            clients=clients,
            seed=seed,
            work_dir=config.data_dir if config.data_dir.is_dir() else None,
            progress=lambda n: progress.advance(task, n),
        )
    console.print(
        f"{report.tracked} events tracked by {report.clients} simulated apps in {report.seconds:.1f} s: "
        f"{report.accepted} accepted, {report.rejected} rejected, {report.refused} in refused batches, "
        f"{report.dropped} dropped by a queue cap, {report.unsent} unsent"
    )
    if report.unsent:
        raise CdcError(f"{report.unsent} events could not be delivered to {url} (is `cdc collector run` up?)")
