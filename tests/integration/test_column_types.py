"""Every column type of MariaDB 10.11 and PostgreSQL 15, at its extremes, end to end.

Two databases of the test's own (`cdc_types` on each server) join cdc.yaml as two more
sources next to the demo ones and are brought in with `cdc sources prepare` and `cdc sources
sync`. Table `extremes` on each holds every type the pipeline carries, at its minima and
maxima, NULL, 4-byte UTF-8 and large TOASTed text: the test reads every ODS value and compares
it with the source value in the ODS's documented form (README, "Column types"), then
`cdc reconcile` must be clean, also after updates that leave the TOASTed text untouched. A
partitioned table and a table without a primary key (its key configured in cdc.yaml) arrive
too. Table `empties` on each holds empty text and binary values (also text trimmed to nothing)
next to NULLs: the ODS stores both as NULL and names the empty ones in the row's CDC_EMPTY, and
reconcile tells them apart. Table `refused` holds values the ODS cannot keep exactly (a date
or timestamp before 1583, BC ones included, `infinity`, a year beyond 9999, NaN and the
infinities in a double precision or real column, a NULL element in an int[] or a text[]):
each such row is dead-lettered with its reason while the others load; in a float8[] NaN and
the infinities arrive exactly. Refused before capture by `cdc sources check`, column named: a
money column (PostgreSQL; `sources sync` writes every other table's script) and a YEAR column
holding 0000 (MariaDB: a snapshot reads it as 2000; streamed, 0000 arrives exactly).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import phoenixdb
import pytest

from cdc_ods.endpoints import Endpoints
from cdc_ods.stack.context import StackContext

from .conftest import restore_services
from .workspaces import cdc, drop_sources, mariadb, not_ok, psql, reconcile, workspace

RUN = uuid.uuid4().hex[:6]  # Connect keeps a deleted connector's offsets: a fresh name per run
MY, PG = f"types_my_{RUN}", f"types_pg_{RUN}"
DATABASE = "cdc_types"
SOURCES = [
    {"name": MY, "kind": "mariadb", "database": DATABASE, "tables": ["*"]},
    {"name": PG, "kind": "postgres", "database": DATABASE, "schema": "public", "tables": ["*"],
     "table_options": {"keyless": {"key": ["code"]}}},
]  # fmt: skip
BIG_TEXT = "Ünïcödé 😀 " * 60_000  # ~780 kB: TOASTed by PostgreSQL, LONGTEXT in MariaDB

MARIADB_SCHEMA = f"""
DROP DATABASE IF EXISTS {DATABASE};
CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4;
USE {DATABASE};
CREATE TABLE extremes (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT,
  miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  flag BOOLEAN, bit1 BIT(1), bit12 BIT(12), bit64 BIT(64),
  dec_small DECIMAL(10,2), dec_wide DECIMAL(65,30), f FLOAT, dbl DOUBLE,
  c CHAR(10), vc VARCHAR(100), tx LONGTEXT, en ENUM('a','b','c d'), st SET('x','y','z'),
  bn BINARY(4), vb VARBINARY(64), bl BLOB,
  d DATE, dt0 DATETIME, dt6 DATETIME(6), ts6 TIMESTAMP(6) NULL DEFAULT NULL, tm TIME, tm6 TIME(6),
  yr YEAR, js JSON
);
INSERT INTO extremes VALUES
 (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
  FALSE, b'0', b'0', b'0', -99999999.99,
  '-99999999999999999999999999999999999.999999999999999999999999999999', -3.40282e38,
  -1.7976931348623157e308, 'a', 'b', 'c', 'a', '', x'00000000', x'00', x'00',
  '1583-01-01', '1583-01-01 00:00:00', '1583-01-01 00:00:00.000001', '1970-01-01 00:00:01.000000',
  '-838:59:59', '-838:59:59.000000', 1901, '[]'),
 (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807,
  18446744073709551615, TRUE, b'1', b'111111111111',
  b'1111111111111111111111111111111111111111111111111111111111111111', 99999999.99,
  '99999999999999999999999999999999999.999999999999999999999999999999', 3.40282e38,
  1.7976931348623157e308, 'zzzzzzzzzz', '😀𝄞 four-byte', 'Amélie', 'c d', 'x,y,z', x'FFFFFFFF',
  x'00FF10', x'89504E470D0A1A0A', '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999',
  '2038-01-19 03:14:07.999999', '838:59:59', '838:59:59.999999', 2155,
  '{{"n": 1e400, "s": "ü", "a": [1, 2.5, null]}}'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL),
 (4, 0, 1, 0, 1, 0, 1, 0, 1, 0, 9223372036854775808, TRUE, b'0', b'101', b'10', 0.01,
  '0.000000000000000000000000000001', 1.5e-38, 4.9e-324, 'q', 'x', 'big', 'b', 'y', x'01020304',
  x'', x'', '2024-02-29', '2024-02-29 12:00:00', '2024-02-29 12:00:00.5', '2024-02-29 12:00:00.123456',
  '00:00:00', '-00:00:00.000001', 2000, '{{"deep": {{"k": [true, false]}}}}');
