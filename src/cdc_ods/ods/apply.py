"""Applying a batch to Phoenix: split by key over the writer threads, each with its own
connection, while the next batch is gathered (pipelining). A small batch goes to one writer:
each part costs its own statements and commit (HTTP round trips, a Phoenix commit, an HBase
WAL sync), which at a trickle of changes is most of the work.

Phoenix or HBase unavailable: the same statements are retried with backoff until they go
through or the batch's checkpoint gives up (the loader stopping, or a rebalance's time for
the batch over; the batch is then read again). A row Phoenix refuses is isolated by applying
the part row by row, and only that row is dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Protocol

from confluent_kafka import Message

from cdc_ods.errors import Rejected, TransientError
from cdc_ods.ods import metrics
from cdc_ods.ods.batch import Batch, Tables
from cdc_ods.ods.replay_guard import ReplayGuard
from cdc_ods.ods.schema import TableSchema
from cdc_ods.ods.writer import Change, retry_phoenix
from cdc_ods.runtime import Checkpoint

log = logging.getLogger("cdc_ods.loader")

ROWS_PER_WRITER = 1000  # a batch of fewer rows is applied by one writer, of more by two, ...


class Writer(Protocol):
    """One Phoenix connection (`cdc_ods.ods.writer.PhoenixWriter`)."""

    def stage(self, schema: TableSchema, changes: Sequence[Change]) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def answers(self) -> bool: ...

    def close(self) -> None: ...


Reject = Callable[[Checkpoint, Message, Rejected], None]


class Applier:
    def __init__(self, writers: Sequence[Writer], replay_guard: ReplayGuard, reject: Reject) -> None:
        self.writers = writers
        self.replay_guard = replay_guard
        self.reject = reject
        self._executor = ThreadPoolExecutor(max_workers=len(writers), thread_name_prefix="phoenix-writer")
        self._futures: list[Future[None]] = []

    def submit(self, batch: Batch, checkpoint: Checkpoint) -> None:
        """Start applying `batch` (the previous one is over: see `done`)."""
        assert not self._futures, "a batch is still being applied"
        parts = min(len(self.writers), 1 + batch.rows // ROWS_PER_WRITER)
        self._futures = [
            self._executor.submit(self._apply, writer, part, checkpoint, batch.replays)
            for writer, part in zip(self.writers, batch.split(parts), strict=False)
            if part
        ]

    def done(self, timeout_s: float) -> bool:
        """Whether the batch is over (applied, or given up), waiting up to `timeout_s`."""
        return not self._futures or not wait(self._futures, timeout=timeout_s).not_done

    def result(self) -> None:
        """The batch is over: raise what stopped it (a TransientError when it gave up)."""
        futures, self._futures = self._futures, []
        for future in futures:
            future.result()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        for writer in self.writers:
            writer.close()
        self.replay_guard.close()

    def _apply(self, writer: Writer, tables: Tables, checkpoint: Checkpoint, replays: bool) -> None:
        """Runs on a writer thread, with that thread's own connection; `replays`: the batch holds
        records `cdc dlq replay` sent back (checked against the ODS before they are applied)."""

        def whole_batch() -> None:
            for schema, entries in tables.values():
                writer.stage(schema, [change for _, change in entries.values()])
            writer.commit()

        started = time.monotonic()
        if replays:
            self.replay_guard.drop_stale(tables, checkpoint.giving_up)
        _not_dropped(checkpoint)
        try:
            retry_phoenix(whole_batch, checkpoint.giving_up, writer)
        except Rejected as exc:
            log.warning("batch rejected (%s); applying row by row to isolate the bad rows", exc)
            writer.rollback()
            self._row_by_row(writer, tables, checkpoint)
        metrics.COMMIT_SECONDS.observe(time.monotonic() - started)
        now_ms = time.time() * 1000
        for schema, entries in tables.values():
            metrics.observe_applied(schema.ods_name, (change for _, change in entries.values()), now_ms)

    def _row_by_row(self, writer: Writer, tables: Tables, checkpoint: Checkpoint) -> None:
        for schema, entries in tables.values():
            for key, (msg, change) in list(entries.items()):

                def one(schema: TableSchema = schema, change: Change = change) -> None:
                    writer.stage(schema, [change])
                    writer.commit()

                _not_dropped(checkpoint)
                try:
                    retry_phoenix(one, checkpoint.giving_up, writer)
                except Rejected as exc:
                    writer.rollback()
                    self.reject(checkpoint, msg, Rejected(f"Phoenix rejected the row: {exc}"))
                    del entries[key]


def _not_dropped(checkpoint: Checkpoint) -> None:
    """A batch dropped in a rebalance is not written late, after its records' new owner."""
    if checkpoint.abandoned:
        raise TransientError("the batch was dropped")
