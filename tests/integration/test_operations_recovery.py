"""Operations end to end on the whole running stack: a source account locked under a running
connector (the watchdog restarts the task, the pipeline catches up, a lasting lock is given up
on and alerted in Prometheus), and dead letters replayed into Phoenix by the real loader.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import phoenixdb
import pymysql
import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition

from cdc_ods import contract
from cdc_ods.config import Config
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import client_config
from cdc_ods.ods.schema import create_table_ddl
from cdc_ods.ods.source_schema import read_table_schema
from cdc_ods.secrets import DEBEZIUM_USER
from cdc_ods.sources import source_for
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager
from tests import PROJECT_DIR

from .conftest import cdc, metric_value
from .test_loader import produce, record
from .test_pipeline_e2e import reconcile_ok

T = TypeVar("T")

# Short enough for a test, long enough for a busy machine: the first restart (for the stall)
# and the next one are 20 s apart, time to see the task FAILED and unlock the account.
WATCH = {
    "interval_s": 2,
    "stalled_after_s": 25,
    "restart_backoff_s": 20,
    "restart_backoff_max_s": 20,
    "restart_max_attempts": 3,
    "healthy_after_s": 15,
}
MYSQL_TASK = {"connector": "mysql", "task": "0"}


def _wait(what: str, probe: Callable[[], T | None], timeout_s: float) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def _set_debezium_account(config: Config, locked: bool) -> None:
    """Lock or unlock the debezium account; locking also ends its open sessions (the binlog
    reader's), which a lock alone leaves connected. Not written to the binlog: a trailing
    statement Debezium does not capture would keep its offset short of the log's end, and
    reconcile waiting for it."""
    conn = source_for(config, "mysql").connect("admin")
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_log_bin = 0")
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"ALTER USER '{DEBEZIUM_USER}'@'{host}' ACCOUNT {'LOCK' if locked else 'UNLOCK'}")
            if locked:
                cur.execute("SELECT id FROM information_schema.processlist WHERE user = %s", (DEBEZIUM_USER,))
                for (session,) in cur.fetchall():
                    with contextlib.suppress(pymysql.MySQLError):  # it may have ended meanwhile
                        cur.execute(f"KILL CONNECTION {int(session)}")
    finally:
        conn.close()


def _alert_state(prometheus_url: str, alert: str, connector: str) -> str | None:
    alerts = httpx.get(f"{prometheus_url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    states = {
        a["state"]
        for a in alerts
        if a["labels"].get("alertname") == alert and a["labels"].get("connector") == connector
    }
    return "firing" if "firing" in states else next(iter(states), None)


@contextlib.contextmanager
def _watchdog(stack: StackContext, directory: Path) -> Iterator[Path]:
    """`cdc watch` with WATCH's settings instead of the stack's supervised watchdog, on the
    same metrics port, so the stack's Prometheus scrapes it. Yields its log file."""
    config = stack.config
    data = config.model_dump(mode="json", by_alias=True)
    data["stack"] |= {"data_dir": str(config.data_dir), "lib_dir": str(config.lib_dir)}
    data["operations"] |= WATCH
    path = directory / "cdc.yaml"
    path.write_text(yaml.safe_dump(data))
    log = directory / "watchdog.log"
    manager = StackManager(stack)
    paused = manager.stop(["watchdog"])
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cdc_ods", "--config", str(path), "watch"],
            cwd=PROJECT_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "400"},  # one log line per event, unwrapped
        )
    try:
        yield log
    finally:
        process.terminate()
        process.wait(30)
        manager.up(paused)


