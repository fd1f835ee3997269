"""kill -9 under a steady producer load; the pipeline recovers and loses nothing.

For each of the source databases (MariaDB, PostgreSQL), Kafka, Kafka Connect, the cleansing
runner, the loader, HBase and the Query Server, one at a time: producers write to both
sources, the component's process gets SIGKILL, supervisord restarts it
(autorestart=unexpected; the test restarts it with `StackManager.up` only if supervisord
does not), the other stages retry on their own, and once the ODS has caught up
`cdc reconcile` must find every table equal to its source with no sequence gap or
regression. A killed source takes its connections with it: the producers reconnect
(`cdc produce --reconnect-s`) and the transaction whose commit was cut off is in doubt,
which reconcile settles by comparing what the source holds. Last, every process of the
stack (supervisord included) is killed in the same instant, like a power cut that spares
the disks' caches, and `cdc stack up --pipeline` brings it all back.
Every wait is bounded here (pytest-timeout is not installed).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from cdc_ods.config import Config
from cdc_ods.dlq import DLQ_TOPIC
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError
from cdc_ods.reconcile.catchup import wait_caught_up
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import FAILED_STATES, StackManager
from cdc_ods.stack.services import by_name
from cdc_ods.topology import stages
from tests import PROJECT_DIR
from tests.integration.conftest import cdc, end_offsets
from tests.integration.test_pipeline_e2e import letters_since

from .conftest import Recovery

# In pipeline order; each test leaves the stack whole for the next one.
COMPONENTS = [
    "mariadb", "postgres", "kafka", "connect", "cleansing", "loader", "hbase", "phoenix-query-server",
]  # fmt: skip

RATE = 200  # changes per second, per source
WARMUP_S = 8  # load flowing through every stage before the kill
PRODUCER_MAX_S = 420  # the producers' own --duration: an upper bound; they are stopped earlier
RECONNECT_S = 300  # the producers' reconnect window (a source killed, or everything)
STACK_UP_TIMEOUT_S = 600  # everything killed -> `cdc stack up --pipeline` has brought it back
SUPERVISORD_GRACE_S = 90  # kill -> a new process from supervisord, else the test starts it
HEALTHY_TIMEOUT_S = 240  # kill -> the service passes its health check
CATCH_UP_TIMEOUT_S = 300  # service back -> the ODS has caught up with the sources
RECONCILE_TIMEOUT_S = 400  # `cdc reconcile --timeout` (its own catch-up after the producers stop)


def _start_producers(seed: int, log: Path) -> subprocess.Popen[bytes]:
    load = ["--rate", str(RATE), "--duration", str(PRODUCER_MAX_S), "--seed", str(seed),
            "--reconnect-s", str(RECONNECT_S)]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cdc_ods", "produce", "all", *load],
            cwd=PROJECT_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop_producers(producer: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM: the producers finish their current transactions and print their summary."""
    if producer.poll() is None:
        producer.send_signal(signal.SIGTERM)
    try:
        code = producer.wait(timeout=60)
    except subprocess.TimeoutExpired:
        producer.kill()
        producer.wait()
        pytest.fail("the producers did not stop within 60 s of SIGTERM")
    assert code == 0, f"producers exited {code}:\n{log.read_text(errors='replace')[-2000:]}"


@contextlib.contextmanager
def under_load(seed: int, log: Path) -> Iterator[None]:
    """Producers writing to both sources: started and warmed up before the body, checked alive
    and stopped after it (killed if the body failed)."""
    producer = _start_producers(seed, log)
    try:
        time.sleep(WARMUP_S)
        assert producer.poll() is None, f"producers died before the fault:\n{log.read_text(errors='replace')}"
        yield
        assert producer.poll() is None, f"producers died under the fault:\n{log.read_text(errors='replace')}"
        _stop_producers(producer, log)
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait()


def caught_up(config: Config, record: Recovery, since: float) -> None:
    """Wait until the ODS has caught up; the record's recovery time counts from `since`."""
    _wait_caught_up(config)
    record.recovery_s = time.monotonic() - since
    print(f"RECOVERY {record.component} {record.recovery_s:.1f} s (back after {record.restart_s or 0:.1f} s)")


def _wait_back(manager: StackManager, name: str, killed_pid: int, killed_at: float) -> str:
    """Wait until `name` runs again (a new pid) and passes its health check.

    Returns who restarted it: supervisord, or this test (`StackManager.up`) when supervisord
    gave up on it (FATAL/BACKOFF/EXITED) or started nothing within SUPERVISORD_GRACE_S.
    """
    service = by_name(name)
    last = ""
    while time.monotonic() - killed_at < HEALTHY_TIMEOUT_S:
        info = manager.supervisor.info(name)
        if info["pid"] not in (0, killed_pid) and info["statename"] in ("RUNNING", "STARTING"):
            try:
                service.check(manager.ctx)
                return "supervisord"
            except CdcError as exc:
                last = str(exc)
        elif info["statename"] in FAILED_STATES or time.monotonic() - killed_at > SUPERVISORD_GRACE_S:
            print(f"{name}: supervisord left it {info['statename']}; starting it with StackManager.up")
            manager.up([name])  # waits until healthy (start_timeout_s), raises if it dies again
            return "test (StackManager.up)"
        time.sleep(0.5)
    raise AssertionError(f"{name} not healthy {HEALTHY_TIMEOUT_S} s after the kill: {last}")


