"""Scalar functions the embedded backend evaluates: ksqlDB built-ins (same names and NULL
rules) and the project's `CDC_*` functions, which a ksqlDB server needs as a UDF jar.

Each entry: name -> Function(min args, max args, implementation, strict). A strict function
returns NULL when any argument is NULL without being called (ksqlDB's rule for most
built-ins); the others see the NULLs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

import orjson
from pydantic import SecretStr

from cdc_ods.errors import ConfigError
from cdc_ods.ksql.values import EPOCH, EPOCH_DATE, json_text, to_json
from cdc_ods.secrets import lookup_secret

PII_KEY_ENV = "CDC_PII_HASH_KEY"


@dataclass(frozen=True)
class Function:
    min_args: int
    max_args: int | None  # None: variadic
    impl: Callable[..., Any]
    strict: bool = True


# ---- strings ----


def _substring(text: str, pos: int, length: int | None = None) -> str:
    """1-based; a negative position counts from the end (ksqlDB)."""
    start = pos - 1 if pos > 0 else max(len(text) + pos, 0)
    if length is None:
        return text[start:]
    return text[start : start + max(length, 0)]


def _split(text: str, delimiter: str) -> list[str]:
    if delimiter == "":
        return list(text)
    return text.split(delimiter)


def _concat(*parts: Any) -> str | None:
    """ksqlDB CONCAT skips NULL arguments."""
    return "".join(str(p) for p in parts if p is not None)


def _concat_ws(separator: str | None, *parts: Any) -> str | None:
    if separator is None:
        return None
    return separator.join(str(p) for p in parts if p is not None)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp_replace(text: str, pattern: str, replacement: str) -> str:
    # Java's $1 group references become Python's \1.
    return _regex(pattern).sub(re.sub(r"\$(\d+)", r"\\\1", replacement.replace("\\", "\\\\")), text)


def _lpad(text: str, length: int, pad: str) -> str | None:
    if not pad and len(text) < length:
        return None
    return ((pad * length)[: max(length - len(text), 0)] + text)[:length]


def _rpad(text: str, length: int, pad: str) -> str | None:
    if not pad and len(text) < length:
        return None
    return (text + pad * length)[:length]


# ---- numbers ----


def _round(value: Any, digits: int = 0) -> Any:
    if isinstance(value, int):
        return value
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    if isinstance(value, float):
        return int(rounded) if digits == 0 else float(rounded)
    return rounded


def _floor_ceil(op: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        if isinstance(value, int):
            return value
        result = op(value)
        return float(result) if isinstance(value, float) else Decimal(result)

    return apply


# ---- JSON ----

_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[\s*(-?\d+)\s*\]|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]")


@lru_cache(maxsize=256)
def _json_path(path: str) -> tuple[str | int, ...]:
    if not path.startswith("$"):
        raise ValueError(f"JSON path must start with $: {path!r}")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        match = _PATH_STEP.match(path, pos)
        if match is None:
            raise ValueError(f"unsupported JSON path {path!r} at {path[pos:]!r}")
        name, index, single, double = match.groups()
        steps.append(int(index) if index is not None else (name or single or double or ""))
        pos = match.end()
    return tuple(steps)


def _extract_json_field(text: str, path: str) -> str | None:
    """ksqlDB EXTRACTJSONFIELD: the value at `path` as text (strings unquoted), NULL if absent."""
    try:
        node: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    for step in _json_path(path):
        if (isinstance(step, int) and isinstance(node, list) and -len(node) <= step < len(node)) or (
            isinstance(step, str) and isinstance(node, dict) and step in node
        ):
            node = node[step]
        else:
            return None
    if node is None:
        return None
    return node if isinstance(node, str) else json_text(node, f"EXTRACTJSONFIELD({path!r})")


def _is_json_string(text: str | None) -> bool:
    if text is None:
        return False
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        try:  # valid JSON whose numbers exceed a double (1e400): the standard library takes it
            json.loads(text)
        except ValueError:
            return False
    return True


def _to_json_string(value: Any) -> str:
    return to_json(value).decode()


def _json_array(text: str) -> list[str | None] | None:
    """A JSON array text as ARRAY<STRING> (elements as EXTRACTJSONFIELD renders them)."""
    try:
        node = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(node, list):
        return None
    return [v if v is None or isinstance(v, str) else json_text(v, "a JSON array element") for v in node]


# ---- dates and times ----


def _from_days(days: int) -> date:
    return EPOCH_DATE + timedelta(days=days)


def _iso_utc(moment: datetime) -> str:
    """The contract's timestamp text: UTC, microseconds, `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ts_micros(micros: int) -> str:
    return _iso_utc(EPOCH + timedelta(microseconds=micros))


def _ts_millis(millis: int) -> str:
    return _iso_utc(EPOCH + timedelta(milliseconds=millis))