def test_a_locked_source_account_is_restarted_by_the_watchdog_and_given_up_on_while_it_lasts(
    pipeline: StackContext, endpoints: Endpoints, tmp_path: Path
) -> None:
    config = pipeline.config
    metrics = f"http://127.0.0.1:{config.operations.metrics_port}/metrics"
    client = ConnectClient(endpoints.connect_url)

    def task() -> dict[str, Any]:
        return client.status("mysql")["tasks"][0]

    def restarts() -> float | None:
        return metric_value(metrics, "cdc_watchdog_task_restarts_total", MYSQL_TASK)

    figures: dict[str, float] = {}
    try:
        with _watchdog(pipeline, tmp_path) as log:
            _wait(
                "the watchdog to see a fresh mysql heartbeat",
                lambda: (
                    (age := metric_value(metrics, "cdc_source_heartbeat_age_seconds", {"source": "mysql"}))
                    is not None
                    and age < WATCH["stalled_after_s"] / 2
                ),
                120,
            )
            time.sleep(2 * WATCH["interval_s"])  # one more look: it has seen the connector reading

            # locked: the binlog reader's keep-alive retries the login forever inside a RUNNING
            # task; the watchdog finds it stalled and restarts it; the fresh start FAILS
            locked_at = time.monotonic()
            _set_debezium_account(config, locked=True)
            produced = cdc("produce", "mysql", "--count", "300", "--rate", "0", "--seed", "121")
            assert produced.returncode == 0, produced.stderr
            failed = _wait("the mysql task to FAIL", lambda: (t := task())["state"] == "FAILED" and t, 180)
            figures["lock_to_failed_s"] = time.monotonic() - locked_at
            assert "locked" in failed["trace"], failed["trace"][:500]
            assert restarts() == 1
            assert "restarting mysql task 0 (attempt 1 of 3): RUNNING, but no heartbeat" in log.read_text()

            # unlocked while FAILED: the next restart brings it back, and it catches up
            unlocked_at = time.monotonic()
            _set_debezium_account(config, locked=False)
            _wait("the watchdog's second restart", lambda: restarts() == 2, 120)
            _wait("the mysql task to run", lambda: task()["state"] == "RUNNING", 60)
            figures["unlock_to_running_s"] = time.monotonic() - unlocked_at
            _wait("the recovery", lambda: "mysql task 0 recovered after 2 restarts" in log.read_text(), 120)
            reconcile_ok()  # the 300 changes committed while it was locked are all in the ODS
            figures["unlock_to_reconciled_s"] = time.monotonic() - unlocked_at

            # locked for good: capped restarts, then it gives up and the alert fires
            locked_at = time.monotonic()
            _set_debezium_account(config, locked=True)
            _wait(
                "the watchdog to give up",
                lambda: metric_value(metrics, "cdc_watchdog_gave_up", MYSQL_TASK) == 1,
                400,
            )
            gave_up_at = time.monotonic()
            figures["lock_to_gave_up_s"] = gave_up_at - locked_at
            assert restarts() == 2 + 3
            assert "giving up on mysql task 0: still FAILED after 3 restarts" in log.read_text()
            assert "locked" in log.read_text().split("giving up on mysql task 0")[1]
            _wait(
                "ConnectorTaskGaveUp to fire in Prometheus",
                lambda: _alert_state(endpoints.prometheus_url, "ConnectorTaskGaveUp", "mysql") == "firing",
                120,
            )
            figures["gave_up_to_alert_firing_s"] = time.monotonic() - gave_up_at
            time.sleep(3 * WATCH["interval_s"])
            assert restarts() == 5 and task()["state"] == "FAILED"  # no restart loop
    finally:
        _set_debezium_account(config, locked=False)
        client.restart("mysql", only_failed=True)  # asynchronous: FAILED may show a moment longer
        _wait("the mysql task to run again", lambda: task()["state"] == "RUNNING", 120)
        client.close()
        print(f"figures: {json.dumps({k: round(v, 1) for k, v in figures.items()})}")


@pytest.fixture
def widened_table(stack: StackContext) -> Iterator[str]:
    """A source table whose DECIMAL column was widened after its ODS table was created."""
    table = f"itops_dlq_{uuid.uuid4().hex[:8]}"
    source = stack.config.source("mysql")
    url = Endpoints.from_config(stack.config).phoenix_url
    conn = source_for(stack.config, "mysql").connect("admin")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, title VARCHAR(50), rating DECIMAL(3,1))")
    with phoenixdb.connect(url, autocommit=True) as ph:
        ph.cursor().execute(create_table_ddl(read_table_schema(stack.config, source, table)))
    with conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {table} MODIFY rating DECIMAL(5,1)")
    yield table
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
    conn.close()
    with phoenixdb.connect(url, autocommit=True) as ph:
        ph.cursor().execute(f"DROP TABLE IF EXISTS {contract.ods_table('mysql', source.database, table)}")