def _wait_caught_up(config: Config) -> None:
    """reconcile's catch-up (connectors at the sources' positions, then every consumer stage at
    its input's end offsets, taken now), retried while a just-restarted service still refuses
    a call."""
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    while True:
        try:
            wait_caught_up(config, stages(config), max(1.0, deadline - time.monotonic()))
            return
        except CdcError as exc:
            if time.monotonic() > deadline:
                status = cdc("connectors", "status")
                raise AssertionError(f"not caught up: {exc}\nconnectors:\n{status.stdout}") from None
            time.sleep(1)


def _reconcile() -> tuple[bool, str, str]:
    """(all tables equal, a one-line summary, the raw output)."""
    result = cdc(
        "reconcile", "--json", "--timeout", str(RECONCILE_TIMEOUT_S), timeout=RECONCILE_TIMEOUT_S + 200
    )
    output = result.stdout + result.stderr
    try:
        reports = json.loads(result.stdout) if result.stdout.strip() else []
    except ValueError:
        reports = []
    if not reports:
        return False, f"FAILED (exit {result.returncode}): {result.stderr.strip()[-200:]}", output
    rows = sum(r["source_rows"] for r in reports)
    diffs = {
        r["table"]: (r["missing"], r["extra"], r["different"], r["rejected"], _sequence(r["sequence"]))
        for r in reports
        if not r["ok"]
    }
    if result.returncode == 0 and not diffs:
        sent_again = sum((r["sequence"] or {}).get("duplicates", 0) for r in reports)
        return True, f"ok: {len(reports)} tables, {rows} rows, 0 differences, {sent_again} sent again", output
    detail = ", ".join(
        f"{t} missing/extra/different/rejected {m}/{e}/{d}/{x}, {q}" for t, (m, e, d, x, q) in diffs.items()
    )
    return False, f"FAILED: {detail or f'exit {result.returncode}'}", output


def _sequence(totals: dict | None) -> str:
    if not totals:
        return "sequence not tracked"
    return f"sequence gaps/regressions {totals['gaps']}/{totals['regressions']}"


@pytest.mark.parametrize("component", COMPONENTS)
def test_kill9_under_load_then_reconcile(
    component: str,
    pipeline: StackContext,
    endpoints: Endpoints,
    recoveries: list[Recovery],
    tmp_path: Path,
) -> None:
    manager = StackManager(pipeline, report=lambda msg: print(f"[stack] {msg}", file=sys.stderr))
    record = Recovery(component)
    recoveries.append(record)
    assert manager.supervisor.state(component) == "RUNNING", f"{component} is not running before the kill"
    dlq_start = end_offsets(endpoints.kafka_bootstrap, DLQ_TOPIC)
    with under_load(910 + COMPONENTS.index(component), tmp_path / "producers.log"):
        pid = manager.supervisor.info(component)["pid"]
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        record.restarted_by = _wait_back(manager, component, pid, killed_at)
        record.restart_s = time.monotonic() - killed_at
        caught_up(pipeline.config, record, killed_at)
    reconcile_clean(record, endpoints, dlq_start)


def reconcile_clean(
    record: Recovery, endpoints: Endpoints, dlq_start: dict[int, int], stages: tuple[str, ...] = ("loader",)
) -> None:
    """`cdc reconcile` finds every table equal, and `stages` dead-lettered nothing since `dlq_start`."""
    ok, summary, output = _reconcile()
    record.reconcile = summary
    print(f"RECONCILE {record.component} {summary}")
    assert ok, output[-4000:]
    letters = [x for x in letters_since(endpoints.kafka_bootstrap, dlq_start) if x.stage in stages]
    assert letters == [], [(x.stage, x.reason) for x in letters]


def _stack_processes(ctx: StackContext) -> list[psutil.Process]:
    """supervisord and every process under it."""
    supervisord = psutil.Process(int((ctx.run / "supervisord.pid").read_text()))
    return [supervisord, *supervisord.children(recursive=True)]


def test_everything_killed_at_once_then_stack_up(
    pipeline: StackContext, endpoints: Endpoints, recoveries: list[Recovery], tmp_path: Path
) -> None:
    """Every process of the stack dies in the same instant (the OS and its caches survive: what a
    power cut does to a machine whose disks honour fsync is described in README, "Durability")."""
    record = Recovery("everything at once", restarted_by="cdc stack up --pipeline")
    recoveries.append(record)
    dlq_start = end_offsets(endpoints.kafka_bootstrap, DLQ_TOPIC)
    with under_load(930, tmp_path / "producers.log"):
        processes = _stack_processes(pipeline)
        killed_at = time.monotonic()
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(processes, timeout=30)
        print(f"killed {len(processes)} processes")
        started = cdc("stack", "up", "--pipeline", timeout=STACK_UP_TIMEOUT_S)
        assert started.returncode == 0, started.stdout + started.stderr
        record.restart_s = time.monotonic() - killed_at
        caught_up(pipeline.config, record, killed_at)
    reconcile_clean(record, endpoints, dlq_start)
