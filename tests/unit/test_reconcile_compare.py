"""Canonical values and the bucketed comparison, on plain data."""

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest

from cdc_ods.dlq import DeadLetter
from cdc_ods.ods.schema import Column, TableSchema
from cdc_ods.reconcile import readers
from cdc_ods.reconcile.canonical import canonical
from cdc_ods.reconcile.compare import compare
from cdc_ods.reconcile.rejections import letter_key, rejections

SCHEMA = TableSchema(
    "mysql",
    "maf",
    "t",
    (Column("id", "INTEGER"), Column("v", "VARCHAR"), Column("d", "DECIMAL(5,2)")),
    ("id",),
)


def test_equal_data_in_different_representations_is_equal() -> None:
    ts = Column("ts", "TIMESTAMP")
    aware = dt.datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert canonical(ts, aware) == canonical(ts, dt.datetime(2024, 1, 1, 10, 0, 0, 123456))
    assert canonical(Column("d", "DECIMAL(5,2)"), Decimal("8.30")) == canonical(
        Column("d", "DECIMAL(5,2)"), "8.3"
    )
    assert canonical(Column("b", "BOOLEAN"), 1) is True
    text = Column("j", "VARCHAR")
    assert canonical(text, '{"b": 1, "a": 2}') == canonical(text, {"a": 2, "b": 1})
    assert canonical(text, " Amélie ") == canonical(text, "Ame\u0301lie")
    assert canonical(Column("tags", "VARCHAR ARRAY"), ["a", " b"]) == ["a", "b"]


def test_timestamps_compare_to_the_microsecond() -> None:
    ts = Column("ts", "TIMESTAMP")
    assert canonical(ts, dt.datetime(2024, 1, 1, 10, 0, 0, 123456)) != canonical(
        ts, dt.datetime(2024, 1, 1, 10, 0, 0, 123000)
    )


def test_compare_names_missing_extra_and_different_keys() -> None:
    source = [(1, "a", Decimal("1.00")), (2, "b", Decimal("2.00")), (3, "c", Decimal("3.00"))]
    ods = [(1, "a", Decimal("1.0")), (2, "B", Decimal("2.00")), (4, "d", Decimal("4.00"))]
    report = compare(SCHEMA, lambda: source, lambda: ods, buckets=4)
    assert (report.source_rows, report.ods_rows) == (3, 3)
    assert report.missing == [[3]] and report.extra == [[4]] and report.different == [[2]]
    assert not report.ok
    assert compare(SCHEMA, lambda: source, lambda: list(reversed(source)), buckets=4).ok


def _letter(topic: str, key: bytes, reason: str, at_ms: int, stage: str = "loader") -> DeadLetter:
    return DeadLetter(stage, reason, topic, 0, 0, key, b"{}", at_ms)


def test_a_difference_a_stage_dead_lettered_is_rejected_and_the_others_are_lost() -> None:
    source = [(1, "a", None), (2, "b", None), (3, "c", None)]
    ods = [(1, "a", None), (3, "C", None)]
    topics = {"mysql.maf.t", "ods.mysql.maf.t"}
    letters = [
        _letter("ods.mysql.maf.t", b'{"ID": 3}', "older reason", 1),
        _letter("ods.mysql.maf.t", b'{"ID": 3}', "newest reason", 2),
        _letter("mysql.maf.other", b'{"id": 2}', "another table's key 2", 3),
    ]
    report = compare(
        SCHEMA, lambda: source, lambda: ods, rejected=lambda: rejections(SCHEMA, topics, letters)
    )
    assert report.missing == [[2]] and report.lost  # no letter of this table names key 2
    assert report.rejected == [
        {"key": [3], "kind": "different", "stage": "loader", "reason": "newest reason"}
    ]
    assert (report.missing_count, report.different_count, report.rejected_count) == (1, 0, 1)

    rejected_only = compare(
        SCHEMA, lambda: source[::2], lambda: ods, rejected=lambda: rejections(SCHEMA, topics, letters)
    )
    assert not rejected_only.lost and not rejected_only.ok
    assert rejected_only.as_dict()["rejected"] == 1


def test_dead_letters_are_read_only_when_a_table_differs() -> None:
    rows = [(1, "a", None)]

    def unreachable() -> dict:
        raise AssertionError("the DLQ was read for an equal table")

    assert compare(SCHEMA, lambda: rows, lambda: rows, rejected=unreachable).ok


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (b'{"id": 7}', (7,)),
        (b'{"schema": {}, "payload": {"id": 7}}', (7,)),  # the JSON converter with schemas
        (b'{"other": 7}', None),
        (b"not json", None),
        (None, None),
        (b"[7]", None),
    ],
)
def test_a_letters_key_in_reconciles_form(key: bytes | None, expected: tuple | None) -> None:
    assert letter_key(SCHEMA, key) == expected


def test_equal_rows_with_a_sequence_gap_are_not_ok() -> None:
    """Reconcile fails on the loader's sequence problems even when the rows agree."""
    from cdc_ods.ods.sequence import Totals

    rows = [(1, "a", None)]
    report = compare(SCHEMA, lambda: rows, lambda: rows)
    report.sequence = Totals(checked=10)
    assert report.ok and report.as_dict()["sequence"]["checked"] == 10
    report.sequence = Totals(checked=10, gaps=2, last_problem="gap")
    assert not report.ok and not report.sequence_ok


