"""The loader's parts without a stack: decoding, schema evolution, the batch, applying with
writer threads, the replay guard, and the loader as a stage (fake Kafka and Phoenix)."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import orjson
import pytest
from stage_fakes import FakeConsumer, FakeDeadLetters, FakeMessage

from cdc_ods import contract
from cdc_ods.config import Config
from cdc_ods.errors import ConfigError, Rejected, TransientError
from cdc_ods.ods.apply import ROWS_PER_WRITER, Applier
from cdc_ods.ods.batch import Batch
from cdc_ods.ods.decode import parse_row, to_change
from cdc_ods.ods.evolution import Schemas
from cdc_ods.ods.loader import Loader
from cdc_ods.ods.replay_guard import REPLAY_HEADER, ReplayGuard
from cdc_ods.ods.schema import Column, TableSchema
from cdc_ods.ods.source_schema import UnknownTableError
from cdc_ods.ods.writer import Change, PhoenixWriter
from cdc_ods.runtime import Checkpoint, StageLoop, Stop

TOPIC = "ods.shop.db.items"
ITEMS = TableSchema(
    "shop", "db", "items", (Column("id", "INTEGER", False), Column("price", "DECIMAL(5,2)")), ("id",)
)


def value(key: int, pos: int, **fields: Any) -> bytes:
    return orjson.dumps({"id": key, "price": "1.50", **fields, "__op": "u", "__source_pos": pos})


def message(offset: int, raw: bytes | None, partition: int = 0, replay: bool = False) -> FakeMessage:
    headers = [(REPLAY_HEADER, b"1")] if replay else None
    return FakeMessage(TOPIC, partition, offset, raw, None, headers)


def change(key: int, pos: int) -> Change:
    return Change((key,), {"id": key}, "u", 0, pos, False)


class FakePhoenix:
    """A Phoenix connection: committed rows by table and key; `outage` fails every call;
    a change whose price is `refused` is refused as Phoenix refuses an overflow."""

    def __init__(self, refused: Decimal | None = None) -> None:
        self.rows: dict[str, dict[tuple, Change]] = {}
        self.staged: list[tuple[str, Change]] = []
        self.tables: list[str] = []
        self.columns: list[str] = []
        self.totals: list[tuple] = []
        self.outage = threading.Event()
        self.refused = refused
        self.lock = threading.Lock()
        self.peers: list[FakePhoenix] = []  # the connections whose rows a TRUNCATE removes
        self.truncated: list[tuple[str, int, str, int]] = []

    def _up(self) -> None:
        if self.outage.is_set():
            raise TransientError("Phoenix at http://pqs/: connection refused")

    def stage(self, schema: TableSchema, changes: list[Change]) -> None:
        self._up()
        if any(c.values.get("price") == self.refused for c in changes):
            raise Rejected("ERROR 206 (22003): The data exceeds the max capacity")
        self.staged += [(schema.ods_name, c) for c in changes]

    def commit(self) -> None:
        self._up()
        with self.lock:
            for table, c in self.staged:
                self.rows.setdefault(table, {})[c.key] = c
        self.staged = []

    def rollback(self) -> None:
        self.staged = []

    def answers(self) -> bool:
        return not self.outage.is_set()

    def close(self) -> None:
        return None

    def ensure_table(self, schema: TableSchema) -> None:
        self._up()
        self.tables.append(schema.ods_name)

    def add_column(self, schema: TableSchema, column: Column) -> None:
        self._up()
        self.columns.append(f"{column.ods_name} {column.phoenix_type}")

    def add_sequence_totals(self, totals: list, problems: list) -> None:
        self._up()
        self.totals.append((totals, problems))

    def truncate(self, schema: TableSchema, source_pos: int, delete_mode: str) -> int:
        self._up()
        removed = 0
        for peer in self.peers:
            table = peer.rows.get(schema.ods_name, {})
            for key in [k for k, c in table.items() if c.source_pos < source_pos]:
                del table[key]
                removed += 1
        self.truncated.append((schema.ods_name, source_pos, delete_mode, removed))
        return removed


class FakeGuard(ReplayGuard):
    """The replay guard with the ODS rows' positions in a dict instead of Phoenix."""

    def __init__(self, positions: dict[tuple, int] | None = None) -> None:
        super().__init__("http://unused/")
        self.positions = positions or {}
        self.looked_up: list[tuple] = []

    def ods_position(self, schema: TableSchema, key: tuple[Any, ...]) -> int | None:
        self.looked_up.append(key)
        return self.positions.get(key)


