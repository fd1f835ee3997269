"""The ODS loader: cleansed topics -> UPSERT / DELETE in Phoenix tables.

Delivery (docs/architecture.md, "The contracts between stages"):
- Records are taken in offset order per partition and collected into a batch (up to
  `ods.batch_size` records or `ods.linger_ms` old). Within a batch the last change of each
  key wins: every cleansed record is the key's full row state, so applying only the last
  one equals applying all of them in order.
- Offsets are committed only after Phoenix has committed the batch (and the dead letters
  of the batch are acknowledged). Before a partition is given away in a rebalance, the
  pending batch is flushed and committed. A crash replays from the last committed offset;
  replaying full row states in order converges to the same final state.
- Phoenix or HBase unavailable: the same batch is retried with backoff until it goes
  through; nothing is skipped. A row Phoenix rejects (overflow, bad type) is isolated by
  applying the batch row by row, and only that row goes to the dead-letter topic.
- Batches are pipelined: while one batch is being committed to Phoenix (on a writer
  thread, its own connection), the next is consumed and decoded. Offsets of a batch are
  committed, in order, only after its Phoenix commit.
- Every record is checked for sequence integrity (no skipped offset per partition, no
  source position going down per key; see cdc_ods.ods.sequence) before it is applied.
- A missing ODS table is created from the source schema; a column that appears later at
  the source is added (ALTER TABLE) before the batch that carries it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, wait_exponential_jitter

from cdc_ods import contract
from cdc_ods.config import Config
from cdc_ods.dlq import DeadLetters
from cdc_ods.errors import CdcError, Rejected, TransientError
from cdc_ods.kafka import client_config, fetch_available
from cdc_ods.ods import metrics, sequence
from cdc_ods.ods.replay_guard import ReplayGuard, is_replay
from cdc_ods.ods.schema import Column, TableSchema
from cdc_ods.ods.sequence import SequenceChecker
from cdc_ods.ods.source_schema import UnknownTableError, read_table_schema
from cdc_ods.ods.static_schemas import STATIC_SCHEMAS
from cdc_ods.ods.writer import Change, PhoenixWriter, Refusals

log = logging.getLogger("cdc_ods.loader")

STAGE = "loader"
_JSON_TYPES: dict[type, str] = {bool: "BOOLEAN", int: "BIGINT", float: "DOUBLE", str: "VARCHAR"}


@functools.lru_cache(maxsize=1024)
def _table_label(topic: str) -> str:
    """The ODS table a cleansed topic loads into (the topic itself when it is not one)."""
    try:
        return contract.ods_table(*contract.parse_cleansed_topic(topic))
    except ValueError:
        return topic


_CONVERSION_ERRORS = (TypeError, ValueError, ArithmeticError)
_METADATA_FIELDS = frozenset(contract.METADATA_FIELDS)


def _rejection(column: Column, value: Any, exc: Exception) -> Rejected:
    return Rejected(f"column {column.name}: cannot convert {value!r} to {column.phoenix_type}: {exc}")


def _convert(column: Column, value: Any) -> Any:
    try:
        return column.convert(value)
    except _CONVERSION_ERRORS as exc:
        raise _rejection(column, value, exc) from None


def _convert_row(schema: TableSchema, row: dict[str, Any]) -> dict[str, Any]:
    """Every column's Phoenix value (the loader's hottest loop: one call per non-null value)."""
    values: dict[str, Any] = {}
    column = None
    try:
        for column in schema.columns:
            value = row.get(column.name)
            values[column.name] = None if value is None else column.convert_not_null(value)
    except _CONVERSION_ERRORS as exc:
        assert column is not None
        raise _rejection(column, row.get(column.name), exc) from None
    return values


@dataclass
class _Batch:
    messages: list[Message] = field(default_factory=list)
    started: float = 0.0

    def add(self, msg: Message) -> None:
        if not self.messages:
            self.started = time.monotonic()
        self.messages.append(msg)


Tables = dict[str, tuple[TableSchema, dict[tuple, tuple[Message, Change]]]]


@dataclass
class _Prepared:
    """A decoded batch: the last change per key of each table, and the offsets it covers."""

    size: int
    tables: Tables
    offsets: list[TopicPartition]


class Loader:
    def __init__(
        self,
        config: Config,
        bootstrap: str,
        phoenix_url: str,
        topics: list[str],
        schema_reader: Callable[[str, str, str], TableSchema] | None = None,
    ) -> None:
        self.config = config
        self.topics = topics
        self.options = config.ods
        # one Phoenix connection per writer thread; a batch is split between them by key
        self.writers = [PhoenixWriter(phoenix_url, config.ods.delete_mode) for _ in range(config.ods.writers)]
        self.ddl = PhoenixWriter(phoenix_url)  # the consuming thread's: CREATE / ALTER TABLE
        self._executor = ThreadPoolExecutor(
            max_workers=len(self.writers), thread_name_prefix="phoenix-writer"
        )
        self._in_flight: tuple[_Prepared, list[Future[None]]] | None = None
        self.dlq = DeadLetters(bootstrap)
        self.replay_guard = ReplayGuard(phoenix_url)  # only for records `cdc dlq replay` sent
        self.schemas: dict[tuple[str, str, str], TableSchema] = {}
        self._topic_tables: dict[str, tuple[str, str, str]] = {}  # cleansed topic -> its table
        self._checked_fields: set[tuple[str, str]] = set()
        self._read_schema = schema_reader or self._read_source_schema
        self.batch = _Batch()
        self.sequence = SequenceChecker()
        self.stopping = False
        self.applied = 0
        self.consumer = Consumer(
            client_config(
                bootstrap,
                **{
                    "group.id": config.ods.group_id,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "partition.assignment.strategy": "cooperative-sticky",
                    # a Phoenix outage is waited out inside one poll interval where possible
                    "max.poll.interval.ms": 600_000,
                    "fetch.min.bytes": 1,
                    # notice cleansed topics created after the loader started
                    "topic.metadata.refresh.interval.ms": 5000,
                    # a killed loader's partitions go to its replacement after 10 s, not 45
                    "session.timeout.ms": 10_000,
                    "heartbeat.interval.ms": 2_000,
                },
            )
        )

    # --- schema --------------------------------------------------------------------------

    def _read_source_schema(self, source: str, database: str, table: str) -> TableSchema:
        static = STATIC_SCHEMAS.get((source, database, table))
        if static is not None:
            return static
        return read_table_schema(self.config, self.config.source(source), table)

    def _schema(self, topic: str) -> TableSchema:
        ident = self._topic_tables.get(topic)
        if ident is None:
            try:
                ident = self._topic_tables[topic] = contract.parse_cleansed_topic(topic)
            except ValueError as exc:
                raise Rejected(str(exc)) from None
        schema = self.schemas.get(ident)
        if schema is None:
            try:
                schema = self._read_schema(*ident)
            except UnknownTableError as exc:  # this table's records are dead-lettered; the others load
                raise Rejected(str(exc)) from None
            # any other error (a ConfigError: a source or password missing) is not the record's
            # fault: it stops the loader and dead-letters nothing
            try:
                self._retry(lambda: self.ddl.ensure_table(schema))
            except Rejected as exc:  # this table's records are dead-lettered; the others load
                raise Rejected(f"Phoenix refused to create {schema.ods_name}: {exc}") from None
            metrics.SCHEMA_CHANGES.labels(schema.ods_name, "create").inc()
            self.schemas[ident] = schema
        return schema

    def _with_new_fields(self, schema: TableSchema, row: dict[str, Any]) -> TableSchema:
        """Add columns for fields the ODS table does not have yet (source ALTER TABLE ADD)."""
        unknown = row.keys() - schema.column_names  # one C-level set operation on the common path
        if unknown:
            unknown -= _METADATA_FIELDS
        if not unknown:
            return schema
        unchecked = [f for f in row if f in unknown and (schema.ods_name, f) not in self._checked_fields]
        if not unchecked:
            return schema
        fresh = self._read_schema(schema.source, schema.database, schema.table)
        columns = list(schema.columns)
        for name in unchecked:
            self._checked_fields.add((schema.ods_name, name))
            column = fresh.column(name)
            if column is None:  # a field the cleansing stage derives: type from its JSON value
                value = row[name]
                column = Column(name, _JSON_TYPES.get(type(value), "VARCHAR"))
            self._retry(lambda column=column: self.ddl.add_column(schema, column))
            metrics.SCHEMA_CHANGES.labels(schema.ods_name, "add_column").inc()
            log.info("%s: added column %s %s", schema.ods_name, column.ods_name, column.phoenix_type)
            columns.append(column)
        updated = TableSchema(
            schema.source, schema.database, schema.table, tuple(columns), schema.primary_key
        )
        self.schemas[(schema.source, schema.database, schema.table)] = updated
        return updated

    # --- decoding ------------------------------------------------------------------------

    def _decode(self, msg: Message) -> tuple[TableSchema, Change]:
        try:
            row = orjson.loads(msg.value())
        except orjson.JSONDecodeError as exc:
            raise Rejected(f"value is not JSON: {exc}") from None
        if not isinstance(row, dict):
            raise Rejected("value is not a JSON object")
        schema = self._with_new_fields(self._schema(msg.topic()), row)
        try:
            key_fields = orjson.loads(msg.key()) if msg.key() else {}
        except orjson.JSONDecodeError:
            key_fields = {}
        if not isinstance(key_fields, dict):
            key_fields = {}
        key = []
        for name in schema.primary_key:
            # the row's value first: it is in the contract's form (a DATE key is "2024-05-01"),
            # while the record key is Debezium's (epoch days); the key only when the row lacks it
            raw = row.get(name)
            if raw is None:
                raw = key_fields.get(name)
            if raw is None:
                raise Rejected(f"no key: primary key column {name!r} missing")
            column = schema.column(name)
            assert column is not None
            key.append(_convert(column, raw))
        deleted = bool(row.get(contract.DELETED)) or row.get(contract.OP) == "d"
        values = {} if deleted else _convert_row(schema, row)
        try:
            change = Change(
                key=tuple(key),
                values=values,
                op=str(row.get(contract.OP, "u"))[:1],
                source_ts_ms=int(row.get(contract.SOURCE_TS_MS) or 0),
                source_pos=int(row.get(contract.SOURCE_POS) or 0),
                deleted=deleted,
            )
        except (TypeError, ValueError) as exc:
            raise Rejected(f"bad metadata field: {exc}") from None
        return schema, change

    # --- applying ------------------------------------------------------------------------

    def _stop_when_stopping(self, _state: RetryCallState) -> bool:
        return self.stopping

    def _log_retry(self, state: RetryCallState) -> None:
        metrics.RETRIES.inc()
        error = state.outcome.exception() if state.outcome else None
        log.warning("retrying in %.1fs: %s", state.next_action.sleep if state.next_action else 0, error)

    def _retry(self, action: Callable[[], None], writer: PhoenixWriter | None = None) -> None:
        """Run `action` until it succeeds; only stopping the loader ends the wait.

        With `writer`, data Phoenix keeps refusing is not taken for an outage: the same error
        several times in a row while Phoenix answers other queries raises Rejected (the
        rows go to the dead-letter topic; the rest keeps loading): see `Refusals`."""
        refusals = Refusals(writer.answers) if writer is not None else None

        def once() -> None:
            try:
                action()
            except TransientError as exc:
                raise exc if refusals is None else refusals.classify(exc) from None

        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(TransientError),
                wait=wait_exponential_jitter(multiplier=0.5, max=10, jitter=0.5),
                stop=self._stop_when_stopping,
                before_sleep=self._log_retry,
                reraise=False,
            ):
                with attempt:
                    once()
        except RetryError as exc:
            raise TransientError(f"gave up while stopping: {exc.last_attempt.exception()}") from None

    def _submit(self, tables: Tables) -> list[Future[None]]:
        """Split a batch by key between the writer threads; a key always goes to the same one."""
        parts: list[Tables] = [{} for _ in self.writers]
        for name, (schema, entries) in tables.items():
            for key, entry in entries.items():
                part = parts[hash(key) % len(parts)]
                part.setdefault(name, (schema, {}))[1][key] = entry
        return [
            self._executor.submit(self._apply, writer, part)
            for writer, part in zip(self.writers, parts, strict=True)
            if part
        ]

    def _apply(self, writer: PhoenixWriter, tables: Tables) -> None:
        """Runs on a writer thread, with that thread's own connection."""

        def whole_batch() -> None:
            for schema, entries in tables.values():
                writer.stage(schema, [change for _, change in entries.values()])
            writer.commit()

        started = time.monotonic()
        self._drop_stale_replays(tables)
        try:
            self._retry(whole_batch, writer)
        except Rejected as exc:
            log.warning("batch rejected (%s); applying row by row to isolate the bad rows", exc)
            writer.rollback()
            self._apply_row_by_row(writer, tables)
        metrics.COMMIT_SECONDS.observe(time.monotonic() - started)
        now_ms = time.time() * 1000
        for schema, entries in tables.values():
            latency = metrics.END_TO_END_SECONDS.labels(schema.ods_name)
            ops: Counter[str] = Counter()
            newest_ms = 0
            for _, change in entries.values():
                ops[change.op] += 1
                if change.source_ts_ms:
                    latency.observe(max(0.0, (now_ms - change.source_ts_ms) / 1000))
                    newest_ms = max(newest_ms, change.source_ts_ms)
            for op, count in ops.items():
                metrics.ROWS_APPLIED.labels(schema.ods_name, op).inc(count)
            if newest_ms:
                metrics.LAST_SOURCE_TIMESTAMP.labels(schema.ods_name).set(newest_ms / 1000)
            metrics.LAST_APPLIED_TIMESTAMP.labels(schema.ods_name).set(now_ms / 1000)

    def _drop_stale_replays(self, tables: Tables) -> None:
        """Skip replayed changes older than their key's ODS row (see ods.replay_guard)."""
        for schema, entries in tables.values():
            replays = [(key, change) for key, (msg, change) in entries.items() if is_replay(msg)]
            for key, change in replays:
                stale: list[bool] = []
                self._retry(lambda: stale.append(self.replay_guard.is_stale(schema, key, change.source_pos)))  # noqa: B023
                if stale[-1]:
                    del entries[key]
                    metrics.REPLAYS_SKIPPED.labels(schema.ods_name).inc()

    def _apply_row_by_row(
        self,
        writer: PhoenixWriter,
        tables: dict[str, tuple[TableSchema, dict[tuple, tuple[Message, Change]]]],
    ) -> None:
        for schema, entries in tables.values():
            for key, (msg, change) in list(entries.items()):

                def one(schema: TableSchema = schema, change: Change = change) -> None:
                    writer.stage(schema, [change])
                    writer.commit()

                try:
                    self._retry(one, writer)
                except Rejected as exc:
                    writer.rollback()
                    self._dead_letter(msg, f"Phoenix rejected the row: {exc}")
                    del entries[key]

    def _dead_letter(self, msg: Message, reason: str) -> None:
        topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        log.warning("dead-lettering %s[%s]@%s: %s", topic, partition, offset, reason)
        self.dlq.send(Rejected(reason, STAGE, topic, partition, offset), msg.key(), msg.value())
        metrics.DEAD_LETTERS.labels(topic).inc()

    def _prepare(self, messages: list[Message]) -> _Prepared:
        tables: Tables = {}
        offsets: dict[tuple[str, int], int] = {}
        for msg in messages:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            offsets[(topic, partition)] = offset
            checked = self.sequence.offset(_table_label(topic), topic, partition, offset)
            if msg.value() is None:
                continue  # a tombstone carries no row state
            try:
                schema, change = self._decode(msg)
            except Rejected as exc:
                self._dead_letter(msg, str(exc))
                continue
            if checked and not is_replay(msg):
                position = change.source_pos
                self.sequence.position(schema.ods_name, topic, partition, change.key, position, offset)
            entry = tables.get(schema.ods_name)
            if entry is None or len(entry[0].columns) < len(schema.columns):
                # a column added mid-batch: the whole batch is written with the widest schema
                entry = tables[schema.ods_name] = (schema, entry[1] if entry else {})
            previous = entry[1].get(change.key)
            if previous is not None and change.source_pos < previous[1].source_pos and is_replay(msg):
                continue  # a replay older than the key's change already in this batch
            entry[1][change.key] = (msg, change)
        commit = [TopicPartition(t, p, o + 1) for (t, p), o in offsets.items()]
        return _Prepared(len(messages), tables, commit)

    def _finish_in_flight(self) -> None:
        """Wait for the batch on the writer thread, then commit its offsets."""
        if self._in_flight is None:
            return
        prepared, futures = self._in_flight
        self._in_flight = None
        for future in futures:
            future.result()  # a TransientError here (stopping) leaves the offsets uncommitted
        self.dlq.flush()
        self._write_sequence_totals()
        if prepared.offsets:
            self.consumer.commit(offsets=prepared.offsets, asynchronous=False)
        metrics.BATCH_ROWS.observe(prepared.size)
        self.applied += prepared.size
        self._update_lag()

    def _write_sequence_totals(self, force: bool = False) -> None:
        """Persist the sequence checks' counts; problems always before their offsets are committed."""
        if force or self.sequence.due():
            totals, problems = self.sequence.take()
            if not (totals or problems):
                return
            try:
                self._retry(lambda: self.ddl.add_sequence_totals(totals, problems))
            except Rejected as exc:  # bookkeeping refused (e.g. an altered table): never stop loading
                log.error("sequence totals not written to %s: %s (%s)", sequence.TABLE, exc, problems)

    def flush(self) -> None:
        """Decode the pending batch and hand it to the writer thread (after the previous one)."""
        messages = self.batch.messages
        if not messages:
            return
        self.batch = _Batch()
        prepared = self._prepare(messages)
        self._finish_in_flight()
        self._in_flight = (prepared, self._submit(prepared.tables))

    def drain(self) -> None:
        """Apply and commit everything consumed so far."""
        self.flush()
        self._finish_in_flight()
        self._write_sequence_totals(force=True)

    def _update_lag(self) -> None:
        try:
            assigned = self.consumer.assignment()
            for tp, position in zip(assigned, self.consumer.position(assigned), strict=True):
                _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
                if position.offset >= 0 and high >= 0:
                    metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                        max(0, high - position.offset)
                    )
        except Exception as exc:  # lag is informative only; never fail a batch for it
            log.debug("lag update failed: %s", exc)

    # --- the loop ------------------------------------------------------------------------

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions and not self.stopping and (self.batch.messages or self._in_flight):
            log.info("partitions revoked: committing %d pending records first", len(self.batch.messages))
            self.drain()
        for tp in partitions:
            self.sequence.revoked(tp.topic, tp.partition)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Each new partition's sequence starts at the group's committed offset."""
        if not partitions:
            return
        try:
            committed = consumer.committed(partitions, timeout=30)
        except KafkaException as exc:  # unknown start: the partition's first record sets it
            log.warning("cannot read committed offsets (%s); gap checks start at the first record", exc)
            return
        for tp in committed:
            self.sequence.assigned(tp.topic, tp.partition, tp.offset)

    def run(self, idle_exit_s: float | None = None) -> None:
        """Consume until `stop()` (or until no record arrived for `idle_exit_s`)."""
        linger_s = self.options.linger_ms / 1000
        last_record = time.monotonic()

        def on_assign(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            nonlocal last_record
            last_record = time.monotonic()  # idleness counts from having partitions
            self._on_assign(consumer, partitions)

        self.consumer.subscribe(self.topics, on_assign=on_assign, on_revoke=self._on_revoke)
        try:
            while not self.stopping:
                room = self.options.batch_size - len(self.batch.messages)
                wait = (  # for the first record of a batch; then the rest of its linger
                    max(linger_s, 0.05)
                    if not self.batch.messages
                    else max(0.0, linger_s - (time.monotonic() - self.batch.started))
                )
                for msg in fetch_available(self.consumer, max(room, 1), wait):
                    error = msg.error()
                    if error is None:
                        self.batch.add(msg)
                        last_record = time.monotonic()
                    elif error.code() != KafkaError._PARTITION_EOF:
                        log.warning("consume error: %s", error)
                full = len(self.batch.messages) >= self.options.batch_size
                old = self.batch.messages and time.monotonic() - self.batch.started >= linger_s
                if full or old:
                    self.flush()
                    last_record = max(last_record, time.monotonic()) if full else last_record
                elif self._in_flight and all(f.done() for f in self._in_flight[1]):
                    self._finish_in_flight()  # commit the last batch's offsets without waiting for more
                if idle_exit_s is not None and time.monotonic() - last_record > idle_exit_s:
                    break
            self.drain()
        except TransientError as exc:
            log.warning("stopped before the pending batch was applied (%s); it will be replayed", exc)
        except CdcError:  # terminal (e.g. a ConfigError): nothing of the pending batch goes out
            self.stopping = True
            self.dlq.purge()
            raise
        finally:
            self._executor.shutdown(wait=True)
            self.consumer.close()
            for writer in self.writers:
                writer.close()
            self.ddl.close()
            self.replay_guard.close()

    def stop(self) -> None:
        self.stopping = True
