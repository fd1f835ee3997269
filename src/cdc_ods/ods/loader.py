"""The ODS loader: cleansed topics -> UPSERT / DELETE in Phoenix tables.

Delivery, per design.md "Ordering":
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
- A missing ODS table is created from the source schema; a column that appears later at
  the source is added (ALTER TABLE) before the batch that carries it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, wait_exponential_jitter

from cdc_ods import contract
from cdc_ods.config import Config
from cdc_ods.dlq import DeadLetters
from cdc_ods.errors import CdcError, TransientError
from cdc_ods.kafka import client_config
from cdc_ods.ods import metrics
from cdc_ods.ods.schema import Column, TableSchema
from cdc_ods.ods.source_schema import read_table_schema
from cdc_ods.ods.writer import Change, PhoenixWriter, RowRejected

log = logging.getLogger("cdc_ods.loader")

STAGE = "loader"
_JSON_TYPES: dict[type, str] = {bool: "BOOLEAN", int: "BIGINT", float: "DOUBLE", str: "VARCHAR"}


class Rejected(Exception):
    """This record cannot be applied; the message is the dead-letter reason."""


@dataclass
class _Batch:
    messages: list[Message] = field(default_factory=list)
    started: float = 0.0

    def add(self, msg: Message) -> None:
        if not self.messages:
            self.started = time.monotonic()
        self.messages.append(msg)


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
        self.writer = PhoenixWriter(phoenix_url, config.ods.delete_mode)
        self.dlq = DeadLetters(bootstrap, STAGE)
        self.schemas: dict[tuple[str, str, str], TableSchema] = {}
        self._checked_fields: set[tuple[str, str]] = set()
        self._read_schema = schema_reader or self._read_source_schema
        self.batch = _Batch()
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
                },
            )
        )

    # --- schema --------------------------------------------------------------------------

    def _read_source_schema(self, source: str, database: str, table: str) -> TableSchema:
        return read_table_schema(self.config, self.config.source(source), table)

    def _schema(self, topic: str) -> TableSchema:
        try:
            ident = contract.parse_cleansed_topic(topic)
        except ValueError as exc:
            raise Rejected(str(exc)) from None
        schema = self.schemas.get(ident)
        if schema is None:
            try:
                schema = self._read_schema(*ident)
            except TransientError:
                raise
            except CdcError as exc:
                raise Rejected(str(exc)) from None
            self._retry(lambda: self.writer.ensure_table(schema))
            metrics.SCHEMA_CHANGES.labels(schema.ods_name, "create").inc()
            self.schemas[ident] = schema
        return schema

    def _with_new_fields(self, schema: TableSchema, row: dict[str, Any]) -> TableSchema:
        """Add columns for fields the ODS table does not have yet (source ALTER TABLE ADD)."""
        known = {c.name for c in schema.columns}
        unknown = [f for f in row if f not in known and f not in contract.METADATA_FIELDS]
        unchecked = [f for f in unknown if (schema.ods_name, f) not in self._checked_fields]
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
            self._retry(lambda column=column: self.writer.add_column(schema, column))
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
            raw = key_fields.get(name, row.get(name))
            if raw is None:
                raise Rejected(f"no key: primary key column {name!r} missing")
            key.append(self._convert(schema, name, raw))
        deleted = bool(row.get(contract.DELETED)) or row.get(contract.OP) == "d"
        values = (
            {}
            if deleted
            else {c.name: self._convert(schema, c.name, row.get(c.name)) for c in schema.columns}
        )
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

    @staticmethod
    def _convert(schema: TableSchema, name: str, value: Any) -> Any:
        column = schema.column(name)
        assert column is not None
        try:
            return column.convert(value)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise Rejected(
                f"column {name}: cannot convert {value!r} to {column.phoenix_type}: {exc}"
            ) from None

    # --- applying ------------------------------------------------------------------------

    def _stop_when_stopping(self, _state: RetryCallState) -> bool:
        return self.stopping

    def _log_retry(self, state: RetryCallState) -> None:
        metrics.RETRIES.inc()
        error = state.outcome.exception() if state.outcome else None
        log.warning("retrying in %.1fs: %s", state.next_action.sleep if state.next_action else 0, error)

    def _retry(self, action: Callable[[], None]) -> None:
        """Run `action` until it succeeds; only stopping the loader ends the wait."""
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(TransientError),
                wait=wait_exponential_jitter(multiplier=0.5, max=10, jitter=0.5),
                stop=self._stop_when_stopping,
                before_sleep=self._log_retry,
                reraise=False,
            ):
                with attempt:
                    action()
        except RetryError as exc:
            raise TransientError(f"gave up while stopping: {exc.last_attempt.exception()}") from None

    def _apply(self, tables: dict[str, tuple[TableSchema, dict[tuple, tuple[Message, Change]]]]) -> None:
        def whole_batch() -> None:
            for schema, entries in tables.values():
                self.writer.stage(schema, [change for _, change in entries.values()])
            self.writer.commit()

        started = time.monotonic()
        try:
            self._retry(whole_batch)
        except RowRejected as exc:
            log.warning("batch rejected (%s); applying row by row to isolate the bad rows", exc)
            self.writer.rollback()
            self._apply_row_by_row(tables)
        metrics.COMMIT_SECONDS.observe(time.monotonic() - started)
        now_ms = time.time() * 1000
        for schema, entries in tables.values():
            for _, change in entries.values():
                metrics.ROWS_APPLIED.labels(schema.ods_name, change.op).inc()
                if change.source_ts_ms:
                    metrics.END_TO_END_SECONDS.labels(schema.ods_name).observe(
                        max(0.0, (now_ms - change.source_ts_ms) / 1000)
                    )

    def _apply_row_by_row(
        self, tables: dict[str, tuple[TableSchema, dict[tuple, tuple[Message, Change]]]]
    ) -> None:
        for schema, entries in tables.values():
            for key, (msg, change) in list(entries.items()):

                def one(schema: TableSchema = schema, change: Change = change) -> None:
                    self.writer.stage(schema, [change])
                    self.writer.commit()

                try:
                    self._retry(one)
                except RowRejected as exc:
                    self.writer.rollback()
                    self._dead_letter(msg, f"Phoenix rejected the row: {exc}")
                    del entries[key]

    def _dead_letter(self, msg: Message, reason: str) -> None:
        log.warning("dead-lettering %s[%s]@%s: %s", msg.topic(), msg.partition(), msg.offset(), reason)
        self.dlq.send(msg, reason)
        metrics.DEAD_LETTERS.labels(msg.topic()).inc()

    def flush(self) -> None:
        """Apply the pending batch, then commit its offsets."""
        messages = self.batch.messages
        if not messages:
            return
        tables: dict[str, tuple[TableSchema, dict[tuple, tuple[Message, Change]]]] = {}
        offsets: dict[tuple[str, int], int] = {}
        for msg in messages:
            offsets[(msg.topic(), msg.partition())] = msg.offset()
            if msg.value() is None:
                continue  # a tombstone carries no row state
            try:
                schema, change = self._decode(msg)
            except Rejected as exc:
                self._dead_letter(msg, str(exc))
                continue
            entry = tables.setdefault(schema.ods_name, (schema, {}))
            entry[1][change.key] = (msg, change)
        if tables:
            self._apply(tables)
        self.dlq.flush()
        commit = [TopicPartition(t, p, o + 1) for (t, p), o in offsets.items()]
        self.consumer.commit(offsets=commit, asynchronous=False)
        metrics.BATCH_ROWS.observe(len(messages))
        self.applied += len(messages)
        self.batch = _Batch()
        self._update_lag()

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
        if partitions and self.batch.messages:
            log.info("partitions revoked: flushing %d pending records first", len(self.batch.messages))
            self.flush()

    def run(self, idle_exit_s: float | None = None) -> None:
        """Consume until `stop()` (or until no record arrived for `idle_exit_s`)."""
        self.consumer.subscribe(self.topics, on_revoke=self._on_revoke)
        linger_s = self.options.linger_ms / 1000
        last_record = time.monotonic()
        try:
            while not self.stopping:
                room = self.options.batch_size - len(self.batch.messages)
                wait = (
                    linger_s
                    if not self.batch.messages
                    else max(0.0, linger_s - (time.monotonic() - self.batch.started))
                )
                for msg in self.consumer.consume(num_messages=max(room, 1), timeout=max(wait, 0.05)):
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
                if idle_exit_s is not None and time.monotonic() - last_record > idle_exit_s:
                    break
            self.flush()
        except TransientError as exc:
            log.warning("stopped before the pending batch was applied (%s); it will be replayed", exc)
        finally:
            self.consumer.close()
            self.writer.close()

    def stop(self) -> None:
        self.stopping = True
