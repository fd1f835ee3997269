"""Each source kind's type map: Debezium's form, the cleansing, the Phoenix type, or a refusal
with its reason (README, "Column types")."""

from __future__ import annotations

import re

import pytest

from cdc_ods.sources import CatalogColumn, column_type
from cdc_ods.sources.mysql import ddl_filter


def mapped(kind: str, data_type: str, **catalog: object) -> tuple[str, str, str]:
    found = column_type(kind, CatalogColumn("c", data_type, **catalog))  # type: ignore[arg-type]
    assert found.refusal is None, found.refusal
    return found.raw, found.cleanse, found.phoenix


@pytest.mark.parametrize(
    ("data_type", "catalog", "expected"),
    [
        ("int", {"column_type": "int(11)"}, ("INT", "{v}", "INTEGER")),
        ("int", {"column_type": "int(10) unsigned", "unsigned": True}, ("BIGINT", "{v}", "BIGINT")),
        # precise mode: a Decimal the JSON converter writes as a number (decimal.format=NUMERIC)
        (
            "bigint",
            {"column_type": "bigint(20) unsigned", "unsigned": True},
            ("STRING", "{v}", "DECIMAL(20,0)"),
        ),
        ("tinyint", {"column_type": "tinyint(4)"}, ("INT", "{v}", "TINYINT")),
        ("smallint", {"column_type": "smallint(5) unsigned", "unsigned": True}, ("INT", "{v}", "INTEGER")),
        ("decimal", {"precision": 3, "scale": 1}, ("STRING", "{v}", "DECIMAL(3,1)")),
        ("decimal", {"precision": 65, "scale": 30}, ("STRING", "{v}", "VARCHAR")),  # exact text
        ("float", {}, ("DOUBLE", "{v}", "FLOAT")),
        ("bit", {"precision": 1}, ("BOOLEAN", "{v}", "BOOLEAN")),
        ("bit", {"precision": 12}, ("STRING", "CDC_BITS({v})", "BIGINT")),
        ("bit", {"precision": 64}, ("STRING", "CDC_BITS({v})", "DECIMAL(20,0)")),
        ("datetime", {"datetime_precision": 6}, ("BIGINT", "CDC_TS_MICROS({v})", "TIMESTAMP")),
        ("datetime", {"datetime_precision": 0}, ("BIGINT", "CDC_TS_MILLIS({v})", "TIMESTAMP")),
        ("timestamp", {}, ("STRING", "CDC_TS_ISO({v})", "TIMESTAMP")),
        ("time", {}, ("BIGINT", "{v}", "BIGINT")),  # microseconds: +-838 h, exact
        ("date", {}, ("INT", "CAST(FROM_DAYS({v}) AS STRING)", "DATE")),
        # a streamed YEAR 0000 arrives as 1900, which a YEAR column cannot hold
        ("year", {}, ("INT", "CASE WHEN {v} = 1900 THEN 0 ELSE {v} END", "INTEGER")),
        ("enum", {"column_type": "enum('a','b')"}, ("STRING", "TRIM(CDC_NFC({v}))", "VARCHAR")),
        ("set", {}, ("STRING", "TRIM(CDC_NFC({v}))", "VARCHAR")),
        ("longtext", {"json": True}, ("STRING", "{v}", "VARCHAR")),
        ("blob", {}, ("STRING", "{v}", "VARBINARY")),
        ("geometry", {}, ("STRING", "{v}", "VARCHAR")),
    ],
)
def test_mysql_family_types(data_type: str, catalog: dict, expected: tuple[str, str, str]) -> None:
    assert mapped("mariadb", data_type, **catalog) == expected