def checkpoint(events: list | None = None, stop: Stop | None = None) -> tuple[Checkpoint, FakeDeadLetters]:
    dead_letters = FakeDeadLetters(events if events is not None else [])
    return Checkpoint("loader", dead_letters, None, (stop or Stop()).is_set), dead_letters


def never() -> bool:
    return False


# --- decoding ----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "reason"), [(b"{oops", "value is not JSON"), (b"[1]", "not a JSON object")])
def test_a_value_that_is_no_json_object_is_rejected(raw: bytes, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        parse_row(raw)


def test_a_change_takes_its_key_from_the_row_then_from_the_record_key() -> None:
    row = {"price": "2.50", "__op": "c", "__source_ts_ms": 7, "__source_pos": 9}
    assert to_change(ITEMS, {**row, "id": 3}, b'{"id": 4}') == Change(
        (3,), {"id": 3, "price": Decimal("2.50")}, "c", 7, 9, False
    )
    assert to_change(ITEMS, row, b'{"id": 4}').key == (4,)
    deleted = to_change(ITEMS, {"id": 3, "__deleted": True, "__op": "d"}, None)
    assert deleted.deleted and deleted.values == {}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"price": "1"}, "no key: primary key column 'id' missing"),
        ({"id": 1, "price": "abc"}, "column price: cannot convert 'abc' to DECIMAL(5,2)"),
        ({"id": "x"}, "column id: cannot convert 'x' to INTEGER"),
        ({"id": 1, "__source_pos": "late"}, "bad metadata field"),
    ],
)
def test_a_row_that_does_not_fit_its_table_is_rejected_naming_why(row: dict, reason: str) -> None:
    with pytest.raises(Rejected) as rejected:
        to_change(ITEMS, row, None)
    assert str(rejected.value).startswith(reason)


def test_empty_text_and_binary_values_are_named_in_the_change() -> None:
    schema = TableSchema(
        "shop",
        "db",
        "notes",
        (
            Column("id", "INTEGER", False),
            Column("title", "VARCHAR"),
            Column("body", "VARCHAR"),
            Column("raw", "VARBINARY"),
            Column("tags", "VARCHAR ARRAY"),
            Column("n", "INTEGER"),
        ),
        ("id",),
    )
    change = to_change(schema, {"id": 1, "title": "", "body": None, "raw": "", "tags": [""], "n": 0}, None)
    assert change.empty == ["TITLE", "RAW"]  # not NULL, not array elements, not a zero
    assert change.values == {"id": 1, "title": "", "body": None, "raw": b"", "tags": [""], "n": 0}
    assert to_change(schema, {"id": 1, "title": "x", "raw": "00"}, None).empty is None
    assert to_change(schema, {"id": 1, "__deleted": True}, None).empty is None


