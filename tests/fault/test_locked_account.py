"""A source account locked under a running connector, under the watchdog.

Locking Debezium's MariaDB account (and ending its sessions) leaves the task RUNNING while the
binlog client retries its login forever: the watchdog finds it stalled by its heartbeat and
restarts it; the fresh start FAILS; unlocked, the next restart brings it back and the pipeline
catches up (reconcile clean); locked for good, the restarts are capped, the watchdog gives up
and Prometheus fires `ConnectorTaskGaveUp`. Runs its own `cdc watch` with short timings
(WATCH) in place of the stack's supervised one. Recorded in bench-results/faults.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pymysql
import yaml

from cdc_ods.config import Config
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.endpoints import Endpoints
from cdc_ods.secrets import DEBEZIUM_USER
from cdc_ods.sources import source_for
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager
from tests import PROJECT_DIR
from tests.integration.conftest import cdc, metric_value
from tests.integration.test_pipeline_e2e import reconcile_ok

from .conftest import Recovery

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
    pipeline: StackContext, endpoints: Endpoints, tmp_path: Path, recoveries: list[Recovery]
) -> None:
    record = Recovery("mysql: Debezium's account locked", restarted_by="watchdog")
    recoveries.append(record)
    config = pipeline.config
    metrics = f"http://127.0.0.1:{config.operations.metrics_port}/metrics"
    client = ConnectClient.of(config)

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
            reports = reconcile_ok()  # the 300 changes committed while it was locked are all in the ODS
            figures["unlock_to_reconciled_s"] = time.monotonic() - unlocked_at
            record.restart_s = figures["unlock_to_running_s"]
            record.recovery_s = figures["unlock_to_reconciled_s"]
            rows = sum(r["source_rows"] for r in reports)
            record.reconcile = f"ok: {len(reports)} tables, {rows} rows, 0 differences"

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
            record.alerts = "ConnectorTaskGaveUp (locked for good)"
            time.sleep(3 * WATCH["interval_s"])
            assert restarts() == 5 and task()["state"] == "FAILED"  # no restart loop
    finally:
        _set_debezium_account(config, locked=False)
        client.restart("mysql", only_failed=True)  # asynchronous: FAILED may show a moment longer
        _wait("the mysql task to run again", lambda: task()["state"] == "RUNNING", 120)
        client.close()
        print(f"figures: {json.dumps({k: round(v, 1) for k, v in figures.items()})}")
