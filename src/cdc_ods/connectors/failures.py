"""What a failed connector task's Java trace says, short enough for a log line or a table.

Every reader of Connect's failed statuses (`cdc connectors status`, `cdc status`, the
watchdog, `apply` when it waits) goes through here, so they name a failure the same way.
One failure gets a name of its own: a DDL statement Debezium cannot read (its parser does not
know the syntax) or cannot apply (it changes a column Debezium never saw, whose declaration it
skipped). It stops every table of the source, a restart cannot help (the task reads the same
statement again), and the way out is the operator's (README, runbook).
"""

from __future__ import annotations

import re
from typing import Any

CONNECTOR_INSTANCE = "connector"  # the connector instance, next to its tasks "0", "1", ...
_UNPARSEABLE = (
    re.compile(r"DDL statement couldn't be parsed\..*? with the statement '(.*?)'\r?\n", re.DOTALL),
    re.compile(r"ParsingException: Trying to change column .*? which does not exist\. Query: (.*?)\r?\n"),
)

UNPARSEABLE_DDL_WAY_OUT = (
    "if its table is captured, take it out of `tables` in cdc.yaml and run `cdc connectors apply`:"
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


def unparseable_statement(trace: str | None) -> str | None:
    """The DDL statement the task failed to read or apply, or None when it failed for another
    reason (for a statement it could not apply Debezium quotes only the failing clause)."""
    for pattern in _UNPARSEABLE:
        if found := pattern.search(trace or ""):
            return found.group(1)
    return None


def diagnosis(trace: str | None) -> str:
    """One line for an operator: the unparseable statement and the way out, or the root cause."""
    statement = unparseable_statement(trace)
    if statement is None:
        return root_cause(trace)
    return f"Debezium cannot parse or apply the DDL statement {statement!r}: {UNPARSEABLE_DDL_WAY_OUT}"


def instances(status: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(`CONNECTOR_INSTANCE` or the task id, its status) of one connector's status."""
    return [(CONNECTOR_INSTANCE, status["connector"])] + [(str(t["id"]), t) for t in status.get("tasks", [])]


def failed_instances(status: dict[str, Any]) -> list[tuple[str, str]]:
    """(instance, trace) of each FAILED instance of one connector's status."""
    return [
        (ident, inst.get("trace") or "") for ident, inst in instances(status) if inst.get("state") == "FAILED"
    ]
