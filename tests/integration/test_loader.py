"""The loader applies cleansed records to Phoenix: batched, typed, ordered, dead-lettering bad rows;
a configuration error stops it without a dead letter; a Phoenix outage never holds up a rebalance."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import orjson
import phoenixdb
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from cdc_ods import contract
from cdc_ods.dlq import DLQ_TOPIC, DeadLetter
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import client_config, ensure_topic
from cdc_ods.ods.loader import Loader
from cdc_ods.runtime.loop import REVOKE_TIMEOUT_S
from cdc_ods.sources import source_for
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager

from .conftest import cdc


@pytest.fixture
def source_table(stack: StackContext) -> Iterator[str]:
    table = f"itest_load_{uuid.uuid4().hex[:8]}"
    conn = source_for(stack.config, "mysql").connect("admin")
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {table} (id INT PRIMARY KEY, title VARCHAR(200), rating DECIMAL(3,1),"
            " released DATE, seen_at DATETIME(6), active TINYINT(1), votes BIGINT, meta JSON)"
        )
    yield table
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
    conn.close()
    with phoenixdb.connect(Endpoints.from_config(stack.config).phoenix_url, autocommit=True) as ph:
        ph.cursor().execute(f"DROP TABLE IF EXISTS {contract.ods_table('mysql', 'maf', table)}")


def record(key: int, op: str, pos: int, **row: object) -> tuple[bytes, bytes]:
    value = {"id": key, **row, "__op": op, "__source_ts_ms": int(time.time() * 1000), "__source_pos": pos,
             "__deleted": op == "d"}  # fmt: skip
    return orjson.dumps({"id": key}), orjson.dumps(value)


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    ensure_topic(bootstrap, topic)
    producer = Producer(client_config(bootstrap))
    for key, value in records:
        producer.produce(topic, value, key=key)
    assert producer.flush(30) == 0


def produce_to(bootstrap: str, topic: str, partition: int, records: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(client_config(bootstrap))
    for key, value in records:
        producer.produce(topic, value, key=key, partition=partition)
    assert producer.flush(30) == 0


def ods_rows(endpoints: Endpoints, table: str) -> dict[int, tuple]:
    with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as conn:
        cur = conn.cursor()
        # SEEN_AT as DECIMAL (epoch ms, the rest as fraction): Avatica reads a TIMESTAMP to the ms
        cur.execute(f'SELECT "ID", "TITLE", "RATING", "RELEASED", CAST("SEEN_AT" AS DECIMAL), "ACTIVE",'
                    f' "VOTES", "META", CDC_OP, CDC_SOURCE_POS, CDC_DELETED FROM {table}')  # fmt: skip
        return {row[0]: tuple(row[1:]) for row in cur.fetchall()}


def dead_letters(bootstrap: str, topic: str) -> list[DeadLetter]:
    consumer = Consumer(client_config(bootstrap, **{"group.id": f"itest-{uuid.uuid4().hex}",
                                                    "auto.offset.reset": "earliest"}))  # fmt: skip
    consumer.subscribe([DLQ_TOPIC])
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            letter = DeadLetter.from_json(msg.value())
            if letter.topic == topic:
                letters.append(letter)
    consumer.close()
    return letters


def test_cdc_ods_run_applies_changes_and_dead_letters_bad_records(
    stack: StackContext, endpoints: Endpoints, source_table: str
) -> None:
    topic = contract.cleansed_topic("mysql", "maf", source_table)
    ts = "2024-02-29T23:59:58.123456Z"
    produce(endpoints.kafka_bootstrap, topic, [
        record(1, "r", 10, title="Amélie", rating="8.3", released="2001-04-25", seen_at=ts, active=True,
               votes=9007199254740993, meta='{"lang": "fr"}'),
        record(2, "c", 11, title="東京物語", rating="8.2", released="1953-11-03", seen_at=ts, active=False,
               votes=1, meta=None),
        record(1, "u", 12, title="Amélie", rating="8.4", released="2001-04-25", seen_at=ts, active=True,
               votes=9007199254740993, meta='{"lang": "fr"}'),
        record(3, "c", 13, title="to delete", rating="1.0", released=None, seen_at=None, active=None,
               votes=None, meta=None),
        record(3, "d", 14),
        (b'{"id": 4}', b"{not json"),
        (None, orjson.dumps({"title": "no key", "__op": "c", "__source_pos": 15})),
        record(5, "c", 16, title="overflow", rating="1000.5", released=None, seen_at=None, active=None,
               votes=None, meta=None),
    ])  # fmt: skip
    result = cdc("ods", "run", "--topic", topic, "--idle-exit", "8", "--group", f"itest-{source_table}",
                 "--metrics-port", "0", timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    ods = contract.ods_table("mysql", "maf", source_table)
    rows = ods_rows(endpoints, ods)
    seen = Decimal("1709251198123.456")  # 2024-02-29T23:59:58.123456Z: its microseconds kept
    assert rows == {
        1: ("Amélie", Decimal("8.4"), dt.date(2001, 4, 25), seen, True, 9007199254740993, '{"lang": "fr"}',
            "u", 12, False),
        2: ("東京物語", Decimal("8.2"), dt.date(1953, 11, 3), seen, False, 1, None, "c", 11, False),
    }  # fmt: skip
    reasons = sorted(letter.reason for letter in dead_letters(endpoints.kafka_bootstrap, topic))
    assert len(reasons) == 3, reasons
    assert reasons[0].startswith("Phoenix rejected the row") or "1000.5" in reasons[0]
    assert any("not JSON" in r for r in reasons)
    assert any("no key" in r for r in reasons)


@contextlib.contextmanager
def running_loader(stack: StackContext, endpoints: Endpoints, topic: str, group: str) -> Iterator[None]:
    """The real loader on its own thread (its schema cache lives as long as it runs)."""
    config = stack.config.model_copy(update={"ods": stack.config.ods.model_copy(update={"group_id": group})})
    loader = Loader(config, endpoints.kafka_bootstrap, endpoints.phoenix_url, [topic])
    thread = threading.Thread(target=loader.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        loader.stop()
        thread.join(30)


def wait_rows(endpoints: Endpoints, query: str, rows: int) -> list:
    """The query's rows once there are `rows` of them ([] after a minute)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as ph:
                cur = ph.cursor()
                cur.execute(query)
                got = cur.fetchall()
                if len(got) == rows:
                    return got
        except phoenixdb.errors.ProgrammingError:
            pass  # table or column not there yet
        time.sleep(0.5)
    return []


