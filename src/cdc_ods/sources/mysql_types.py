"""MariaDB/MySQL column types -> Debezium's form -> the cleansed contract -> Phoenix.

With the connector options of `mysql.py` and `base.COMMON_CONNECTOR_OPTIONS`
(decimal.handling.mode=string, time.precision.mode=adaptive_time_microseconds,
binary.handling.mode=hex, bigint.unsigned.handling.mode=precise, Decimals as JSON numbers).
"""

from __future__ import annotations

import re

from cdc_ods import contract
from cdc_ods.sources.base import CatalogColumn
from cdc_ods.sources.types import (
    DATE,
    TIME_AS_MICROSECONDS,
    ZONED_TIMESTAMP,
    ColumnType,
    EventSource,
    carried,
    decimal,
    epoch_timestamp,
    json_document,
    refused,
    text,
)

EVENT_SOURCE = EventSource(
    "STRUCT<`ts_ms` BIGINT, `file` STRING, `pos` BIGINT, `row` INT>",
    "CAST(SPLIT(`source`->`file`, '.')[-1] AS BIGINT) * "
    f"{contract.BINLOG_FILE_FACTOR} + `source`->`pos` * {contract.BINLOG_POS_FACTOR}"
    " + COALESCE(`source`->`row`, 0)",
)

# BOOLEAN is TINYINT(1) in the catalog, but Debezium sends what the DDL said: true/false for
# a BOOLEAN column, a number for a TINYINT(1); both arrive as text.
_TINYINT1_AS_BOOLEAN = ColumnType(
    "STRING",
    "BOOLEAN",
    "CASE WHEN {v} IN ('true', '1') THEN TRUE WHEN {v} IN ('false', '0') THEN FALSE END",
    rejects=(
        (
            "{v} IS NOT NULL AND {v} NOT IN ('true', 'false', '1', '0')",
            "{name} is TINYINT(1) with a value other than 0 and 1 (its ODS column is BOOLEAN)",
        ),
    ),
)
# signed -> (KSQL type, Phoenix type); unsigned one size up holds the range
_INTEGERS = {
    "tinyint": (("INT", "TINYINT"), ("INT", "SMALLINT")),
    "smallint": (("INT", "SMALLINT"), ("INT", "INTEGER")),
    "mediumint": (("INT", "INTEGER"), ("INT", "INTEGER")),
    "int": (("INT", "INTEGER"), ("BIGINT", "BIGINT")),
    "integer": (("INT", "INTEGER"), ("BIGINT", "BIGINT")),
    # unsigned: the exact value as a Decimal (precise mode), a JSON number, read as text
    "bigint": (("BIGINT", "BIGINT"), ("STRING", "DECIMAL(20,0)")),
}
_TEXT = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
_BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
GEOMETRY = frozenset(
    {"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
     "geometrycollection"}
)  # fmt: skip
_REFUSED = {
    "inet6": "Debezium 3.5's MariaDB DDL parser does not know INET6",
    "inet4": "Debezium 3.5's MariaDB DDL parser does not know INET4",
    "uuid": "Debezium 3.5's MariaDB DDL parser does not know MariaDB's UUID type",
}
# The binlog stores YEAR as the year minus 1900 in one byte, and 0 for YEAR 0000: Debezium's
# binlog reader turns that 0 into 1900, a year a YEAR column cannot hold (1901-2155 and 0000),
# so 1900 in a streamed change is 0000. A snapshot reads 0000 through JDBC as 0, which Debezium
# turns into 2000 like a two-digit year: `MySqlSource.check` refuses a YEAR column that holds
# 0000 before its table is snapshot.
_YEAR = ColumnType("INT", "INTEGER", "CASE WHEN {v} = 1900 THEN 0 ELSE {v} END")
# the types whose DDL Debezium's parser fails on: statements of tables it does not capture that
# declare them are not parsed at all (see MySqlSource.connector_config)
PARSER_UNKNOWN_TYPES = ("inet4", "inet6", "uuid")


def column_type(column: CatalogColumn) -> ColumnType:
    t = column.data_type
    full = column.column_type.lower()
    if t in _REFUSED:
        return refused(_REFUSED[t])
    if "compressed" in full:  # MariaDB's column compression: `varchar(9) /*M!100301 COMPRESSED*/`
        return refused("Debezium 3.5's MariaDB DDL parser cannot read a COMPRESSED column's declaration")
    if t == "tinyint" and re.fullmatch(r"tinyint\(1\)( unsigned)?( zerofill)?", full):
        return _TINYINT1_AS_BOOLEAN
    if t in _INTEGERS:
        raw, phoenix = _INTEGERS[t][column.unsigned]
        return carried(raw, phoenix)
    if t in ("decimal", "numeric"):
        return decimal(column.precision, column.scale)
    if t == "float":  # four bytes at the source and in the ODS
        return carried("DOUBLE", "FLOAT")
    if t in ("double", "real"):
        return carried("DOUBLE", "DOUBLE")
    if t == "bit":
        return _bits(column)
    if column.json:  # MariaDB's JSON is LONGTEXT with a json_valid() check
        return json_document()
    if t in _TEXT:
        return text()
    if t in _BINARY:
        return carried("STRING", "VARBINARY")  # hex (binary.handling.mode=hex)
    if t == "date":
        return DATE
    if t == "datetime":
        return epoch_timestamp(column.datetime_precision or 0)
    if t == "timestamp":
        return ZONED_TIMESTAMP
    if t == "time":
        return TIME_AS_MICROSECONDS
    if t == "year":
        return _YEAR
    if t in GEOMETRY:  # Debezium's {"srid", "wkb"} struct, kept as its JSON text
        return carried("STRING", "VARCHAR")
    return refused(f"the pipeline has no mapping for {t} ({column.column_type})")


def _bits(column: CatalogColumn) -> ColumnType:
    """BIT(1) arrives as a boolean. BIT(n>1) arrives as Debezium's Bits: the bytes of the value,
    least significant first; the ODS keeps the number (BIGINT, or DECIMAL(20,0) for BIT(64))."""
    width = column.precision or 1
    if width == 1:
        return carried("BOOLEAN", "BOOLEAN")
    return ColumnType("STRING", "BIGINT" if width < 64 else "DECIMAL(20,0)", "CDC_BITS({v})")
