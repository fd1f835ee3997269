"""`cdc bench`: the pipeline's end-to-end throughput and latency at rising rates; `cdc soak`:
an hour of steady load, judged for growth."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from cdc_ods.config import Config
    from cdc_ods.stack.manager import StackManager

err = Console(stderr=True)


def bench(
    ctx: typer.Context,
    rates: Annotated[
        str, typer.Option(help="Offered changes/s per step, all sources together, comma-separated.")
    ] = "1000,2500,5000,10000",
    step_seconds: Annotated[float, typer.Option(help="How long the producers write at each rate.")] = 20,
    out: Annotated[Path, typer.Option(help="Where bench.json and bench.png go.")] = Path("bench-results"),
    drain: Annotated[
        int,
        typer.Option(
            min=0,
            help="After the steps: commit this many changes with capture paused, release them and"
            " time the drain into the ODS (0: no drain). Use --rates '' for the drain alone.",
        ),
    ] = 0,
    ceilings: Annotated[
        bool,
        typer.Option(
            help="After the drain: each stage alone on a backlog of the same size (capture, cleansing,"
            " loader, HBase batched puts), and the drain's rate against the slowest. Stops and starts"
            " the local stack's stages.",
        ),
    ] = False,
    warmup: Annotated[
        float,
        typer.Option(
            min=0,
            help="First, for at most this many seconds, offer 1,000 changes/s unmeasured until the"
            " local stack's JVMs have compiled their hot code (their JIT compilers under 10 % of a core"
            " over a minute); 0: measure at once.",
        ),
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="The result as JSON on stdout.")] = False,
) -> None:
    """Run producers at rising rates with latency probes; report throughput, p50/p95/p99 and,
    with the local stack, what a change costs each process (CPU time per change, memory)."""
    from cdc_ods.bench.run import run_bench

    config = ctx.obj.config()
    pids = _stack_pids(config)
    if ceilings and not drain:
        raise typer.BadParameter(
            "the ceilings are read against a drain: give --drain N", param_hint="--ceilings"
        )

    try:
        offered = [float(r) for r in rates.split(",") if r.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"not a comma-separated list of numbers: {rates!r}", param_hint="--rates"
        ) from None
    if not offered and not drain:
        raise typer.BadParameter("no rate and no drain: nothing to measure", param_hint="--rates")
    result = run_bench(
        config,
        offered,
        step_seconds,
        out,
        report=lambda m: err.print(f"[cyan]•[/] {m}"),
        pids=pids,
        drain=drain,
        switch=_stage_switch(config) if ceilings else None,
        warmup_s=warmup,
    )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    if result["steps"]:
        Console().print(_latency_table(result["steps"]))
        Console().print(_stages_table(result["steps"]))
        Console().print(_rows_table(result["steps"]))
    spans = [(f"{step['offered_per_s']:,.0f}/s", step) for step in result["steps"]]
    if result["drain"] is not None:
        d = result["drain"]
        spans.append((f"drain of {d['changes']:,} changes: {d['per_s']:,.0f}/s in {d['seconds']} s", d))
    for title, span in spans:
        if span["cost"]:
            Console().print(_cost_table(title, span))
    if result["ceilings"] is not None:
        Console().print(_ceilings_table(result["ceilings"], result["drain"]))
    err.print(f"written: {out / 'bench.json'}" + (f", {out / 'bench.png'}" if result["steps"] else ""))


def _local_stack(config: Config) -> StackManager:
    from cdc_ods.stack.context import StackContext
    from cdc_ods.stack.manager import StackManager

    return StackManager(StackContext(config), lambda _message: None)


def _stack_pids(config: Config) -> Callable[[], dict[str, int]]:
    """The local stack's processes, read when called; none when it does not run here."""
    manager = _local_stack(config)
    return lambda: {s.name: s.pid for s in manager.status(check_health=False) if s.pid}


def _stage_switch(config: Config) -> Callable[[str, bool], None]:
    """Stops or starts a stage of the local stack; refuses when the stack does not run here."""
    manager = _local_stack(config)
    if not manager.supervisor.is_running():
        raise typer.BadParameter(
            "the ceilings stop and start the pipeline's stages: they need the local stack"
            " (cdc stack up --pipeline)",
            param_hint="--ceilings",
        )
    return lambda name, running: manager.up([name]) if running else manager.stop([name])


def soak(
    ctx: typer.Context,
    minutes: Annotated[int, typer.Option(min=2, help="How long the load runs.")] = 60,
    rate: Annotated[float, typer.Option(min=1, help="Changes/s, all relational sources together.")] = 1000,
    events_rate: Annotated[float, typer.Option(min=0, help="Events/s the apps send the collector.")] = 100,
    warmup: Annotated[int, typer.Option(min=0, help="Minutes left out of the growth verdict.")] = 10,
    out: Annotated[Path, typer.Option(help="Where soak.json and soak.png go.")] = Path("bench-results"),
) -> None:
    """Steady load for a while; each minute every process's memory, the probes' latency and the
    backlog; then reconcile. Exit 1 when a series grows beyond its bound or reconcile differs."""
    from cdc_ods.bench.soak import run_soak

    config = ctx.obj.config()
    report = lambda m: err.print(f"[cyan]•[/] {m}")  # noqa: E731
    result = run_soak(config, minutes, rate, events_rate, out, report, _stack_pids(config), warmup)
    table = Table(title=f"cdc soak: {minutes} min at {rate:,.0f} changes/s + {events_rate:,.0f} events/s")
    for column in ("series", "mean", "growth / h", "bound / h", ""):
        table.add_column(column, justify="right")
    for t in result["trends"]:
        if t["bound"] is None:
            verdict = f"not judged: {t['why']}"
        else:
            verdict = "[green]steady[/]" if t["ok"] else "[red]GROWS[/]"
            verdict += f" ({t['why']})" if t["why"] else ""
        figures = (f"{t[k]:,.1f}" if t[k] is not None else "-" for k in ("mean", "per_hour", "bound"))
        table.add_row(t["series"], *figures, verdict)
    Console().print(table)
    reconciled = result["reconcile"]
    err.print(
        ("reconcile: ok" if reconciled["ok"] else "reconcile: DIFFERENCES")
        + "".join(f"\n  {line}" for line in reconciled["tables"])
    )
    err.print(f"written: {out / 'soak.json'}, {out / 'soak.png'}")
    if not (result["steady"] and reconciled["ok"]):
        raise typer.Exit(1)


