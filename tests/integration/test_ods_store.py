"""The ODS store: Phoenix through the Query Server, raw rows through HBase Thrift, `cdc sql`."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from decimal import Decimal

import happybase
import phoenixdb

from cdc_ods.endpoints import Endpoints, split_host_port
from cdc_ods.stack.context import StackContext

from .conftest import cdc

ROWS = [
    (1, 9007199254740993, Decimal("1234567890.12"), "Amélie \u2013 東京", dt.date(2024, 2, 29),
     dt.datetime(2024, 2, 29, 23, 59, 58, 123000), True),
    (-5, -42, Decimal("-0.01"), None, dt.date(1969, 12, 31), dt.datetime(1970, 1, 1, 0, 0, 0, 1000), False),
]  # fmt: skip


def phoenix(endpoints: Endpoints, autocommit: bool = True):
    return phoenixdb.connect(endpoints.phoenix_url, autocommit=autocommit, max_retries=0)


def test_typed_columns_round_trip_exactly(stack: StackContext, endpoints: Endpoints) -> None:
    table = f"ITEST_TYPES_{uuid.uuid4().hex[:8].upper()}"
    conn = phoenix(endpoints)
    cur = conn.cursor()
    try:
        cur.execute(
            f"CREATE TABLE {table} (ID INTEGER PRIMARY KEY, BIG BIGINT, AMOUNT DECIMAL(12,2), "
            "NAME VARCHAR, D DATE, TS TIMESTAMP, FLAG BOOLEAN)"
        )
        cur.executemany(f"UPSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)", ROWS)
        cur.execute(f"SELECT ID, BIG, AMOUNT, NAME, D, TS, FLAG FROM {table} ORDER BY ID DESC")
        assert [tuple(r) for r in cur.fetchall()] == ROWS
        cur.execute(f"DELETE FROM {table} WHERE ID = -5")
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        assert cur.fetchone()[0] == 1
    finally:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


def test_batched_upserts_become_visible_on_commit(endpoints: Endpoints) -> None:
    table = f"ITEST_BATCH_{uuid.uuid4().hex[:8].upper()}"
    admin = phoenix(endpoints)
    admin.cursor().execute(f"CREATE TABLE {table} (ID BIGINT PRIMARY KEY, V VARCHAR)")
    writer = phoenix(endpoints, autocommit=False)
    try:
        writer.cursor().executemany(f"UPSERT INTO {table} VALUES (?, ?)", [(i, f"v{i}") for i in range(500)])
        reader = admin.cursor()
        reader.execute(f"SELECT COUNT(*) FROM {table}")
        assert reader.fetchone()[0] == 0
        writer.commit()
        reader.execute(f"SELECT COUNT(*), SUM(ID) FROM {table}")
        assert tuple(reader.fetchone()) == (500, sum(range(500)))
    finally:
        writer.close()
        admin.cursor().execute(f"DROP TABLE IF EXISTS {table}")
        admin.close()


def decode_phoenix_int(raw: bytes) -> int:
    """Phoenix INTEGER/BIGINT: big-endian two's complement with the sign bit flipped."""
    return int.from_bytes(bytes([raw[0] ^ 0x80]) + raw[1:], "big", signed=True)


def test_happybase_reads_the_row_phoenix_wrote(endpoints: Endpoints) -> None:
    table = f"ITEST_RAW_{uuid.uuid4().hex[:8].upper()}"
    conn = phoenix(endpoints)
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE {table} (ID INTEGER PRIMARY KEY, BIG BIGINT, NAME VARCHAR, FLAG BOOLEAN)")
    cur.execute(f"UPSERT INTO {table} VALUES (?, ?, ?, ?)", (7, -42, "東京", True))
    host, port = split_host_port(endpoints.hbase_thrift)
    raw = happybase.Connection(host, port=port)
    try:
        assert table.encode() in raw.tables()
        rows = list(raw.table(table).scan())
        assert len(rows) == 1
        key, cells = rows[0]
        assert decode_phoenix_int(key) == 7
        # column family "0", encoded qualifiers from 11 (sign bit flipped) in declaration order
        assert decode_phoenix_int(cells[b"0:\x80\x0b"]) == -42
        assert cells[b"0:\x80\x0c"].decode() == "東京"
        assert cells[b"0:\x80\x0d"] == b"\x01"
        assert cells[b"0:\x00\x00\x00\x00"] == b"x"  # Phoenix's empty key-value marker
    finally:
        raw.close()
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


def test_cdc_sql_prints_rows_json_and_phoenix_errors(endpoints: Endpoints) -> None:
    table = f"ITEST_SQL_{uuid.uuid4().hex[:8].upper()}"
    assert cdc("sql", f"CREATE TABLE {table} (ID INTEGER PRIMARY KEY, NAME VARCHAR)").returncode == 0
    try:
        assert cdc("sql", f"UPSERT INTO {table} VALUES (1, 'Amélie')").returncode == 0
        shown = cdc("sql", f"SELECT * FROM {table}")
        assert shown.returncode == 0
        assert "Amélie" in shown.stdout and "NAME" in shown.stdout
        as_json = cdc("sql", "--json", f"SELECT * FROM {table}")
        assert json.loads(as_json.stdout) == [{"ID": 1, "NAME": "Amélie"}]
        bad = cdc("sql", "SELEC nonsense")
        assert bad.returncode == 1
        assert "Syntax error" in bad.stderr and "Traceback" not in bad.stderr
        prompt = subprocess.run(
            [sys.executable, "-m", "cdc_ods", "sql"],
            input=f"SELEC 1;\nSELECT NAME\n FROM {table};\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert prompt.returncode == 0
        assert "Syntax error" in prompt.stderr and "Amélie" in prompt.stdout
    finally:
        cdc("sql", f"DROP TABLE IF EXISTS {table}")
