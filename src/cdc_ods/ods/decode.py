"""A cleansed record -> one row change for its ODS table: the JSON row, its key, its values
converted to the table's Phoenix types, its metadata. Anything that does not fit is
`Rejected` with a reason naming the column (the record is dead-lettered)."""

from __future__ import annotations

from typing import Any

import orjson

from cdc_ods import contract
from cdc_ods.errors import Rejected
from cdc_ods.ods.schema import Column, TableSchema
from cdc_ods.ods.writer import Change

_CONVERSION_ERRORS = (TypeError, ValueError, ArithmeticError)


def parse_row(value: bytes) -> dict[str, Any]:
    """The record's row: a JSON object (field -> value)."""
    try:
        row = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise Rejected(f"value is not JSON: {exc}") from None
    if not isinstance(row, dict):
        raise Rejected("value is not a JSON object")
    return row


def _rejection(column: Column, value: Any, exc: Exception) -> Rejected:
    return Rejected(f"column {column.name}: cannot convert {value!r} to {column.phoenix_type}: {exc}")


def _convert(column: Column, value: Any) -> Any:
    try:
        return column.convert(value)
    except _CONVERSION_ERRORS as exc:
        raise _rejection(column, value, exc) from None


def _convert_row(schema: TableSchema, row: dict[str, Any]) -> tuple[dict[str, Any], list[str] | None]:
    """Every column's Phoenix value (the loader's hottest loop: one call per non-null value), and
    the ODS names of the columns whose value is empty (CDC_EMPTY; None when there is none)."""
    values: dict[str, Any] = {}
    column = None
    try:
        for column in schema.columns:
            value = row.get(column.name)
            values[column.name] = None if value is None else column.convert_not_null(value)
    except _CONVERSION_ERRORS as exc:
        assert column is not None
        raise _rejection(column, row.get(column.name), exc) from None
    empty = None
    for name, ods_name in schema.can_be_empty:
        value = values[name]
        if not value and value is not None:  # '' or b''
            if empty is None:
                empty = [ods_name]
            else:
                empty.append(ods_name)
    return values, empty


def _key_fields(raw_key: bytes | None) -> dict[str, Any]:
    try:
        fields = orjson.loads(raw_key) if raw_key else {}
    except orjson.JSONDecodeError:
        return {}
    return fields if isinstance(fields, dict) else {}


def to_change(schema: TableSchema, row: dict[str, Any], raw_key: bytes | None) -> Change:
    """The change `row` makes to its ODS table (`schema` has every field of the row)."""
    key_fields = _key_fields(raw_key)
    key = []
    for name in schema.primary_key:
        # the row's value first: it is in the contract's form (a DATE key is "2024-05-01"),
        # while the record key is Debezium's (epoch days); the key only when the row lacks it
        raw = row.get(name)
        if raw is None:
            raw = key_fields.get(name)
        if raw is None:
            raise Rejected(f"no key: primary key column {name!r} missing")
        column = schema.column(name)
        assert column is not None
        key.append(_convert(column, raw))
    deleted = bool(row.get(contract.DELETED)) or row.get(contract.OP) == "d"
    values, empty = ({}, None) if deleted else _convert_row(schema, row)
    try:
        return Change(
            key=tuple(key),
            values=values,
            op=str(row.get(contract.OP, "u"))[:1],
            source_ts_ms=int(row.get(contract.SOURCE_TS_MS) or 0),
            source_pos=int(row.get(contract.SOURCE_POS) or 0),
            deleted=deleted,
            empty=empty,
        )
    except (TypeError, ValueError) as exc:
        raise Rejected(f"bad metadata field: {exc}") from None


def truncate_position(row: dict[str, Any]) -> int:
    """The source position of a TRUNCATE's record (op `t`): the rows loaded from changes
    before it go."""
    try:
        position = int(row[contract.SOURCE_POS])
    except (KeyError, TypeError, ValueError):
        raise Rejected(f"a TRUNCATE without a source position ({contract.SOURCE_POS})") from None
    if position <= 0:
        raise Rejected(f"a TRUNCATE without a source position ({contract.SOURCE_POS}: {position})")
    return position
