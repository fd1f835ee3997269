"""Runtime values of KSQL types: decoding JSON into them, CAST between them, encoding to JSON.

Python representations: BOOLEAN bool, INT/BIGINT int, DOUBLE float, DECIMAL Decimal,
STRING str, BYTES bytes, DATE date, TIME time, TIMESTAMP naive UTC datetime, ARRAY list,
MAP and STRUCT dict. NULL is None everywhere.

A DOUBLE that is not a finite number (NaN, the infinities) has no JSON number: Jackson, which
writes the JSON of Kafka Connect (the raw topics) and of ksqlDB, quotes it as "NaN",
"Infinity" or "-Infinity". The DOUBLE decoder takes exactly those strings and the encoder
writes them (orjson alone would write null: a value silently lost).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from math import isfinite
from typing import Any

import orjson

from cdc_ods.contract import NON_FINITE_DOUBLES
from cdc_ods.errors import Rejected
from cdc_ods.ksql.ast import SqlType

Decoder = Callable[[Any, str], Any]
EPOCH = datetime(1970, 1, 1)
EPOCH_DATE = date(1970, 1, 1)
_INT_RANGE = {"INT": (-(2**31), 2**31 - 1), "BIGINT": (-(2**63), 2**63 - 1)}


def _describe(value: Any) -> str:
    kind = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    try:
        shown = orjson.dumps(value).decode()[:40]
    except TypeError:  # nested deeper than orjson writes (254 levels), or an integer beyond 64 bits
        shown = "(too deep or too large to show)"
    return f"{kind.get(type(value), type(value).__name__)} {shown}"


def json_text(value: Any, path: str) -> str:
    """Nested JSON kept as its text (what ksqlDB does); refused when nested deeper than orjson
    writes (254 levels, of the 1,024 the decoder takes)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        raise Rejected(f"{path}: JSON nested deeper than 254 levels") from None


def _mismatch(path: str, sql_type: SqlType, value: Any) -> Rejected:
    expected = "a STRUCT (JSON object)" if sql_type.name == "STRUCT" else str(sql_type)
    return Rejected(f"{path}: expected {expected}, got {_describe(value)}")


def decoder(sql_type: SqlType) -> Decoder:
    """A function turning a parsed JSON value into `sql_type`'s representation, or raising
    Rejected naming the column path (as ksqlDB's JSON deserializer refuses it)."""
    name = sql_type.name
    if name in _INT_RANGE:
        low, high = _INT_RANGE[name]

        def integer(value: Any, path: str) -> Any:
            if value is None:
                return None
            if type(value) is int and low <= value <= high:
                return value
            raise _mismatch(path, sql_type, value)

        return integer
    if name == "STRING":

        def string(value: Any, path: str) -> Any:
            if value is None or type(value) is str:
                return value
            if isinstance(value, dict | list):
                return json_text(value, path)
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)

        return string
    if name == "STRUCT":
        fields = [(field, decoder(t)) for field, t in sql_type.fields]

        def struct(value: Any, path: str) -> Any:
            if value is None:
                return None
            if type(value) is not dict:
                raise _mismatch(path, sql_type, value)
            return {field: decode(value.get(field), f"{path}->{field}") for field, decode in fields}

        return struct
    if name in ("ARRAY", "MAP"):
        assert sql_type.item is not None
        item = decoder(sql_type.item)
        expected = list if name == "ARRAY" else dict

        def container(value: Any, path: str) -> Any:
            if value is None:
                return None
            if type(value) is not expected:
                raise _mismatch(path, sql_type, value)
            if expected is list:
                return [item(v, f"{path}[{i + 1}]") for i, v in enumerate(value)]
            return {k: item(v, f"{path}[{k}]") for k, v in value.items()}

        return container
    convert = _SCALAR_DECODERS[name]

    def scalar(value: Any, path: str) -> Any:
        if value is None:
            return None
        try:
            return convert(value, sql_type)
        except (TypeError, ValueError, ArithmeticError, OverflowError):
            raise _mismatch(path, sql_type, value) from None

    return scalar


def _json_bool(value: Any, _t: SqlType) -> bool:
    if type(value) is bool:
        return value
    if type(value) is str and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise TypeError


def _json_double(value: Any, _t: SqlType) -> float:
    if type(value) in (int, float):
        return float(value)
    if type(value) is str:  # a non-finite double as Jackson quotes it
        number = NON_FINITE_DOUBLES.get(value)
        if number is not None:
            return number
    raise TypeError


def _json_decimal(value: Any, sql_type: SqlType) -> Decimal:
    if type(value) not in (int, float, str):
        raise TypeError
    return to_decimal(Decimal(str(value)), sql_type)


def _json_bytes(value: Any, _t: SqlType) -> bytes:
    if type(value) is not str:
        raise TypeError
    return base64.b64decode(value, validate=True)


def _json_date(value: Any, _t: SqlType) -> date:
    if type(value) is not int:
        raise TypeError
    return EPOCH_DATE + timedelta(days=value)


def _json_time(value: Any, _t: SqlType) -> time:
    if type(value) is not int:
        raise TypeError
    return (EPOCH + timedelta(milliseconds=value)).time()


def _json_timestamp(value: Any, _t: SqlType) -> datetime:
    if type(value) is not int:
        raise TypeError
    return EPOCH + timedelta(milliseconds=value)


