"""Fault tests: kill -9 one pipeline component at a time under load, then reconcile.

They run against the same session stack as tests/integration (started from $CDC_CONFIG or
cdc.yaml, stopped at the end unless it was already running), so its fixtures are imported
here rather than copied. They take minutes and kill services, so `pytest tests` leaves this
folder out (`collect_ignore` in tests/conftest.py); run them with `pytest tests/fault -s`.
At the end of the session the measured recovery times are written to bench-results/faults.md.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from cdc_ods.stack.context import StackContext
from tests import PROJECT_DIR
from tests.integration.conftest import endpoints, prepare_pipeline, stack

__all__ = ["Recovery", "endpoints", "pipeline", "recoveries", "stack"]

RESULTS_FILE: Path = PROJECT_DIR / "bench-results" / "faults.md"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fault: kills a stack service under load (tests/fault)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fault" in str(item.fspath):
            item.add_marker(pytest.mark.fault)


@dataclass
class Recovery:
    """What one kill -9 cost, as measured by its test."""

    component: str
    restart_s: float | None = None  # kill -> the service passes its health check again
    recovery_s: float | None = None  # kill -> the ODS has caught up with the sources again
    restarted_by: str = "supervisord"
    reconcile: str = "not reached"
    alerts: str = "-"  # the alerts Prometheus fired meanwhile (outages)


@pytest.fixture(scope="session")
def recoveries() -> Iterator[list[Recovery]]:
    """Collects each test's Recovery; writes them as a markdown table when the session ends."""
    results: list[Recovery] = []
    yield results
    if results:
        RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        RESULTS_FILE.write_text(_markdown(results), encoding="utf-8")
        print(f"\nfault results written to {RESULTS_FILE}")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _markdown(results: list[Recovery]) -> str:
    memory_gb = psutil.virtual_memory().total / 2**30
    lines = [
        "# Fault tests: kill -9 and outages under load",
        "",
        f"`pytest tests/fault -s`, {time.strftime('%Y-%m-%d %H:%M %Z')}, on {platform.node()} "
        f"({psutil.cpu_count()} CPUs, {memory_gb:.0f} GiB, shared with other stacks).",
        "",
        "Producers write `cdc produce all --rate 200 --reconnect-s 300` (per source) throughout.",
        "Each component in turn is killed with SIGKILL (the source databases too), then every",
        "process of the stack at once; then Kafka and the Query Server are each stopped for five",
        "minutes. *restart* is kill -> the service passes its health check again (everything: ->",
        "`cdc stack up --pipeline` returned; an outage: its length), *recovery* is kill (or the",
        "outage's start) -> the ODS has caught up with the sources' log positions taken once the",
        "service was back; then the producers stop and `cdc reconcile` compares every table row",
        "by row (and fails on a sequence gap or regression). Debezium's MariaDB account is locked",
        "under its running connector, unlocked after the watchdog's first restart (*restart*:",
        "unlock -> RUNNING, *recovery*: unlock -> reconcile clean), then locked for good (the",
        "watchdog gives up, the alert fires). Last, each source's log is removed",
        "while its connector is stopped (binlog purged, slot invalidated) and `cdc connectors",
        "recover` brings it back (*recovery*: the command's run). Schema changes other than ADD",
        "COLUMN run under load on both source kinds, reconciled once the producers stopped",
        "(*recovery*: the way back's run, e.g. `cdc connectors snapshot --replace`).",
        "",
        "| component | recovery time (s) | restart (s) | restarted by | reconcile | alerts fired |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.component} | {_seconds(r.recovery_s)} | {_seconds(r.restart_s)} | {r.restarted_by} "
        f"| {r.reconcile} | {r.alerts} |"
        for r in results
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def pipeline(stack: StackContext) -> StackContext:
    return prepare_pipeline(stack, seed=901)
