"""Restarts FAILED connector tasks, with backoff and a cap (Kafka Connect never does it itself).

Per task (or connector instance, task id `connector`): the first restart happens as soon as
the task is seen FAILED, the next ones after `restart_backoff_s`, doubling up to
`restart_backoff_max_s`. A task that stays RUNNING for `healthy_after_s` after a restart has
recovered and its count starts over; a task that is FAILED again after
`restart_max_attempts` restarts is given up on (gauge `cdc_watchdog_gave_up` = 1, alert
`ConnectorTaskGaveUp`) until it is seen RUNNING again, e.g. after an operator fixed the
cause and ran `cdc connectors restart`. A wrong password therefore costs a few restarts, not
an endless loop.

A task can also stop reading while Connect shows it RUNNING: when MariaDB/MySQL closes the
binlog connection (a killed session, a locked account), Debezium's binlog client reconnects
from its keep-alive thread forever and never reports an error, so the task never FAILS
(`errors.max.retries` does not apply: the error handler is never called). Such a task is
*stalled*: its connector's heartbeat (see `freshness.FreshnessProbe.heartbeat_age`) is older
than `stalled_after_s` although it was fresh before. A stalled task is restarted like a
FAILED one, under the same backoff and cap; a fresh start that cannot log in FAILS at once.
Only connectors named as their source in cdc.yaml have heartbeats the watchdog reads.

A MariaDB/MySQL task FAILED on a DDL statement Debezium cannot parse, or cannot apply (it
changes a column whose declaration the generated filter skipped), of a table its connector
does not capture, is not restarted as it is (it would read the same statement again): the
statement is added to the connector's DDL filter (`mysql.skip_statement`, `skip_clause`) and
the connector restarted with it, so DDL of tables nobody captures never keeps capture stopped for longer
than a look (`operations.interval_s`) and a restart. Counted in
`cdc_connector_ddl_skipped_total`, logged with the statement.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cdc_ods.connectors.apply import replace_config
from cdc_ods.connectors.failures import (
    CONNECTOR_INSTANCE,
    diagnosis,
    failed_instances,
    instances,
    log_lost,
    unappliable_change,
    unparseable_statement,
    unreadable_statement,
)
from cdc_ods.connectors.rest import ConnectClient, NoSuchConnector
from cdc_ods.errors import CdcError
from cdc_ods.operations import metrics
from cdc_ods.operations.settings import OperationsConfig
from cdc_ods.sources.mysql import skip_clause, skip_statement

log = logging.getLogger("cdc_ods.watchdog")


@dataclass
class TaskHistory:
    attempts: int = 0  # restarts since the task last recovered
    next_at: float = 0.0  # monotonic time before which no restart is tried
    restarted_at: float | None = None
    gave_up: bool = False


@dataclass(frozen=True)
class Action:
    kind: Literal["restart", "give_up", "recovered"]
    connector: str
    task: str
    attempt: int
    trace: str = ""


class RestartPolicy:
    """Decides, from Connect's statuses and the time, what to restart; keeps the counts."""

    def __init__(self, settings: OperationsConfig) -> None:
        self.settings = settings
        self.history: dict[tuple[str, str], TaskHistory] = {}

    def _backoff(self, attempts: int) -> float:
        return min(self.settings.restart_backoff_s * 2 ** (attempts - 1), self.settings.restart_backoff_max_s)

    def decide(
        self, statuses: dict[str, dict[str, Any]], now: float, stalled: Mapping[str, str] | None = None
    ) -> list[Action]:
        """`stalled`: connector -> why its RUNNING tasks count as failed (see StallDetector)."""
        actions: list[Action] = []
        seen: set[tuple[str, str]] = set()
        for connector, status in statuses.items():
            for task, instance in instances(status):
                ident = (connector, task)
                seen.add(ident)
                state = instance.get("state")
                history = self.history.setdefault(ident, TaskHistory())
                if state == "FAILED":
                    actions += self._failed(ident, history, instance.get("trace"), now)
                elif state == "RUNNING" and task != CONNECTOR_INSTANCE and stalled and connector in stalled:
                    actions += self._failed(ident, history, stalled[connector], now)
                elif state == "RUNNING" and (history.attempts or history.gave_up):
                    settled = history.restarted_at is None or now - history.restarted_at >= (
                        self.settings.healthy_after_s
                    )
                    if history.gave_up or settled:
                        actions.append(Action("recovered", connector, task, history.attempts))
                        self.history[ident] = TaskHistory()
        for gone in set(self.history) - seen:
            del self.history[gone]
        return actions

    def _failed(
        self, ident: tuple[str, str], history: TaskHistory, trace: str | None, now: float
    ) -> list[Action]:
        if history.gave_up or now < history.next_at:
            return []
        if history.attempts >= self.settings.restart_max_attempts:
            history.gave_up = True
            return [Action("give_up", *ident, history.attempts, diagnosis(trace, ident[0]))]
        history.attempts += 1
        history.restarted_at = now
        history.next_at = now + self._backoff(history.attempts)
        return [Action("restart", *ident, history.attempts, diagnosis(trace, ident[0]))]


class StallDetector:
    """Which connectors stopped reading: heartbeat older than `stalled_after_s` after having
    been fresh. The "been fresh" guard keeps a connector that has not streamed yet (an initial
    snapshot writes no heartbeats) from counting as stalled; after a restart it must be fresh
    again before it can count as stalled again."""

    def __init__(self, stalled_after_s: float) -> None:
        self.stalled_after_s = stalled_after_s
        self._armed: set[str] = set()

    def stalled(self, heartbeat_ages: Mapping[str, float]) -> dict[str, str]:
        found = {}
        for connector, age in heartbeat_ages.items():
            if age < self.stalled_after_s:
                self._armed.add(connector)
            elif connector in self._armed:
                found[connector] = f"RUNNING, but no heartbeat for {age:.0f}s: stopped reading its source"
        return found

    def disarm(self, connector: str) -> None:
        self._armed.discard(connector)


