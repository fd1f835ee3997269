"""`cdc collector ...`: run the HTTP event collector."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pathlib import Path

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

    from cdc_ods.collector.settings import client_api_key, collector_url
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
            api_key=client_api_key(),
        )
    console.print(
        f"{report.tracked} events tracked by {report.clients} simulated apps in {report.seconds:.1f} s: "
        f"{report.accepted} accepted, {report.rejected} rejected, {report.refused} in refused batches, "
        f"{report.dropped} dropped by a queue cap, {report.unsent} unsent"
    )
    if report.unsent:
        raise CdcError(f"{report.unsent} events could not be delivered to {url} (is `cdc collector run` up?)")


key_app = typer.Typer(
    help="The apps' API keys (collector.api_keys_file): only their SHA-256 is stored; the collector "
    "re-reads the file when it changes, so keys are added and revoked without a restart.",
    no_args_is_help=True,
)
collector_app.add_typer(key_app, name="key")


def _keys_file(ctx: typer.Context) -> Path:
    from cdc_ods.collector.settings import collector_config
    from cdc_ods.errors import ConfigError

    path = collector_config(ctx.obj.config()).api_keys_file
    if path is None:
        raise ConfigError("collector.api_keys_file is not set in cdc.yaml: name the file the keys go to")
    return path


@key_app.command("add")
def key_add(
    ctx: typer.Context,
    app: Annotated[str, typer.Argument(help="The app (or channel) the key is for, e.g. ios.")],
    per_s: Annotated[float, typer.Option(help="Requests a second the key may send, on average.")] = 50.0,
    burst: Annotated[int, typer.Option(help="Requests the key may send at once.")] = 100,
) -> None:
    """A new key for APP, printed once (only its hash is kept). An app may hold several keys:
    rotate by adding one, shipping it, then removing the old one."""
    from cdc_ods.collector.key_file import add_key

    key, digest = add_key(_keys_file(ctx), app, per_s, burst)
    typer.echo(key)
    typer.echo(f"added a key for {app} (sha256 {digest[:12]}...); it is shown only now", err=True)


@key_app.command("list")
def key_list(ctx: typer.Context) -> None:
    """The keys in force: app, hash prefix, rate limit."""
    from cdc_ods.collector.key_file import read_keys

    for key in read_keys(_keys_file(ctx)).values():
        typer.echo(f"{key.app}\t{key.sha256[:12]}\t{key.per_s:g}/s burst {key.burst}")


@key_app.command("remove")
def key_remove(
    ctx: typer.Context,
    app: Annotated[str, typer.Argument(help="The app whose key goes.")],
    sha256: Annotated[
        str, typer.Option(help="The key's hash or its start (`key list`); default: all of APP's.")
    ] = "",
) -> None:
    """Revoke keys of APP: requests with them get 401 once the collector has re-read the file."""
    from cdc_ods.collector.key_file import remove_keys

    removed = remove_keys(_keys_file(ctx), app, sha256)
    typer.echo(f"removed {removed} key(s) of {app}", err=True)
