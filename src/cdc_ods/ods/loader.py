"""The ODS loader: cleansed topics -> UPSERT / DELETE in Phoenix tables.

A `Sink` of the stage runtime (`cdc_ods.runtime`), which consumes, batches, commits and
handles rebalances and the stop; each of the loader's jobs has a module of its own:

- decoding a record into a row change (`decode`), its ODS table created or widened first
  (`evolution`);
- checking the sequence (`sequence`): no skipped offset per partition, no source position
  going down per key, before anything is applied;
- gathering the batch, the last change per key winning (`batch`); a TRUNCATE at the source
  (op `t`) removes, once the batch's rows are committed, the table's rows whose source
  position it follows (or marks them deleted: `ods.delete_mode`);
- applying it on the writer threads while the next batch gathers (`apply`), replayed records
  kept from overtaking newer changes (`replay_guard`), the rows Phoenix refuses isolated and
  dead-lettered;
- the metrics (`metrics`).

Delivery (docs/architecture.md, "The contracts between stages"): offsets are committed only
after Phoenix committed the batch, its dead letters are acknowledged and its sequence
problems are written. A crash replays from the last committed offset; replaying full row
states in order converges to the same final state.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence

from confluent_kafka import Message, TopicPartition

from cdc_ods import contract
from cdc_ods.config import Config
from cdc_ods.dlq import DeadLetters
from cdc_ods.errors import Rejected
from cdc_ods.ods import metrics, sequence
from cdc_ods.ods.apply import Applier, Writer
from cdc_ods.ods.batch import Batch
from cdc_ods.ods.decode import parse_row, to_change, truncate_position
from cdc_ods.ods.evolution import SchemaReader, Schemas, source_schema_reader
from cdc_ods.ods.replay_guard import ReplayGuard, is_replay
from cdc_ods.ods.schema import TableSchema
from cdc_ods.ods.sequence import SequenceChecker
from cdc_ods.ods.writer import PhoenixWriter, retry_phoenix
from cdc_ods.runtime import Checkpoint, StageLoop, Stop, stage_consumer

log = logging.getLogger("cdc_ods.loader")

STAGE = "loader"


@functools.lru_cache(maxsize=1024)
def _table_label(topic: str) -> str:
    """The ODS table a cleansed topic loads into (the topic itself when it is not one)."""
    try:
        return contract.ods_table(*contract.parse_cleansed_topic(topic))
    except ValueError:
        return topic


class Loader:
    def __init__(
        self,
        config: Config,
        bootstrap: str,
        phoenix_url: str,
        topics: list[str],
        schema_reader: SchemaReader | None = None,
        *,
        stop: threading.Event | None = None,
        writers: Sequence[Writer] | None = None,
        ddl: PhoenixWriter | None = None,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        """`writers` (one Phoenix connection per writer thread), `ddl` (the consuming thread's
        connection: CREATE / ALTER TABLE, sequence totals) and `replay_guard` default to real
        connections to `phoenix_url`."""
        self.config = config
        self.bootstrap = bootstrap
        self.topics = topics
        self.stop_event = stop or Stop()
        self.ddl = ddl or PhoenixWriter(phoenix_url)
        if writers is None:
            writers = [PhoenixWriter(phoenix_url, config.ods.delete_mode) for _ in range(config.ods.writers)]
        self.schemas = Schemas(schema_reader or source_schema_reader(config), self.ddl)
        self.applier = Applier(writers, replay_guard or ReplayGuard(phoenix_url), self._dead_letter)
        self.sequence = SequenceChecker()
        self.batch = Batch()  # gathering while the previous one is applied
        self._truncates: list[tuple[TableSchema, int]] = []  # of the batch being applied
        self.applied = 0
        self._loop: StageLoop | None = None

    # --- running -------------------------------------------------------------------------

    def run(self, idle_exit_s: float | None = None) -> None:
        """Load until `stop()` (or until no record arrived for `idle_exit_s`)."""
        ods = self.config.ods
        if ods.linger_ms is not None:
            log.warning("ods.linger_ms is no longer used (a batch is what arrived while the previous one"
                        " was written); remove it from the configuration")  # fmt: skip
        self._loop = StageLoop(
            STAGE,
            stage_consumer(self.bootstrap, ods.group_id),
            self,
            DeadLetters(self.bootstrap),
            self.stop_event,
            ods.batch_size,
        )
        self._loop.run(self.topics, idle_exit_s=idle_exit_s)

    def stop(self) -> None:
        self.stop_event.set()

    # --- the Sink ------------------------------------------------------------------------

    def add(self, messages: list[Message], checkpoint: Checkpoint) -> None:
        """Check, decode and gather each record (the loader's hot path)."""
        checker, batch, give_up = self.sequence, self.batch, checkpoint.giving_up
        for msg in messages:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            checked = checker.offset(_table_label(topic), topic, partition, offset)
            value = msg.value()
            if value is None:
                continue  # a tombstone carries no row state
            try:
                row = parse_row(value)
                schema = self.schemas.for_row(topic, row, give_up)
                if row.get(contract.OP) == "t":
                    batch.truncate(schema, truncate_position(row))
                    continue
                change = to_change(schema, row, msg.key())
            except Rejected as exc:
                self._dead_letter(checkpoint, msg, exc)
                continue
            replay = is_replay(msg)
            # a snapshot's read is the row's state when read, not a change to order: its
            # position is where streaming was, which a change committed later may be below
            # (PostgreSQL: it began earlier)
            if checked and not replay and change.op != "r":
                checker.position(schema.ods_name, topic, partition, change.key, change.source_pos, offset)
            batch.add(schema, msg, change, replay)

    def write(self, checkpoint: Checkpoint) -> None:
        batch, self.batch = self.batch, Batch()
        self._truncates = list(batch.truncates.values())
        self.applier.submit(batch, checkpoint)

    def written(self, timeout_s: float) -> bool:
        return self.applier.done(timeout_s)

    def wait(self, checkpoint: Checkpoint) -> None:
        self.applier.result()
        self._apply_truncates(checkpoint)
        self._write_sequence_totals(checkpoint.giving_up, force=False)

    def committed(self, checkpoint: Checkpoint) -> None:
        metrics.BATCH_ROWS.observe(checkpoint.size)
        self.applied += checkpoint.size
        self._update_lag()

    def assigned(self, partitions: list[TopicPartition]) -> None:
        """Each new partition's sequence starts at the group's committed offset."""
        for tp in partitions:
            self.sequence.assigned(tp.topic, tp.partition, tp.offset)

    def revoked(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.sequence.revoked(tp.topic, tp.partition)

    def close(self, completed: bool) -> None:
        try:
            if completed:  # the clean records' counts of the last seconds
                self._write_sequence_totals(self.stop_event.is_set, force=True)
        finally:
            self.applier.close()
            self.ddl.close()

    # --- the rest ------------------------------------------------------------------------

    def _dead_letter(self, checkpoint: Checkpoint, msg: Message, rejected: Rejected) -> None:
        """Runs on the consuming thread (decoding) and on writer threads (rows Phoenix refused)."""
        located = checkpoint.reject(msg, rejected)
        log.warning("dead-lettering %s[%s]@%s: %s", located.topic, located.partition, located.offset, located)
        metrics.DEAD_LETTERS.labels(located.topic).inc()

    def _apply_truncates(self, checkpoint: Checkpoint) -> None:
        """The batch's TRUNCATEs, once its rows are committed (before its offsets are): applied
        again after a crash, they remove the same rows."""
        truncates, self._truncates = self._truncates, []
        mode = self.config.ods.delete_mode
        for schema, position in truncates:
            removed = retry_phoenix(
                lambda schema=schema, position=position: self.ddl.truncate(schema, position, mode),
                checkpoint.giving_up,
            )
            metrics.ROWS_APPLIED.labels(schema.ods_name, "t").inc(removed)
            log.info("%s: TRUNCATE at the source: %d rows %s", schema.ods_name, removed,
                     "removed" if mode == "hard" else "marked deleted")  # fmt: skip

    def _write_sequence_totals(self, give_up: Callable[[], bool], force: bool) -> None:
        """Persist the sequence checks' counts; problems always before their offsets are committed."""
        if force or self.sequence.due():
            totals, problems = self.sequence.take(final=force)
            if not (totals or problems):
                return
            try:
                retry_phoenix(lambda: self.ddl.add_sequence_totals(totals, problems), give_up)
            except Rejected as exc:  # bookkeeping refused (e.g. an altered table): never stop loading
                log.error("sequence totals not written to %s: %s (%s)", sequence.TABLE, exc, problems)

    def _update_lag(self) -> None:
        if self._loop is None:
            return
        try:
            for (topic, partition), lag in self._loop.lag().items():
                metrics.CONSUMER_LAG.labels(topic, str(partition)).set(lag)
        except Exception as exc:  # lag is informative only; never fail a batch for it
            log.debug("lag update failed: %s", exc)
