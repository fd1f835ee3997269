"""Lost logs: the log a stopped connector needs is removed at the source; one command recovers.

For each source kind, with its connector stopped (Connect's `PUT .../stop`): changes are
written and three rows the ODS holds are deleted, then the log the connector must read next
is removed: MariaDB's binlog files purged (`PURGE BINARY LOGS`), PostgreSQL's replication
slot invalidated (`max_slot_wal_keep_size` lowered, more WAL written, CHECKPOINT). Before the
connector runs again the watchdog reports the log gone (`cdc_source_log_available` 0),
Prometheus fires `SourceLogLost`, and `cdc status` names it with the command. Started again,
the MariaDB connector FAILS (`cdc connectors status` names the lost log and the command,
`cdc_connector_log_lost` is 1); the PostgreSQL one waits for a valid slot (Debezium retries
for 30 minutes before it fails). `cdc connectors recover` re-snapshots and removes the rows
deleted meanwhile; `cdc reconcile` finds every table equal.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from cdc_ods import contract
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.dlq import DLQ_TOPIC
from cdc_ods.endpoints import Endpoints
from cdc_ods.sources import Source, source_for
from cdc_ods.stack.context import StackContext
from tests.integration.conftest import cdc, end_offsets

from .conftest import Recovery
from .test_kill9 import reconcile_clean

WAIT_S = 120  # for the watchdog's gauges (every operations.interval_s) and a Prometheus alert


def _until(what: str, probe: Callable[[], Any], timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := probe()):
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f}s: {what}"
        time.sleep(2)
    return found


def _watchdog_sample(ctx: StackContext, series: str) -> float | None:
    text = httpx.get(f"http://{ctx.host}:{ctx.config.operations.metrics_port}/metrics", timeout=5).text
    return next((float(x.rpartition(" ")[2]) for x in text.splitlines() if x.startswith(series + " ")), None)


def _firing(ctx: StackContext, alert: str, **labels: str) -> bool:
    url = f"{Endpoints.from_config(ctx.config).prometheus_url}/api/v1/alerts"
    return any(
        a["labels"].get("alertname") == alert
        and labels.items() <= a["labels"].items()
        and a["state"] == "firing"
        for a in httpx.get(url, timeout=5).json()["data"]["alerts"]
    )


def _purge_binlogs(src: Source) -> None:
    """Every binlog file before a new one: the stopped connector's file goes too. (MariaDB
    keeps, with a warning only, a file a binlog dump still reads: a stopped task's reader may
    take a few seconds to disconnect.)"""
    conn = src.connect("admin")
    try:
        with conn.cursor() as cur:
            cur.execute("FLUSH BINARY LOGS")
            cur.execute("SHOW MASTER STATUS")
            current = cur.fetchone()[0]

            def purged() -> bool:
                cur.execute(f"PURGE BINARY LOGS TO '{current}'")
                cur.execute("SHOW BINARY LOGS")
                return [row[0] for row in cur.fetchall()] == [current]

            _until(f"binlog files before {current} purged", purged, timeout_s=60)
    finally:
        conn.close()


def _delete_three(src: Source, table: str) -> None:
    """Three rows the ODS holds, deleted while the connector cannot see it."""
    if src.kind == "postgres":
        with src.connect("admin") as conn:
            conn.execute(f"DELETE FROM {src.schema}.{table} WHERE id IN (SELECT id FROM {src.schema}.{table}"
                         " ORDER BY id LIMIT 3)")  # fmt: skip
        return
    conn = src.connect("admin")
    try:
        with conn.cursor() as cur:
            cur.execute(f"DELETE FROM {table} ORDER BY id LIMIT 3")
        conn.commit()
    finally:
        conn.close()


@contextmanager
def _slot_wal_limit(src: Source) -> Iterator[None]:
    """max_slot_wal_keep_size at 16 MB for the body (a reload suffices), back to unlimited after."""
    with src.connect("admin") as conn:
        conn.execute("ALTER SYSTEM SET max_slot_wal_keep_size = '16MB'")
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield
    finally:
        with src.connect("admin") as conn:
            conn.execute("ALTER SYSTEM RESET max_slot_wal_keep_size")
            conn.execute("SELECT pg_reload_conf()")


def _invalidate_slot(src: Source) -> None:
    """Write WAL past the limit in a table nobody captures, then a checkpoint removes it."""
    with src.connect("admin") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.cdc_fault_filler (n int, pad text)")
        for _ in range(4):
            conn.execute(
                "INSERT INTO public.cdc_fault_filler"
                " SELECT g, repeat('x', 900) FROM generate_series(1, 20000) g"
            )
            conn.execute("SELECT pg_switch_wal()")
        conn.execute("CHECKPOINT")
        conn.execute("DROP TABLE public.cdc_fault_filler")
        status = conn.execute(
            "SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", (src.slot,)
        ).fetchone()
    assert status == ("lost",), f"the slot is not invalidated: {status}"


@pytest.mark.parametrize(("source", "table"), [("mysql", "movies"), ("postgres", "episodes")])
def test_a_lost_log_is_named_alerted_and_recovered_by_one_command(
    source: str,
    table: str,
    pipeline: StackContext,
    endpoints: Endpoints,
    recoveries: list[Recovery],
    tmp_path: Path,
) -> None:
    config = pipeline.config
    src = source_for(config, source)
    record = Recovery(f"{source}: its log lost while stopped", restarted_by="cdc connectors recover")
    recoveries.append(record)
    dlq_start = end_offsets(endpoints.kafka_bootstrap, DLQ_TOPIC)
    limit = _slot_wal_limit(src) if source == "postgres" else _no_limit()
    with ConnectClient.of(config) as connect, limit:
        connect.stop(source)
        connect.wait_state(source, "STOPPED", timeout_s=60)
        produced = cdc("produce", source, "--count", "600", "--rate", "0", "--seed", "977")
        assert produced.returncode == 0, produced.stderr
        _delete_three(src, table)
        if source == "postgres":
            _invalidate_slot(src)
        else:
            _purge_binlogs(src)

        available = f'cdc_source_log_available{{source="{source}"}}'
        _until(f"{available} == 0", lambda: _watchdog_sample(pipeline, available) == 0)
        _until("SourceLogLost firing", lambda: _firing(pipeline, "SourceLogLost", source=source))
        health = cdc("status").stdout
        assert f"source {source}: the log its connector must read next is gone" in health, health
        assert f"cdc connectors recover {source}" in health, health

        connect.resume(source)
        if source == "mysql":
            _until(f"{source} task FAILED", lambda: "FAILED" in str(connect.status(source)))
            status = cdc("connectors", "status", source)
            way_out = f"cannot be read any more: `cdc connectors recover {source}`"
            assert f"way out: the changes in the lost log {way_out}" in status.stdout, status.stdout
            lost = f'cdc_connector_log_lost{{connector="{source}",task="0"}}'
            _until(f"{lost} == 1", lambda: _watchdog_sample(pipeline, lost) == 1)

    started = time.monotonic()
    recovered = cdc("connectors", "recover", source, timeout=1800)
    record.recovery_s = time.monotonic() - started
    print(recovered.stderr)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    removed = {t: int(n) for t, n in re.findall(r"(ODS\.\S+): (\d+) row\(s\) deleted", recovered.stderr)}
    assert removed.get(contract.ods_table(source, src.source.database, table), 0) >= 3, recovered.stderr
    _until(f"{available} == 1", lambda: _watchdog_sample(pipeline, available) == 1)
    reconcile_clean(record, endpoints, dlq_start)


@contextmanager
def _no_limit() -> Iterator[None]:
    yield
