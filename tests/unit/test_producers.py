"""Producers' pure logic: seeded generation, op mix, ledger, pacing, stopping."""

from __future__ import annotations

import itertools
import socket
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cdc_ods.errors import ServiceError
from cdc_ods.producers.cli import produce as produce_command
from cdc_ods.producers.ledger import Ledger, jsonable
from cdc_ods.producers.mongodb import MongoOps, MongoTarget, ascii_fold, mongo_uri, request
from cdc_ods.producers.mysql import MySQLOps, MySQLTarget, statement
from cdc_ods.producers.ops import Mix, Op, OpGenerator, WorkingSet, merge
from cdc_ods.producers.postgres import PostgresOps, PostgresTarget
from cdc_ods.producers.runner import MAX_BATCH, ConnectionLost, Limit, Pacer, produce, run

GENERATORS = [MySQLOps, PostgresOps, MongoOps]


def take(generator: OpGenerator, n: int) -> list[Op]:
    return list(itertools.islice(generator, n))


# --- generation ------------------------------------------------------------------------


@pytest.mark.parametrize("cls", GENERATORS)
def test_same_seed_same_operations_and_values(cls: type[OpGenerator]) -> None:
    assert take(cls(7, {}), 3000) == take(cls(7, {}), 3000)
    assert take(cls(7, {}), 300) != take(cls(8, {}), 300)


@pytest.mark.parametrize("cls", GENERATORS)
def test_inserts_start_after_the_given_ids(cls: type[OpGenerator]) -> None:
    first = {table: 1000 for table in cls.mix.tables}
    inserts = [op for op in take(cls(1, first), 500) if op.kind == "insert"]
    for table in cls.mix.tables:
        keys = [op.key for op in inserts if op.table == table]
        assert keys == list(range(1000, 1000 + len(keys)))


@pytest.mark.parametrize("cls", GENERATORS)
def test_updates_and_deletes_hit_live_rows_and_inserts_new_ids(cls: type[OpGenerator]) -> None:
    live: dict[str, dict[int, dict]] = {table: {} for table in cls.mix.tables}
    seen: dict[str, set[int]] = {table: set() for table in cls.mix.tables}
    for op in take(cls(3, {}), 20_000):
        rows = live[op.table]
        if op.kind == "insert":
            assert op.key not in seen[op.table]
            seen[op.table].add(op.key)
            rows[op.key] = dict(op.values)
        elif op.kind == "update":
            assert op.key in rows
            assert op.values["updated_at"] > rows[op.key]["updated_at"]  # a real change
            rows[op.key] = merge(rows[op.key], op.values)
        else:
            assert op.key in rows
            del rows[op.key]


def test_postgres_keeps_the_foreign_key_valid() -> None:
    series: set[int] = set()
    episodes: dict[int, int] = {}  # episode -> series
    for op in take(PostgresOps(5, {}), 20_000):
        if op.table == "tv_series" and op.kind == "insert":
            series.add(op.key)
        elif op.table == "tv_series" and op.kind == "delete":
            assert op.key not in episodes.values(), "series deleted while an episode points at it"
            series.remove(op.key)
        elif op.table == "episodes" and op.kind == "insert":
            assert op.values["series_id"] in series
            episodes[op.key] = op.values["series_id"]
        elif op.table == "episodes" and op.kind == "delete":
            del episodes[op.key]


def test_postgres_episode_numbers_are_unique_per_series() -> None:
    numbers = [
        (op.values["series_id"], op.values["season"], op.values["number"])
        for op in take(PostgresOps(2, {}), 20_000)
        if op.table == "episodes" and op.kind == "insert"
    ]
    assert len(numbers) == len(set(numbers))


@pytest.mark.parametrize("cls", [MySQLOps, MongoOps])
def test_the_op_mix_follows_its_weights(cls: type[OpGenerator]) -> None:
    n = 20_000
    counts = Counter((op.table, op.kind) for op in take(cls(11, {}), n))
    for choice, weight in cls.mix.weights.items():
        assert counts[choice] / n == pytest.approx(weight, abs=0.01), choice


