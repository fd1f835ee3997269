"""The raw topics hold exactly what the sources committed: Debezium's envelopes, read directly.

- Producers with a fixed seed and count, captured by the stack's own connectors (`mysql`,
  `postgres`): this run's records are exactly the committed changes (per table and operation,
  the producer's ledger), per key their source position only grows, and the state rebuilt
  from each whole topic (c/r/u upsert `after`, d deletes) equals the source table, column by
  column. This run's records are those past the source's log position taken before it:
  earlier history may hold records Debezium sent twice after a crash (it is at-least-once),
  which the rebuilt state absorbs but a position check would not.
- Snapshot then streaming: a connector registered on a private table of 8,000 rows while
  changes are being committed: every row read once (op r, as it was before registration),
  every change once and in commit order (c/u/d), nothing lost or repeated at the handover.
  The snapshot's SELECT is slowed down (Debezium's `snapshot.select.statement.overrides`) so
  that it reads for seconds on any machine: changes are committed while it reads.

Values are compared after the connectors' documented mapping (connectors/*.json,
cdc_ods.connectors.configs): decimals as exact strings, DATE as days since the epoch,
DATETIME / timestamp as epoch micro- (or milli-)seconds, TIMESTAMP / timestamptz as ISO-8601
in UTC, JSON as its text.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from cdc_ods import contract
from cdc_ods.config import Config, SourceConfig
from cdc_ods.connectors.rest import ConnectClient, summarize
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import client_config, ensure_topic
from cdc_ods.ods.replay_guard import REPLAY_HEADER
from cdc_ods.ods.schema import TableSchema
from cdc_ods.ods.source_schema import read_table_schema
from cdc_ods.operations.topics import partitions
from cdc_ods.producers.ledger import jsonable
from cdc_ods.producers.runner import Limit
from cdc_ods.producers.targets import target
from cdc_ods.reconcile.readers import source_rows
from cdc_ods.sources import CatalogColumn, source_for
from cdc_ods.stack.context import StackContext

from .conftest import connector_spec
from .test_ksql_embedded import drop_slot
from .test_producers import run_producer

SOURCES = pytest.mark.parametrize("source_name", ["mysql", "postgres"], ids=["mariadb", "postgres"])
EPOCH = dt.datetime(1970, 1, 1)
BINLOG = ("mariadb", "mysql")
Key = tuple[Any, ...]
Row = dict[str, Any]


# --- the documented type mapping ---------------------------------------------------------


def plain(value: Any) -> Any:
    """A value as compared: aware times in naive UTC, then JSON-able (decimals as exact text,
    so the scale counts; times as ISO-8601 with their microseconds)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return jsonable(value)


def from_topic(column: CatalogColumn | None, raw: Any) -> Any:
    """A raw Debezium value as the value the source column holds."""
    if raw is None or column is None:
        return plain(raw)
    t = column.data_type
    if t == "date":  # io.debezium.time.Date
        return plain(dt.date(1970, 1, 1) + dt.timedelta(days=raw))
    if t in ("datetime", "timestamp without time zone"):  # (Micro)Timestamp: epoch, no zone
        unit = "microseconds" if (column.datetime_precision or 0) > 3 else "milliseconds"
        return plain(EPOCH + dt.timedelta(**{unit: raw}))
    if t in ("timestamp", "timestamp with time zone"):  # ZonedTimestamp: ISO-8601 in UTC
        return plain(dt.datetime.fromisoformat(raw))
    if t in ("json", "jsonb"):  # io.debezium.data.Json: the document's text
        return plain(orjson.loads(raw))
    return plain(raw)  # decimals are exact strings already (decimal.handling.mode=string)


def from_source(column: CatalogColumn, value: Any) -> Any:
    """A value as the source database's driver reads it."""
    if column.data_type in ("json", "jsonb") and isinstance(value, str):  # read as its text
        value = orjson.loads(value)
    return plain(value)


# --- raw topics ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One Debezium change event, its values decoded."""

    key: Key
    op: str
    after: Row | None
    position: int  # grows with the source's log (cdc_ods.contract)
    snapshot: str | None  # Debezium's source.snapshot: first, true, last, false, ...
    ts_ms: int  # when the connector processed it