def test_every_upsert_writes_cdc_empty_and_a_soft_delete_leaves_it() -> None:
    executed: list[tuple[str, list]] = []
    writer = PhoenixWriter("http://unused/", delete_mode="soft")
    writer._execute = lambda statement, rows=None: executed.append((statement, rows))  # type: ignore[method-assign]
    writer.commit = lambda: None  # type: ignore[method-assign]
    upsert = Change((1,), {"id": 1, "price": None}, "u", 0, 5, False, ["PRICE"])
    writer.stage(ITEMS, [upsert, Change((2,), {}, "d", 0, 6, True)])
    (upsert_sql, upsert_rows), (delete_sql, delete_rows) = executed
    assert upsert_sql.startswith('UPSERT INTO ODS.SHOP_DB_ITEMS ("ID", "PRICE", CDC_OP,')
    assert upsert_sql.count("?") == len(upsert_rows[0]) == 2 + len(contract.ODS_METADATA_COLUMNS)
    assert "CDC_EMPTY)" in upsert_sql and upsert_rows[0][-1] == ["PRICE"]
    assert "CDC_EMPTY" not in delete_sql and delete_sql.count("?") == len(delete_rows[0])
    executed.clear()
    writer.ensure_table(ITEMS)  # also on a table an earlier version created
    assert [sql.split(" (")[0] for sql, _ in executed] == [
        "CREATE TABLE IF NOT EXISTS ODS.SHOP_DB_ITEMS",
        "ALTER TABLE ODS.SHOP_DB_ITEMS ADD IF NOT EXISTS CDC_EMPTY VARCHAR ARRAY",
        "ALTER TABLE ODS.SHOP_DB_ITEMS SET UPDATE_CACHE_FREQUENCY=60000",
    ]


# --- schema evolution --------------------------------------------------------------------


def test_a_table_is_created_on_its_first_record_and_widened_by_a_new_field() -> None:
    ddl, reads = FakePhoenix(), []
    source = {"items": ITEMS}

    def read(source_name: str, database: str, table: str) -> TableSchema:
        reads.append(table)
        return source[table]

    schemas = Schemas(read, ddl)
    assert schemas.for_row(TOPIC, {"id": 1, "price": "1", "__op": "c"}, never) == ITEMS
    assert schemas.for_row(TOPIC, {"id": 2}, never) == ITEMS
    assert ddl.tables == ["ODS.SHOP_DB_ITEMS"] and reads == ["items"]
    source["items"] = TableSchema("shop", "db", "items", (*ITEMS.columns, Column("stock", "BIGINT")), ("id",))
    wider = schemas.for_row(TOPIC, {"id": 3, "stock": 4, "masked": True}, never)
    assert ddl.columns == ["STOCK BIGINT", "MASKED BOOLEAN"]  # from the source, else from the JSON value
    assert [c.name for c in wider.columns] == ["id", "price", "stock", "masked"]
    assert schemas.for_row(TOPIC, {"id": 4, "stock": 5}, never) is wider and len(reads) == 2


def test_a_table_that_cannot_be_made_rejects_its_records() -> None:
    def missing(*_: str) -> TableSchema:
        raise UnknownTableError("shop: table db.items has no primary key")

    with pytest.raises(Rejected, match="no primary key"):
        Schemas(missing, FakePhoenix()).for_row(TOPIC, {"id": 1}, never)
    with pytest.raises(Rejected, match="not a cleansed topic"):
        Schemas(lambda *_: ITEMS, FakePhoenix()).for_row("raw.topic", {}, never)
    refusing = FakePhoenix()
    refusing.ensure_table = lambda schema: (_ for _ in ()).throw(Rejected("ERROR 1000"))  # type: ignore[method-assign]
    with pytest.raises(Rejected, match=r"Phoenix refused to create ODS\.SHOP_DB_ITEMS"):
        Schemas(lambda *_: ITEMS, refusing).for_row(TOPIC, {"id": 1}, never)


def test_a_configuration_error_is_not_a_rejection() -> None:
    def unconfigured(*_: str) -> TableSchema:
        raise ConfigError("sources: no source named 'shop'")

    with pytest.raises(ConfigError):
        Schemas(unconfigured, FakePhoenix()).for_row(TOPIC, {"id": 1}, never)


# --- the batch ---------------------------------------------------------------------------