def test_postgres_mix_counts_each_cascaded_episode_delete() -> None:
    counts = Counter((op.table, op.kind) for op in take(PostgresOps(11, {}), 40_000))
    w = PostgresOps.mix.weights
    # choices other than episode deletes keep their proportions to one another...
    for a, b in [
        (("tv_series", "update"), ("tv_series", "delete")),
        (("episodes", "update"), ("tv_series", "insert")),
    ]:
        assert counts[a] / counts[b] == pytest.approx(w[a] / w[b], rel=0.1), (a, b)
    # ...while a series delete also deletes its episodes, each counted as a change
    ratio = counts[("episodes", "delete")] / counts[("episodes", "update")]
    assert ratio > 1.5 * w[("episodes", "delete")] / w[("episodes", "update")]


def test_app_events_are_append_mostly() -> None:
    counts = Counter(op.kind for op in take(MySQLOps(1, {}), 20_000) if op.table == "app_events")
    assert counts["update"] == 0
    assert counts["delete"] < counts["insert"] * 0.05


def test_movie_updates_change_a_few_columns() -> None:
    updates = [op for op in take(MySQLOps(4, {}), 5000) if op.kind == "update"]
    assert updates
    for op in updates:
        assert "updated_at" in op.values and "id" not in op.values and "created_at" not in op.values
        assert 2 <= len(op.values) <= 4
    assert len({frozenset(op.values) for op in updates}) > 20


def test_values_have_the_column_types() -> None:
    movies = [op.values for op in take(MySQLOps(9, {}), 3000) if op.kind == "insert" and op.table == "movies"]
    ratings = [m["rating"] for m in movies if m["rating"] is not None]
    assert all(isinstance(r, Decimal) and r.as_tuple().exponent == -1 for r in ratings)
    assert any(m["metadata"] is None for m in movies) and any(isinstance(m["metadata"], dict) for m in movies)
    assert any(not m["title"].isascii() for m in movies)
    assert all(m["created_at"].tzinfo is None for m in movies)  # MySQL DATETIME: naive UTC
    assert any(m["created_at"].microsecond % 1000 for m in movies)

    series = [op.values for op in take(PostgresOps(9, {}), 3000) if op.kind == "insert"]
    assert all(v["created_at"].tzinfo is not None for v in series)  # timestamptz
    assert any(v.get("languages") == [] for v in series)  # empty arrays too


def test_mongodb_documents() -> None:
    ops = take(MongoOps(5, {}), 5000)
    docs = [op.values for op in ops if op.kind == "insert"]
    for doc in docs:
        assert doc["email"].isascii() and "@" in doc["email"]
        assert doc["created_at"].microsecond % 1000 == 0  # BSON dates hold milliseconds
        assert set(doc["name"]) == {"first", "last"} and isinstance(doc["tags"], list)
    updates = [op.values for op in ops if op.kind == "update"]
    assert any("." in name for values in updates for name in values)  # nested $set paths
    assert not any("address" in v and "address.city" in v for v in updates)


def test_mongodb_requests() -> None:
    insert = Op("persons", "insert", 1, {"_id": 1, "name": {"first": "Zoë"}})
    update = Op("persons", "update", 1, {"name.first": "Ana"})
    delete = Op("persons", "delete", 1, {})
    assert request(insert)._doc == {"_id": 1, "name": {"first": "Zoë"}}
    assert request(update)._filter == {"_id": 1} and request(update)._doc == {"$set": {"name.first": "Ana"}}
    assert request(delete)._filter == {"_id": 1}


def test_mongodb_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CDC_MONGODB_URI", "CDC_MONGODB_ADMIN_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    assert mongo_uri("127.0.0.1:27017") == (
        "mongodb://127.0.0.1:27017/?directConnection=true",
        "127.0.0.1:27017",
    )
    monkeypatch.setenv("CDC_MONGODB_ADMIN_PASSWORD", "p@ss")
    assert mongo_uri("mongo:27017")[0] == "mongodb://cdc_admin:p%40ss@mongo:27017/?directConnection=true"
    monkeypatch.setenv("CDC_MONGODB_URI", "mongodb://u:p@m:1/")
    assert mongo_uri("mongo:27017") == ("mongodb://u:p@m:1/", "mongo:27017")
    assert ascii_fold("Zoë Öztürk") == "zoeozturk" and ascii_fold("陽翔") == ""


