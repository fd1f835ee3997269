"""`cdc connectors apply`: register connectors so that they either run or leave no trace.

Two phases. First every connector is checked before anything is registered: Connect's own
validation (which also logs into the source with the worker's resolved password), keys no
component knows, and the tables it names (see `validation`). Then each is created or
updated and watched until its tasks are RUNNING. When a task fails or the wait times out,
the apply undoes itself: a connector it created is deleted, one it updated gets its
previous config back. An update (and its undo) stops the connector around the new config, so
that the tasks it judges are the ones that run that config (see `replace_config`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cdc_ods.config import Config
from cdc_ods.connectors import validation
from cdc_ods.connectors.configs import connector_kind, source_connector
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError, ConfigError, ServiceError
from cdc_ods.sources import Source, source_for
from cdc_ods.sources.base import OWN_TABLES
from cdc_ods.sources.mysql import keep_skipped, skipped_statements, statements_naming
from cdc_ods.sources.postgres import PostgresSource

Report = Callable[[str], None]

# How long every task must stay RUNNING after a create or update before the apply trusts it.
SETTLE_S = 3.0


class InvalidConnectorConfig(ConfigError):
    """A connector config failed the checks; nothing was registered."""


class ConnectorFailed(ServiceError):
    """A connector did not reach RUNNING; what the apply registered was undone."""


@dataclass(frozen=True)
class Planned:
    """One connector the apply will register."""

    name: str
    source: Source
    config: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    name: str
    action: str  # created | updated | unchanged
    status: dict[str, Any]


def plan(
    config: Config,
    endpoints: Endpoints,
    sources: list[str],
    report: Report,
    overrides: dict[str, str] | None = None,
    rename: str | None = None,
) -> list[Planned]:
    """The connectors to apply: the named sources (default: all), minus disabled ones.

    `overrides` and `rename` change one source's connector for a one-off run (tests, a
    temporary setting); cdc.yaml and connectors/ stay the source of truth.
    """
    chosen = [config.source(name) for name in sources] if sources else list(config.sources)
    if (overrides or rename) and len(chosen) != 1:
        raise ConfigError("--set and --name apply to exactly one source; name it")
    planned = []
    for source in chosen:
        if not source.enabled:
            report(f"{source.name}: skipped (enabled: false in cdc.yaml)")
            continue
        # a one-off --set table.include.list replaces the configured tables: none to resolve
        tables = [] if "table.include.list" in (overrides or {}) else None
        spec = source_connector(config, source, endpoints, tables, **(overrides or {}))
        planned.append(Planned(rename or spec["name"], source_for(config, source, endpoints), spec["config"]))
    return planned


def captured_tables(src: Source, connector: dict[str, Any], tables: list[str] | None = None) -> list[str]:
    """The source's tables a connector config's `table.include.list` matches (of `tables`, the
    namespace's tables the caller has just read, when given; the project's own ones aside)."""
    entries = validation.include_entries(connector)
    candidates = src.base_tables() if tables is None else [t for t in tables if t not in OWN_TABLES]
    return [t for t in candidates if validation.captures(entries, f"{src.source.namespace}.{t}")]


def publish(item: Planned, report: Report) -> None:
    """PostgreSQL: the source's own publication lists every table the connector captures
    (added as the admin when the admin login is configured; a connector naming another
    publication manages its own)."""
    src = item.source
    if not isinstance(src, PostgresSource) or item.config.get("publication.name") != src.publication:
        return
    if not src.source.is_local and src.source.admin is None:
        return  # `cdc sources check` reports a table missing from the publication
    for statement in src.publish(captured_tables(src, item.config)):
        report(f"{item.name}: {statement}")


def _problems(connect: ConnectClient, item: Planned) -> list[str]:
    found = connect.validate(item.name, item.config)
    if connector_kind(item.config) == "mongodb":
        return found  # no MongoDB client here: its collections are not checked
    src = item.source
    existing = {f"{src.source.namespace}.{t}".lower() for t in src.namespace_tables()}
    found += validation.table_problems(item.config, existing, f"{src.kind} at {src.address}")
    return found


def preflight(connect: ConnectClient, planned: list[Planned], report: Report) -> None:
    """Check every planned connector; report every problem, then raise if there was any."""
    invalid: dict[str, list[str]] = {}
    for item in planned:
        report(f"{item.name}: validating")
        problems = _problems(connect, item)
        for problem in problems:
            report(f"{item.name}: invalid: {problem}")
        if problems:
            invalid[item.name] = problems
    if invalid:
        fields = "; ".join(
            f"{name}: {', '.join(dict.fromkeys(p.split(':', 1)[0] for p in problems))}"
            for name, problems in invalid.items()
        )
        count = sum(len(p) for p in invalid.values())
        raise InvalidConnectorConfig(f"{count} problem(s) in connector config ({fields}); nothing registered")


def _same(stored: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    return stored is not None and {k: str(v) for k, v in stored.items()} == {
        k: str(v) for k, v in wanted.items()
    }


def replace_config(connect: ConnectClient, name: str, config: dict[str, Any], timeout_s: float) -> None:
    """Give a registered connector `config` so that every task status read afterwards is of a
    task that runs it.

    After a plain config update Connect restarts the tasks asynchronously, and its status keeps
    showing the previous ones until their replacements report: a FAILED task until the new one
    runs, a RUNNING one until it is stopped, and nothing in the status tells the two apart.
    A stopped connector has no tasks and no task statuses (tasks never report STOPPED: waiting
    for STOPPED waits for them to be gone); the tasks that appear after the resume run `config`.
    The connector is resumed even when this fails, with whichever config it then has.
    """
    connect.stop(name)
    try:
        connect.wait_state(name, "STOPPED", timeout_s=timeout_s)
        connect.put(name, config)
    finally:
        connect.resume(name)


def _back_to_running(connect: ConnectClient, name: str, timeout_s: float) -> str:
    """After restoring a config: the failed task is not always replaced by a running one, so
    restart it once if needed. Returns what an operator should know ("" when it runs)."""
    try:
        connect.wait_running(name, timeout_s=timeout_s, settle_s=SETTLE_S)
        return ""
    except CdcError:
        connect.restart(name, only_failed=True)
    try:
        connect.wait_running(name, timeout_s=timeout_s, settle_s=SETTLE_S)
        return ""
    except CdcError:
        return f" (it is not running again yet: see `cdc connectors status {name}`)"


def apply_one(connect: ConnectClient, item: Planned, timeout_s: float, report: Report) -> Outcome:
    """Create or update one connector and wait for RUNNING; undo the change on failure."""
    previous = connect.get_config(item.name)
    wanted = keep_skipped(previous or {}, {**item.config, "name": item.name})
    if _same(previous, wanted):
        action, settle = "unchanged", 0.0
    elif previous is None:
        action = "created" if connect.put(item.name, wanted) else "updated"
        settle = SETTLE_S
    else:
        replace_config(connect, item.name, wanted, timeout_s)
        action, settle = "updated", SETTLE_S
    report(f"{item.name}: {action}; waiting for its tasks to run (up to {timeout_s:.0f}s)")
    try:
        status = connect.wait_running(item.name, timeout_s=timeout_s, settle_s=settle)
    except CdcError as exc:
        if action == "created":
            connect.delete(item.name)
            raise ConnectorFailed(f"{exc}; deleted the connector this apply created") from None
        if action == "updated" and previous is not None:
            replace_config(connect, item.name, previous, timeout_s)
            still = _back_to_running(connect, item.name, timeout_s)
            raise ConnectorFailed(f"{exc}; restored its previous config{still}") from None
        raise ConnectorFailed(f"{exc} (config unchanged; see `cdc connectors status {item.name}`)") from None
    report(f"{item.name}: RUNNING")
    if action == "updated" and previous is not None:
        snapshot_added_tables(item, previous, report)
    return Outcome(item.name, action, status)


def snapshot_added_tables(item: Planned, previous: dict[str, Any], report: Report) -> list[str]:
    """Tables an update added to a running connector get an incremental snapshot of their
    own (Debezium's initial snapshot is long over); tables captured before are not re-read."""
    if connector_kind(item.config) == "mongodb" or not item.config.get("signal.data.collection"):
        return []
    src = item.source
    before = set(captured_tables(src, previous))
    added = [t for t in captured_tables(src, item.config) if t not in before]
    for table, statements in statements_naming(skipped_statements(previous), added).items():
        report(
            f"{item.name}: WARNING: {table} had DDL skipped while it was not captured"
            f" (Debezium could not parse or apply {statements!r}): its idea of the columns may be"
            f" out of date; `cdc connectors recover {item.name}` re-reads every captured table's"
            " definition and rows (README, runbook)"
        )
    if added:
        qualified = [f"{src.source.namespace}.{t}" for t in added]
        data = json.dumps({"data-collections": qualified, "type": "incremental"})
        src.insert_signal(str(uuid.uuid4()), "execute-snapshot", data)
        report(f"{item.name}: incremental snapshot of the added table(s) {', '.join(qualified)} requested")
    return added


def apply(connect: ConnectClient, planned: list[Planned], timeout_s: float, report: Report) -> list[Outcome]:
    """Publish (PostgreSQL), check all, then apply each; failures do not stop the others and
    are raised together."""
    for item in planned:
        publish(item, report)
    preflight(connect, planned, report)
    outcomes: list[Outcome] = []
    failures: list[CdcError] = []
    for item in planned:
        try:
            outcomes.append(apply_one(connect, item, timeout_s, report))
        except ConnectorFailed as exc:
            failures.append(exc)
    if failures:
        raise (
            failures[0]
            if len(failures) == 1
            else ConnectorFailed(f"{len(failures)} connectors failed: " + "; ".join(str(f) for f in failures))
        )
    return outcomes
