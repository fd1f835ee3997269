"""One canonical form per value, applied the same way to a source row and to its ODS row.

Both sides are reduced to what the ODS can represent and what the cleansing stage
normalizes, so equal data compares equal and anything else is a real difference:
- timestamps: UTC, to the microsecond (the ODS keeps them: cdc_ods.ods.avatica);
- decimals: exact, without trailing zeros (also those the ODS keeps as text: wider than 38
  digits, unconstrained numeric, NaN); integers as integers; booleans (MySQL's TINYINT(1) 0/1,
  BIT(1)) as booleans; BIT(n) as its number; TIME as microseconds (the ODS keeps them so);
- DOUBLE exactly, FLOAT as the four-byte float both the MySQL family and Phoenix store; NaN and
  the infinities as their names;
- JSON documents (text starting with { or [, or parsed jsonb): re-serialized with sorted keys,
  numbers beyond a double's range kept exact;
- a date or timestamp the client cannot represent (BC, year 10000+, infinity): its text, so a
  row holding one is reported, never a crash;
- strings: Unicode NFC, surrounding whitespace trimmed (the cleansing rule);
- arrays element by element, an empty one as NULL (Phoenix stores no empty array; a row with a
  NULL element is dead-lettered, so the ODS holds none);
- an empty string or binary value as itself (the ODS reader restores those its row's CDC_EMPTY
  names: Phoenix stores them as NULL), so an empty value and NULL differ;
- a MySQL-family geometry as Debezium sends it, {"srid", "wkb"} (JSON text in the ODS).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
import struct
import unicodedata
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from cdc_ods.ods.schema import Column
from cdc_ods.sources.mysql_types import GEOMETRY


def _timestamp(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:  # beyond Python's datetime: the source's text (see module docstring)
            return value
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def _decimal(value: Any) -> str:
    try:
        number = Decimal(str(value).strip()).normalize()
    except InvalidOperation:
        return _text(value)
    return "0" if number.is_zero() else format(number, "f")


def _json(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            try:  # valid JSON with a number beyond a double: exact, through the standard library
                return json.dumps(json.loads(value, parse_float=Decimal), sort_keys=True, default=str)
            except ValueError:
                return _text(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _double(value: Any) -> Any:
    number = float(value)
    return number if math.isfinite(number) else str(number)  # nan, inf, -inf: equal as names


def _microseconds(value: Any) -> int:
    """A TIME: MySQL's duration (timedelta), PostgreSQL's time of day, or the ODS's microseconds."""
    if isinstance(value, dt.timedelta):
        return value // dt.timedelta(microseconds=1)
    if isinstance(value, dt.time):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
    if isinstance(value, str):  # PostgreSQL's 24:00:00, which Python's time cannot hold
        hours, minutes, seconds = value.split(":")
        return (int(hours) * 3600 + int(minutes) * 60) * 1_000_000 + int(Decimal(seconds) * 1_000_000)
    return int(value)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, uuid.UUID):
        value = str(value)
    return unicodedata.normalize("NFC", str(value)).strip()


def _geometry(stored: bytes) -> str:
    """MySQL-family storage (4-byte SRID, little-endian, then WKB) as the ODS's JSON text of
    Debezium's geometry: {"srid": N or null for 0, "wkb": base64}."""
    srid = int.from_bytes(stored[:4], "little")
    return _json({"srid": srid or None, "wkb": base64.b64encode(stored[4:]).decode()})


def _scalar(base_type: str, value: Any) -> Any:
    if value is None:
        return None
    if base_type in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT"):
        return int(value)
    if base_type == "DECIMAL":
        return _decimal(value)
    if base_type == "FLOAT":  # four bytes on both sides (MySQL FLOAT, Phoenix FLOAT)
        return _double(struct.unpack("f", struct.pack("f", float(value)))[0])
    if base_type == "DOUBLE":
        return _double(value)
    if base_type == "BOOLEAN":
        return bool(value)
    if base_type == "TIMESTAMP":
        return _timestamp(value)
    if base_type == "DATE":
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:  # beyond Python's date (BC, year 10000+): the source's text
            return str(value)
    if base_type == "VARBINARY":
        return bytes(value).hex()
    if isinstance(value, dict | list) or (isinstance(value, str) and value.lstrip()[:1] in ("{", "[")):
        return _json(value)  # a JSON document (MariaDB's JSON is text, jsonb arrives parsed)
    return _text(value)


_ISO_DURATION = re.compile(
    r"P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?[\d.]+)S)?)?"
)


def _interval(value: Any) -> Any:
    """An ISO 8601 duration (Debezium writes every part, PostgreSQL's iso_8601 style only the
    non-zero ones) as its parts: years, months, days, hours, minutes, seconds."""
    match = _ISO_DURATION.fullmatch(str(value))
    if match is None:
        return _text(value)
    return [str(Decimal(part or 0).normalize()) for part in match.groups()]


_TIME = frozenset({"time", "time without time zone"})
_DECIMAL = frozenset({"decimal", "numeric"})


def canonical(column: Column, value: Any) -> Any:
    if value is None:
        return None
    source_type = column.source_type
    if source_type in GEOMETRY and isinstance(value, bytes | bytearray):
        return _geometry(bytes(value))
    if source_type in _TIME:
        return _microseconds(value)
    if source_type == "interval":
        return _interval(value)
    if source_type in ("json", "jsonb"):  # a scalar document ("a string") too
        return _json(value)
    if source_type in _DECIMAL:
        return _decimal(value)
    if source_type == "bit" and isinstance(value, bytes | bytearray):  # MySQL family: big-endian
        value = int.from_bytes(value, "big")
    if column.is_array:  # Phoenix has no empty array: it stores NULL
        return [_scalar(column.base_type, v) for v in value] or None
    return _scalar(column.base_type, value)