@dataclass(frozen=True)
class CapturedTable:
    """A source table, its columns as the cleansing stage reads them, and its raw topic."""

    config: Config
    source: SourceConfig
    table: str
    prefix: str  # Debezium's topic.prefix

    @property
    def topic(self) -> str:
        return contract.raw_topic(self.prefix, self.source.database, self.table)

    @cached_property
    def schema(self) -> TableSchema:
        return read_table_schema(self.config, self.source, self.table)

    @cached_property
    def columns(self) -> dict[str, CatalogColumn]:
        return {c.name: c for c in source_for(self.config, self.source).catalog(self.table).columns}

    def position(self, block: dict[str, Any]) -> int:
        if self.source.kind in BINLOG:
            return contract.binlog_position(block["file"], block["pos"], block.get("row") or 0)
        return int(block["lsn"])

    def change(self, msg: Message) -> Change:
        value = orjson.loads(msg.value())
        where = f"{self.topic}@{msg.partition()}:{msg.offset()}"
        assert value["op"] in ("c", "r", "u", "d"), f"{where}: op {value['op']!r}"
        raw_key = orjson.loads(msg.key())
        key = tuple(from_topic(self.columns[n], raw_key[n]) for n in self.schema.primary_key)
        after = value["after"]
        if after is not None:
            after = {n: from_topic(self.columns.get(n), v) for n, v in after.items()}
        source = value["source"]
        return Change(key, value["op"], after, self.position(source), source.get("snapshot"), value["ts_ms"])

    def source_state(self) -> dict[Key, Row]:
        """The table as the database returns it, read directly."""
        names = [c.name for c in self.schema.ordered_columns]
        width = len(self.schema.primary_key)
        state = {}
        for values in source_rows(self.config, self.source, self.schema):
            row = {n: from_source(self.columns[n], v) for n, v in zip(names, values, strict=True)}
            state[tuple(row[n] for n in names[:width])] = row
        return state


def is_debezium_envelope(value: bytes) -> bool:
    """A Debezium change event: a JSON object with `op` and a `source` block naming the connector.
    Other tests put malformed records into the shared raw topics on purpose (the dead-letter
    paths); those are not Debezium's output and are left out of the rebuilt state."""
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    return (
        isinstance(event, dict)
        and "op" in event
        and isinstance(event.get("source"), dict)
        and "connector" in event["source"]
    )


class RawTopic:
    """A raw topic read from its start, incrementally, as decoded changes.

    `recent` holds the changes past the source position `since`. Tombstones are skipped, and
    so are records `cdc dlq replay` sent back (header `cdc.replay`) and records other tests
    wrote on purpose that are not change events: those are not Debezium's.
    """

    def __init__(self, bootstrap: str, table: CapturedTable, since: int = -1) -> None:
        self.table = table
        self.since = since
        self.changes: list[Change] = []
        self.recent: list[Change] = []
        self.snapshot_over = False  # the initial snapshot's last read has arrived
        self.foreign = 0  # records that are not Debezium change events
        settings = {
            "group.id": f"itest-raw-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 50,  # see a record soon after it is written (librdkafka waits 500 ms)
        }
        self._consumer = Consumer(client_config(bootstrap, **settings))
        parts = partitions(bootstrap, table.topic)
        assert parts, f"{table.topic} does not exist"
        self._next = dict.fromkeys(parts, 0)  # per partition, the offset after the last one read
        self._consumer.assign([TopicPartition(table.topic, p, OFFSET_BEGINNING) for p in parts])

    def close(self) -> None:
        self._consumer.close()

    def poll(self, timeout_s: float = 0.0) -> None:
        """Take what has arrived (at most one batch, waiting up to `timeout_s` for it)."""
        for msg in self._consumer.consume(1000, timeout_s):
            if msg.error() is not None:
                assert msg.error().code() == KafkaError._PARTITION_EOF, f"{self.table.topic}: {msg.error()}"
                continue
            self._next[msg.partition()] = msg.offset() + 1
            if msg.value() is not None and REPLAY_HEADER not in dict(msg.headers() or []):
                if not is_debezium_envelope(msg.value()):
                    self.foreign += 1  # written by a test of the dead-letter path, not by Debezium
                    continue
                change = self.table.change(msg)
                self.changes.append(change)
                if change.position > self.since:
                    self.recent.append(change)
                self.snapshot_over |= change.snapshot in ("last", "last_in_data_collection")

    def until(self, done: Callable[[], bool], timeout_s: float, what: str, why: Callable[[], str]) -> None:
        """Read until `done()` holds; after `timeout_s`, fail naming `what` did not happen and `why()`."""
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, (
                f"{self.table.topic}: {what} not within {timeout_s:.0f}s; {why()}"
            )
            self.poll(1.0)

    def to_end(self, timeout_s: float = 120) -> None:
        """Read up to the end the topic has now (extra or repeated records included)."""
        ends = {
            p: self._consumer.get_watermark_offsets(TopicPartition(self.table.topic, p), timeout=10)[1]
            for p in self._next
        }
        self.until(
            lambda: all(self._next[p] >= end for p, end in ends.items()),
            timeout_s,
            "its current end",
            lambda: f"read up to {self._next} of {ends}",
        )


