"""Pacing, batching and stopping: the loop every producer runs.

Operation i is due at i / rate seconds after the start (a monotonic clock). Each turn of
the loop writes everything that is due, at most MAX_BATCH changes, in one transaction: at
10 changes/s every change is its own transaction; at 10,000/s a transaction holds what
came due while the previous one was being written (a few ms: tens of changes), and a
producer that falls behind catches up 500 at a time. Committing per batch rather than
per change is what makes thousands of changes per second reachable. A stop request
(Ctrl-C) is seen between transactions, so the one under way always finishes and the
ledger matches the database.

With a reconnect window (`cdc produce --reconnect-s`, for failover and crash drills), a
transaction whose connection is lost does not end the run: the producer reconnects until
the window closes, asks the server whether that transaction committed
(`Target.committed`), writes it again if it did not, and goes on. Only when the server
cannot tell is it *in doubt*: counted apart, not in the ledger; reconcile compares whatever
the source holds.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from cdc_ods.errors import CdcError
from cdc_ods.producers.ledger import Ledger
from cdc_ods.producers.ops import Op, OpGenerator

MAX_BATCH = 500
RECONNECT_PAUSE_S = 0.5


class ConnectionLost(CdcError):
    """The database connection broke during a transaction: its outcome is unknown."""


class Target(Protocol):
    """One source database, as a producer sees it."""

    name: str
    address: str

    def open(self) -> None:
        """Connect and create the schema if missing."""

    def generator(self, seed: int | str) -> OpGenerator:
        """A generator whose inserts use ids after the ones the tables already hold."""

    def write(self, ops: Sequence[Op]) -> None:
        """Apply `ops` in order in one transaction and commit it."""

    def committed(self, ops: Sequence[Op]) -> bool | None:
        """After a `ConnectionLost` in `write(ops)` and a new `open()`: whether that transaction
        committed (None: the server cannot tell)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Limit:
    """When to stop: after `count` operations or `duration_s` seconds, whichever is given."""

    count: int | None = None
    duration_s: float | None = None

    def __post_init__(self) -> None:
        if (self.count is None) == (self.duration_s is None):
            raise ValueError("give exactly one of count and duration")

    def expected(self, rate: float) -> int | None:
        if self.count is not None:
            return self.count
        return math.ceil(rate * (self.duration_s or 0)) if rate > 0 else None


@dataclass(frozen=True)
class Pacer:
    """`rate` operations per second; 0 means as fast as the database takes them."""

    rate: float

    def due(self, elapsed_s: float, done: int) -> int:
        """Operations due by `elapsed_s` that are not done yet."""
        if self.rate <= 0:
            return MAX_BATCH
        # the epsilon: waiting exactly `delay` must make the next change due despite rounding
        return max(0, math.floor(elapsed_s * self.rate + 1e-6) + 1 - done)

    def delay(self, elapsed_s: float, done: int) -> float:
        """Seconds until the next operation is due."""
        return 0.0 if self.rate <= 0 else max(0.0, done / self.rate - elapsed_s)


