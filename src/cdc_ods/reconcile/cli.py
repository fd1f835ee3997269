"""`cdc reconcile`: every source table against its ODS table.

Exit status: 0 every table equal; 1 a row lost (a difference no dead letter explains, or a
sequence gap); 3 only rows a stage rejected differ (each has a dead letter with its reason).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from cdc_ods.config import Config
    from cdc_ods.dlq import DeadLetter
    from cdc_ods.ods.sequence import Totals

err = Console(stderr=True)
LOST, REJECTED = 1, 3  # exit statuses (module docstring)


def reconcile(
    ctx: typer.Context,
    table: Annotated[
        list[str] | None,
        typer.Option("--table", "-t", help="Only these tables: `table` or `source.table` (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout.")] = False,
    limit: Annotated[int, typer.Option(help="How many keys to list per kind of difference.")] = 20,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait", help="First wait until the pipeline has caught up with the sources."
        ),
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the pipeline to catch up.")] = 300,
) -> None:
    """Compare source tables with the ODS: row counts and per-row content hashes. A difference whose
    key a stage dead-lettered is reported as rejected, with the stage and reason; one without is
    lost. Exit 0: equal; 1: rows lost; 3: only rejected rows differ."""
    from cdc_ods.endpoints import Endpoints
    from cdc_ods.errors import ConfigError
    from cdc_ods.ods.source_schema import read_table_schema
    from cdc_ods.reconcile.catchup import wait_caught_up
    from cdc_ods.reconcile.compare import compare
    from cdc_ods.reconcile.readers import ods_rows, sequence_totals, source_rows
    from cdc_ods.reconcile.rejections import rejections
    from cdc_ods.topology import FlowingTable, source_tables, stages

    config = ctx.obj.config()
    url = Endpoints.from_config(config).phoenix_url
    relational = [s for s in config.sources if s.enabled and s.has_catalog]
    flowing = [(t.config, t.table) for t in source_tables(config, relational_only=True) if t.config]
    if table:  # `source.table` may name any table of a source; a bare name, a configured one
        chosen = []
        for wanted in table:
            source_name, _, name = wanted.rpartition(".")
            if source_name:
                chosen += [(s, name) for s in relational if s.name == source_name]
            else:
                chosen += [(s, t) for s, t in flowing if t == name]
    else:
        chosen = flowing
    if not chosen:
        raise ConfigError(f"no enabled relational source table matches {table}")
    if wait:
        with err.status("waiting for the pipeline to catch up with the sources") as status:
            wait_caught_up(config, stages(config), timeout, report=lambda m: status.update(m))
    sequences = sequence_totals(url)
    letters = _dead_letters(config)
    reports = []
    for source, name in chosen:
        schema = read_table_schema(config, source, name)
        flowing = FlowingTable(source.name, source.database, name, source)
        topics = {flowing.raw_topic, flowing.cleansed_topic}
        with err.status(f"comparing {source.name}.{name} with {schema.ods_name}"):
            reports.append(
                compare(
                    schema,
                    lambda source=source, schema=schema: source_rows(config, source, schema),
                    lambda schema=schema: ods_rows(url, schema),
                    limit=limit,
                    rejected=lambda schema=schema, topics=topics: rejections(schema, topics, letters()),
                )
            )
        reports[-1].sequence = sequences.get(schema.ods_name)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in reports], indent=2, default=str))
    else:
        view = Table(title="reconcile: source vs ODS")
        for column in (
            "table", "ODS table", "source rows", "ODS rows", "missing", "extra", "different", "rejected",
            "sequence", "",
        ):  # fmt: skip
            view.add_column(column)
        for r in reports:
            verdict = "[green]ok[/]" if r.ok else "[red]LOST[/]" if r.lost else "[yellow]REJECTED[/]"
            view.add_row(
                r.table, r.ods_table, str(r.source_rows), str(r.ods_rows), str(r.missing_count),
                str(r.extra_count), str(r.different_count), str(r.rejected_count),
                _sequence_cell(r.sequence), verdict,
            )  # fmt: skip
        Console().print(view)
        for r in reports:
            for kind, keys in (("missing", r.missing), ("extra", r.extra), ("different", r.different)):
                if keys:
                    err.print(f"{r.table}: lost: {kind} keys (first {len(keys)}): {keys}")
            for rejected in r.rejected:
                err.print(
                    f"{r.table}: rejected: {rejected['kind']} key {rejected['key']}:"
                    f" {rejected['stage']}: {rejected['reason']}",
                    highlight=False, markup=False,
                )  # fmt: skip
            if not r.sequence_ok and r.sequence is not None:
                err.print(f"{r.table}: sequence integrity: {r.sequence.last_problem}")
    if any(r.lost for r in reports):
        raise typer.Exit(LOST)
    if not all(r.ok for r in reports):
        raise typer.Exit(REJECTED)


def _dead_letters(config: Config) -> Callable[[], list[DeadLetter]]:
    """The dead-letter topic's letters, read once when first asked for (only a table that
    differs asks)."""
    from cdc_ods.endpoints import Endpoints
    from cdc_ods.operations.dlq import Selection, read_dead_letters

    bootstrap = Endpoints.from_config(config).kafka_bootstrap
    return functools.cache(lambda: [e.letter for e in read_dead_letters(bootstrap, Selection()).entries])


def _sequence_cell(totals: Totals | None) -> str:
    """The loader's sequence checks of a table, in a word or three."""
    if totals is None:
        return "not tracked"
    if totals.gaps or totals.regressions:
        return f"[red]{totals.gaps} gaps, {totals.regressions} regressions[/]"
    duplicates = f", {totals.duplicates:,} sent again" if totals.duplicates else ""
    return f"ok ({totals.checked:,} checked{duplicates})"