def rebuild(changes: list[Change]) -> dict[Key, Row]:
    """The final state per key: c/r/u upsert their `after` image, d deletes the key."""
    state: dict[Key, Row] = {}
    for change in changes:
        if change.op == "d":
            state.pop(change.key, None)
        else:
            assert change.after is not None, f"{change.op} of {change.key} without an after image"
            state[change.key] = change.after
    return state


def assert_same_state(table: CapturedTable, rebuilt: dict[Key, Row], source: dict[Key, Row]) -> None:
    """Same keys, and per key the same values in the source's columns; the message names the first
    differences."""
    missing, extra = sorted(source.keys() - rebuilt.keys()), sorted(rebuilt.keys() - source.keys())
    different = [
        f"{key} {name}: topic {rebuilt[key].get(name, '<absent>')!r} != source {row.get(name, '<absent>')!r}"
        for key, row in sorted(source.items())
        if key in rebuilt
        for name in sorted(row)  # the source's columns now: a dropped column lives on in old events
        if rebuilt[key].get(name, "<absent>") != row.get(name, "<absent>")
    ]
    assert not (missing or extra or different), (
        f"{table.topic} rebuilt vs {table.table} ({len(source)} source rows): {len(missing)} missing"
        f" {missing[:5]}, {len(extra)} extra {extra[:5]}, {len(different)} different values: {different[:5]}"
    )


def assert_positions_grow_per_key(changes: list[Change]) -> None:
    """Per key, each change comes from a later place in the source's log than the one before."""
    last: dict[Key, int] = {}
    for change in changes:
        assert change.position > last.get(change.key, -1), (
            f"{change.key}: {change.op} at source position {change.position} after {last[change.key]}"
        )
        last[change.key] = change.position


# --- 1. producers -> raw topics -------------------------------------------------------------

PRODUCED = 3000
OPS = {"c": "insert", "u": "update", "d": "delete"}  # Debezium op -> the ledger's operation


def log_position(config: Config, source: SourceConfig) -> int:
    """Where the source's log is now, comparable with `CapturedTable.position`."""
    number, pos = source_for(config, source).position()  # (binlog file number, position) or (LSN, 0)
    if source.kind in BINLOG:
        return number * contract.BINLOG_FILE_FACTOR + pos * contract.BINLOG_POS_FACTOR
    return number


def read_run(bootstrap: str, table: CapturedTable, before: int, count: int) -> RawTopic:
    """The table's whole topic, read until it holds `count` changes past the position `before`."""
    topic = RawTopic(bootstrap, table, since=before)
    try:
        topic.until(
            lambda: len(topic.recent) >= count,
            300,
            f"the {count} changes the producer committed",
            lambda: f"have {dict(Counter(c.op for c in topic.recent))}",
        )
        topic.to_end()
    finally:
        topic.close()
    return topic


@SOURCES
def test_raw_topics_hold_exactly_the_committed_changes(
    pipeline: StackContext, endpoints: Endpoints, source_name: str
) -> None:
    config = pipeline.config
    source = config.source(source_name)
    tables = [CapturedTable(config, source, name, source.name) for name in source.tables]
    before = log_position(config, source)
    # paced: a few changes per transaction rather than 500
    outcome = run_producer([target(config, source.name)], seed=505, limit=Limit(count=PRODUCED), rate=1500)
    ledger = outcome[source.name].ledger
    assert ledger.total == PRODUCED

    for table in tables:
        committed = ledger.tables[table.table].counts
        expected = Counter({op: committed[kind] for op, kind in OPS.items() if committed[kind]})
        topic = read_run(endpoints.kafka_bootstrap, table, before, expected.total())
        assert Counter(c.op for c in topic.recent) == expected, table.table
        assert_positions_grow_per_key(topic.recent)
        assert_same_state(table, rebuild(topic.changes), table.source_state())


# --- 2. snapshot, then streaming ------------------------------------------------------------