def test_mysql_statements() -> None:
    sql, params = statement(Op("movies", "insert", 1, {"id": 1, "metadata": {"b": 1, "a": "é"}}))
    assert sql == "INSERT INTO `movies` (`id`, `metadata`) VALUES (%s, %s)"
    assert params == [1, '{"a": "é", "b": 1}']
    assert statement(Op("movies", "update", 3, {"title": "x"})) == (
        "UPDATE `movies` SET `title` = %s WHERE id = %s",
        ["x", 3],
    )
    assert statement(Op("movies", "delete", 3, {})) == ("DELETE FROM `movies` WHERE id = %s", [3])


# --- building blocks -------------------------------------------------------------------


def test_merge_sets_nested_paths_without_touching_the_original() -> None:
    row = {"a": {"b": 1, "c": 2}, "d": 3}
    merged = merge(row, {"a.b": 9, "d": 4})
    assert merged == {"a": {"b": 9, "c": 2}, "d": 4}
    assert row == {"a": {"b": 1, "c": 2}, "d": 3}


def test_working_set_is_capped() -> None:
    import random

    rng = random.Random(1)
    ws = WorkingSet(cap=3)
    assert [ws.add(k, {"id": k}, rng) for k in range(3)] == [None, None, None]
    retired = ws.add(3, {"id": 3}, rng)
    assert retired in {0, 1, 2} and len(ws) == 3 and retired not in ws and 3 in ws
    ws.remove(3)
    assert len(ws) == 2 and ws.pick(rng) in ws


def test_mix_normalises_weights() -> None:
    mix = Mix({("t", "insert"): 3, ("t", "delete"): 1, ("u", "insert"): 4})
    assert mix.weights == {("t", "insert"): 0.375, ("t", "delete"): 0.125, ("u", "insert"): 0.5}
    assert mix.tables == ["t", "u"]


def test_ledger_keeps_the_final_row_per_key() -> None:
    ledger = Ledger(["t"])
    ledger.commit(
        [
            Op("t", "insert", 1, {"id": 1, "x": Decimal("1.50"), "n": {"a": 1}}),
            Op("t", "insert", 2, {"id": 2, "x": None, "n": None}),
            Op("t", "update", 1, {"n.a": 2}),
            Op("t", "delete", 2, {}),
        ]
    )
    assert ledger.tables["t"].rows == {1: {"id": 1, "x": Decimal("1.50"), "n": {"a": 2}}, 2: None}
    assert ledger.counts() == {"t": {"insert": 2, "update": 1, "delete": 1}}
    assert ledger.to_json()["t"]["rows"]["1"] == {"id": 1, "x": "1.50", "n": {"a": 2}}
    untracked = Ledger(["t"], track_rows=False)
    untracked.commit([Op("t", "insert", 1, {"id": 1})])
    assert untracked.total == 1 and "rows" not in untracked.to_json()["t"]


def test_jsonable() -> None:
    from datetime import UTC, date
    from uuid import UUID

    value = {"d": date(2025, 1, 2), "t": datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "u": UUID(int=1)}
    assert jsonable(value) == {
        "d": "2025-01-02",
        "t": "2025-01-02T03:04:05.000006+00:00",
        "u": "00000000-0000-0000-0000-000000000001",
    }


# --- pacing and stopping ---------------------------------------------------------------


def test_pacer() -> None:
    pacer = Pacer(rate=100)
    assert pacer.due(0.0, 0) == 1  # the first change goes at once
    assert pacer.due(0.095, 1) == 9
    assert pacer.delay(0.095, 10) == pytest.approx(0.005)
    assert Pacer(0).due(123.0, 10**9) == MAX_BATCH  # unpaced: always a full batch
    assert Pacer(0).delay(123.0, 10**9) == 0