def test_the_last_change_of_a_key_wins_and_an_older_replay_does_not() -> None:
    batch = Batch()
    for pos, replay in ((5, False), (7, False), (6, True)):
        batch.add(ITEMS, message(pos, b""), change(1, pos), replay)
    batch.add(ITEMS, message(8, b""), change(2, 8), False)
    assert {k: c.source_pos for k, (_, c) in batch.tables["ODS.SHOP_DB_ITEMS"][1].items()} == {
        (1,): 7,
        (2,): 8,
    }
    parts = batch.split(2)
    assert sorted(k for part in parts for k in part.get("ODS.SHOP_DB_ITEMS", (None, {}))[1]) == [(1,), (2,)]


def test_a_column_added_mid_batch_widens_the_whole_batch() -> None:
    wider = TableSchema("shop", "db", "items", (*ITEMS.columns, Column("stock", "BIGINT")), ("id",))
    batch = Batch()
    batch.add(ITEMS, message(1, b""), change(1, 1), False)
    batch.add(wider, message(2, b""), change(2, 2), False)
    batch.add(ITEMS, message(3, b""), change(3, 3), False)
    schema, changes = batch.tables["ODS.SHOP_DB_ITEMS"]
    assert schema is wider and len(changes) == 3


# --- applying ----------------------------------------------------------------------------


def test_a_row_phoenix_refuses_is_dead_lettered_and_the_others_are_applied() -> None:
    writers = [FakePhoenix(refused=Decimal("999.99")) for _ in range(2)]
    rejected: list[str] = []
    applier = Applier(writers, FakeGuard(), lambda cp, msg, exc: rejected.append(f"{msg.offset()}: {exc}"))
    batch = Batch()
    for key in range(1, 7):
        price = Decimal("999.99") if key == 4 else Decimal(key)
        batch.add(
            ITEMS, message(key, b""), Change((key,), {"id": key, "price": price}, "c", 0, key, False), False
        )
    cp, _ = checkpoint()
    applier.submit(batch, cp)
    assert applier.done(10)
    applier.result()
    applier.close()
    applied = sorted(k for w in writers for k in w.rows.get("ODS.SHOP_DB_ITEMS", {}))
    assert applied == [(1,), (2,), (3,), (5,), (6,)]
    assert rejected == ["4: Phoenix rejected the row: ERROR 206 (22003): The data exceeds the max capacity"]


def test_an_outage_is_retried_until_the_batch_gives_up() -> None:
    writer = FakePhoenix()
    writer.outage.set()
    applier = Applier([writer], FakeGuard(), lambda *_: None)
    batch = Batch()
    batch.add(ITEMS, message(1, b""), change(1, 1), False)
    stop = Stop()
    cp, _ = checkpoint(stop=stop)
    applier.submit(batch, cp)
    assert not applier.done(0.8)  # retrying
    stop.set()
    assert applier.done(15)
    with pytest.raises(TransientError, match="gave up: Phoenix at http://pqs/: connection refused"):
        applier.result()
    applier.close()


def test_a_replayed_change_older_than_its_ods_row_is_skipped() -> None:
    guard = FakeGuard({(1,): 10, (2,): 3})
    batch = Batch()
    batch.add(ITEMS, message(1, b"", replay=True), change(1, 5), True)  # older than the ODS row
    batch.add(ITEMS, message(2, b"", replay=True), change(2, 5), True)  # newer
    batch.add(ITEMS, message(3, b""), change(3, 1), False)  # not a replay: never looked up
    guard.drop_stale(batch.tables, never)
    assert sorted(batch.tables["ODS.SHOP_DB_ITEMS"][1]) == [(2,), (3,)]
    assert sorted(guard.looked_up) == [(1,), (2,)]


# --- the loader as a stage ---------------------------------------------------------------


def loader_stage(consumer: FakeConsumer, read: Any = None, revoke_timeout_s: float = 30.0):
    writers, ddl = [FakePhoenix(), FakePhoenix()], FakePhoenix()
    ddl.peers = writers
    loader = Loader(
        Config(), "unused:9092", "http://unused/", [TOPIC], read or (lambda *_: ITEMS),
        writers=writers, ddl=ddl, replay_guard=FakeGuard(),
    )  # fmt: skip
    dead_letters = FakeDeadLetters(consumer.events)
    loop = StageLoop(
        "loader", consumer, loader, dead_letters, loader.stop_event, 5000, revoke_timeout_s=revoke_timeout_s
    )
    return loop, loader, writers, ddl, dead_letters


