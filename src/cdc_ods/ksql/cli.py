"""`cdc ksql ...`: generate cleansing scripts, apply them to ksqlDB, or run them embedded."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
ksql_app = typer.Typer(
    help="KSQL cleansing: generate scripts, apply them (ksqlDB or embedded).", no_args_is_help=True
)

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Directory of the .sql scripts (default: ksql/ next to cdc.yaml)."),
]
GroupOption = Annotated[
    str | None, typer.Option("--group", help="Consumer group (default: cleansing.group_id).")
]
MetricsPortOption = Annotated[
    int | None,
    typer.Option("--metrics-port", help="Prometheus port (default: cleansing.metrics_port; 0: any)."),
]


class Backend(StrEnum):
    embedded = "embedded"
    ksqldb = "ksqldb"


@ksql_app.command()
def generate(
    ctx: typer.Context,
    directory: DirOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite scripts that exist.")] = False,
    update: Annotated[
        bool,
        typer.Option("--update", help="Also rewrite scripts that are unedited generated ones."),
    ] = False,
) -> None:
    """Write a starting script for every configured table from its source schema."""
    from cdc_ods.ksql.schema import write_scripts

    config = ctx.obj.config()
    write_scripts(
        config, directory or config.scripts_dir, force, update, lambda m: console.print(m, highlight=False)
    )


def _scripts(directory: Path) -> list:
    from cdc_ods.ksql.parser import parse_script
    from cdc_ods.ksql.plan import script_files

    return [parse_script(p.read_text(encoding="utf-8"), str(p)) for p in script_files(directory)]


@ksql_app.command()
def apply(
    ctx: typer.Context,
    backend: Annotated[Backend, typer.Option("--backend", help="ksqldb: REST API; embedded: run here.")] = (
        Backend.embedded
    ),
    directory: DirOption = None,
    url: Annotated[str | None, typer.Option("--url", help="ksqlDB URL (default: $CDC_KSQLDB_URL).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Embedded: validate the scripts and exit.")] = False,
    group: GroupOption = None,
    idle_exit: Annotated[
        float | None, typer.Option("--idle-exit", help="Embedded: stop after this many idle seconds.")
    ] = None,
    metrics_port: MetricsPortOption = None,
) -> None:
    """Apply the scripts: submit to a ksqlDB server, or run them embedded until SIGTERM/Ctrl-C."""
    directory = directory or ctx.obj.config().scripts_dir
    if backend is Backend.ksqldb:
        from cdc_ods.settings import KsqlDb

        _apply_ksqldb(ctx, directory, url or KsqlDb().url)
    else:
        _run_embedded(ctx, directory, check, group, idle_exit, metrics_port)


@ksql_app.command()
def run(
    ctx: typer.Context,
    directory: DirOption = None,
    group: GroupOption = None,
    idle_exit: Annotated[
        float | None, typer.Option("--idle-exit", help="Stop after this many idle seconds.")
    ] = None,
    metrics_port: MetricsPortOption = None,
) -> None:
    """Run the scripts with the embedded backend until SIGTERM/Ctrl-C (= apply --backend embedded)."""
    _run_embedded(ctx, directory or ctx.obj.config().scripts_dir, False, group, idle_exit, metrics_port)


def _apply_ksqldb(ctx: typer.Context, directory: Path, url: str) -> None:
    from cdc_ods import contract
    from cdc_ods.endpoints import Endpoints
    from cdc_ods.errors import CdcError
    from cdc_ods.kafka import ensure_topic
    from cdc_ods.ksql.ksqldb import KsqlDbClient

    scripts = _scripts(directory)
    bootstrap = Endpoints.from_config(ctx.obj.config()).kafka_bootstrap

    def create(topic: str) -> None:
        ensure_topic(bootstrap, topic, config=contract.CLEANSED_TOPIC_CONFIG)

    with KsqlDbClient(url, ensure_topic=create) as client:
        results = client.apply(scripts)
    table = Table("script", "line", "statement", "outcome", "message")
    for r in results:
        first = r.statement.text.splitlines()[0][:60]
        table.add_row(Path(r.origin).name, str(r.statement.line), first, r.outcome, r.message[:80])
    console.print(table)
    failed = [r for r in results if r.outcome == "error"]
    if failed:
        raise CdcError(f"{Path(failed[0].origin).name}:{failed[0].statement.line}: {failed[0].message}")


def _run_embedded(
    ctx: typer.Context,
    directory: Path,
    check: bool,
    group: str | None,
    idle_exit: float | None,
    metrics_port: int | None,
) -> None:
    from cdc_ods.endpoints import Endpoints
    from cdc_ods.ksql.drift import SchemaDrift, runtime_dir, source_tables
    from cdc_ods.ksql.engine import Engine
    from cdc_ods.ksql.functions import PII_KEY_ENV, pii_key, use_pii_key
    from cdc_ods.ksql.plan import plan_scripts, read_scripts, script_files
    from cdc_ods.ksql.runner import Counters, Runner
    from cdc_ods.runtime import stage_process
    from cdc_ods.secrets import load_credentials, lookup_secret
    from cdc_ods.sources import source_for
    from cdc_ods.topology import raw_topic_partitions

    config = ctx.obj.config()
    # the PII key: the environment's, else the secrets file's (the local stack's, generated)
    use_pii_key(lookup_secret(config.data_dir, PII_KEY_ENV) or load_credentials(config.data_dir).pii_hash_key)
    scripts = read_scripts(script_files(directory))
    plan = plan_scripts(scripts)
    pii_key()  # fail now, not on the first record, when the masking key is missing
    engine = Engine(plan)
    if check:
        sinks = sorted({q.target.topic for q in plan.queries if not q.target.in_process})
        console.print(f"ok: {len(plan.streams)} streams, {len(plan.queries)} queries")
        console.print(f"reads {', '.join(engine.topics)}; writes {', '.join(sinks)}")
        return
    endpoints = Endpoints.from_config(config)
    bootstrap = endpoints.kafka_bootstrap
    group = group or config.cleansing.group_id
    drift = SchemaDrift(
        scripts,
        runtime_dir(config, group),
        source_tables(config),
        lambda source, table: source_for(config, source, endpoints).catalog(table),
    )

    def report(c: Counters) -> None:
        console.print(
            f"consumed {c.consumed}, produced {c.produced}, dead letters {c.rejected},"
            f" {c.rate():.0f} records/s"
        )

    console.print(f"running {len(plan.queries)} queries over {', '.join(engine.topics)} (group {group})")
    runner = Runner(
        engine,
        bootstrap,
        group=group,
        batch_size=config.cleansing.batch_size,
        report=report,
        drift=drift,
        planned=lambda topic: raw_topic_partitions(config, topic),
    )
    port = config.cleansing.metrics_port if metrics_port is None else metrics_port
    with stage_process(config, port) as stop:
        counters = runner.run(stop, idle_exit_s=idle_exit)
    report(counters)