ROWS_BEFORE = 8_000
MAX_CHANGES_DURING_SNAPSHOT = 2_000  # a bound if the snapshot is slow
CHANGES_AFTER_SNAPSHOT = 300
FILL = {  # the pre-existing rows, as `original` describes them
    "mariadb": "INSERT INTO maf.{table} SELECT seq, CONCAT('row ', seq), 0, seq / 100 FROM seq_1_to_{n}",
    "postgres": "INSERT INTO maf.{table} SELECT g, 'row ' || g, 0, g / 100.0 FROM generate_series(1, {n}) g",
}
# Half a millisecond per row: the snapshot reads for seconds on any machine, so changes are
# committed while it reads (fetched 100 rows at a time, its first rows arrive at once).
SLOW_READ = {"mariadb": "SLEEP(0.0005) = 0", "postgres": "pg_sleep(0.0005) IS NOT NULL"}


def slow_snapshot(kind: str, table: str) -> dict[str, str]:
    """Debezium's snapshot SELECT for `maf.table`, replaced by one that reads it slowly."""
    select = f"SELECT * FROM maf.{table} WHERE {SLOW_READ[kind]}"
    return {
        "snapshot.select.statement.overrides": f"maf.{table}",
        f"snapshot.select.statement.overrides.maf.{table}": select,
        "snapshot.fetch.size": "100",
    }


def private_row(key: int, title: str, version: int, cents: int) -> Row:
    return {"id": key, "title": title, "version": version, "amount": Decimal(cents).scaleb(-2)}


def original(key: int) -> Row:
    return private_row(key, f"row {key}", 0, key)


@dataclass
class PrivateTable:
    """A table of its own in the source's database (schema) `maf`, with a connector of its own."""

    captured: CapturedTable
    connector: str
    overrides: dict[str, str]
    execute: Callable[[str, tuple[Any, ...]], None]


@pytest.fixture
def private_table(
    request: pytest.FixtureRequest, stack: StackContext, endpoints: Endpoints
) -> Iterator[PrivateTable]:
    source: SourceConfig = stack.config.source(request.param)
    suffix = uuid.uuid4().hex[:8]
    name, prefix = f"itest_handover_{suffix}", f"itesthandover{suffix}"
    overrides = {"topic.prefix": prefix, "table.include.list": f"maf.{name}"}
    if source.kind in BINLOG:
        conn = source_for(stack.config, "mysql").connect("admin")
        overrides |= {
            # unique among every binlog client of the session (a repeated id evicts the other)
            "database.server.id": str(100_000 + int(suffix, 16) % 900_000),
            "schema.history.internal.kafka.topic": f"_schema-history.{prefix}",
        }

        def execute(sql: str, params: tuple[Any, ...]) -> None:
            with conn.cursor() as cur:
                cur.execute(sql, params or None)
    else:
        conn = source_for(stack.config, "postgres").connect("admin")
        overrides["slot.name"] = name

        def execute(sql: str, params: tuple[Any, ...]) -> None:
            conn.execute(sql, params or None)

    execute(f"CREATE TABLE maf.{name} (id INT PRIMARY KEY, title VARCHAR(100) NOT NULL,"
            " version INT NOT NULL, amount DECIMAL(10,2))", ())  # fmt: skip
    connector = f"itest-handover-{source.name}-{suffix}"
    try:
        yield PrivateTable(CapturedTable(stack.config, source, name, prefix), connector, overrides, execute)
    finally:
        with ConnectClient.of(stack.config) as connect:
            status = connect.status(connector)
            if status and status["connector"]["state"] == "RUNNING":
                # a paused task sends nothing: no heartbeat re-creates a topic deleted below
                connect.pause(connector)
                connect.wait_state(connector, "PAUSED", timeout_s=120)
            connect.delete(connector)
        if source.kind not in BINLOG:
            drop_slot(conn, name)  # waits until the stopped task has let go of it
        execute(f"DROP TABLE maf.{name}", ())
        conn.close()
        admin = AdminClient(client_config(endpoints.kafka_bootstrap))
        topics = [t for t in admin.list_topics(timeout=10).topics if prefix in t]  # data, history, heartbeat
        if topics:
            for future in admin.delete_topics(topics, operation_timeout=30).values():
                future.result()