def _high_watermark(bootstrap: str, topic: str) -> int:

    consumer = Consumer(client_config(bootstrap, **{"group.id": f"itops-{uuid.uuid4().hex}"}))
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()


def test_dead_letters_replayed_into_phoenix_never_overtake_a_newer_change(
    stack: StackContext, endpoints: Endpoints, widened_table: str
) -> None:
    table, database = widened_table, stack.config.source("mysql").database
    topic, ods = (
        contract.cleansed_topic("mysql", database, table),
        contract.ods_table("mysql", database, table),
    )
    group = f"itops-{table}"

    def load() -> None:  # the real loader, until the topic is idle
        result = cdc("ods", "run", "--topic", topic, "--group", group, "--idle-exit", "8",
                     "--metrics-port", "0", timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr

    def dlq(*args: str) -> dict[str, Any]:
        result = cdc("dlq", *args, "--stage", "loader", "--topic", topic, "--json", timeout=120)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def ods_rows() -> dict[int, tuple]:
        with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as ph:
            cur = ph.cursor()
            cur.execute(f'SELECT "ID", "TITLE", "RATING", CDC_SOURCE_POS FROM {ods}')
            return {row[0]: (row[1], str(row[2]), row[3]) for row in cur.fetchall()}

    source = source_for(stack.config, "mysql").connect("admin")
    with source.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {table} VALUES (%s, %s, %s)",
            [(1, "old", "1234.5"), (2, "b", "2345.6"), (3, "c", "99.9")],
        )
    produce(endpoints.kafka_bootstrap, topic, [
        record(1, "c", 10, title="old", rating="1234.5"),
        record(2, "c", 11, title="b", rating="2345.6"),
        record(3, "c", 12, title="c", rating="99.9"),
    ])  # fmt: skip
    load()
    assert ods_rows() == {3: ("c", "99.9", 12)}  # the ODS column is still DECIMAL(3,1)
    listed = dlq("list")
    assert listed["total"] == 2 and all("Phoenix rejected the row" in g["reason"] for g in listed["groups"])

    # the fix: the ODS table is recreated from the source's current schema and reloaded
    with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as ph:
        ph.cursor().execute(f"DROP TABLE {ods}")
    # ... meanwhile key 1 changes again at the source: this newer change is applied first
    with source.cursor() as cur:
        cur.execute(f"UPDATE {table} SET title = 'newer', rating = 4321.5 WHERE id = 1")
    source.close()
    produce(endpoints.kafka_bootstrap, topic, [
        record(3, "r", 13, title="c", rating="99.9"),
        record(1, "u", 20, title="newer", rating="4321.5"),
    ])  # fmt: skip
    load()
    assert ods_rows() == {1: ("newer", "4321.5", 20), 3: ("c", "99.9", 13)}

    first = dlq("replay")
    assert (first["selected"], first["replayed"], first["already_replayed"]) == (2, 2, 0)
    load()
    # key 2 is applied; the replay of key 1's old change (position 10) does not overtake 20
    assert ods_rows() == {1: ("newer", "4321.5", 20), 2: ("b", "2345.6", 11), 3: ("c", "99.9", 13)}
    reconciled = cdc("reconcile", "--table", f"mysql.{table}", "--no-wait", "--json", timeout=300)
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert [r["ok"] for r in json.loads(reconciled.stdout)] == [True]

    end = _high_watermark(endpoints.kafka_bootstrap, topic)
    second = dlq("replay")
    assert (second["selected"], second["replayed"], second["already_replayed"]) == (2, 0, 2)
    assert _high_watermark(endpoints.kafka_bootstrap, topic) == end  # nothing sent, nothing to apply