UPDATE extremes SET tx = REPEAT('Ünïcödé 😀 ', 60000) WHERE id = 4;
CREATE TABLE empties (
  id INT PRIMARY KEY, c CHAR(10), vc VARCHAR(20), tx TEXT, st SET('x','y'), vb VARBINARY(16), bl BLOB
);
INSERT INTO empties VALUES (1, '', '', '', '', x'', x''), (2, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, ' ', '  ', 'a', 'x', x'00', x'00');
CREATE TABLE years (id INT PRIMARY KEY, yr YEAR);
INSERT INTO years VALUES (1, 0), (2, 2000);
"""

POSTGRES_SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE extremes (
  id int PRIMARY KEY,
  si smallint, i integer, bi bigint, n numeric, n10 numeric(10,2), n60 numeric(60,30),
  r real, d double precision, b boolean, c char(10), vc varchar(100), tx text, bt bytea,
  dt date, ts timestamp(6), ts0 timestamp(0), tstz timestamptz, tm time(6), iv interval,
  u uuid, js json, jb jsonb, ia int[], ta text[], na numeric[], ip inet, mo mood,
  rng int4range, tsv tsvector
);
INSERT INTO extremes VALUES
 (1, -32768, -2147483648, -9223372036854775808, 'NaN', -99999999.99,
  '-999999999999999999999999999999.999999999999999999999999999999', -3.40282e38,
  -1.7976931348623157e308, false, 'a', '', 'x', '\\x00', '1583-01-01', '1583-01-01 00:00:00.000001',
  '1583-01-01 00:00:00', '1583-01-01 00:00:00.000001+00', '00:00:00', '-178000000 years',
  '00000000-0000-0000-0000-000000000000', '[]', '{}', '{}', '{}', '{}', '0.0.0.0', 'sad',
  'empty', ''),
 (2, 32767, 2147483647, 9223372036854775807, '123456789012345678901234567890.123456789012345678901',
  99999999.99, '999999999999999999999999999999.999999999999999999999999999999', 3.40282e38,
  1.7976931348623157e308, true, 'zzzzzzzzzz', '😀𝄞 four-byte', 'Amélie', '\\x89504e470d0a1a0a',
  '9999-12-31', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999+00',
  '24:00:00', '1 year 2 mons 3 days 04:05:06.789', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '{"n": 1e400, "b": [1, 2.5, null]}', '{"z": 1, "a": {"k": [true, null]}}', '{1, 2, -3}',
  '{"a", "", "😀"}', '{1.50, 0, -0.000001}', '2001:db8::1/64', 'happy', '[1,10)',
  'the quick brown fox'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, 0, 0, 0, '-0.000000000000000000000000000000000000000001', 0.01, '0', 1.5e-38, 5e-324, true,
  'q', 'x', 'big', '\\x', '2024-02-29', '2024-02-29 12:00:00.5', '2024-02-29 12:00:00',
  '2024-02-29 23:30:00.123456-05:30', '12:34:56.789012', '-1 mons +2 days -00:00:01', gen_random_uuid(),
  '"a string"', '3.5', '{0}', '{"x"}', '{0}', '10.0.0.1', 'ok', '(,5]', 'a:1 b:2');
UPDATE extremes SET tx = repeat('Ünïcödé 😀 ', 60000) WHERE id = 4;

CREATE TABLE measurements (
  taken date NOT NULL, sensor int NOT NULL, value double precision, PRIMARY KEY (taken, sensor)
) PARTITION BY RANGE (taken);
CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO measurements VALUES ('2024-03-01', 1, 1.5), ('2025-03-01', 1, 2.5), ('2025-03-01', 2, NULL);

-- refused by its column type: named by `sources check`, no cleansing script, and the tables
-- after it in the catalog's order still get theirs
CREATE TABLE accounts (id int PRIMARY KEY, balance money);
INSERT INTO accounts VALUES (1, 12.5);

CREATE TABLE keyless (code text NOT NULL, note text);
INSERT INTO keyless VALUES ('a', 'first'), ('b', 'second');

CREATE TABLE empties (id int PRIMARY KEY, c char(5), vc varchar(20), tx text, bt bytea);
INSERT INTO empties VALUES (1, '', '', '', '\\x'), (2, NULL, NULL, NULL, NULL), (3, ' ', '  ', 'a', '\\x00');

CREATE TABLE refused (
  id int PRIMARY KEY, dt date, tstz timestamptz, ia int[], d double precision, r real, da float8[],
  ta text[]
);
INSERT INTO refused (id, dt, tstz, ia) VALUES (1, '2024-01-01', '2024-01-01 00:00:00+00', '{1}'),
 (2, '0044-03-15 BC', NULL, NULL),
 (3, NULL, 'infinity', NULL), (4, '12345-01-01', NULL, NULL), (5, '2025-01-01', NULL, '{}'),
 (6, NULL, NULL, '{1, NULL}');
INSERT INTO refused (id, d, r, da) VALUES (7, 'NaN', 1.5, NULL), (8, NULL, '-Infinity', NULL),
 (9, 1.5, 2.5, '{NaN, Infinity, -Infinity, 0}'), (10, 'Infinity', NULL, NULL);
INSERT INTO refused (id, ta) VALUES (11, '{"a", NULL}');
INSERT INTO refused (id, dt, tstz) VALUES (12, '1000-01-01', NULL), (13, NULL, '1582-12-31 23:59:59+00');
"""