def rows(writers: list[FakePhoenix]) -> dict[int, int]:
    return {k[0]: c.source_pos for w in writers for k, c in w.rows.get("ODS.SHOP_DB_ITEMS", {}).items()}


def test_the_loader_applies_rows_dead_letters_bad_ones_and_commits_after() -> None:
    consumer = FakeConsumer({(TOPIC, 0): [
        message(0, value(1, 10)), message(1, b"{oops"), message(2, value(2, 11)),
        message(3, None), message(4, value(1, 12)), message(5, value(3, 13, price="x")),
    ]})  # fmt: skip
    loop, loader, writers, ddl, dead_letters = loader_stage(consumer)
    loop.run([TOPIC], idle_exit_s=0.3)
    assert rows(writers) == {1: 12, 2: 11}
    assert [(r.offset, r.reason.split(":")[0]) for r in dead_letters.letters] == [
        (1, "value is not JSON"),
        (5, "column price"),
    ]
    assert consumer.events[-2:] == [("flush dead letters",), ("commit", {(TOPIC, 0): 6})]
    assert loader.applied == 6 and ddl.tables == ["ODS.SHOP_DB_ITEMS"]
    assert ddl.totals[-1][0] == [["ODS.SHOP_DB_ITEMS", TOPIC, 0, 6, 0, 0, 0, 6, 0, 0, 0]]


def test_a_small_batch_goes_to_one_writer_and_a_large_one_is_split_by_key() -> None:
    """Each writer's part costs its own statements and commit: split only what is worth it."""
    writers = [FakePhoenix(refused=Decimal(-1)), FakePhoenix(refused=Decimal(-1))]
    applier = Applier(writers, FakeGuard(), lambda *_: None)
    checkpoint = Checkpoint("loader", FakeDeadLetters([]), None, never)
    try:
        for size in (ROWS_PER_WRITER - 1, 2 * ROWS_PER_WRITER):
            batch = Batch()
            for key in range(size):
                batch.add(ITEMS, message(key, b""), change(key, key + 1), False)
            applier.submit(batch, checkpoint)
            assert applier.done(10)
            applier.result()
            applied = sorted(len(w.rows.get("ODS.SHOP_DB_ITEMS", {})) for w in writers)
            if size < ROWS_PER_WRITER:
                assert applied == [0, size]
            else:
                assert sum(applied) == size and min(applied) > 0
            for w in writers:
                w.rows.clear()
    finally:
        applier.close()


def truncate(pos: int | None) -> bytes:
    """A TRUNCATE as the cleansing stage passes it on: no key, every column null."""
    return orjson.dumps({"__op": "t", "__source_pos": pos, "__deleted": False, "id": None, "price": None})


def test_a_truncate_removes_the_rows_changed_before_it_once_they_are_committed() -> None:
    consumer = FakeConsumer({(TOPIC, 0): [
        message(0, value(1, 10)), message(1, value(2, 11)), message(2, truncate(12)),
        message(3, value(2, 13)), message(4, value(3, 14)), message(5, truncate(None)),
    ]})  # fmt: skip
    loop, _, writers, ddl, dead_letters = loader_stage(consumer)
    loop.run([TOPIC], idle_exit_s=0.3)
    # key 2's change after the TRUNCATE stays, whatever the order the batch applied them in
    assert rows(writers) == {2: 13, 3: 14}
    assert ddl.truncated == [("ODS.SHOP_DB_ITEMS", 12, "hard", 1)]
    assert [(r.offset, r.reason) for r in dead_letters.letters] == [
        (5, "a TRUNCATE without a source position (__source_pos)")
    ]
    assert consumer.events[-1] == ("commit", {(TOPIC, 0): 6})


