"""Compare a source table with its ODS table in bounded memory.

Pass 1 streams both sides once and keeps, per key bucket (hash of the key modulo
`buckets`), a row count and the sum of per-row content hashes: memory is O(buckets), not
O(rows). Buckets that agree are equal with overwhelming probability. Pass 2 streams both
sides again and keeps only the rows of disagreeing buckets, key -> row hash, to name the
missing, extra and different keys. A difference whose key a stage rejected (a dead letter,
`rejections.py`) is counted apart as rejected, with the stage and the reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from cdc_ods.ods.schema import TableSchema
from cdc_ods.ods.sequence import Totals
from cdc_ods.reconcile.canonical import canonical
from cdc_ods.reconcile.rejections import Key, Rejection

Row = tuple[tuple[Any, ...], tuple[Any, ...]]  # (key values, all column values) as read
RowSource = Callable[[], Iterable[tuple[Any, ...]]]  # yields rows: key columns first, then the rest


def _hash(data: Any, size: int) -> int:
    return int.from_bytes(hashlib.blake2b(orjson.dumps(data), digest_size=size).digest(), "big")


@dataclass
class TableReport:
    table: str
    ods_table: str
    source_rows: int = 0
    ods_rows: int = 0
    missing: list[Any] = field(default_factory=list)  # in the source, not in the ODS
    extra: list[Any] = field(default_factory=list)  # in the ODS, not in the source
    different: list[Any] = field(default_factory=list)
    missing_count: int = 0
    extra_count: int = 0
    different_count: int = 0
    # differences whose key has a dead letter: {key, kind (missing/extra/different), stage, reason}
    rejected: list[dict[str, Any]] = field(default_factory=list)
    rejected_count: int = 0
    sequence: Totals | None = None  # the loader's sequence checks; None: not tracked yet

    @property
    def sequence_ok(self) -> bool:
        return self.sequence is None or not (self.sequence.gaps or self.sequence.regressions)

    @property
    def lost(self) -> bool:
        """A difference no dead letter explains, or a gap in the loader's sequence checks."""
        return bool(self.missing_count or self.extra_count or self.different_count) or not self.sequence_ok

    @property
    def ok(self) -> bool:
        return not self.lost and not self.rejected_count

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "ods_table": self.ods_table,
            "ok": self.ok,
            "source_rows": self.source_rows,
            "ods_rows": self.ods_rows,
            "missing": self.missing_count,
            "extra": self.extra_count,
            "different": self.different_count,
            "rejected": self.rejected_count,
            "lost": self.lost,
            "missing_keys": self.missing,
            "extra_keys": self.extra,
            "different_keys": self.different,
            "rejected_keys": self.rejected,
            "sequence": None if self.sequence is None else dataclasses.asdict(self.sequence),
        }


class _Side:
    def __init__(self, schema: TableSchema, rows: RowSource, buckets: int) -> None:
        self.columns = [schema.column(name) for name in schema.primary_key] + [
            c for c in schema.columns if c.name not in schema.primary_key
        ]
        self.key_width = len(schema.primary_key)
        self.rows = rows
        self.buckets = buckets

    def hashed(self) -> Iterator[tuple[int, tuple[Any, ...], int]]:
        """(bucket, canonical key, row hash) per row."""
        for raw in self.rows():
            values = [canonical(c, v) for c, v in zip(self.columns, raw, strict=True)]  # type: ignore[arg-type]
            key = tuple(values[: self.key_width])
            yield _hash(key, 4) % self.buckets, key, _hash(values, 8)

    def digests(self) -> tuple[int, list[tuple[int, int]]]:
        per_bucket = [(0, 0)] * self.buckets
        total = 0
        for bucket, _key, row_hash in self.hashed():
            count, acc = per_bucket[bucket]
            per_bucket[bucket] = (count + 1, (acc + row_hash) % 2**64)
            total += 1
        return total, per_bucket

    def detail(self, buckets: set[int]) -> dict[tuple[Any, ...], int]:
        return {key: h for bucket, key, h in self.hashed() if bucket in buckets}


def compare(
    schema: TableSchema,
    source: RowSource,
    ods: RowSource,
    buckets: int = 1024,
    limit: int = 20,
    rejected: Callable[[], Mapping[Key, Rejection]] = dict,
) -> TableReport:
    """`rejected` gives the table's rejections by key; it is called only when a difference is found."""
    report = TableReport(f"{schema.source}.{schema.database}.{schema.table}", schema.ods_name)
    src, dst = _Side(schema, source, buckets), _Side(schema, ods, buckets)
    report.source_rows, src_digests = src.digests()
    report.ods_rows, dst_digests = dst.digests()
    differing = {b for b in range(buckets) if src_digests[b] != dst_digests[b]}
    if not differing:
        return report
    left, right = src.detail(differing), dst.detail(differing)
    rejections = rejected()
    both = left.keys() & right.keys()
    for kind, keys in (
        ("missing", left.keys() - right.keys()),
        ("extra", right.keys() - left.keys()),
        ("different", (k for k in both if left[k] != right[k])),
    ):
        for key in sorted(keys, key=repr):
            _count(report, kind, key, rejections.get(key), limit)
    return report


def _count(report: TableReport, kind: str, key: Key, rejection: Rejection | None, limit: int) -> None:
    if rejection is not None:
        report.rejected_count += 1
        if len(report.rejected) < limit:
            report.rejected.append(
                {"key": list(key), "kind": kind, "stage": rejection.stage, "reason": rejection.reason}
            )
        return
    setattr(report, f"{kind}_count", getattr(report, f"{kind}_count") + 1)
    listed: list[Any] = getattr(report, kind)
    if len(listed) < limit:
        listed.append(list(key))