def _drop(ctx: StackContext) -> None:
    drop_sources(ctx, "types_")
    mariadb(ctx, f"DROP DATABASE IF EXISTS {DATABASE};")
    psql(ctx, "postgres", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def _exact_timestamp(column: str, kind: str) -> bool:
    """A source TIMESTAMP column, read as CAST(.. AS DECIMAL): Avatica cuts it to the millisecond."""
    return kind == "TIMESTAMP" and not column.startswith("CDC_")


def _ods(ctx: StackContext, table: str, key: tuple[str, ...] = ("id",)) -> dict[Any, dict[str, Any]]:
    """ODS rows by `key` (one column: its value): column (lower case) -> value; TIMESTAMP
    columns to the microsecond."""
    conn = phoenixdb.connect(Endpoints.from_config(ctx.config).phoenix_url, autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT * FROM {table} LIMIT 0")
        names = [d[0] for d in cur.description]
        kinds = {d[0]: d[1] for d in cur.description}
        selected = [
            f'CAST("{n}" AS DECIMAL) AS "{n}"' if _exact_timestamp(n, kinds[n]) else f'"{n}"'
            for n in names
        ]  # fmt: skip
        cur.execute(f"SELECT {', '.join(selected)} FROM {table}")
        rows = {}
        for row in cur.fetchall():
            values = {n.lower(): v for n, v in zip(names, row, strict=True)}
            for n in names:
                if _exact_timestamp(n, kinds[n]) and values[n.lower()] is not None:
                    micros = int(Decimal(values[n.lower()]).scaleb(3))
                    values[n.lower()] = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=micros)
            found = tuple(values[k] for k in key)
            rows[found[0] if len(found) == 1 else found] = values
        return rows
    finally:
        conn.close()


def _ids(ctx: StackContext, query: str) -> list[Any]:
    conn = phoenixdb.connect(Endpoints.from_config(ctx.config).phoenix_url, autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute(query)
        return sorted(row[0] for row in cur.fetchall())
    finally:
        conn.close()


@pytest.fixture
def types_workspace(pipeline: StackContext, private_dir: Path) -> Iterator[Path]:
    _drop(pipeline)
    mariadb(pipeline, MARIADB_SCHEMA)
    psql(pipeline, "postgres", f"CREATE DATABASE {DATABASE}")
    psql(pipeline, DATABASE, POSTGRES_SCHEMA)
    yield workspace(private_dir, SOURCES)
    _drop(pipeline)
    restore_services("cleansing", "loader")


def _us(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _time_us(hours: int, minutes: int = 0, seconds: int = 0, micros: int = 0, sign: int = 1) -> int:
    return sign * (((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + micros)


# The ODS form of each source value (README, "Column types"): the test's own expectations.
MARIADB_EXPECTED = {
    1: {"ti": -128, "tiu": 0, "si": -32768, "siu": 0, "mi": -8388608, "miu": 0, "i": -2147483648, "iu": 0,
        "bi": -(2**63), "biu": Decimal(0), "flag": False, "bit1": False, "bit12": 0, "bit64": Decimal(0),
        "dec_small": Decimal("-99999999.99"),
        "dec_wide": "-99999999999999999999999999999999999.999999999999999999999999999999",
        "dbl": -1.7976931348623157e308, "c": "a", "vc": "b", "tx": "c", "en": "a", "st": None,
        "bn": b"\x00\x00\x00\x00", "vb": b"\x00", "bl": b"\x00", "d": dt.date(1583, 1, 1),
        "dt0": _us("1583-01-01 00:00:00"), "dt6": _us("1583-01-01 00:00:00.000001"),
        "ts6": _us("1970-01-01 00:00:01"), "tm": _time_us(838, 59, 59, sign=-1),
        "tm6": _time_us(838, 59, 59, sign=-1), "yr": 1901, "js": "[]", "cdc_empty": ["ST"]},
    2: {"ti": 127, "tiu": 255, "si": 32767, "siu": 65535, "mi": 8388607, "miu": 16777215,
        "i": 2147483647, "iu": 4294967295, "bi": 2**63 - 1, "biu": Decimal(2**64 - 1), "flag": True,
        "bit1": True, "bit12": 4095, "bit64": Decimal(2**64 - 1), "dec_small": Decimal("99999999.99"),
        "dec_wide": "99999999999999999999999999999999999.999999999999999999999999999999",
        "dbl": 1.7976931348623157e308, "c": "zzzzzzzzzz", "vc": "😀𝄞 four-byte", "tx": "Amélie",
        "en": "c d", "st": "x,y,z", "bn": b"\xff\xff\xff\xff", "vb": b"\x00\xff\x10",
        "bl": bytes.fromhex("89504E470D0A1A0A"), "d": dt.date(9999, 12, 31),
        "dt0": _us("9999-12-31 23:59:59"), "dt6": _us("9999-12-31 23:59:59.999999"),
        "ts6": _us("2038-01-19 03:14:07.999999"), "tm": _time_us(838, 59, 59),
        "tm6": _time_us(838, 59, 59, 999999), "yr": 2155, "cdc_empty": None},
    3: {"vc": None, "vb": None, "cdc_empty": None},
    4: {"biu": Decimal(2**63), "bit12": 5, "bit64": Decimal(2), "vb": None, "bl": None,
        "cdc_empty": ["VB", "BL"], "dec_wide": "0.000000000000000000000000000001",
        "dbl": 4.9e-324, "tx": BIG_TEXT.strip(), "st": "y", "dt6": _us("2024-02-29 12:00:00.500000"),
        "ts6": _us("2024-02-29 12:00:00.123456"), "tm": 0, "tm6": -1, "yr": 2000},
}  # fmt: skip
POSTGRES_EXPECTED = {
    1: {"si": -32768, "i": -(2**31), "bi": -(2**63), "n": "NAN", "n10": Decimal("-99999999.99"),
        "n60": "-999999999999999999999999999999.999999999999999999999999999999",
        "d": -1.7976931348623157e308, "b": False, "c": "a", "tx": "x", "bt": b"\x00",
        "dt": dt.date(1583, 1, 1), "ts": _us("1583-01-01 00:00:00.000001"), "ts0": _us("1583-01-01"),
        "tstz": _us("1583-01-01 00:00:00.000001"), "tm": 0, "iv": "P-178000000Y0M0DT0H0M0S", "mo": "sad",
        "rng": "empty", "u": "00000000-0000-0000-0000-000000000000", "vc": None, "tsv": None,
        "cdc_empty": ["VC", "TSV"]},
    2: {"si": 32767, "i": 2**31 - 1, "bi": 2**63 - 1,
        "n": "123456789012345678901234567890.123456789012345678901",
        "n10": Decimal("99999999.99"), "d": 1.7976931348623157e308, "b": True, "c": "zzzzzzzzzz",
        "vc": "😀𝄞 four-byte", "tx": "Amélie", "bt": bytes.fromhex("89504e470d0a1a0a"),
        "dt": dt.date(9999, 12, 31), "ts": _us("9999-12-31 23:59:59.999999"),
        "ts0": _us("9999-12-31 23:59:59"),
        "tstz": _us("9999-12-31 23:59:59.999999"), "tm": _time_us(24), "ia": [1, 2, -3],
        "iv": "P1Y2M3DT4H5M6.789S",
        "ta": ["a", "", "😀"], "na": ["1.50", "0", "-0.000001"], "ip": "2001:db8::1/64", "mo": "happy",
        "rng": "[1,10)",
        "cdc_empty": None},
    3: {"vc": None, "bt": None, "cdc_empty": None},
    4: {"n10": Decimal("0.01"), "tx": BIG_TEXT.strip(), "tstz": _us("2024-02-29 23:30:00.123456")
        + dt.timedelta(hours=5, minutes=30),
        "tm": _time_us(12, 34, 56, 789012), "ts": _us("2024-02-29 12:00:00.500000"), "bt": None,
        "cdc_empty": ["BT"]},
}  # fmt: skip
# Empty and NULL both read as NULL; CDC_EMPTY names the empty ones ('' and text trimmed to nothing).
MARIADB_EMPTIES = {
    1: {"c": None, "vc": None, "tx": None, "st": None, "vb": None, "bl": None,
        "cdc_empty": ["C", "VC", "TX", "ST", "VB", "BL"]},
    2: {"c": None, "vc": None, "tx": None, "st": None, "vb": None, "bl": None, "cdc_empty": None},
    3: {"c": None, "vc": None, "tx": "a", "st": "x", "vb": b"\x00", "bl": b"\x00", "cdc_empty": ["C", "VC"]},
}  # fmt: skip
POSTGRES_EMPTIES = {
    1: {"c": None, "vc": None, "tx": None, "bt": None, "cdc_empty": ["C", "VC", "TX", "BT"]},
    2: {"c": None, "vc": None, "tx": None, "bt": None, "cdc_empty": None},
    3: {"c": None, "vc": None, "tx": "a", "bt": b"\x00", "cdc_empty": ["C", "VC"]},
}  # fmt: skip


def _assert_values(table: str, rows: dict[Any, dict[str, Any]], expected: dict[int, dict[str, Any]]) -> None:
    wrong = {
        (key, column): (rows.get(key, {}).get(column), want)
        for key, columns in expected.items()
        for column, want in columns.items()
        if rows.get(key, {}).get(column) != want
    }
    assert not wrong, f"{table}: (key, column): (ODS, expected) {wrong}"


def test_every_type_arrives_exactly_and_refused_values_are_dead_lettered(
    types_workspace: Path, pipeline: StackContext
) -> None:
    config = types_workspace
    for name in (MY, PG):
        prepared = cdc(config, "sources", "prepare", name)
        assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    # refused before capture, column named: money (Debezium carries it through a double) and a
    # YEAR holding 0000 (a snapshot reads it as 2000)
    for name, refusal in (
        (PG, "table public.accounts: column balance money: Debezium carries money through a double"),
        (MY, f"table {DATABASE}.years: column yr YEAR holds 0000 in 1 row(s)"),
    ):
        checked = cdc(config, "sources", "check", name)
        errors = [line for line in checked.stdout.splitlines() if line.startswith("error")]
        assert checked.returncode == 1 and len(errors) == 1, checked.stdout + checked.stderr
        assert refusal in errors[0], errors
    synced = cdc(config, "sources", "sync")  # every table's script but the refused one's
    assert synced.returncode == 1, synced.stdout + synced.stderr
    assert f"no script for 1 table(s): {PG}.accounts" in synced.stderr, synced.stderr
    assert "synced" in synced.stdout, synced.stdout

    tables = [f"{MY}.extremes", f"{PG}.extremes", f"{PG}.measurements", f"{PG}.keyless"]
    tables += [f"{MY}.empties", f"{PG}.empties"]
    code, reports = reconcile(config, *tables)  # waits until the pipeline has caught up

    _assert_values(
        "mariadb", _ods(pipeline, f"ODS.{MY.upper()}_{DATABASE.upper()}_EXTREMES"), MARIADB_EXPECTED
    )
    _assert_values(
        "postgres", _ods(pipeline, f"ODS.{PG.upper()}_{DATABASE.upper()}_EXTREMES"), POSTGRES_EXPECTED
    )
    for source, expected in ((MY, MARIADB_EMPTIES), (PG, POSTGRES_EMPTIES)):
        empties = f"ODS.{source.upper()}_{DATABASE.upper()}_EMPTIES"
        _assert_values(empties, _ods(pipeline, empties), expected)
        # the analyst's way to tell an empty value from NULL (README, "Column types")
        assert _ids(pipeline, f"SELECT ID FROM {empties} WHERE 'VC' = ANY(CDC_EMPTY)") == [1, 3]
    assert code == 0, not_ok(reports)
    measurements = _ods(pipeline, f"ODS.{PG.upper()}_{DATABASE.upper()}_MEASUREMENTS", ("taken", "sensor"))
    assert len(measurements) == 3  # the partitions' rows once, under the parent's name

    # snapshot: 0000 became 2000, which reconcile tells (the refusal above said so)
    code, reports = reconcile(config, f"{MY}.years", wait=False)  # the snapshot was waited for above
    assert code == 1 and reports[f"{MY}.{DATABASE}.years"]["different_keys"] == [[1]], not_ok(reports)

    # updates that leave the TOASTed text untouched (one streams YEAR 0000: the binlog's 1900),
    # and the keyless table's UPDATE/DELETE at the source
    mariadb(pipeline, f"USE {DATABASE}; UPDATE extremes SET i = i + 1, yr = 0 WHERE id = 4;")
    psql(pipeline, DATABASE, "UPDATE extremes SET i = i + 1 WHERE id = 4;"
                              " UPDATE keyless SET note = 'changed' WHERE code = 'a';"
                              " DELETE FROM keyless WHERE code = 'b';")  # fmt: skip
    code, reports = reconcile(config, *tables)
    assert code == 0, not_ok(reports)
    assert _ods(pipeline, f"ODS.{PG.upper()}_{DATABASE.upper()}_EXTREMES")[4]["tx"] == BIG_TEXT.strip()
    assert _ods(pipeline, f"ODS.{MY.upper()}_{DATABASE.upper()}_EXTREMES")[4]["yr"] == 0

    # every refused row is missing from the ODS, none stored different (a BC date used to be
    # stored as the same day AD: Debezium 3.5 drops the era); reconcile reports each as rejected,
    # with the stage and the reason of its dead letter, and none lost (exit 3)
    code, reports = reconcile(config, f"{PG}.refused", wait=False)  # caught up above, not changed since
    report = reports[f"{PG}.{DATABASE}.refused"]
    assert code == 3 and not report["lost"], report
    assert {r["kind"] for r in report["rejected_keys"]} == {"missing"}, report
    reasons = {r["key"][0]: f"{r['stage']}: {r['reason']}" for r in report["rejected_keys"]}
    assert sorted(reasons) == [2, 3, 4, 6, 7, 8, 10, 11, 12, 13], report
    refused = _ods(pipeline, f"ODS.{PG.upper()}_{DATABASE.upper()}_REFUSED")
    assert sorted(refused) == [1, 5, 9]
    # NaN and the infinities arrive exactly in a float8[] (reconcile compared them too)
    assert [str(v) for v in refused[9]["da"]] == ["nan", "inf", "-inf", "0.0"]
    # refused by the cleansing stage (from the raw topic) or by the loader (from the cleansed one)
    assert reasons[3].startswith("cleansing: ") and reasons[7].startswith("loader: "), reasons
    assert "tstz: not a timestamp the ODS can hold" in reasons[3]
    # Phoenix's calendar is Julian before 1582: stored, they would shift by days
    for key, column in ((2, "dt"), (12, "dt"), (13, "tstz")):
        assert f"{column}: before 1583-01-01 (Phoenix's calendar is Julian" in reasons[key], reasons[key]
    assert "NULL element" in reasons[6]
    # Phoenix would read it back as '': refused, where it used to be stored as ''
    assert "a NULL element: Phoenix's VARCHAR ARRAY reads one back as an empty string" in reasons[11]
    # cleansed exactly (Kafka Connect's "NaN" is no longer refused as a string), then refused by
    # the loader: Phoenix cannot store them in a DOUBLE or FLOAT column
    cannot = "Phoenix cannot store NaN or an infinity in a FLOAT or DOUBLE column"
    assert f"column d: cannot convert 'NaN' to DOUBLE: {cannot}" in reasons[7], reasons[7]
    assert f"column r: cannot convert '-Infinity' to FLOAT: {cannot}" in reasons[8], reasons[8]
    assert f"column d: cannot convert 'Infinity' to DOUBLE: {cannot}" in reasons[10], reasons[10]