def test_a_row_without_a_position_after_a_truncate_in_the_batch_stays() -> None:
    """A row without a position (its source block had none): one that follows the TRUNCATE in
    the topic was read after it."""
    consumer = FakeConsumer({(TOPIC, 0): [
        message(0, value(1, 0)), message(1, value(2, 11)), message(2, truncate(12)), message(3, value(3, 0)),
    ]})  # fmt: skip
    loop, _, writers, ddl, _ = loader_stage(consumer)
    loop.run([TOPIC], idle_exit_s=0.3)
    assert rows(writers) == {3: 12} and ddl.truncated == [("ODS.SHOP_DB_ITEMS", 12, "hard", 2)]


def test_a_snapshot_read_is_not_ordered_against_the_keys_changes() -> None:
    """A read carries where streaming was when the row was read (PostgreSQL: an incremental
    snapshot's `sequence`); a change committed after the read may have an older LSN (its
    transaction began before): that is no regression. The same position as a change is one."""

    def regressions(op: str) -> int:
        read = orjson.dumps({**orjson.loads(value(1, 120)), "__op": op})
        consumer = FakeConsumer({(TOPIC, 0): [
            message(0, value(1, 100)), message(1, read), message(2, value(1, 110)),
        ]})  # fmt: skip
        loop, _, writers, ddl, _ = loader_stage(consumer)
        loop.run([TOPIC], idle_exit_s=0.3)
        assert rows(writers) == {1: 110}
        return ddl.totals[-1][0][0][5]

    assert regressions("r") == 0
    assert regressions("u") == 1


def test_a_configuration_error_stops_the_loader_and_dead_letters_nothing() -> None:
    consumer = FakeConsumer({(TOPIC, 0): [message(0, value(1, 10)), message(1, value(2, 11))]})

    def unconfigured(*_: str) -> TableSchema:
        raise ConfigError("sources.shop.read: the password variable SHOP_READ_PASSWORD is not set")

    loop, _, writers, _, dead_letters = loader_stage(consumer, unconfigured)
    with pytest.raises(ConfigError, match="SHOP_READ_PASSWORD is not set"):
        loop.run([TOPIC], idle_exit_s=5)
    assert dead_letters.letters == [] and rows(writers) == {}
    assert not [e for e in consumer.events if e[0] == "commit"]


def test_a_rebalance_during_a_phoenix_outage_returns_within_its_bound() -> None:
    consumer = FakeConsumer({
        (TOPIC, 0): [message(0, value(1, 10)), message(1, value(2, 11))],
        (TOPIC, 1): [message(0, value(3, 12), partition=1)],
    })  # fmt: skip
    loop, loader, writers, _, _ = loader_stage(consumer, revoke_timeout_s=1.0)
    for writer in writers:
        writer.outage.set()
    submit = loader.applier.submit

    def submit_then_rebalance(batch: Batch, cp: Checkpoint) -> None:
        submit(batch, cp)
        if len(consumer.events) == 0:  # the first batch: another loader joins meanwhile
            consumer.to_revoke = [(TOPIC, 1)]

    def revoked(partitions: list) -> None:
        Loader.revoked(loader, partitions)
        for writer in writers:  # Phoenix comes back after the rebalance
            writer.outage.clear()

    loader.applier.submit = submit_then_rebalance  # type: ignore[method-assign]
    loader.revoked = revoked  # type: ignore[method-assign]
    loop.run([TOPIC], idle_exit_s=3)
    assert 1.0 <= consumer.revoke_seconds[0] < 2.0  # the bound, not the outage
    assert ("seek", (TOPIC, 0), 0) in consumer.events  # the partition kept is read again
    assert rows(writers) == {1: 10, 2: 11}  # key 3's partition is its new owner's
    commits = [e[1] for e in consumer.events if e[0] == "commit"]
    assert commits == [{(TOPIC, 0): 2}]