def test_canonical_forms_for_types_the_demo_does_not_use() -> None:
    import base64

    from cdc_ods.ods.schema import Column
    from cdc_ods.reconcile.canonical import canonical

    point = bytes(4) + bytes.fromhex("0101000000000000000000f03f000000000000f03f")  # SRID 0, POINT(1 1)
    geometry = Column("g", "VARCHAR", source_type="geometry")
    ods = '{"wkb":"' + base64.b64encode(point[4:]).decode() + '","srid":null}'
    assert canonical(geometry, point) == canonical(geometry, ods)
    assert canonical(Column("w", "FLOAT"), 22.2) == canonical(Column("w", "FLOAT"), 22.200001)
    assert canonical(Column("w", "DOUBLE"), 22.2) != canonical(Column("w", "DOUBLE"), 22.200001)
    # an empty value is itself (the ODS reader restores it from CDC_EMPTY), text trimmed to nothing too
    assert canonical(Column("s", "VARCHAR"), "") == canonical(Column("s", "VARCHAR"), "  ") == ""
    assert canonical(Column("b", "VARBINARY"), b"") == "" and canonical(Column("s", "VARCHAR"), None) is None
    # an empty element is kept as itself (a NULL element never reaches the ODS: dead-lettered)
    assert canonical(Column("a", "VARCHAR ARRAY"), ["x", ""]) == ["x", ""]


class _Cursor:
    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows
        self.statements: list[str] = []
        self.itersize = 0

    def execute(self, statement: str) -> None:
        self.statements.append(statement)

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.rows)


class _Connection:
    def __init__(self, cursor: _Cursor) -> None:
        self._cursor = cursor

    def cursor(self) -> _Cursor:
        return self._cursor

    def close(self) -> None:
        return None


def test_the_ods_reader_restores_the_empty_values_cdc_empty_names(monkeypatch: pytest.MonkeyPatch) -> None:
    columns = (
        Column("id", "INTEGER"),
        Column("s", "VARCHAR"),
        Column("b", "VARBINARY"),
        Column("n", "VARCHAR"),
    )
    schema = TableSchema("m", "d", "t", columns, ("id",))
    stored = [(1, None, None, None, ["S", "B"]), (2, None, None, None, None), (3, "x", b"\x01", None, ["N"])]
    cursor = _Cursor(stored)
    monkeypatch.setattr(readers, "connect", lambda url: _Connection(cursor))
    monkeypatch.setattr(readers, "ods_columns", lambda conn, table: {"ID", "S", "B", "N", "CDC_EMPTY"})
    ods = list(readers.ods_rows("http://pqs/", schema))
    assert cursor.statements[0].startswith('SELECT "ID", "S", "B", "N", CDC_EMPTY FROM ODS.M_D_T')
    assert ods == [(1, "", b"", None), (2, None, None, None), (3, "x", b"\x01", "")]
    source = [(1, "", b"", None), (2, None, None, None), (3, "x", b"\x01", "  ")]  # '  ': trimmed to ''
    assert compare(schema, lambda: source, lambda: ods).ok
    assert compare(schema, lambda: [(2, "", None, None)], lambda: ods[1:2]).different == [
        [2]
    ]  # '' is no NULL

    # a table no loader has met since CDC_EMPTY exists: its empty values read as NULL, and differ
    monkeypatch.setattr(readers, "ods_columns", lambda conn, table: {"ID", "S", "B", "N"})
    cursor.rows = [row[:-1] for row in stored]
    report = compare(schema, lambda: source, lambda: list(readers.ods_rows("http://pqs/", schema)))
    assert report.different == [[1], [3]]


def test_values_compare_in_the_form_the_ods_keeps() -> None:
    """Each source form against the ODS's (README, "Column types")."""
    time = Column("t", "BIGINT", source_type="time")
    assert canonical(time, dt.timedelta(hours=-838, minutes=-59, seconds=-59)) == canonical(
        time, -3020399000000
    )
    pg_time = Column("t", "BIGINT", source_type="time without time zone")
    assert canonical(pg_time, "24:00:00") == canonical(pg_time, 86_400_000_000)
    bits = Column("b", "BIGINT", source_type="bit")
    assert canonical(bits, b"\x0f\xff") == canonical(bits, 4095)
    wide = Column("d", "VARCHAR", source_type="decimal")
    assert canonical(wide, Decimal("1.500000000000000000000000000000")) == canonical(wide, "1.5")
    assert canonical(Column("n", "VARCHAR", source_type="numeric"), "NAN") == "NaN"
    interval = Column("i", "VARCHAR", source_type="interval")
    assert canonical(interval, "P1Y2M3DT4H5M6.789S") == canonical(interval, "P1Y2M3DT4H5M6.789S")
    assert canonical(interval, "P-1M2DT-1S") == canonical(interval, "P0Y-1M2DT0H0M-1S")
    document = Column("j", "VARCHAR", source_type="json")
    assert canonical(document, '{"n": 1e400, "a": 2.5}') == canonical(document, '{"a":2.5,"n":1e400}')
    assert canonical(document, '"a string"') == canonical(document, '"a string"') != "a string"
    assert canonical(Column("d", "DOUBLE"), 4.9e-324) != canonical(Column("d", "DOUBLE"), 0.0)


def test_a_date_python_cannot_hold_is_compared_as_text_never_a_crash() -> None:
    date = Column("d", "DATE")
    assert canonical(date, "0044-03-15 BC") != canonical(date, dt.date(44, 3, 15))
    assert canonical(date, "infinity") == "infinity"