class WatchClient(ConnectClient):
    def restart_task(self, connector: str, task: str) -> None:
        """Restart one task, or the connector instance (and its failed tasks)."""
        if task == CONNECTOR_INSTANCE:
            self.restart(connector, only_failed=True)
        else:
            self._existing("POST", connector, f"/tasks/{task}/restart")


class Watchdog:
    def __init__(self, client: WatchClient, settings: OperationsConfig) -> None:
        self.client = client
        self.settings = settings
        self.policy = RestartPolicy(settings)
        self.stalls = StallDetector(settings.stalled_after_s)
        self._exported: set[tuple[str, str]] = set()
        self._named_series: set[tuple[str, str]] = set()

    def check(self, now: float, heartbeat_ages: Mapping[str, float] | None = None) -> list[Action]:
        """One look at every connector: restart what is due, report what was done.

        `heartbeat_ages`: seconds since each connector's last heartbeat, to find stalled ones."""
        statuses = self.client.statuses()
        skipped = self._skip_failing_ddl(statuses)
        statuses = {connector: status for connector, status in statuses.items() if connector not in skipped}
        for connector, status in statuses.items():
            if any(instance.get("state") != "RUNNING" for _task, instance in instances(status)):
                self.stalls.disarm(connector)  # paused or failed: no heartbeat expected until it runs again
        stalled = self.stalls.stalled(heartbeat_ages or {})
        actions = self.policy.decide(statuses, now, stalled)
        self._export_named_failures(statuses)
        for action in actions:
            labels = (action.connector, action.task)
            if action.kind == "restart":
                self.stalls.disarm(action.connector)
                log.warning(
                    "restarting %s task %s (attempt %d of %d): %s",
                    *labels,
                    action.attempt,
                    self.settings.restart_max_attempts,
                    action.trace,
                )
                try:
                    self.client.restart_task(*labels)
                except NoSuchConnector:
                    continue  # deleted meanwhile
                metrics.TASK_RESTARTS.labels(*labels).inc()
            elif action.kind == "give_up":
                log.error(
                    "giving up on %s task %s: still FAILED after %d restarts: %s",
                    *labels,
                    action.attempt,
                    action.trace,
                )
            else:
                log.info("%s task %s recovered after %d restarts", *labels, action.attempt)
        self._export()
        return actions

    def _skip_failing_ddl(self, statuses: dict[str, dict[str, Any]]) -> set[str]:
        """Connectors restarted with the DDL statement their task FAILED on added to their DDL
        filter (when `skip_statement` or `skip_clause` finds it safe to skip)."""
        skipped = set()
        for connector, status in statuses.items():
            traces = [trace for _task, trace in failed_instances(status)]
            failures = [(unreadable_statement(t), unappliable_change(t)) for t in traces]
            failures = list(dict.fromkeys(f for f in failures if f != (None, None)))
            if not failures or not (config := self.client.get_config(connector)):
                continue  # one read of the config per connector with DDL failures
            for statement, change in failures:
                if statement is not None:
                    changed, what = skip_statement(config, statement), statement
                elif change is not None:
                    changed, what = skip_clause(config, *change), f"{change[0]}: {change[1]}"
                if changed is None:
                    continue
                log.warning(
                    "%s: skipping a DDL statement Debezium cannot parse or apply, of a table it does not"
                    " capture: %r",
                    connector,
                    what,
                )
                try:
                    replace_config(self.client, connector, changed, timeout_s=self.settings.interval_s * 6)
                except NoSuchConnector:
                    break  # deleted meanwhile
                except CdcError as exc:
                    log.warning("%s: could not restart it with the statement skipped: %s", connector, exc)
                    break
                metrics.DDL_SKIPPED.labels(connector).inc()
                skipped.add(connector)
                break  # one statement at a time: the next failure, if any, names the next one
        return skipped

    def _export_named_failures(self, statuses: dict[str, dict[str, Any]]) -> None:
        """`cdc_connector_unparseable_ddl` and `cdc_connector_log_lost`: 1 for each instance
        FAILED that way, 0 for every other one Connect knows (series of deleted connectors go
        away)."""
        known = {
            (connector, ident) for connector, status in statuses.items() for ident, _ in instances(status)
        }
        failed = {
            (connector, ident): trace
            for connector, status in statuses.items()
            for ident, trace in failed_instances(status)
        }
        for gauge, named in (
            (metrics.UNPARSEABLE_DDL, lambda trace: unparseable_statement(trace) is not None),
            (metrics.LOG_LOST, log_lost),
        ):
            for gone in self._named_series - known:
                gauge.remove(*gone)
            for labels in known:
                gauge.labels(*labels).set(int(labels in failed and named(failed[labels])))
        self._named_series = known

    def _export(self) -> None:
        """Every known task gets its series (0 until it happens), so increase() and alerts see
        the first restart; series of deleted connectors go away."""
        for connector, task in list(self._exported - set(self.policy.history)):
            metrics.GAVE_UP.remove(connector, task)
            metrics.TASK_RESTARTS.remove(connector, task)
        for (connector, task), history in self.policy.history.items():
            metrics.GAVE_UP.labels(connector, task).set(int(history.gave_up))
            metrics.TASK_RESTARTS.labels(connector, task)
        self._exported = set(self.policy.history)
