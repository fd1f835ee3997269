"""Sequence integrity: the loader saw every record of its partitions, each key in order.

Two checks run on every record the loader consumes, before it is applied:

- gap: per cleansed topic partition, offsets follow each other with none skipped. The first
  record after a partition is assigned must be at the group's committed offset (offset 0
  for a group that never committed): anything later means records vanished before the
  loader read them (retention deleted them, an offset was reset past them). Cleansed
  topics are written without transactions or compaction, so their offsets are contiguous.
- regression: per key, the source position (`__source_pos`) never goes down. A change
  older than one already seen for its key, and not seen itself before, means a stage
  reordered the key's changes. An older change seen before is a duplicate: the stages
  deliver at least once, so after a crash Debezium or the cleansing runner send a stretch
  of changes again; they are counted, not failures. Recent keys and changes are
  remembered (bounded: reorders and re-sent stretches are close together; memory stays
  bounded on any table size). When the loader restarted too (everything crashed at once),
  it has not seen the older change before: such a change is held as a *suspect* until the
  key's newest position arrives again (the re-sent stretch reaches it: duplicates) or does
  not (a newer unseen change comes first, or `SUSPECT_GRACE_S` pass, or the loader stops:
  a regression). Records `cdc dlq replay` sent back are exempt: they are old
  by design, and the replay guard keeps them from overtaking newer changes.

Records below the next expected offset are the loader's own redeliveries (a restart
replays from the last committed offset) and are not checked twice.

Totals per ODS table and partition are added to the Phoenix table CDC.SEQUENCE_INTEGRITY
with atomic `ON DUPLICATE KEY UPDATE` upserts, so restarts and several loader instances add
up; `cdc reconcile` reports them. Problems are written before the batch's offsets are
committed; counts of clean records at most every `FLUSH_INTERVAL_S`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cdc_ods.ods import metrics
from cdc_ods.ods.schema import METADATA_CACHE_MS

TABLE = "CDC.SEQUENCE_INTEGRITY"
FLUSH_INTERVAL_S = 5.0
REMEMBERED_KEYS = 100_000
REMEMBERED_CHANGES = 200_000
SUSPECT_GRACE_S = 30.0  # a re-sent stretch reaches the key's newest change well within this

CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " ODS_TABLE VARCHAR NOT NULL, TOPIC VARCHAR NOT NULL, PARTITION_ID INTEGER NOT NULL,"
    " CHECKED BIGINT, GAPS BIGINT, REGRESSIONS BIGINT, DUPLICATES BIGINT, LAST_PROBLEM VARCHAR,"
    " UPDATED_AT TIMESTAMP,"
    " CONSTRAINT PK PRIMARY KEY (ODS_TABLE, TOPIC, PARTITION_ID))"
    f" UPDATE_CACHE_FREQUENCY={METADATA_CACHE_MS}"
)
# Bind parameters work in the ON DUPLICATE KEY expressions only as plain operands
# (Phoenix 5.2 cannot type a `?` inside COALESCE or CAST there), hence a second statement
# for the text of the last problem.
ADD_TOTALS = (
    f"UPSERT INTO {TABLE} (ODS_TABLE, TOPIC, PARTITION_ID, CHECKED, GAPS, REGRESSIONS, DUPLICATES,"
    " UPDATED_AT) VALUES (?, ?, ?, ?, ?, ?, ?, CURRENT_TIME()) ON DUPLICATE KEY UPDATE"
    " CHECKED = COALESCE(CHECKED, 0) + ?, GAPS = COALESCE(GAPS, 0) + ?,"
    " REGRESSIONS = COALESCE(REGRESSIONS, 0) + ?, DUPLICATES = COALESCE(DUPLICATES, 0) + ?,"
    " UPDATED_AT = CURRENT_TIME()"
)
SET_PROBLEM = f"UPSERT INTO {TABLE} (ODS_TABLE, TOPIC, PARTITION_ID, LAST_PROBLEM) VALUES (?, ?, ?, ?)"
TOTALS_BY_TABLE = (
    f"SELECT ODS_TABLE, SUM(CHECKED), SUM(GAPS), SUM(REGRESSIONS), SUM(DUPLICATES), MAX(LAST_PROBLEM)"
    f" FROM {TABLE}"
    " GROUP BY ODS_TABLE"
)


@dataclass
class Totals:
    checked: int = 0
    gaps: int = 0
    regressions: int = 0
    duplicates: int = 0
    last_problem: str | None = None

    def __bool__(self) -> bool:
        return bool(self.checked or self.gaps or self.regressions or self.duplicates)


@dataclass
class _Suspect:
    """Changes older than their key's newest one, not seen before (see the module docstring)."""

    topic: str
    partition: int
    offset: int
    position: int
    newest: int
    since: float
    changes: int = 1

    def problem(self, key: tuple[Any, ...]) -> str:
        return (
            f"regression: key {list(key)} at position {self.position} after {self.newest}"
            f" ({self.topic}[{self.partition}]@{self.offset})"
        )