def _ts_iso(text: str) -> str | None:
    """An ISO-8601 timestamp with any offset and fraction, normalized to UTC micros `Z`;
    NULL when it is not one (as a ksqlDB UDF returns NULL on bad input)."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return _iso_utc(parsed)


def _bits(text: str) -> str:
    """Debezium's Bits (a MySQL-family BIT(n): base64 of the bytes, least significant first)
    as the number's decimal text."""
    return str(int.from_bytes(base64.b64decode(text, validate=True), "little"))


def _bson_ts(text: str) -> str | None:
    """A BSON date in MongoDB extended JSON (relaxed `{"$date": "ISO"}`, canonical
    `{"$date": {"$numberLong": "ms"}}`, or `{"$date": ms}`) as the contract's timestamp text."""
    try:
        node = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if isinstance(node, dict):
        node = node.get("$date")
    if isinstance(node, dict):
        node = node.get("$numberLong")
    if isinstance(node, str) and node.lstrip("-").isdigit():
        node = int(node)
    if isinstance(node, int) and not isinstance(node, bool):
        return _ts_millis(node)
    return _ts_iso(node) if isinstance(node, str) else None


# ---- personal data ----


_pii_key: SecretStr | None = None  # set by the stage that runs the scripts (use_pii_key)


def use_pii_key(key: SecretStr | None) -> None:
    """The key CDC_HMAC masks with (the cleansing stage reads it from its settings); None: the
    environment's."""
    global _pii_key
    _pii_key = key
    pii_key.cache_clear()


@lru_cache(maxsize=1)
def pii_key() -> bytes:
    """The key given to `use_pii_key`, else $CDC_PII_HASH_KEY."""
    key = _pii_key or lookup_secret(None, PII_KEY_ENV)
    if key is None or not key.get_secret_value():
        raise ConfigError(f"{PII_KEY_ENV} is not set: CDC_HMAC needs the key for masking personal data")
    return key.get_secret_value().encode()


def _hmac(text: str) -> str:
    """HMAC-SHA256 (hex) of the text under $CDC_PII_HASH_KEY: equal inputs still join."""
    return hmac.new(pii_key(), text.encode(), hashlib.sha256).hexdigest()


FUNCTIONS: dict[str, Function] = {
    # null handling
    "COALESCE": Function(1, None, lambda *a: next((v for v in a if v is not None), None), strict=False),
    "IFNULL": Function(2, 2, lambda v, alt: alt if v is None else v, strict=False),
    "NULLIF": Function(2, 2, lambda a, b: None if a is not None and a == b else a, strict=False),
    # strings
    "TRIM": Function(1, 1, str.strip),
    "LTRIM": Function(1, 1, str.lstrip),
    "RTRIM": Function(1, 1, str.rstrip),
    "LCASE": Function(1, 1, str.lower),
    "UCASE": Function(1, 1, str.upper),
    "LEN": Function(1, 1, len),
    "CONCAT": Function(1, None, _concat, strict=False),
    "CONCAT_WS": Function(2, None, _concat_ws, strict=False),
    "SUBSTRING": Function(2, 3, _substring),
    "REPLACE": Function(3, 3, str.replace),
    "REGEXP_REPLACE": Function(3, 3, _regexp_replace),
    "SPLIT": Function(2, 2, _split),
    "LPAD": Function(3, 3, _lpad),
    "RPAD": Function(3, 3, _rpad),
    # numbers
    "ABS": Function(1, 1, abs),
    "ROUND": Function(1, 2, _round),
    "FLOOR": Function(1, 1, _floor_ceil(lambda v: v.__floor__())),
    "CEIL": Function(1, 1, _floor_ceil(lambda v: v.__ceil__())),
    # collections and JSON
    "ARRAY_LENGTH": Function(1, 1, len),
    "EXTRACTJSONFIELD": Function(2, 2, _extract_json_field),
    "IS_JSON_STRING": Function(1, 1, _is_json_string, strict=False),
    "TO_JSON_STRING": Function(1, 1, _to_json_string, strict=False),
    # dates
    "FROM_DAYS": Function(1, 1, _from_days),
    # project UDFs (a ksqlDB server needs them as a UDF jar)
    "CDC_NFC": Function(1, 1, lambda s: unicodedata.normalize("NFC", s)),
    "CDC_TS_MICROS": Function(1, 1, _ts_micros),
    "CDC_TS_MILLIS": Function(1, 1, _ts_millis),
    "CDC_TS_ISO": Function(1, 1, _ts_iso),
    "CDC_BITS": Function(1, 1, _bits),
    "CDC_BSON_TS": Function(1, 1, _bson_ts),
    "CDC_HMAC": Function(1, 1, _hmac),
    "CDC_JSON_ARRAY": Function(1, 1, _json_array),
}

# Functions the project adds; a ksqlDB server must load them from a UDF jar.
PROJECT_UDFS = tuple(name for name in FUNCTIONS if name.startswith("CDC_"))
