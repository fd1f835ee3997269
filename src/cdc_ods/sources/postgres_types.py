"""PostgreSQL column types -> Debezium's form -> the cleansed contract -> Phoenix.

With the connector options of `postgres.py` and `base.COMMON_CONNECTOR_OPTIONS`
(decimal.handling.mode=string, time.precision.mode=adaptive_time_microseconds,
binary.handling.mode=hex, interval.handling.mode=string).
"""

from __future__ import annotations

import dataclasses

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
    exact_text,
    json_document,
    refused,
    text,
)

# `lsn` is the change's; an incremental snapshot's reads have none, but their `sequence`
# ("[last commit LSN, LSN]") holds the streaming position they were read at: a change with a
# higher LSN is newer than the row read (the snapshot window drops a read that a change in the
# window overtook), so `cdc dlq replay` of an older change never overwrites it
EVENT_SOURCE = EventSource(
    "STRUCT<`ts_ms` BIGINT, `lsn` BIGINT, `sequence` STRING>",
    "COALESCE(`source`->`lsn`, CAST(EXTRACTJSONFIELD(`source`->`sequence`, '$[1]') AS BIGINT))",
)

# Debezium's stand-in for a TOASTed value an UPDATE left unchanged, when the table's replica
# identity is not FULL (`cdc sources prepare` sets FULL): never stored over the real value.
UNAVAILABLE = "__debezium_unavailable_value"
_TOAST_REJECT = (
    f"{{v}} = '{UNAVAILABLE}'",
    "{name}: an unchanged TOASTed value was not sent (the table's REPLICA IDENTITY is not FULL:"
    " cdc sources prepare)",
)


def _toastable(mapped: ColumnType) -> ColumnType:
    """Text-like values may be TOASTed: Debezium's placeholder is refused, never stored."""
    return dataclasses.replace(mapped, rejects=(*mapped.rejects, _TOAST_REJECT))


_SCALARS = {
    "smallint": carried("INT", "SMALLINT"),
    "integer": carried("INT", "INTEGER"),
    "bigint": carried("BIGINT", "BIGINT"),
    "oid": carried("BIGINT", "BIGINT"),
    "real": carried("DOUBLE", "FLOAT"),
    "double precision": carried("DOUBLE", "DOUBLE"),
    "boolean": carried("BOOLEAN", "BOOLEAN"),
    "bytea": carried("STRING", "VARBINARY"),  # hex (binary.handling.mode=hex)
    "date": DATE,
    "timestamp with time zone": ZONED_TIMESTAMP,
    "time without time zone": TIME_AS_MICROSECONDS,
    "uuid": exact_text(),
    "interval": exact_text(),  # ISO 8601 duration (interval.handling.mode=string): months stay months
    "inet": exact_text(),
    "cidr": exact_text(),
    "macaddr": exact_text(),
    "macaddr8": exact_text(),
    "tsvector": _toastable(exact_text()),
    "tsquery": exact_text(),
    "xml": _toastable(exact_text()),
    "int4range": exact_text(),
    "int8range": exact_text(),
    "numrange": exact_text(),
    "daterange": exact_text(),
    "tsrange": exact_text(),
    "tstzrange": exact_text(),
    "json": _toastable(json_document()),
    "jsonb": _toastable(json_document()),
}
_TEXT = {"text", "character varying", "character", "citext", "name"}
# array element (udt_name without its leading underscore) -> (KSQL element type, Phoenix type)
_ELEMENTS = {
    "int2": ("INT", "SMALLINT"),
    "int4": ("INT", "INTEGER"),
    "int8": ("BIGINT", "BIGINT"),
    "float4": ("DOUBLE", "FLOAT"),
    "float8": ("DOUBLE", "DOUBLE"),
    "bool": ("BOOLEAN", "BOOLEAN"),
    "text": ("STRING", "VARCHAR"),
    "varchar": ("STRING", "VARCHAR"),
    "bpchar": ("STRING", "VARCHAR"),
    "citext": ("STRING", "VARCHAR"),
    "uuid": ("STRING", "VARCHAR"),
    # decimal.handling.mode=string: each element's exact text (Phoenix refuses DECIMAL arrays
    # through the Query Server)
    "numeric": ("STRING", "VARCHAR"),
}
_REFUSED = {
    "money": "Debezium carries money through a double: amounts beyond 2^53 cents lose digits"
    " (store it as numeric(p,2), or capture a view that casts it)",
    "time with time zone": "Debezium sends timetz normalized to UTC: the offset is lost",
    "bit": "Debezium 3.5 sends PostgreSQL bit strings as bytes without their length",
    "bit varying": "Debezium 3.5 sends PostgreSQL bit strings as bytes without their length",
}


def column_type(column: CatalogColumn) -> ColumnType:
    t = column.data_type
    if t in _REFUSED:
        return refused(_REFUSED[t])
    if t in _TEXT:
        return _toastable(text())
    if t == "numeric":
        return decimal(column.precision, column.scale)
    if t == "timestamp without time zone":  # no precision given: 6
        return epoch_timestamp(6 if column.datetime_precision is None else column.datetime_precision)
    if t == "array":
        element = (column.element_type or "").removeprefix("_")
        if element not in _ELEMENTS:
            return refused(f"arrays of {element} are not carried (element types: {', '.join(_ELEMENTS)})")
        raw, phoenix = _ELEMENTS[element]
        return carried(f"ARRAY<{raw}>", f"{phoenix} ARRAY")
    if t == "user-defined":  # an enum (a domain reports its base type): its label
        return text()
    if t in _SCALARS:
        return _SCALARS[t]
    return refused(f"the pipeline has no mapping for {t} ({column.column_type})")