def _latency_table(steps: list[dict]) -> Table:
    table = Table(title="cdc bench: source commit -> ODS")
    for column in (
        "offered/s",
        "achieved/s",
        "catch-up s",
        "source",
        "changes",
        "p50 ms",
        "p95 ms",
        "p99 ms",
    ):
        table.add_column(column, justify="right")
    for step in steps:
        for i, (name, s) in enumerate(step["sources"].items()):
            lat = s["latency_ms"]
            table.add_row(
                f"{step['offered_per_s']:,.0f}" if i == 0 else "",
                f"{step['throughput_per_s']:,.0f}" if i == 0 else "",
                f"{step['catch_up_s']}" if i == 0 else "",
                name, f"{s['changes']:,}",
                *(f"{lat[q]:,.0f}" if lat[q] is not None else "-" for q in ("p50", "p95", "p99")),
            )  # fmt: skip
    return table


def _stages_table(steps: list[dict]) -> Table:
    """The probes' latency split by stage (bench.breakdown), p50 / p99 ms."""
    from cdc_ods.bench.breakdown import HOPS

    table = Table(title="where a probe's milliseconds go: p50 / p99 ms")
    for column in ("offered/s", "source", *HOPS):
        table.add_column(column, justify="right")
    for step in steps:
        for i, (name, s) in enumerate(step["sources"].items()):
            hops = [s["stages_ms"].get(hop, {}) for hop in HOPS]
            cells = ["-" if h.get("p50") is None else f"{h['p50']:,.0f} / {h['p99']:,.0f}" for h in hops]
            table.add_row(f"{step['offered_per_s']:,.0f}" if i == 0 else "", name, *cells)
    return table


def _rows_table(steps: list[dict]) -> Table:
    """Every row's last change of the step, from its ODS timestamps (bench.row_latency)."""
    table = Table(
        title="every row changed: source commit -> handed to Phoenix, ms",
        caption="- : the source's log stamps commits in whole seconds (MariaDB, MySQL)",
    )
    for column in ("offered/s", "source", "rows", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="right")
    for step in steps:
        for i, (name, s) in enumerate(step["sources"].items()):
            rows = s.get("rows_ms")
            cells = ["-"] * 5 if rows is None else [
                f"{rows['rows']:,}",
                *("-" if rows[q] is None else f"{rows[q]:,.0f}" for q in ("p50", "p95", "p99", "max")),
            ]  # fmt: skip
            table.add_row(f"{step['offered_per_s']:,.0f}" if i == 0 else "", name, *cells)
    return table


def _ceilings_table(ceilings: dict, drain: dict) -> Table:
    ratio = ceilings["drain_vs_slowest"]
    share = "-" if ratio is None else f"{ratio:.0%}"
    table = Table(
        title=f"each stage alone: the drain ran at {drain['per_s']:,.0f}/s, {share} of the slowest"
        f" ({ceilings['slowest']})"
    )
    for column in ("stage", "records", "start-up s", "seconds", "records/s", "stack CPU µs / record"):
        table.add_column(column, justify="right")
    for c in ceilings["stages"]:
        cpu = c["stack_cpu_us_per_record"]
        table.add_row(
            c["stage"], f"{c['records']:,}", f"{c['startup_s']}", f"{c['seconds']}", f"{c['per_s']:,.0f}",
            "-" if cpu is None else f"{cpu:,.0f}",
        )  # fmt: skip
    return table


def _cost_table(title: str, span: dict) -> Table:
    jit_s = sum(c["jit_cpu_s"] for c in span["cost"].values())
    table = Table(
        title=f"{title}: what a change costs (stack: {span['stack_cpu_us_per_change']:,.0f} CPU-µs)",
        caption=f"of the CPU s, the JVMs' JIT compilers: {jit_s:,.1f} s" if jit_s else None,
    )
    for column in ("process", "CPU s", "of it JIT s", "CPU µs / change", "RSS MB"):
        table.add_column(column, justify="right")
    for name, c in sorted(span["cost"].items(), key=lambda item: -item[1]["cpu_s"]):
        jit = c["jit_cpu_s"]
        table.add_row(
            name, f"{c['cpu_s']:,.1f}", f"{jit:,.1f}" if jit else "", f"{c['cpu_us_per_change']:,.0f}",
            f"{c['rss_mb']:,.0f}",
        )  # fmt: skip
    return table
