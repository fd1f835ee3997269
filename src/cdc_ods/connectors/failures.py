"""What a failed connector task's Java trace says, short enough for a log line or a table.

Every reader of Connect's failed statuses (`cdc connectors status`, `cdc status`, the
watchdog, `apply` when it waits) goes through here, so they name a failure the same way.
Two failures get a name of their own, because a restart cannot help and the way out is the
operator's (README, runbook):
- a DDL statement Debezium cannot read (its parser does not know the syntax) or cannot apply
  (it changes a column Debezium never saw, whose declaration it skipped): the task reads the
  same statement again (the watchdog skips one of a table not captured);
- a lost log: the binlog file or the WAL the connector must read next is gone (purged while
  the connector was stopped, its replication slot invalidated by `max_slot_wal_keep_size` or
  dropped). The changes in it can no longer be read; `cdc connectors recover` re-snapshots.
"""

from __future__ import annotations

import re
from typing import Any

CONNECTOR_INSTANCE = "connector"  # the connector instance, next to its tasks "0", "1", ...
_CANNOT_PARSE = re.compile(
    r"DDL statement couldn't be parsed\..*? with the statement '(.*?)'\r?\n", re.DOTALL
)
_CANNOT_APPLY = re.compile(
    r"ParsingException: Trying to change column .*? in (.+?) table, which does not exist\. Query: (.*?)\r?\n"
)

# Debezium's check of the stored offset at start (BaseSourceTask); the server refusing the
# binlog dump (MariaDB with GTIDs, MySQL with GTIDs, by file and position: error 1236); and
# PostgreSQL refusing to stream from a slot it invalidated
_LOG_LOST = re.compile(
    r"but this is no longer available on the server"
    r"|required binlog files have been purged"
    r"|master has purged binary logs containing GTIDs"
    r"|Could not find first log file name in binary log index file"
    r"|replication slot \S+ cannot be used because it has been invalidated|This slot has been invalidated"
    r"|requested WAL segment \S+ has already been removed"
)

UNPARSEABLE_DDL_WAY_OUT = (
    "a statement of a table not captured is skipped by the watchdog (`cdc watch`) by itself;"
    " if its table is captured, take it out of `tables` in cdc.yaml and run `cdc connectors apply`:"
    " the other tables stream again. To capture it again, drop the column at the source and add"
    " it back with a type `cdc sources check` accepts (DROP and ADD, not MODIFY: Debezium never"
    " saw the column), put the table back and `cdc connectors apply`. Other cases: README, runbook"
)


def story(trace: str | None) -> list[str]:
    """The exception line and every `Caused by:` line: the story of a Java trace, short."""
    lines = (trace or "").strip().splitlines()
    return lines[:1] + [line.strip() for line in lines[1:] if line.strip().startswith("Caused by:")]


def root_cause(trace: str | None) -> str:
    """The first line of a Java trace and its last `Caused by:` (usually the real reason)."""
    lines = story(trace)
    if not lines:
        return "(no trace)"
    causes = [line.removeprefix("Caused by: ") for line in lines[1:]]
    return lines[0] if not causes or causes[-1] == lines[0] else f"{lines[0]} <- {causes[-1]}"


def unreadable_statement(trace: str | None) -> str | None:
    """The whole DDL statement the task failed to parse, or None when it failed for another
    reason."""
    found = _CANNOT_PARSE.search(trace or "")
    return found.group(1) if found else None


def unappliable_change(trace: str | None) -> tuple[str, str] | None:
    """(table `database.table`, the clause) of a DDL statement the task parsed but could not
    apply (it changes a column Debezium never saw), or None when it failed for another reason."""
    found = _CANNOT_APPLY.search(trace or "")
    return (found.group(1), found.group(2)) if found else None


def unparseable_statement(trace: str | None) -> str | None:
    """The DDL statement the task failed to read or apply, or None when it failed for another
    reason (for a statement it could not apply Debezium quotes only the failing clause)."""
    change = unappliable_change(trace)
    return unreadable_statement(trace) or (change[1] if change else None)


def log_lost(trace: str | None) -> bool:
    """Whether the task failed because the source no longer has the log it must read next."""
    return bool(_LOG_LOST.search(trace or ""))


def log_lost_way_out(connector: str) -> str:
    return (
        f"the changes in the lost log cannot be read any more: `cdc connectors recover {connector}`"
        " re-reads every captured table (a snapshot) and removes from the ODS the rows deleted"
        " meanwhile; then `cdc reconcile`. README, runbook"
    )


def diagnosis(trace: str | None, connector: str = "<connector>") -> str:
    """One line for an operator: a named failure (unparseable DDL, lost log) and the way out,
    or the root cause."""
    statement = unparseable_statement(trace)
    if statement is not None:
        return f"Debezium cannot parse or apply the DDL statement {statement!r}: {UNPARSEABLE_DDL_WAY_OUT}"
    if log_lost(trace):
        return f"the source no longer has the log the connector must read next: {log_lost_way_out(connector)}"
    return root_cause(trace)


def way_out(trace: str | None, connector: str) -> str | None:
    """The operator's way out of a named failure, None for any other."""
    if unparseable_statement(trace) is not None:
        return UNPARSEABLE_DDL_WAY_OUT
    if log_lost(trace):
        return log_lost_way_out(connector)
    return None


def instances(status: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(`CONNECTOR_INSTANCE` or the task id, its status) of one connector's status."""
    return [(CONNECTOR_INSTANCE, status["connector"])] + [(str(t["id"]), t) for t in status.get("tasks", [])]


def failed_instances(status: dict[str, Any]) -> list[tuple[str, str]]:
    """(instance, trace) of each FAILED instance of one connector's status."""
    return [
        (ident, inst.get("trace") or "") for ident, inst in instances(status) if inst.get("state") == "FAILED"
    ]
