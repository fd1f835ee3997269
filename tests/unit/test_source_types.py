"""Each source kind's type map: Debezium's form, the cleansing, the Phoenix type, or a refusal
with its reason (README, "Column types")."""

from __future__ import annotations

import re

import pytest

from cdc_ods.sources import CatalogColumn, column_type
from cdc_ods.sources.mysql import (
    DDL_FILTER_OPTION,
    ddl_filter,
    keep_skipped,
    skip_clause,
    skip_statement,
    skipped_statements,
    statement_pattern,
    statements_naming,
)


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
        ("mariadb", "varchar", {"column_type": "varchar(9) /*M!100301 COMPRESSED*/"}, "COMPRESSED"),
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


def _debezium_reads(option: str) -> list[str]:
    """The expressions Debezium's RegExSplitter makes of a filter option: split at commas not
    escaped by a backslash (a backslash escapes any next character), `\\,` read as `,`."""
    parts, start, i = [], 0, 0
    while i < len(option):
        if option[i] == "\\":
            i += 1
        elif option[i] == ",":
            parts.append(option[start:i])
            start = i + 1
        i += 1
    parts.append(option[start:])
    return [p.strip().replace("\\,", ",") for p in parts if p]


# syntax Debezium 3.5's MariaDB parser cannot read in statements MariaDB 10.11 runs (checked
# with its MariaDbAntlrDdlParser), with commas, quotes, a backslash and 4-byte UTF-8
UNREADABLE = "CREATE TABLE scratch (id INT PRIMARY KEY,\n  note VARCHAR(10) COMPRESSED DEFAULT 'a,\\\\b 🦀')"
CAPTURED = {
    "database.include.list": "cdc_ddl",
    "table.include.list": r"cdc_ddl\.kept,cdc_ddl\.other",
    DDL_FILTER_OPTION: ddl_filter(["kept", "other", "debezium_signal"]),
}


def test_a_skipped_statement_matches_itself_alone_through_debeziums_splitter() -> None:
    pattern = statement_pattern(UNREADABLE)
    assert _debezium_reads(pattern) == [pattern]  # one expression, whatever the statement holds
    flags = re.IGNORECASE | re.DOTALL
    assert re.fullmatch(pattern, UNREADABLE, flags)
    assert (
        re.fullmatch(pattern, "  " + UNREADABLE.replace("\n  ", " ") + "\n", flags) is None
    )  # Debezium trims
    assert re.fullmatch(pattern, UNREADABLE.replace("\n  ", "\r\n\t"), flags)  # white space is white space
    assert re.fullmatch(pattern, UNREADABLE.replace("(10)", "(11)"), flags) is None
    assert re.fullmatch(pattern, UNREADABLE.replace("scratch", "scratch2"), flags) is None


def test_the_watchdog_skips_only_unreadable_statements_of_tables_not_captured() -> None:
    skipped = skip_statement(CAPTURED, UNREADABLE)
    assert skipped is not None
    expressions = _debezium_reads(skipped[DDL_FILTER_OPTION])
    assert expressions[:-1] == _debezium_reads(CAPTURED[DDL_FILTER_OPTION])
    assert re.fullmatch(expressions[-1], UNREADABLE, re.IGNORECASE | re.DOTALL)
    assert skipped_statements(skipped) == [" ".join(UNREADABLE.split())]
    assert skip_statement(skipped, UNREADABLE) is None  # already skipped: failing again is not the filter's
    for names_a_captured_table in (
        "ALTER TABLE kept ADD PERIOD FOR p(s, e)",
        "ALTER TABLE `cdc_ddl`.`Other` ADD COLUMN c VARCHAR(9) COMPRESSED",
        "CREATE TABLE copy (c VARCHAR(9) COMPRESSED) AS SELECT * FROM kept",
        "ALTER TABLE debezium_signal ADD PERIOD FOR p(s, e)",
    ):
        assert skip_statement(CAPTURED, names_a_captured_table) is None, names_a_captured_table
    assert skip_statement(CAPTURED, "ALTER TABLE kept_archive ADD PERIOD FOR p(s, e)") is not None
    hand_written = {k: v for k, v in CAPTURED.items() if k != DDL_FILTER_OPTION}
    assert skip_statement(hand_written, UNREADABLE) is None  # setting it would drop Debezium's default


def test_connectors_apply_keeps_what_the_watchdog_skipped() -> None:
    running = skip_statement(CAPTURED, UNREADABLE)
    assert running is not None
    assert skipped_statements(CAPTURED) == []  # generated expressions are not taken for skips
    regenerated = {**CAPTURED, DDL_FILTER_OPTION: ddl_filter(["kept", "debezium_signal"])}
    kept = keep_skipped(running, regenerated)
    assert skipped_statements(kept) == skipped_statements(running)
    assert kept[DDL_FILTER_OPTION].startswith(regenerated[DDL_FILTER_OPTION] + ",")
    assert keep_skipped(running, kept) == kept  # once
    assert keep_skipped(running, {"connector.class": "x"}) == {"connector.class": "x"}


def test_a_clause_debezium_cannot_apply_is_skipped_in_its_table_only_when_not_captured() -> None:
    skipped = skip_clause(CAPTURED, "cdc_ddl.scratch", "RENAME COLUMN peer TO peer_addr")
    assert skipped is not None
    expression = _debezium_reads(skipped[DDL_FILTER_OPTION])[-1]
    flags = re.IGNORECASE | re.DOTALL
    assert re.fullmatch(expression, "ALTER TABLE `scratch`\n RENAME COLUMN peer TO peer_addr", flags)
    assert not re.fullmatch(expression, "ALTER TABLE kept RENAME COLUMN peer TO peer_addr", flags)
    assert not re.fullmatch(expression, "ALTER TABLE scratch RENAME COLUMN peer TO other", flags)
    assert skipped_statements(skipped) == ["ALTER TABLE scratch RENAME COLUMN peer TO peer_addr"]
    assert skip_clause(skipped, "cdc_ddl.scratch", "RENAME COLUMN peer TO peer_addr") is None  # once
    assert skip_clause(CAPTURED, "cdc_ddl.kept", "RENAME COLUMN peer TO peer_addr") is None
    # another database's kept: its entry would also match the captured kept's statements
    assert skip_clause(CAPTURED, "elsewhere.kept", "RENAME COLUMN peer TO peer_addr") is None
    regenerated = {**CAPTURED, DDL_FILTER_OPTION: ddl_filter(["kept", "debezium_signal"])}
    assert skipped_statements(keep_skipped(skipped, regenerated)) == skipped_statements(skipped)
    # what `cdc connectors apply` warns about when it starts capturing scratch
    assert statements_naming(skipped_statements(skipped), ["scratch", "scratch_log"]) == {
        "scratch": ["ALTER TABLE scratch RENAME COLUMN peer TO peer_addr"]
    }
