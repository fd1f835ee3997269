"""What Kafka Connect's config validation misses.

- Unknown keys. Connect reports bad values but silently ignores a key it does not know, so
  a typo such as `decimal.handlng.mode` would quietly leave the default in force. A key is
  flagged when the connector's validation result does not define it and it is not under a
  prefix that Connect or Debezium passes on to another component (converters, transforms,
  topic creation, the schema history producer, the JDBC driver, ...).
- Missing tables. Debezium accepts a `table.include.list` entry that matches no table and
  then captures nothing for it: no topic, no error. Each entry (a regular expression over
  qualified names, matched whole and case-insensitively, as Debezium does) must match a
  table that exists, and the signal table must exist.
"""

from __future__ import annotations

import re
from typing import Any

PASSTHROUGH_PREFIXES = (
    "topic.creation.",
    "transforms.",
    "predicates.",
    "producer.override.",
    "consumer.override.",
    "admin.override.",
    "key.converter.",
    "value.converter.",
    "header.converter.",
    "errors.",
    "schema.history.internal.",
    "database.",
    "driver.",
    "signal.",
    "notification.",
    "snapshot.select.statement.overrides.",
    "column.mask.",
    "column.truncate.",
)


# Options a connector honours although its validation result does not list them: the MariaDB
# connector reads `binary.handling.mode` (Debezium's own BinlogBinaryModeIT runs against it);
# Debezium declares its DDL filter with Field.createInternal, which prefixes "internal.".
UNLISTED_OPTIONS = frozenset({"binary.handling.mode", "internal.schema.history.internal.ddl.filter"})
# Keys under a passed-on prefix that nothing reads, with the key that is read
MISNAMED_OPTIONS = {"schema.history.internal.ddl.filter": "internal.schema.history.internal.ddl.filter"}


def problems(config: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """`field: message` for every invalid value Connect reported and every unknown key."""
    found: list[str] = []
    defined: set[str] = set()
    for item in result.get("configs", []):
        defined.add(item.get("definition", {}).get("name", ""))
        value = item.get("value", {})
        found += [f"{value.get('name')}: {error}" for error in value.get("errors", [])]
    # custom converters are configured under their own names: `converters=isbn` -> `isbn.type`
    prefixes = PASSTHROUGH_PREFIXES + tuple(
        f"{name.strip()}." for name in str(config.get("converters", "")).split(",") if name.strip()
    )
    for key in sorted(config):
        if key in MISNAMED_OPTIONS:
            found.append(f"{key}: Debezium ignores it; it reads {MISNAMED_OPTIONS[key]}")
        elif (
            key not in defined
            and key not in UNLISTED_OPTIONS
            and key != "name"
            and not key.startswith(prefixes)
        ):
            found.append(f"{key}: unknown option (Connect would silently ignore it)")
    return found


def include_entries(config: dict[str, Any]) -> list[str]:
    """A connector config's `table.include.list` entries: regular expressions over qualified
    names (`database.table`, `schema.table`)."""
    return [e.strip() for e in str(config.get("table.include.list", "")).split(",") if e.strip()]


def captures(entries: list[str], qualified: str) -> bool:
    """Whether include-list `entries` take table `qualified`: matched whole and
    case-insensitively, as Debezium does."""
    return any(re.fullmatch(entry, qualified, re.IGNORECASE) for entry in entries)


def table_problems(config: dict[str, Any], existing: set[str], where: str) -> list[str]:
    """`field: message` for include-list entries that match no table in `existing` (qualified,
    lower-case names) and for a missing signal table; `where` names the database."""
    found: list[str] = []
    for entry in include_entries(config):
        try:
            pattern = re.compile(entry, re.IGNORECASE)
        except re.error as exc:
            found.append(f"table.include.list: {entry} is not a regular expression ({exc})")
            continue
        if not any(pattern.fullmatch(table) for table in existing):
            found.append(f"table.include.list: {entry} matches no existing table in {where}")
    signal_table = config.get("signal.data.collection")
    if signal_table and signal_table.lower() not in existing:
        found.append(
            f"signal.data.collection: table {signal_table} does not exist in {where}"
            " (the admin creates it: `cdc stack up` locally, the init scripts in docker-compose)"
        )
    return found