BASE = {"title": "x", "rating": "5.0", "released": None, "seen_at": None, "active": None, "votes": None,
        "meta": None}  # fmt: skip


def add_box_office(stack: StackContext, table: str) -> None:
    conn = source_for(stack.config, "mysql").connect("admin")
    with conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {table} ADD COLUMN box_office DECIMAL(12,2)")
    conn.close()


def test_source_column_added_later_appears_in_the_ods(
    stack: StackContext, endpoints: Endpoints, source_table: str
) -> None:
    topic = contract.cleansed_topic("mysql", "maf", source_table)
    produce(endpoints.kafka_bootstrap, topic, [record(1, "c", 1, **BASE)])
    with running_loader(stack, endpoints, topic, f"itest-{source_table}"):
        add_box_office(stack, source_table)
        produce(endpoints.kafka_bootstrap, topic, [record(2, "c", 2, **BASE, box_office="1234567.89")])
        ods = contract.ods_table("mysql", "maf", source_table)
        got = wait_rows(endpoints, f'SELECT "ID", "BOX_OFFICE" FROM {ods} ORDER BY "ID"', rows=2)
    assert got == [[1, None], [2, Decimal("1234567.89")]]


def test_a_column_added_in_the_middle_of_a_batch_keeps_its_values(
    stack: StackContext, endpoints: Endpoints, source_table: str
) -> None:
    """A batch whose first record predates the new column still writes the column for the later ones."""
    topic = contract.cleansed_topic("mysql", "maf", source_table)
    ods = contract.ods_table("mysql", "maf", source_table)
    produce(endpoints.kafka_bootstrap, topic, [record(1, "c", 1, **BASE)])
    with running_loader(stack, endpoints, topic, f"itest-{source_table}"):
        assert wait_rows(endpoints, f'SELECT "ID" FROM {ods}', rows=1)  # loaded: its schema is cached
        add_box_office(stack, source_table)
        produce(endpoints.kafka_bootstrap, topic, [  # produced together: they arrive as one batch
            record(2, "u", 2, **BASE),  # written before the ALTER: no box_office field
            record(3, "c", 3, **BASE, box_office="42.50"),
        ])  # fmt: skip
        got = wait_rows(endpoints, f'SELECT "ID", "BOX_OFFICE" FROM {ods} ORDER BY "ID"', rows=3)
    assert got == [[1, None], [2, None], [3, Decimal("42.50")]]


