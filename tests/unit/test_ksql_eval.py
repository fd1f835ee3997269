"""Expression evaluation with KSQL semantics: NULLs, three-valued logic, CASE, CAST, structs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from cdc_ods.errors import Rejected
from cdc_ods.ksql import ast
from cdc_ods.ksql.compiler import Scope, compile_expr, infer
from cdc_ods.ksql.errors import KsqlError, UnsupportedError
from cdc_ods.ksql.parser import parse_expression

S = ast.SqlType
SCOPE = Scope(
    {
        "N": S("INT"),
        "X": S("DOUBLE"),
        "S": S("STRING"),
        "B": S("BOOLEAN"),
        "Z": S("STRING"),
        "ARR": S("ARRAY", item=S("STRING")),
        "st": S("STRUCT", fields=(("a", S("INT")), ("inner", S("STRUCT", fields=(("c", S("STRING")),))))),
        "U": None,
    },
    "T",
)
ROW = {
    "N": 7,
    "X": 2.5,
    "S": "  Hello ",
    "B": True,
    "Z": None,
    "ARR": ["a", "b", "c"],
    "st": {"a": 1, "inner": {"c": "deep"}},
    "U": {"f": 3},
    "ROWPARTITION": 2,
    "ROWOFFSET": 41,
}


def ev(text: str, row: dict[str, Any] | None = None) -> Any:
    return compile_expr(parse_expression(text), SCOPE)(ROW if row is None else row)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # literals and columns
        ("1", 1),
        ("'x'", "x"),
        ("NULL", None),
        ("n", 7),
        ("ROWPARTITION", 2),
        ("ROWOFFSET", 41),
        # arithmetic: integer division truncates toward zero, remainder keeps the dividend's sign
        ("n + 1", 8),
        ("n - 10", -3),
        ("n * 2", 14),
        ("n / 2", 3),
        ("-n / 2", -3),
        ("-7 % 3", -1),
        ("n / 2.0", Decimal("3.5")),
        ("x * 2", 5.0),
        ("1.5 + 1", Decimal("2.5")),
        ("'a' + 'b'", "ab"),
        ("n + z", None),
        ("-z", None),
        # comparisons and NULL
        ("n = 7", True),
        ("n <> 7", False),
        ("n < 8 AND n >= 7", True),
        ("z = 1", None),
        ("s > 'a'", False),
        # three-valued logic
        ("TRUE AND NULL", None),
        ("FALSE AND NULL", False),
        ("TRUE OR NULL", True),
        ("FALSE OR NULL", None),
        ("NOT NULL", None),
        ("NOT b", False),
        # predicates
        ("z IS NULL", True),
        ("n IS NOT NULL", True),
        ("n BETWEEN 1 AND 7", True),
        ("n NOT BETWEEN 1 AND 7", False),
        ("z BETWEEN 1 AND 2", None),
        ("n IN (1, 7)", True),
        ("n IN (1, NULL)", None),
        ("n NOT IN (1, 2)", True),
        ("z IN (1)", None),
        ("s LIKE '  He%'", True),
        ("s LIKE '_ Hello_'", True),
        ("s NOT LIKE '%x%'", True),
        ("'a.c' LIKE 'a.c'", True),
        ("'abc' LIKE 'a.c'", False),
        ("z LIKE 'a'", None),
        # CASE
        ("CASE WHEN n > 5 THEN 'big' WHEN n > 1 THEN 'small' END", "big"),
        ("CASE WHEN z > 5 THEN 'big' ELSE 'unknown' END", "unknown"),
        ("CASE WHEN n > 50 THEN 'big' END", None),
        ("CASE n WHEN 1 THEN 'one' WHEN 7 THEN 'seven' END", "seven"),
        ("CASE z WHEN NULL THEN 'null' ELSE 'other' END", "other"),
        # CAST
        ("CAST('42' AS INT)", 42),
        ("CAST(' 42 ' AS BIGINT)", 42),
        ("CAST(2.9 AS INT)", 2),
        ("CAST(-2.9 AS INT)", -2),
        ("CAST('8.25' AS DECIMAL(3, 1))", Decimal("8.3")),
        ("CAST('8.3' AS DOUBLE)", 8.3),
        ("CAST(n AS STRING)", "7"),
        ("CAST(x AS STRING)", "2.5"),
        ("CAST(1.0E0 AS STRING)", "1.0"),
        ("CAST(b AS STRING)", "true"),
        ("CAST(1.50 AS STRING)", "1.50"),
        ("CAST('TRUE' AS BOOLEAN)", True),
        ("CAST('2024-02-29' AS DATE)", date(2024, 2, 29)),
        ("CAST(z AS INT)", None),
        # structs and arrays
        ("`st`->`a`", 1),
        ("`st`->`inner`->`c`", "deep"),
        ("u->`f`", 3),
        ("u->f", None),  # unquoted names are upper-cased: no field F
        ("arr[1]", "a"),
        ("arr[-1]", "c"),
        ("arr[4]", None),
        ("arr[0]", None),
        ("STRUCT(`x` := n, `y` := 'b')", {"x": 7, "y": "b"}),
        ("ARRAY[n, 1]", [7, 1]),
        # a non-finite DOUBLE in JSON text is its name, as Jackson writes it (never null)
        (
            "TO_JSON_STRING(ARRAY[CAST('NaN' AS DOUBLE), x, CAST('-Infinity' AS DOUBLE)])",
            '["NaN",2.5,"-Infinity"]',
        ),
        ("TO_JSON_STRING(STRUCT(`d` := x * CAST('Infinity' AS DOUBLE)))", '{"d":"Infinity"}'),
    ],
)
def test_expression_values(text: str, expected: Any) -> None:
    result = ev(text)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n + 1", S("INT")),
        ("n * CAST(s AS BIGINT)", S("BIGINT")),
        ("n - x", S("DOUBLE")),
        ("s + s", S("STRING")),
        ("n + u", None),  # an operand of unknown type
        ("CDC_TS_MICROS(n)", S("STRING")),
    ],
)
def test_the_static_type_of_arithmetic_and_project_functions(text: str, expected: ast.SqlType | None) -> None:
    assert infer(parse_expression(text), SCOPE) == expected


def test_deref_of_a_null_struct_is_null() -> None:
    assert ev("`st`->`a`", {**ROW, "st": None}) is None
    assert ev("`st`->`inner`->`c`", {**ROW, "st": {"a": 1, "inner": None}}) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CAST('abc' AS INT)", "line 1: CAST('abc' AS INT) failed"),
        ("CAST('123.45' AS DECIMAL(3, 1))", "does not fit DECIMAL(3, 1)"),
        ("CAST('yes' AS BOOLEAN)", "is not a boolean"),
        ("CAST(3000000000 AS INT)", "outside the range of INT"),
        ("n / 0", "division by zero"),
        ("n + 'a'", "7 + 'a'"),
        ("u->`f`->g", "applied to a non-STRUCT value"),
    ],
)
def test_runtime_errors_reject_the_record(text: str, message: str) -> None:
    with pytest.raises(Rejected, match=r".*") as raised:
        ev(text)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message", "error"),
    [
        ("missing", "stream T has no column MISSING", KsqlError),
        ("`st`->nope", "STRUCT has no field NOPE (has a, inner)", KsqlError),
        ("n->a", "-> needs a STRUCT", KsqlError),
        ("NO_SUCH_FN(n)", "function NO_SUCH_FN", UnsupportedError),
        ("SUM(n)", "function SUM", UnsupportedError),
        ("TRIM(s, s)", "TRIM takes 1..1 arguments, got 2", KsqlError),
        ("CAST(s AS ARRAY<STRING>)", "CAST to ARRAY", UnsupportedError),
    ],
)
def test_compile_time_errors(text: str, message: str, error: type[Exception]) -> None:
    with pytest.raises(error) as raised:
        compile_expr(parse_expression(text), SCOPE)
    assert message in str(raised.value)