class Writer:
    """Commits one change at a time (seeded: update, insert or delete of a live row) and keeps
    what it committed, with the time of each commit."""

    def __init__(self, table: PrivateTable, live: int) -> None:
        self.table = table
        self.rng = random.Random(7)
        self.live = list(range(1, live + 1))
        self.next_id = live + 1
        self.committed: list[tuple[str, Key, Row | None]] = []
        self.commit_times: list[float] = []

    def step(self) -> None:
        draw, name = self.rng.random(), f"maf.{self.table.captured.table}"
        if draw < 0.25 or not self.live:
            key, self.next_id = self.next_id, self.next_id + 1
            row: Row | None = private_row(key, f"new {key}", 0, key)
            self.table.execute(f"INSERT INTO {name} VALUES (%s, %s, %s, %s)", tuple(row.values()))
            self.live.append(key)
            op = "c"
        else:
            index = self.rng.randrange(len(self.live))
            key = self.live[index]
            if draw < 0.75:
                version = self.rng.randrange(1, 1000)
                row = private_row(key, f"update {version}", version, self.rng.randrange(10**8))
                self.table.execute(
                    f"UPDATE {name} SET title = %s, version = %s, amount = %s WHERE id = %s",
                    (row["title"], version, row["amount"], key),
                )
                op = "u"
            else:
                self.table.execute(f"DELETE FROM {name} WHERE id = %s", (key,))
                self.live[index] = self.live[-1]
                self.live.pop()
                row, op = None, "d"
        self.commit_times.append(time.time())
        self.committed.append((op, (key,), plain(row)))


@pytest.mark.parametrize("private_table", ["mysql", "postgres"], ids=["mariadb", "postgres"], indirect=True)
def test_snapshot_then_streaming_without_gap_or_duplicate(
    stack: StackContext, endpoints: Endpoints, private_table: PrivateTable
) -> None:
    captured = private_table.captured
    private_table.execute(FILL[captured.source.kind].format(table=captured.table, n=ROWS_BEFORE), ())
    ensure_topic(endpoints.kafka_bootstrap, captured.topic)  # read from before the first record
    topic = RawTopic(endpoints.kafka_bootstrap, captured)
    writer = Writer(private_table, ROWS_BEFORE)
    with ConnectClient.of(captured.config) as connect:
        overrides = private_table.overrides | slow_snapshot(captured.source.kind, captured.table)
        config = connector_spec(captured.config, captured.source.name, **overrides)["config"]
        assert connect.validate(private_table.connector, config) == []
        assert connect.put(private_table.connector, config) is True

        def status() -> str:
            return summarize(connect.status(private_table.connector))

        try:
            # writes start once the snapshot is reading: its consistent point is behind them
            topic.until(lambda: bool(topic.changes), 180, "the snapshot's first read", status)
            deadline = time.monotonic() + 300
            while not topic.snapshot_over:
                assert time.monotonic() < deadline, (
                    f"snapshot not over after 300 s ({len(topic.changes)} records); {status()}"
                )
                writing = len(writer.committed) < MAX_CHANGES_DURING_SNAPSHOT
                if writing:
                    writer.step()
                topic.poll(0.005 if writing else 1)  # a change every few ms
            for _ in range(CHANGES_AFTER_SNAPSHOT):
                writer.step()
            topic.until(
                lambda: len(topic.changes) >= ROWS_BEFORE + len(writer.committed),
                300,
                f"{ROWS_BEFORE} reads and {len(writer.committed)} changes",
                lambda: f"have {dict(Counter(c.op for c in topic.changes))}; {status()}",
            )
            topic.to_end()
        finally:
            topic.close()

    snapshot = [c for c in topic.changes if c.op == "r"]
    streamed = [c for c in topic.changes if c.op != "r"]
    assert sorted(c.key for c in snapshot) == [(k,) for k in range(1, ROWS_BEFORE + 1)]  # each row once
    wrong = [c for c in snapshot if c.after != plain(original(c.key[0]))]
    assert not wrong, f"{len(wrong)} reads not as the row was before registration, e.g. {wrong[:3]}"
    assert topic.changes[: len(snapshot)] == snapshot, "a change arrived before the snapshot was over"
    # every committed change once, in commit order, after the snapshot's position
    assert [(c.op, c.key, c.after) for c in streamed] == writer.committed
    assert min(c.position for c in streamed) > max(c.position for c in snapshot)
    assert_positions_grow_per_key(streamed)
    last_read_ms = snapshot[-1].ts_ms
    during = sum(1 for t in writer.commit_times if t * 1000 < last_read_ms)
    assert during > 0, "every change was committed after the snapshot's last read: no handover under writes"
    print(f"{captured.topic}: {len(snapshot)} reads, {len(streamed)} changes, {during} during the snapshot")
    assert_same_state(captured, rebuild(topic.changes), captured.source_state())