@dataclass
class SequenceChecker:
    """In-memory checks of one loader; `take()` hands over the totals to persist."""

    remembered_keys: int = REMEMBERED_KEYS
    remembered_changes: int = REMEMBERED_CHANGES
    clock: Callable[[], float] = time.monotonic
    _expected: dict[tuple[str, int], int] = field(default_factory=dict)
    _positions: OrderedDict[tuple[str, tuple[Any, ...]], int] = field(default_factory=OrderedDict)
    _changes: OrderedDict[int, None] = field(default_factory=OrderedDict)  # hashes of (table, key, pos)
    _suspects: dict[tuple[str, tuple[Any, ...]], _Suspect] = field(default_factory=dict)
    _pending: dict[tuple[str, str, int], Totals] = field(default_factory=dict)
    _last_flush: float = 0.0

    def __post_init__(self) -> None:
        self._last_flush = self.clock()

    def assigned(self, topic: str, partition: int, committed: int) -> None:
        """The partition starts at `committed` (negative: the group never committed)."""
        self._expected[(topic, partition)] = max(committed, 0)

    def revoked(self, topic: str, partition: int) -> None:
        self._expected.pop((topic, partition), None)

    def offset(self, table: str, topic: str, partition: int, offset: int) -> bool:
        """Check a record's offset; False for a redelivery (already checked)."""
        expected = self._expected.get((topic, partition))
        if expected is not None and offset < expected:
            return False
        self._expected[(topic, partition)] = offset + 1
        totals = self._totals(table, topic, partition)
        totals.checked += 1
        if expected is not None and offset > expected:
            missing = offset - expected
            totals.gaps += missing
            totals.last_problem = f"gap: offsets {expected}..{offset - 1} of {topic}[{partition}] never read"
            metrics.SEQUENCE_GAPS.labels(table).inc(missing)
        return True

    def position(
        self, table: str, topic: str, partition: int, key: tuple[Any, ...], position: int, offset: int
    ) -> None:
        """Check that the key's source position did not go down (a duplicate may). A record
        without one (0) is not ordered against the key's changes; neither are snapshot reads,
        which the loader does not pass."""
        if not position:
            return
        remembered = (table, key)
        change = hash((table, key, position))
        previous = self._positions.get(remembered)
        seen = change in self._changes
        suspect = self._suspects.get(remembered)
        if suspect is not None and position >= suspect.newest:
            del self._suspects[remembered]
            self._judge(table, key, suspect, resent=position == suspect.newest and seen)
        if previous is not None and position <= previous and seen:
            self._totals(table, topic, partition).duplicates += 1
            metrics.SEQUENCE_DUPLICATES.labels(table).inc()
            return
        if previous is not None and position < previous:
            if suspect is not None and remembered in self._suspects:
                suspect.changes += 1  # more of the same stretch
            else:
                now = self.clock()
                self._suspects[remembered] = _Suspect(topic, partition, offset, position, previous, now)
            return
        _remember(self._positions, remembered, position, self.remembered_keys)
        _remember(self._changes, change, None, self.remembered_changes)

    def _judge(self, table: str, key: tuple[Any, ...], suspect: _Suspect, resent: bool) -> None:
        """A suspect's verdict: a re-sent stretch (duplicates) or a regression."""
        totals = self._totals(table, suspect.topic, suspect.partition)
        if resent:
            totals.duplicates += suspect.changes
            metrics.SEQUENCE_DUPLICATES.labels(table).inc(suspect.changes)
            return
        totals.regressions += suspect.changes
        totals.last_problem = suspect.problem(key)
        metrics.SEQUENCE_REGRESSIONS.labels(table).inc(suspect.changes)

    def _expire(self, everything: bool) -> None:
        """Suspects whose key's newest change did not come again in time are regressions."""
        limit = self.clock() - SUSPECT_GRACE_S
        for remembered, suspect in list(self._suspects.items()):
            if everything or suspect.since <= limit:
                del self._suspects[remembered]
                self._judge(remembered[0], remembered[1], suspect, resent=False)

    def _totals(self, table: str, topic: str, partition: int) -> Totals:
        totals = self._pending.get((table, topic, partition))
        if totals is None:  # not setdefault: that would build a Totals per record
            totals = self._pending[(table, topic, partition)] = Totals()
        return totals

    def due(self) -> bool:
        """Totals should be written now: a problem is pending or the interval has passed."""
        self._expire(everything=False)
        if any(t.gaps or t.regressions for t in self._pending.values()):
            return True
        return bool(self._pending) and self.clock() - self._last_flush >= FLUSH_INTERVAL_S

    def take(self, final: bool = False) -> tuple[list[list[Any]], list[list[Any]]]:
        """The pending totals as (ADD_TOTALS rows, SET_PROBLEM rows); pending restarts at zero.
        `final` (the loader stops): every suspect still waiting is a regression."""
        self._expire(everything=final)
        totals, problems = [], []
        for (table, topic, partition), t in self._pending.items():
            metrics.SEQUENCE_CHECKED.labels(table).inc(t.checked)
            if t:
                added = [t.checked, t.gaps, t.regressions, t.duplicates]
                totals.append([table, topic, partition, *added, *added])  # inserted, or added to
            if t.last_problem:
                problems.append([table, topic, partition, t.last_problem])
        self._pending = {}
        self._last_flush = self.clock()
        return totals, problems


def _remember(memory: OrderedDict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """Store as the most recent entry; forget the oldest beyond `limit`."""
    memory[key] = value
    memory.move_to_end(key)
    if len(memory) > limit:
        memory.popitem(last=False)
