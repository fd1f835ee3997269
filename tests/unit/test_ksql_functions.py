"""Scalar functions: ksqlDB built-ins (names, NULL rules) and the project's CDC_* functions."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from cdc_ods.errors import ConfigError
from cdc_ods.ksql.compiler import Scope, compile_expr
from cdc_ods.ksql.functions import FUNCTIONS, PII_KEY_ENV, PROJECT_UDFS, pii_key
from cdc_ods.ksql.parser import parse_expression


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PII_KEY_ENV, "secret")
    pii_key.cache_clear()


def ev(text: str) -> Any:
    return compile_expr(parse_expression(text), Scope({}, "T"))({})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("COALESCE(NULL, NULL, 'b', 'c')", "b"),
        ("COALESCE(NULL)", None),
        ("IFNULL(NULL, 1)", 1),
        ("IFNULL(2, 1)", 2),
        ("NULLIF(1, 1)", None),
        ("NULLIF(1, 2)", 1),
        ("TRIM('  a b  ')", "a b"),
        ("LTRIM('  a ')", "a "),
        ("RTRIM('  a ')", "  a"),
        ("TRIM(NULL)", None),
        ("LCASE('AbC')", "abc"),
        ("UCASE('AbC')", "ABC"),
        ("LEN('héllo')", 5),
        ("CONCAT('a', NULL, 'b', 1)", "ab1"),
        ("CONCAT_WS('-', 'a', NULL, 'b')", "a-b"),
        ("CONCAT_WS(NULL, 'a')", None),
        ("SUBSTRING('hello', 2)", "ello"),
        ("SUBSTRING('hello', 2, 3)", "ell"),
        ("SUBSTRING('hello', -3)", "llo"),
        ("SUBSTRING('hello', -3, 2)", "ll"),
        ("REPLACE('a-b-c', '-', '+')", "a+b+c"),
        ("REGEXP_REPLACE('+1 (555) 010', '[^0-9]', '')", "1555010"),
        ("REGEXP_REPLACE('ab', '(a)(b)', '$2$1')", "ba"),
        ("SPLIT('mariadb-bin.000003', '.')", ["mariadb-bin", "000003"]),
        ("SPLIT('ab', '')", ["a", "b"]),
        ("LPAD('7', 3, '0')", "007"),
        ("RPAD('7', 3, 'x')", "7xx"),
        ("ABS(-3)", 3),
        ("ROUND(2.5)", Decimal("3")),
        ("ROUND(2.45, 1)", Decimal("2.5")),
        ("FLOOR(-2.5)", Decimal("-3")),
        ("CEIL(2.1)", Decimal("3")),
        ("ARRAY_LENGTH(ARRAY[1, 2])", 2),
        ('EXTRACTJSONFIELD(\'{"a": {"b": [1, "x"]}}\', \'$.a.b[1]\')', "x"),
        ("EXTRACTJSONFIELD('{\"a\": {\"b\": 2}}', '$.a')", '{"b":2}'),
        ("EXTRACTJSONFIELD('{\"$d\": 5}', '$[''$d'']')", "5"),
        ("EXTRACTJSONFIELD('{\"a\": 1}', '$.missing')", None),
        ("EXTRACTJSONFIELD('not json', '$.a')", None),
        ("IS_JSON_STRING('{\"a\": 1}')", True),
        ("IS_JSON_STRING('{\"a\": ')", False),
        ("IS_JSON_STRING(NULL)", False),
        ("IS_JSON_STRING('[1e400]')", True),  # valid JSON beyond a double's range
        ("TO_JSON_STRING(STRUCT(`id` := 1))", '{"id":1}'),
        ("TO_JSON_STRING(NULL)", "null"),
        ("FROM_DAYS(19782)", date(2024, 2, 29)),
        ("CAST(FROM_DAYS(-1) AS STRING)", "1969-12-31"),
        ("CDC_NFC('Ame\u0301lie')", "Amélie"),
        ("CDC_TS_MICROS(1709251198123456)", "2024-02-29T23:59:58.123456Z"),
        ("CDC_TS_MICROS(-1)", "1969-12-31T23:59:59.999999Z"),
        ("CDC_TS_MILLIS(1709251198123)", "2024-02-29T23:59:58.123000Z"),
        ("CDC_TS_ISO('2024-02-29T23:59:58Z')", "2024-02-29T23:59:58.000000Z"),
        ("CDC_TS_ISO('2024-03-01T01:59:58.5+02:00')", "2024-02-29T23:59:58.500000Z"),
        ("CDC_TS_ISO('garbage')", None),
        ("CDC_BITS('Cg==')", "10"),
        ("CDC_BITS('AQAAAAAAAAA=')", "1"),
        ("CDC_BITS('//////////8=')", "18446744073709551615"),
        ('CDC_BSON_TS(\'{"$date": "1984-07-02T00:00:00Z"}\')', "1984-07-02T00:00:00.000000Z"),
        ('CDC_BSON_TS(\'{"$date": {"$numberLong": "1000"}}\')', "1970-01-01T00:00:01.000000Z"),
        ("CDC_BSON_TS('{\"$date\": -1000}')", "1969-12-31T23:59:59.000000Z"),
        ("CDC_BSON_TS('{\"x\": 1}')", None),
        ("CDC_JSON_ARRAY('[\"a\", 1, null]')", ["a", "1", None]),
        ("CDC_JSON_ARRAY('{}')", None),
    ],
)
def test_functions(text: str, expected: Any) -> None:
    result = ev(text)
    assert result == expected and type(result) is type(expected)


def test_hmac_is_keyed_and_stable() -> None:
    expected = hmac.new(b"secret", b"alice@example.com", hashlib.sha256).hexdigest()
    assert ev("CDC_HMAC(LCASE(TRIM(' Alice@Example.com ')))") == expected
    assert ev("CDC_HMAC(NULL)") is None


def test_hmac_needs_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PII_KEY_ENV)
    pii_key.cache_clear()
    with pytest.raises(ConfigError, match=PII_KEY_ENV):
        pii_key()


def test_every_function_has_a_test_here() -> None:
    import inspect

    source = inspect.getsource(test_functions) + str(test_functions.pytestmark)  # type: ignore[attr-defined]
    untested = [name for name in FUNCTIONS if f"{name}(" not in source and name != "CDC_HMAC"]
    assert untested == []
    assert set(PROJECT_UDFS) == {name for name in FUNCTIONS if name.startswith("CDC_")}
