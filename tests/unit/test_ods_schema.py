"""Cleansed JSON values convert exactly to what Phoenix stores; the ODS tables' DDL."""

import datetime as dt
import math
from decimal import Decimal

import pytest

from cdc_ods import contract
from cdc_ods.ods.schema import (
    Column,
    TableSchema,
    add_column_ddl,
    add_metadata_ddl,
    create_table_ddl,
    epoch_ms_decimal,
    from_epoch_ms_decimal,
)
from cdc_ods.ods.writer import SOFT_DELETE_METADATA, UPSERT_METADATA


def test_values_convert_to_what_phoenix_stores() -> None:
    assert Column("r", "DECIMAL(3,1)").convert("8.3") == Decimal("8.3")
    assert Column("d", "DATE").convert("2001-04-25") == dt.date(2001, 4, 25)
    assert Column("j", "VARCHAR").convert({"a": [1, 2]}) == '{"a":[1,2]}'
    assert Column("tags", "VARCHAR ARRAY").convert(["a", ""]) == ["a", ""]
    # Phoenix would read the NULL back as '': refused (the row is dead-lettered), never replaced
    with pytest.raises(ValueError, match="reads one back as an empty string"):
        Column("tags", "VARCHAR ARRAY").convert(["a", None])
    assert Column("tags", "VARCHAR ARRAY").convert([]) is None
    assert Column("b", "BOOLEAN").convert("true") is True
    assert Column("x", "INTEGER").convert(None) is None
    with pytest.raises(ArithmeticError):
        Column("r", "DECIMAL(3,1)").convert("abc")