_SCALAR_DECODERS: dict[str, Callable[[Any, SqlType], Any]] = {
    "BOOLEAN": _json_bool,
    "DOUBLE": _json_double,
    "DECIMAL": _json_decimal,
    "BYTES": _json_bytes,
    "DATE": _json_date,
    "TIME": _json_time,
    "TIMESTAMP": _json_timestamp,
}


def to_decimal(value: Decimal, sql_type: SqlType) -> Decimal:
    """Round half up to the scale; a value with more integer digits than allowed is an error."""
    precision, scale = sql_type.params
    try:
        result = value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise OverflowError from None
    if result.adjusted() >= precision - scale:
        raise OverflowError
    return result


def java_double(value: float) -> str:
    """Java's Double.toString for the common range: `1.0`, `0.5`, `1.0E10`."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e7:
        return f"{int(value)}.0"
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        return f"{mantissa}E{int(exponent)}"
    return text


def to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, int | str):
        return str(value)
    raise TypeError(f"cannot cast {type(value).__name__} to STRING (use TO_JSON_STRING)")


def cast(value: Any, sql_type: SqlType) -> Any:
    """CAST(value AS sql_type) with ksqlDB's rules; raises ValueError/TypeError when impossible."""
    if value is None:
        return None
    name = sql_type.name
    if name == "STRING":
        return to_string(value)
    if name in _INT_RANGE:
        if isinstance(value, bool):
            raise TypeError("cannot cast BOOLEAN to a number")
        result = int(value.strip()) if isinstance(value, str) else int(value)  # truncates like Java
        low, high = _INT_RANGE[name]
        if not low <= result <= high:
            raise ValueError(f"{result} is outside the range of {name}")
        return result
    if name == "DOUBLE":
        if isinstance(value, bool):
            raise TypeError("cannot cast BOOLEAN to DOUBLE")
        return float(value)
    if name == "DECIMAL":
        if isinstance(value, bool):
            raise TypeError("cannot cast BOOLEAN to DECIMAL")
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(str(value))
        try:
            return to_decimal(number, sql_type)
        except OverflowError:
            raise ValueError(f"{value} does not fit {sql_type}") from None
    if name == "BOOLEAN":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError(f"{value!r} is not a boolean")
    if name == "DATE":
        if isinstance(value, datetime):
            return value.date()
        return date.fromisoformat(value) if isinstance(value, str) else _bad(value, name)
    if name == "TIMESTAMP":
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day)
        return value if isinstance(value, datetime) else _bad(value, name)
    if name == "TIME":
        return time.fromisoformat(value) if isinstance(value, str) else _bad(value, name)
    if name == "BYTES":
        return base64.b64decode(value, validate=True) if isinstance(value, str) else _bad(value, name)
    raise TypeError(f"CAST to {name} is not supported")


def _bad(value: Any, name: str) -> Any:
    raise TypeError(f"cannot cast {type(value).__name__} to {name}")


def _json_default(value: Any) -> Any:
    """How ksqlDB's JSON serializer writes the types orjson does not know natively."""
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f"))
    if isinstance(value, datetime):
        return int((value - EPOCH) / timedelta(milliseconds=1))
    if isinstance(value, date):
        return (value - EPOCH_DATE).days
    if isinstance(value, time):
        return (value.hour * 3600 + value.minute * 60 + value.second) * 1000 + value.microsecond // 1000
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def may_hold_double(sql_type: SqlType | None) -> bool:
    """Whether a value of `sql_type` can be or hold a DOUBLE; one of an unknown type (None) can."""
    if sql_type is None or sql_type.name == "DOUBLE":
        return True
    if sql_type.item is not None:
        return may_hold_double(sql_type.item)
    return any(may_hold_double(t) for _, t in sql_type.fields)


def _non_finite(value: Any) -> bool:
    """Whether `value` is or holds (in an array, map or struct) a non-finite DOUBLE."""
    kind = type(value)
    if kind is float:
        return not isfinite(value)
    if kind is list:
        return any(map(_non_finite, value))
    if kind is dict:
        return any(map(_non_finite, value.values()))
    return False


def _named(value: Any) -> Any:
    """`value` with every non-finite DOUBLE in it as its name ("NaN", "Infinity", "-Infinity")."""
    kind = type(value)
    if kind is float:
        return value if isfinite(value) else java_double(value)
    if kind is list:
        return [_named(v) for v in value]
    if kind is dict:
        return {k: _named(v) for k, v in value.items()}
    return value


def finite(row: dict[str, Any], doubles: tuple[str, ...]) -> dict[str, Any]:
    """`row`, ready for `encode`, when only its fields `doubles` can hold a DOUBLE (a query knows
    it from its static types, `may_hold_double`): only those are searched, so a row without
    such fields costs nothing. `row` itself, or a copy with its non-finite doubles named."""
    for name in doubles:
        if _non_finite(row.get(name)):
            return _named(row)
    return row


def encode(value: Any) -> bytes:
    """JSON as ksqlDB's serializer writes it, of a value without non-finite doubles (`finite`)."""
    # OPT_PASSTHROUGH_DATETIME: dates and times go through _json_default as ksqlDB writes them.
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def to_json(value: Any) -> bytes:
    """JSON as ksqlDB's serializer writes it, a non-finite DOUBLE as its name."""
    return encode(_named(value) if _non_finite(value) else value)