def test_a_configuration_error_stops_the_loader_with_one_line_and_dead_letters_nothing(
    endpoints: Endpoints,
) -> None:
    topic = contract.cleansed_topic("nosuchsource", "maf", f"itest_{uuid.uuid4().hex[:8]}")
    produce(endpoints.kafka_bootstrap, topic, [record(1, "c", 1, title="x"), record(2, "c", 2, title="y")])
    result = cdc("ods", "run", "--topic", topic, "--idle-exit", "8", "--group", f"itest-{uuid.uuid4().hex}",
                 "--metrics-port", "0", timeout=300)  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: sources: no source named 'nosuchsource'"), result.stderr
    assert sum("error:" in line for line in lines) == 1, result.stderr
    assert dead_letters(endpoints.kafka_bootstrap, topic) == []


def _members_with_partitions(bootstrap: str, group: str) -> int:
    """How many members of `group` own at least one partition now."""
    admin = AdminClient(client_config(bootstrap))
    description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return sum(1 for m in description.members if m.assignment and m.assignment.topic_partitions)


def test_a_phoenix_outage_during_a_rebalance_does_not_hold_it_up(
    stack: StackContext, endpoints: Endpoints, source_table: str
) -> None:
    """Loader A is retrying a batch while the Query Server is down when loader B joins its
    group: A gives its partition's batch up after the runtime's bound (REVOKE_TIMEOUT_S), B
    gets the partition, and once Phoenix is back every change is in the ODS."""
    bootstrap = endpoints.kafka_bootstrap
    topic = contract.cleansed_topic("mysql", "maf", source_table)
    ods = contract.ods_table("mysql", "maf", source_table)
    group = f"itest-rebalance-{source_table}"
    ensure_topic(bootstrap, topic, partitions=2)
    for partition in (0, 1):
        produce_to(bootstrap, topic, partition, [record(10 * partition + 1, "c", 1, **BASE)])
    manager = StackManager(stack)
    with running_loader(stack, endpoints, topic, group):
        assert wait_rows(endpoints, f'SELECT "ID" FROM {ods}', rows=2)  # A owns both partitions
        manager.supervisor.stop_process("phoenix-query-server")
        try:
            for partition in (0, 1):  # A's next batch cannot be written
                produce_to(bootstrap, topic, partition, [record(10 * partition + 2, "c", 2, **BASE)])
            time.sleep(5)
            joined = time.monotonic()
            with running_loader(stack, endpoints, topic, group):  # B joins: A must give a partition up
                deadline = joined + REVOKE_TIMEOUT_S + 45
                while _members_with_partitions(bootstrap, group) < 2 and time.monotonic() < deadline:
                    time.sleep(1)
                took = time.monotonic() - joined
                assert _members_with_partitions(bootstrap, group) == 2, (
                    f"no partition for B after {took:.0f}s"
                )
                manager.up(["phoenix-query-server"])
                got = wait_rows(endpoints, f'SELECT "ID", CDC_SOURCE_POS FROM {ods} ORDER BY "ID"', rows=4)
        finally:
            manager.up(["phoenix-query-server"])
    assert got == [[1, 1], [2, 2], [11, 1], [12, 2]]
    print(f"figures: B owned a partition {took:.1f}s after joining (bound {REVOKE_TIMEOUT_S:.0f}s)")