class FakeTime:
    """A clock that moves only when the loop waits, and by writing (1 ms per batch)."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    def __init__(self, time: FakeTime, fail_on: int | None = None, on_batch=None) -> None:
        self.time = time
        self.batches: list[list[Op]] = []
        self.fail_on = fail_on
        self.on_batch = on_batch

    def write(self, ops: Sequence[Op]) -> None:
        self.time.now += 0.001
        if self.fail_on is not None and len(self.batches) == self.fail_on:
            raise RuntimeError("transaction failed")
        self.batches.append(list(ops))
        if self.on_batch:
            self.on_batch(len(self.batches))


def run_fake(rate: float, limit: Limit, stop: threading.Event | None = None, **recorder):
    time = FakeTime()
    writer = Recorder(time, **recorder)
    generator = MySQLOps(1, {})
    ledger = Ledger(generator.mix.tables)
    result = run(generator, writer.write, ledger, Pacer(rate), limit, stop or threading.Event(),
                 clock=time.clock, wait=time.wait)  # fmt: skip
    return result, writer, ledger


def test_run_paces_a_duration() -> None:
    result, writer, ledger = run_fake(100, Limit(duration_s=2.0))
    assert result.done == 200 == ledger.total == sum(map(len, writer.batches))
    assert result.rate == pytest.approx(100, rel=0.01)
    assert not result.interrupted


def test_run_batches_at_high_rates_and_stops_at_a_count() -> None:
    result, writer, _ = run_fake(10_000, Limit(count=2_345))
    assert result.done == 2_345
    assert max(map(len, writer.batches)) <= MAX_BATCH
    assert len(writer.batches) < 2_345 / 5  # several changes per transaction


def test_batching_does_not_change_the_operations() -> None:
    _, slow, _ = run_fake(50, Limit(count=300))
    _, fast, _ = run_fake(0, Limit(count=300))
    assert [op for b in slow.batches for op in b] == [op for b in fast.batches for op in b]
    assert len(slow.batches) > len(fast.batches)


def test_a_stop_request_finishes_the_transaction_under_way() -> None:
    stop = threading.Event()
    result, writer, ledger = run_fake(
        1000, Limit(duration_s=60), stop, on_batch=lambda n: n == 7 and stop.set()
    )
    assert result.interrupted
    assert len(writer.batches) == 7
    assert ledger.total == result.done == sum(map(len, writer.batches))


def test_a_failed_transaction_is_not_in_the_ledger() -> None:
    time = FakeTime()
    writer = Recorder(time, fail_on=3)
    generator = MySQLOps(1, {})
    ledger = Ledger(generator.mix.tables)
    with pytest.raises(RuntimeError):
        run(generator, writer.write, ledger, Pacer(1000), Limit(count=1000), threading.Event(),
            clock=time.clock, wait=time.wait)  # fmt: skip
    assert ledger.total == sum(map(len, writer.batches[:3]))


def _losing_connection(time: FakeTime, lost_on: int, reconnect_fails: int, committed: bool | None):
    """A writer whose connection breaks at batch `lost_on` (after its commit reached the server
    or not), and a recovery that fails `reconnect_fails` times first (a second each)."""
    writer = Recorder(time)
    attempts = []

    def write(ops: Sequence[Op]) -> None:
        if len(writer.batches) == lost_on and not attempts:
            if committed:
                writer.write(ops)
            raise ConnectionLost("lost connection to server during query")
        writer.write(ops)

    def recover(ops: Sequence[Op]) -> bool | None:
        time.now += 1
        attempts.append(time.now)
        if len(attempts) <= reconnect_fails:
            raise ServiceError("mysql: cannot connect to 127.0.0.1:3306: connection refused")
        return committed

    return writer, write, recover, attempts


def _run_losing(committed: bool | None, reconnect_fails: int = 4, reconnect_s: float = 30):
    time = FakeTime()
    writer, write, recover, attempts = _losing_connection(time, 3, reconnect_fails, committed)
    generator = MySQLOps(1, {})
    ledger = Ledger(generator.mix.tables)
    result = run(generator, write, ledger, Pacer(100), Limit(count=1000), threading.Event(),
                 clock=time.clock, wait=time.wait, recover=recover, reconnect_s=reconnect_s)  # fmt: skip
    return result, writer, ledger, attempts


@pytest.mark.parametrize("committed", [True, False])
def test_a_lost_connection_is_reconnected_and_the_transaction_settled(committed: bool) -> None:
    """Committed: counted once. Not committed: written again, so what follows finds its rows."""
    result, writer, ledger, attempts = _run_losing(committed)
    assert len(attempts) == 5  # four refused, the fifth connects
    assert result.done == 1000 == ledger.total == sum(map(len, writer.batches))
    assert result.in_doubt == 0
    assert [op for b in writer.batches for op in b] == list(itertools.islice(MySQLOps(1, {}), 1000))


def test_a_transaction_the_server_cannot_settle_is_in_doubt() -> None:
    result, writer, ledger, _ = _run_losing(None)
    assert result.in_doubt > 0 and result.done == 1000 == ledger.total
    assert sum(map(len, writer.batches)) == 1000  # the batch in doubt is not written again


def test_without_a_reconnect_window_a_lost_connection_ends_the_run() -> None:
    with pytest.raises(ConnectionLost):
        _run_losing(None, reconnect_s=0)


def test_the_reconnect_window_is_bounded() -> None:
    with pytest.raises(ServiceError, match="connection refused"):
        _run_losing(None, reconnect_fails=1000, reconnect_s=10)


def test_limit_needs_exactly_one_bound() -> None:
    with pytest.raises(ValueError):
        Limit()
    with pytest.raises(ValueError):
        Limit(count=1, duration_s=1)
    assert Limit(duration_s=2.5).expected(100) == 250
    assert Limit(count=7).expected(0) == 7


class MemoryTarget:
    """A target without a database, for the orchestration logic only."""

    def __init__(self, name: str, fail_after: int | None = None) -> None:
        self.name = name
        self.address = "memory"
        self.fail_after = fail_after
        self.written = 0

    def open(self) -> None: ...

    def close(self) -> None: ...

    def generator(self, seed: int | str) -> MySQLOps:
        return MySQLOps(seed, {})

    def write(self, ops: Sequence[Op]) -> None:
        if self.fail_after is not None and self.written >= self.fail_after:
            raise ServiceError(f"{self.name}: gone")
        self.written += len(ops)


def test_produce_runs_sources_concurrently_and_a_failure_stops_the_others() -> None:
    good, bad = MemoryTarget("mysql"), MemoryTarget("postgres", fail_after=10)
    stop = threading.Event()
    outcomes = produce([good, bad], Pacer(2000), Limit(duration_s=30), seed=1, stop=stop)
    assert isinstance(outcomes["postgres"].error, ServiceError)
    assert outcomes["mysql"].error is None and outcomes["mysql"].result.interrupted
    assert outcomes["mysql"].ledger.total == good.written
    # each source has its own stream for the same seed
    assert (
        MemoryTarget("a").generator("mysql:1").rng.random() != MemoryTarget("a").generator("x:1").rng.random()
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_database_is_named_with_its_address() -> None:
    address = f"127.0.0.1:{free_port()}"
    targets = [
        MySQLTarget(address, "u", "p", "maf"),
        PostgresTarget(address, "u", "p", "maf", "maf"),
        MongoTarget(f"mongodb://{address}/?directConnection=true", address, "maf", timeout_ms=200),
    ]
    for target in targets:
        with pytest.raises(ServiceError, match=f"{target.name}: cannot connect to {address}"):
            target.open()


def test_the_command_wants_a_duration_or_a_count(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(produce_command)
    for args in (["mysql"], ["mysql", "--count", "5", "--duration", "1"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2
        assert "give one of --duration and --count" in result.output