def test_timestamps_become_utc_text_with_their_microseconds() -> None:
    """The text Phoenix parses to the microsecond (Avatica's TIMESTAMP would cut to ms)."""
    ts = Column("t", "TIMESTAMP")
    assert ts.convert("2024-02-29T23:59:58.123456Z") == "2024-02-29 23:59:58.123456"
    assert ts.convert("2024-02-29T23:59:58+02:00") == "2024-02-29 21:59:58.000000"
    assert ts.convert("1969-12-31T23:59:59.999999Z") == "1969-12-31 23:59:59.999999"
    assert ts.convert(1709251198123) == "2024-02-29 23:59:58.123000"  # epoch milliseconds
    aware = dt.datetime(2024, 3, 1, 1, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert ts.convert(aware) == "2024-03-01 00:00:00.000005"


def test_timestamps_read_as_decimal_come_back_to_the_microsecond() -> None:
    """What Phoenix's CAST(ts AS DECIMAL) shows, both ways (reconcile reads timestamps so)."""
    for moment, shown in [
        (dt.datetime(2024, 2, 29, 23, 59, 58, 123456), Decimal("1709251198123.456")),
        (dt.datetime(1969, 12, 31, 23, 59, 59, 999999), Decimal("-0.001")),
        (dt.datetime(2024, 2, 29, 23, 59, 58), Decimal("1.709251198E+12")),  # as Phoenix prints it
    ]:
        assert epoch_ms_decimal(moment) == shown
        assert from_epoch_ms_decimal(shown) == moment


def test_a_timestamp_key_is_found_by_its_millisecond_and_then_its_exact_value() -> None:
    schema = TableSchema(
        "m",
        "d",
        "t",
        (Column("id", "INTEGER"), Column("at", "TIMESTAMP"), Column("v", "VARCHAR")),
        ("id", "at"),
    )
    assert schema.key_condition == ('"ID" = ? AND "AT" >= ? AND "AT" < ? AND CAST("AT" AS DECIMAL) = ?')
    at = dt.datetime(1969, 12, 31, 23, 59, 59, 999999)
    assert schema.key_parameters((7, "1969-12-31 23:59:59.999999")) == [
        7, at.replace(microsecond=999000), dt.datetime(1970, 1, 1), Decimal("-0.001"),
    ]  # fmt: skip
    plain = TableSchema("m", "d", "t", (Column("id", "INTEGER"),), ("id",))
    assert (plain.key_condition, plain.key_parameters((7,))) == ('"ID" = ?', [7])


def test_ddl_has_the_key_types_and_metadata_columns() -> None:
    schema = TableSchema(
        "mysql", "maf", "movies", (Column("id", "INTEGER", False), Column("title", "VARCHAR")), ("id",)
    )
    ddl = create_table_ddl(schema)
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS ODS.MYSQL_MAF_MOVIES")
    assert '"ID" INTEGER NOT NULL' in ddl and '"TITLE" VARCHAR' in ddl
    for column in contract.ODS_METADATA_COLUMNS:
        assert column in ddl
    assert "CDC_EMPTY VARCHAR ARRAY" in ddl
    assert 'CONSTRAINT PK PRIMARY KEY ("ID")' in ddl
    # Phoenix may keep the table's metadata a minute instead of reading the catalog per statement
    assert ddl.endswith(") UPDATE_CACHE_FREQUENCY=60000")
    assert add_column_ddl(schema, Column("box_office", "DECIMAL(12,2)")) == (
        'ALTER TABLE ODS.MYSQL_MAF_MOVIES ADD IF NOT EXISTS "BOX_OFFICE" DECIMAL(12,2)'
    )
    # a table an earlier loader created gets the metadata columns added since
    assert (
        add_metadata_ddl(schema)
        == "ALTER TABLE ODS.MYSQL_MAF_MOVIES ADD IF NOT EXISTS CDC_EMPTY VARCHAR ARRAY"
    )
    assert sorted(UPSERT_METADATA) == sorted(contract.ODS_METADATA_COLUMNS)
    assert set(UPSERT_METADATA) - set(SOFT_DELETE_METADATA) == {contract.CDC_EMPTY}


def test_only_scalar_text_and_binary_columns_have_an_empty_value() -> None:
    assert Column("s", "VARCHAR").empty_value == "" and Column("b", "VARBINARY").empty_value == b""
    assert Column("a", "VARCHAR ARRAY").empty_value is None and Column("n", "INTEGER").empty_value is None
    schema = TableSchema(
        "m",
        "d",
        "t",
        (Column("id", "INTEGER"), Column("name", "VARCHAR"), Column("raw", "VARBINARY")),
        ("id",),
    )
    assert schema.can_be_empty == (("name", "NAME"), ("raw", "RAW"))


def test_a_non_finite_double_is_read_by_its_name_where_phoenix_can_store_it() -> None:
    converted = Column("d", "DOUBLE ARRAY").convert([1, "Infinity", "NaN", "-Infinity"])
    assert converted[:2] == [1.0, math.inf] and math.isnan(converted[2]) and converted[3] == -math.inf
    assert Column("f", "FLOAT ARRAY").convert(["-Infinity"]) == [-math.inf]
    for scalar in (Column("d", "DOUBLE"), Column("f", "FLOAT")):  # Phoenix 5.2.1 refuses them there
        for name in ("NaN", "Infinity", "-Infinity"):
            with pytest.raises(
                ValueError, match="cannot store NaN or an infinity in a FLOAT or DOUBLE column"
            ):
                scalar.convert(name)
        assert scalar.convert(2) == 2.0 and scalar.convert("-1.5") == -1.5


def test_key_columns_are_declared_first_in_the_keys_order() -> None:
    columns = (
        Column("payment_id", "INTEGER"),
        Column("amount", "DECIMAL(5,2)"),
        Column("payment_date", "TIMESTAMP"),
    )
    ddl = create_table_ddl(
        TableSchema("pagila", "pagila", "payment", columns, ("payment_date", "payment_id"))
    )
    assert ddl.index('"PAYMENT_DATE"') < ddl.index('"PAYMENT_ID"') < ddl.index('"AMOUNT"')
    assert 'CONSTRAINT PK PRIMARY KEY ("PAYMENT_DATE", "PAYMENT_ID")' in ddl


def test_contract_names() -> None:
    assert contract.cleansed_topic("postgres", "maf", "episodes") == "ods.postgres.maf.episodes"
    assert contract.ods_table("postgres", "maf", "episodes") == "ODS.POSTGRES_MAF_EPISODES"
    assert contract.parse_cleansed_topic("ods.mysql.maf.movies") == ("mysql", "maf", "movies")
    with pytest.raises(ValueError):
        contract.parse_cleansed_topic("mysql.maf.movies")
    assert contract.binlog_position("mariadb-bin.000003", 1234, 2) == 3 * 10**13 + 1234 * 10**3 + 2
