"""What a producer committed: counts per table and operation, and the expected rows.

Operations reach the ledger only after their transaction committed, so after any stop
(count reached, duration over, Ctrl-C, a failed transaction) it describes the database
exactly. `rows` holds, for every key this run touched, the row as it must now read back
(None: deleted); tests compare it with a SELECT, and later stages with the ODS.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from cdc_ods.producers.ops import KINDS, Kind, Op, Row, merge


class TableLedger:
    def __init__(self) -> None:
        self.counts: Counter[Kind] = Counter()
        self.rows: dict[int, Row | None] = {}


class Ledger:
    """One source's committed operations. `track_rows=False` keeps only the counts: the
    rows of a long, fast run (millions of app events) would not fit in memory."""

    def __init__(self, tables: Iterable[str], track_rows: bool = True) -> None:
        self.tables = {table: TableLedger() for table in tables}
        self.track_rows = track_rows

    def commit(self, ops: Iterable[Op]) -> None:
        for op in ops:
            table = self.tables[op.table]
            table.counts[op.kind] += 1
            if not self.track_rows:
                continue
            if op.kind == "insert":
                table.rows[op.key] = dict(op.values)
            elif op.kind == "update":
                # generators update only rows this run inserted and has not deleted
                table.rows[op.key] = merge(table.rows[op.key] or {}, op.values)
            else:
                table.rows[op.key] = None

    @property
    def total(self) -> int:
        return sum(sum(t.counts.values()) for t in self.tables.values())

    def counts(self) -> dict[str, dict[str, int]]:
        return {name: {kind: t.counts[kind] for kind in KINDS} for name, t in self.tables.items()}

    def to_json(self) -> dict[str, Any]:
        tables: dict[str, Any] = {}
        for name, table in self.tables.items():
            tables[name] = {"counts": {kind: table.counts[kind] for kind in KINDS}}
            if self.track_rows:
                tables[name]["rows"] = {str(key): jsonable(row) for key, row in sorted(table.rows.items())}
        return tables


def jsonable(value: Any) -> Any:
    """Plain JSON values; decimals as strings so no digit is lost, times as ISO-8601."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def write_ledgers(path: Path, seed: int, ledgers: Mapping[str, Ledger]) -> None:
    document = {"seed": seed, "sources": {name: ledger.to_json() for name, ledger in ledgers.items()}}
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1)
    path.write_text(text + "\n", encoding="utf-8")