@pytest.mark.parametrize(
    ("data_type", "catalog", "expected"),
    [
        ("numeric", {"precision": 3, "scale": 1}, ("STRING", "{v}", "DECIMAL(3,1)")),
        ("numeric", {}, ("STRING", "{v}", "VARCHAR")),  # unconstrained: exact text, NaN included
        ("numeric", {"precision": 60, "scale": 30}, ("STRING", "{v}", "VARCHAR")),
        ("timestamp with time zone", {}, ("STRING", "CDC_TS_ISO({v})", "TIMESTAMP")),
        (
            "timestamp without time zone",
            {"datetime_precision": 6},
            ("BIGINT", "CDC_TS_MICROS({v})", "TIMESTAMP"),
        ),
        ("time without time zone", {}, ("BIGINT", "{v}", "BIGINT")),
        ("array", {"element_type": "_text"}, ("ARRAY<STRING>", "{v}", "VARCHAR ARRAY")),
        ("array", {"element_type": "_int4"}, ("ARRAY<INT>", "{v}", "INTEGER ARRAY")),
        ("array", {"element_type": "_numeric"}, ("ARRAY<STRING>", "{v}", "VARCHAR ARRAY")),
        ("uuid", {}, ("STRING", "{v}", "VARCHAR")),
        ("jsonb", {}, ("STRING", "{v}", "VARCHAR")),
        ("boolean", {}, ("BOOLEAN", "{v}", "BOOLEAN")),
        ("interval", {}, ("STRING", "{v}", "VARCHAR")),  # ISO 8601: months stay months
        ("bytea", {}, ("STRING", "{v}", "VARBINARY")),
        ("user-defined", {}, ("STRING", "TRIM(CDC_NFC({v}))", "VARCHAR")),  # an enum's label
    ],
)
def test_postgres_types(data_type: str, catalog: dict, expected: tuple[str, str, str]) -> None:
    assert mapped("postgres", data_type, **catalog) == expected


@pytest.mark.parametrize(
    ("kind", "data_type", "catalog", "reason"),
    [
        ("mariadb", "inet6", {}, "does not know INET6"),
        ("mariadb", "uuid", {}, "UUID"),
        ("postgres", "time with time zone", {}, "the offset is lost"),
        ("postgres", "array", {"element_type": "_date"}, "arrays of date are not carried"),
        ("postgres", "bit varying", {}, "bit strings"),
        ("postgres", "polygon", {}, "no mapping for polygon"),
        ("postgres", "money", {}, "through a double"),
    ],
)
def test_what_cannot_be_carried_exactly_is_refused_with_a_reason(
    kind: str, data_type: str, catalog: dict, reason: str
) -> None:
    refusal = column_type(kind, CatalogColumn("c", data_type, **catalog)).refusal  # type: ignore[arg-type]
    assert refusal is not None and reason in refusal


def test_postgres_text_refuses_debeziums_toast_placeholder() -> None:
    rejects = column_type("postgres", CatalogColumn("c", "text")).rejects
    assert any("__debezium_unavailable_value" in condition for condition, _ in rejects)


@pytest.mark.parametrize(
    ("statement", "filtered"),
    [
        ("CREATE TABLE scratch (id INT PRIMARY KEY,\n  addr INET6 NOT NULL)", True),  # across lines
        ("create table t (`ip` inet4, u UUID)", True),
        ("ALTER TABLE other ADD COLUMN ip INET6", True),
        ("ALTER TABLE kept ADD COLUMN ip INET6", False),  # a captured table: parsed, fails, named
        ("CREATE TABLE kept_archive (ip INET6)", True),  # another table whose name starts alike
        ("CREATE TABLE t (id INT, uuid CHAR(36))", False),  # a column named uuid is no UUID type
        ("ALTER TABLE t ADD COLUMN uuid CHAR(36)", False),
        ("CREATE TABLE t (id INT PRIMARY KEY)", False),
        # statements that never change a table's columns, which Debezium's default filter skips
        (
            "CREATE DEFINER=`root`@`localhost` FUNCTION `f`(p INT) RETURNS int(11)\nBEGIN\n RETURN p;\nEND",
            True,
        ),
        ("CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` VIEW v AS SELECT * FROM kept", True),
        (
            "CREATE DEFINER=`root`@`localhost` TRIGGER t BEFORE INSERT ON kept FOR EACH ROW SET NEW.a = 1",
            True,
        ),
        ("GRANT SELECT ON maf.kept TO 'x'@'%'", True),
        ("# Dummy event replacing event type 160", True),
        ("CREATE TABLE view_log (id INT, trigger_name VARCHAR(9))", False),
        ("ALTER TABLE kept ADD COLUMN view INT", False),
    ],
)
def test_debezium_parses_every_table_statement_except_uncaptured_ones_with_types_it_does_not_know(
    statement: str, filtered: bool
) -> None:
    # Debezium splits the option at unescaped commas and matches each expression against the
    # whole statement, case-blind, `.` across lines: Python's re reads these expressions alike
    patterns = re.split(r"(?<!\\),", ddl_filter(["kept", "debezium_signal"]))
    assert len(patterns) == 5
    found = [p for p in patterns if re.fullmatch(p, statement, re.IGNORECASE | re.DOTALL)]
    assert bool(found) is filtered, found
