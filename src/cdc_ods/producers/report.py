"""What a person sees: a progress bar per source on stderr, then a summary table."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from cdc_ods.producers.ops import KINDS
from cdc_ods.producers.runner import Outcome


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} changes/s", style="cyan")


@contextmanager
def progress_bars(
    console: Console, names: list[str], expected: int | None
) -> Iterator[Callable[[str, int], None]]:
    """Bars for `names`; yields `advance(name, n)`, safe to call from worker threads."""
    progress = Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    tasks = {name: progress.add_task(name, total=expected) for name in names}
    with progress:
        yield lambda name, n: progress.advance(tasks[name], n)


def summary(outcomes: Mapping[str, Outcome]) -> Table:
    """Committed changes per source, table and operation; each source's achieved rate below."""
    table = Table(title="committed changes", title_justify="left", caption_justify="left")
    table.add_column("source")
    table.add_column("table")
    for kind in KINDS:
        table.add_column(kind, justify="right")
    table.add_column("total", justify="right")
    rates = []
    for name, outcome in outcomes.items():
        for i, (table_name, counts) in enumerate(outcome.ledger.counts().items()):
            table.add_row(
                name if i == 0 else "",
                table_name,
                *(f"{counts[kind]:,}" for kind in KINDS),
                f"{sum(counts.values()):,}",
            )
        table.add_row("", "[bold]all[/]", "", "", "", f"[bold]{outcome.ledger.total:,}[/]", end_section=True)
        result = outcome.result
        rates.append(
            f"{name}: {result.rate:,.0f} changes/s over {result.elapsed_s:.1f} s"
            + (f"; {result.in_doubt:,} in doubt (connection lost at commit)" if result.in_doubt else "")
            if result
            else f"{name}: failed"
        )
    table.caption = "\n".join(rates)
    return table
