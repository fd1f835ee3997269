"""What a failed connector task's Java trace says, short enough for a log line or a table.

Every reader of Connect's failed statuses (`cdc connectors status`, `cdc status`, the
watchdog, `apply` when it waits) goes through here, so they name a failure the same way.
One failure gets a name of its own: a DDL statement Debezium's parser cannot read. It stops
every table of the source, a restart cannot help (the task reads the same statement again),
and the way out is the operator's (README, runbook).
"""

from __future__ import annotations

import re
from typing import Any

CONNECTOR_INSTANCE = "connector"  # the connector instance, next to its tasks "0", "1", ...
_UNPARSEABLE = re.compile(r"DDL statement couldn't be parsed\..*? with the statement '(.*?)'\r?\n", re.DOTALL)

UNPARSEABLE_DDL_WAY_OUT = (
    "take the table out of `tables` in cdc.yaml and run `cdc connectors apply` (the other tables"
    " stream again; statements of tables not captured that use a type the parser does not know"
    " are not parsed), then change the column's type at the source (`cdc sources check` names"
    " such columns)"
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
    """The DDL statement the task failed to parse, or None when it failed for another reason."""
    found = _UNPARSEABLE.search(trace or "")
    return found.group(1) if found else None


def diagnosis(trace: str | None) -> str:
    """One line for an operator: the unparseable statement and the way out, or the root cause."""
    statement = unparseable_statement(trace)
    if statement is None:
        return root_cause(trace)
    return f"Debezium cannot parse the DDL statement {statement!r}: {UNPARSEABLE_DDL_WAY_OUT}"


def instances(status: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(`CONNECTOR_INSTANCE` or the task id, its status) of one connector's status."""
    return [(CONNECTOR_INSTANCE, status["connector"])] + [(str(t["id"]), t) for t in status.get("tasks", [])]


def failed_instances(status: dict[str, Any]) -> list[tuple[str, str]]:
    """(instance, trace) of each FAILED instance of one connector's status."""
    return [
        (ident, inst.get("trace") or "") for ident, inst in instances(status) if inst.get("state") == "FAILED"
    ]