@dataclass(frozen=True)
class RunResult:
    done: int
    elapsed_s: float
    interrupted: bool
    in_doubt: int = 0  # changes of transactions whose outcome is unknown (module docstring)

    @property
    def rate(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0


def run(
    generator: Iterator[Op],
    write: Callable[[Sequence[Op]], None],
    ledger: Ledger,
    pacer: Pacer,
    limit: Limit,
    stop: threading.Event,
    progress: Callable[[int], None] = lambda _n: None,
    clock: Callable[[], float] = time.monotonic,
    wait: Callable[[float], object] | None = None,
    recover: Callable[[Sequence[Op]], bool | None] | None = None,
    reconnect_s: float = 0.0,
) -> RunResult:
    """Write due operations in transactions until the limit is reached or `stop` is set.

    `clock` and `wait` are injectable so the pacing can be tested without sleeping. With
    `reconnect_s` > 0, a `ConnectionLost` is followed by `recover(ops)` calls (reconnect, then
    say whether `ops` committed) until one succeeds or `reconnect_s` have passed.
    """
    wait = wait or stop.wait
    start = clock()
    done = in_doubt = 0
    again: list[Op] = []  # a transaction that did not commit, written again next
    while not stop.is_set():
        elapsed = clock() - start
        left_s = math.inf if limit.duration_s is None else limit.duration_s - elapsed
        left_n = math.inf if limit.count is None else limit.count - done
        if left_s <= 0 or left_n <= 0:
            break
        due = min(pacer.due(elapsed, done), MAX_BATCH, left_n)
        if due <= 0 and not again:
            wait(min(pacer.delay(elapsed, done), left_s))
            continue
        ops, again = again or [next(generator) for _ in range(int(due))], []
        try:
            write(ops)
        except ConnectionLost:
            if recover is None or reconnect_s <= 0:
                raise
            committed = _recover(recover, ops, clock() + reconnect_s, clock, wait, stop)
            if committed is False:
                again = ops
                continue
            if committed is None:
                in_doubt += len(ops)
                continue
        ledger.commit(ops)
        done += len(ops)
        progress(len(ops))
    return RunResult(done, clock() - start, stop.is_set(), in_doubt)


def _reopened(target: Target, ops: Sequence[Op]) -> bool | None:
    """Connect again, then whether the transaction of `ops` committed."""
    target.close()
    target.open()
    return target.committed(ops)


def _recover(
    recover: Callable[[Sequence[Op]], bool | None],
    ops: Sequence[Op],
    deadline: float,
    clock: Callable[[], float],
    wait: Callable[[float], object],
    stop: threading.Event,
) -> bool | None:
    """`recover(ops)` until it succeeds, `stop` is set or the deadline passes (then its error)."""
    while True:
        try:
            return recover(ops)
        except CdcError:
            if clock() >= deadline or stop.is_set():
                raise
            wait(RECONNECT_PAUSE_S)


@dataclass
class Outcome:
    """One target's run: what it committed, and how it ended."""

    ledger: Ledger
    result: RunResult | None = None
    error: BaseException | None = None


@contextmanager
def opened(targets: Sequence[Target]) -> Iterator[Sequence[Target]]:
    """Open every target (connect, create the schema) before any writes, so a dead database
    fails the command up front; close them all at the end."""
    done: list[Target] = []
    try:
        for target in targets:
            target.open()
            done.append(target)
        yield targets
    finally:
        for target in done:
            target.close()


def produce(
    targets: Sequence[Target],
    pacer: Pacer,
    limit: Limit,
    seed: int,
    stop: threading.Event,
    track_rows: bool = True,
    progress: Callable[[str, int], None] = lambda _name, _n: None,
    reconnect_s: float = 0.0,
) -> dict[str, Outcome]:
    """Run one producer per opened target, concurrently, each at the full rate and limit.

    A target that fails stops the others after their current transaction; the caller
    reports the outcomes, then the error. A lost connection is retried for `reconnect_s`
    (`run`) by closing and opening the target again.
    """
    # seeded per source, so `all` does not write the same values everywhere
    generators = {t.name: t.generator(f"{t.name}:{seed}") for t in targets}
    outcomes = {t.name: Outcome(Ledger(generators[t.name].mix.tables, track_rows)) for t in targets}

    def work(target: Target) -> None:
        outcome = outcomes[target.name]
        try:
            outcome.result = run(
                generators[target.name],
                target.write,
                outcome.ledger,
                pacer,
                limit,
                stop,
                progress=lambda n: progress(target.name, n),
                recover=lambda ops: _reopened(target, ops),
                reconnect_s=reconnect_s,
            )
        except BaseException as exc:
            outcome.error = exc
            stop.set()

    # daemons: a second Ctrl-C ends the process without waiting for them
    threads = [
        threading.Thread(target=work, args=(t,), name=f"produce-{t.name}", daemon=True) for t in targets
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    return outcomes
