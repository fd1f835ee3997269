"""Changes as data, and the machinery every source's generator shares.

A generator is a pure function of its seed and its first free ids: it keeps its own model
of the rows it may touch (a capped working set), so the sequence of operations never
depends on timing or on how the runner groups them into transactions.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Kind = Literal["insert", "update", "delete"]
KINDS: tuple[Kind, ...] = ("insert", "update", "delete")
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Op:
    """One change of one row.

    values: the whole row for an insert (key column included), the changed columns for
    an update (a dotted name sets a nested field, as MongoDB's `$set` does), nothing for
    a delete.
    """

    table: str
    kind: Kind
    key: int
    values: Mapping[str, Any]


def merge(row: Mapping[str, Any], changes: Mapping[str, Any]) -> Row:
    """`row` with `changes` applied, as a new dict; nested dicts on a dotted path are copied,
    so rows already handed out (to the ledger) never change under their holder."""
    merged = dict(row)
    for name, value in changes.items():
        *parents, leaf = name.split(".")
        target = merged
        for part in parents:
            target[part] = dict(target[part])
            target = target[part]
        target[leaf] = value
    return merged


class WorkingSet:
    """The rows a generator may update or delete: key -> current row, capped.

    When full, adding a row retires a random one: it stays in the database, untouched from
    then on. That bounds memory on long runs and keeps updates hitting a modest, hot set.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._keys: list[int] = []
        self._index: dict[int, int] = {}
        self.rows: dict[int, Row] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self.rows

    def add(self, key: int, row: Row, rng: random.Random) -> int | None:
        """Add a row; returns the key retired to make room, if any."""
        retired = None
        if len(self._keys) >= self.cap:
            retired = self.pick(rng)
            self.remove(retired)
        self._index[key] = len(self._keys)
        self._keys.append(key)
        self.rows[key] = row
        return retired

    def pick(self, rng: random.Random) -> int:
        return self._keys[rng.randrange(len(self._keys))]

    def remove(self, key: int) -> None:
        i = self._index.pop(key)
        last = self._keys.pop()
        if last != key:
            self._keys[i] = last
            self._index[last] = i
        del self.rows[key]


class VirtualClock:
    """Timestamps for generated rows: a fixed start moved forward by random steps.

    Never the wall clock, so a seed reproduces every value. Steps are at least 1 ms, so
    values stay strictly increasing even at MongoDB's millisecond precision: an update that
    sets `updated_at` always changes its row (MySQL and MongoDB log nothing for an update
    that changes nothing). Microseconds are random, so their precision is exercised.
    """

    START = datetime(2025, 1, 1, tzinfo=UTC)

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._now = self.START

    def tick(self) -> datetime:
        self._now += timedelta(microseconds=self._rng.randint(1_000, 1_000_000))
        return self._now


class Mix:
    """Weights of (table, kind) pairs: how often each operation is chosen."""

    def __init__(self, weights: Mapping[tuple[str, Kind], float]) -> None:
        self.choices = list(weights)
        self._cum: list[float] = []
        total = 0.0
        for choice in self.choices:
            total += weights[choice]
            self._cum.append(total)
        self.weights = {c: w / total for c, w in weights.items()}

    @property
    def tables(self) -> list[str]:
        return list(dict.fromkeys(table for table, _ in self.choices))

    def choose(self, rng: random.Random) -> tuple[str, Kind]:
        return rng.choices(self.choices, cum_weights=self._cum)[0]


class OpGenerator(ABC):
    """An endless, seeded stream of operations for one source's tables.

    Subclasses implement `make`, which returns the operations for one choice of the mix
    (usually one; deleting a parent row also deletes its children first) and updates the
    generator's model. They are emitted one at a time, so a count is exact.

    The model starts empty: updates and deletes hit rows this run inserted (rows of earlier
    runs are left alone), so the sequence depends on the seed and the first free ids only.
    """

    mix: Mix

    def __init__(self, seed: int | str, next_ids: Mapping[str, int]) -> None:
        self.rng = random.Random(seed)
        self.clock = VirtualClock(self.rng)
        self._next_id = {table: next_ids.get(table, 1) for table in self.mix.tables}
        self._pending: deque[Op] = deque()

    def new_id(self, table: str) -> int:
        key = self._next_id[table]
        self._next_id[table] = key + 1
        return key

    def __iter__(self) -> Iterator[Op]:
        return self

    def __next__(self) -> Op:
        while not self._pending:
            self._pending.extend(self.make(*self.mix.choose(self.rng)))
        return self._pending.popleft()

    @abstractmethod
    def make(self, table: str, kind: Kind) -> list[Op]:
        """Operations for one choice; an update or delete on an empty set becomes an insert."""

    def pick_columns(self, candidates: list[str], most: int = 3) -> list[str]:
        """A realistic update touches a few columns, not all of them."""
        return self.rng.sample(candidates, self.rng.randint(1, min(most, len(candidates))))
