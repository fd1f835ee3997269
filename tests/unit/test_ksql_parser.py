"""The KSQL parser: every supported construct parses; everything else is refused by name and line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cdc_ods.ksql import ast
from cdc_ods.ksql.errors import KsqlError, UnsupportedError
from cdc_ods.ksql.parser import parse_expression, parse_script

SOURCE = """-- a comment
CREATE STREAM IF NOT EXISTS raw (
    `k` STRUCT<`id` BIGINT> KEY,
    `after` STRUCT<`id` BIGINT, `tags` ARRAY<STRING>, `m` MAP<STRING, INT>, `d` DECIMAL(3, 1)>,
    op VARCHAR, n INTEGER, flag BOOLEAN, x DOUBLE, b BYTES, dt DATE, tm TIME, ts TIMESTAMP
) WITH (KAFKA_TOPIC='raw.topic', KEY_FORMAT='JSON', VALUE_FORMAT='JSON', PARTITIONS=3);
/* block
   comment */
CREATE STREAM out WITH (KAFKA_TOPIC='out') AS
SELECT `k`, `after`->`id` AS id, * FROM raw WHERE op = 'c' PARTITION BY `k` EMIT CHANGES;
INSERT INTO out SELECT `k`, op FROM raw;
"""


def test_create_or_replace_is_a_create_marked_as_an_upgrade() -> None:
    (statement,) = parse_script("CREATE OR REPLACE STREAM s AS SELECT * FROM t;", "s.sql").statements
    assert isinstance(statement, ast.CreateStream) and statement.or_replace and not statement.if_not_exists
    assert statement.name == "S" and statement.query is not None


def test_a_script_with_every_statement_form() -> None:
    script = parse_script(SOURCE, "s.sql")
    create, derived, insert = script.statements
    assert isinstance(create, ast.CreateStream) and create.name == "RAW" and create.if_not_exists
    assert create.line == 2 and create.query is None
    assert create.properties == {
        "KAFKA_TOPIC": "raw.topic",
        "KEY_FORMAT": "JSON",
        "VALUE_FORMAT": "JSON",
        "PARTITIONS": 3,
    }
    k, after, op, n, *_ = create.columns
    assert k.name == "k" and k.key and k.type.fields == (("id", ast.SqlType("BIGINT")),)
    assert after.type.field("tags") == ast.SqlType("ARRAY", item=ast.SqlType("STRING"))
    assert after.type.field("m") == ast.SqlType("MAP", item=ast.SqlType("INT"))
    assert after.type.field("d") == ast.SqlType("DECIMAL", (3, 1))
    assert op.name == "OP" and op.type.name == "STRING" and n.type.name == "INT"
    assert [c.type.name for c in create.columns[4:]] == [
        "BOOLEAN",
        "DOUBLE",
        "BYTES",
        "DATE",
        "TIME",
        "TIMESTAMP",
    ]
    assert isinstance(derived, ast.CreateStream) and derived.line == 9 and derived.query is not None
    query = derived.query
    assert [p.alias for p in query.projections] == [None, "ID", None]
    assert query.projections[2].expr is None  # *
    assert query.where == ast.Binary(0, "=", ast.Column(0, "OP"), ast.Literal(0, "c"))
    assert query.partition_by == ast.Column(0, "k")
    assert isinstance(insert, ast.InsertInto) and insert.target == "OUT" and insert.line == 11
    assert insert.text == "INSERT INTO out SELECT `k`, op FROM raw;"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", ast.Literal(0, 1)),
        ("-2", ast.Literal(0, -2)),
        ("1.50", ast.Literal(0, Decimal("1.50"))),
        ("1e3", ast.Literal(0, 1000.0)),
        ("'it''s'", ast.Literal(0, "it's")),
        ("TRUE", ast.Literal(0, True)),
        ("null", ast.Literal(0, None)),
        ("a", ast.Column(0, "A")),
        ("`a`", ast.Column(0, "a")),
        ('"a"', ast.Column(0, "a")),
        ("a->`b`->c", ast.Deref(0, ast.Deref(0, ast.Column(0, "A"), "b"), "C")),
        ("a[-1]", ast.Subscript(0, ast.Column(0, "A"), ast.Literal(0, -1))),
        (
            "1 + 2 * 3",
            ast.Binary(0, "+", ast.Literal(0, 1), ast.Binary(0, "*", ast.Literal(0, 2), ast.Literal(0, 3))),
        ),
        (
            "(1 + 2) % 3",
            ast.Binary(0, "%", ast.Binary(0, "+", ast.Literal(0, 1), ast.Literal(0, 2)), ast.Literal(0, 3)),
        ),
        ("a != 1", ast.Binary(0, "<>", ast.Column(0, "A"), ast.Literal(0, 1))),
        (
            "NOT a OR b AND c",
            ast.Binary(
                0,
                "OR",
                ast.Unary(0, "NOT", ast.Column(0, "A")),
                ast.Binary(0, "AND", ast.Column(0, "B"), ast.Column(0, "C")),
            ),
        ),
        ("a IS NOT NULL", ast.IsNull(0, ast.Column(0, "A"), True)),
        (
            "a NOT BETWEEN 0 AND 10",
            ast.Between(0, ast.Column(0, "A"), ast.Literal(0, 0), ast.Literal(0, 10), True),
        ),
        ("a IN (1, 2)", ast.InList(0, ast.Column(0, "A"), (ast.Literal(0, 1), ast.Literal(0, 2)), False)),
        ("a NOT LIKE 'x%'", ast.Like(0, ast.Column(0, "A"), ast.Literal(0, "x%"), True)),
        (
            "CASE WHEN a THEN 1 ELSE 2 END",
            ast.Case(0, None, ((ast.Column(0, "A"), ast.Literal(0, 1)),), ast.Literal(0, 2)),
        ),
        (
            "CASE a WHEN 1 THEN 'x' END",
            ast.Case(0, ast.Column(0, "A"), ((ast.Literal(0, 1), ast.Literal(0, "x")),), None),
        ),
        ("CAST(a AS DECIMAL(5, 2))", ast.Cast(0, ast.Column(0, "A"), ast.SqlType("DECIMAL", (5, 2)))),
        ("lcase(a)", ast.Call(0, "LCASE", (ast.Column(0, "A"),))),
        ("STRUCT(x := 1)", ast.StructLit(0, (("X", ast.Literal(0, 1)),))),
        ("ARRAY[1, 2]", ast.ArrayLit(0, (ast.Literal(0, 1), ast.Literal(0, 2)))),
        ("ARRAY[]", ast.ArrayLit(0, ())),
    ],
)
def test_expressions(text: str, expected: ast.Expr) -> None:
    assert parse_expression(text) == expected


@pytest.mark.parametrize(
    ("script", "construct", "line"),
    [
        (
            "CREATE TABLE t (id INT PRIMARY KEY) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');",
            "CREATE TABLE",
            1,
        ),
        ("CREATE SOURCE STREAM s (a INT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');", "CREATE SOURCE", 1),
        ("CREATE TYPE x AS STRUCT<a INT>;", "CREATE TYPE", 1),
        ("\nDROP STREAM s;", "DROP", 2),
        ("SET 'auto.offset.reset'='earliest';", "SET", 1),
        ("SELECT * FROM s EMIT CHANGES;", "transient SELECT", 1),
        ("TERMINATE ALL;", "TERMINATE", 1),
        ("INSERT INTO s (a) VALUES (1);", "INSERT INTO ... VALUES", 1),
        ("INSERT INTO s SELECT * FROM a\nJOIN b WITHIN 1 HOUR ON a.x = b.x;", "JOIN", 2),
        ("INSERT INTO s SELECT * FROM a LEFT JOIN b ON a.x = b.x;", "JOIN", 1),
        ("INSERT INTO s SELECT * FROM a x;", "stream aliases", 1),
        ("INSERT INTO s SELECT * FROM a, b;", "several streams", 1),
        ("INSERT INTO s SELECT COUNT(*) FROM a GROUP BY b;", "aggregate", 1),
        ("INSERT INTO s SELECT b FROM a GROUP BY b;", "GROUP BY", 1),
        ("INSERT INTO s SELECT b FROM a WINDOW TUMBLING (SIZE 1 HOUR);", "WINDOW", 1),
        ("INSERT INTO s SELECT b FROM a WHERE b > 1 LIMIT 5;", "LIMIT", 1),
        ("INSERT INTO s SELECT b FROM a EMIT FINAL;", "EMIT FINAL", 1),
        ("INSERT INTO s SELECT DISTINCT b FROM a;", "DISTINCT", 1),
        ("INSERT INTO s SELECT TRANSFORM(b, x => x) FROM a;", "lambda", 1),
        ("INSERT INTO s SELECT a.b FROM a;", "qualified column", 1),
        ("INSERT INTO s SELECT b FROM a WHERE b IN (SELECT c FROM d);", "subqueries", 1),
        ("INSERT INTO s SELECT 'a' || 'b' AS c FROM a;", "||", 1),
        ("INSERT INTO s SELECT b FROM a WHERE b IS DISTINCT FROM c;", "DISTINCT FROM", 1),
        ("INSERT INTO s SELECT b FROM a WHERE b LIKE 'x' ESCAPE '!';", "ESCAPE", 1),
        ("INSERT INTO s SELECT MAP('a' := 1) AS m FROM a;", "MAP(...)", 1),
        ("INSERT INTO s SELECT b FROM a PARTITION BY b, c;", "PARTITION BY several", 1),
        ("CREATE STREAM s (a MAP<INT, INT>) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');", "MAP keys", 1),
        ("CREATE STREAM s (a FLOAT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');", "type FLOAT", 1),
        ("CREATE STREAM s (a INT HEADERS) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');", "HEADERS", 1),
    ],
)
def test_unsupported_constructs_are_refused_by_name_and_line(script: str, construct: str, line: int) -> None:
    with pytest.raises(UnsupportedError) as raised:
        parse_script(script, "x.sql")
    assert construct in str(raised.value)
    assert str(raised.value).startswith(f"x.sql:{line}: ")


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("CREATE STREAM s;", "expected a column list or AS SELECT"),
        (
            "CREATE STREAM s (a INT) WITH (KAFKA_TOPIC='t') AS SELECT * FROM t;",
            "takes its columns from the query",
        ),
        ("INSERT INTO s SELECT FROM t;", "expected an expression"),
        ("INSERT INTO s SELECT a FROM t WHERE a = 'x;", "unterminated string"),
        ("INSERT INTO s SELECT a FROM t /* open", "unterminated comment"),
        ("INSERT INTO s SELECT a FROM t WHERE CASE END;", "expected WHEN"),
        ("CREATE STREAM s (a INT) WITH (KAFKA_TOPIC=1.5);", "expected a string or an integer"),
        ("INSERT INTO s SELECT a FROM t WHERE a = 1 INSERT", "expected ';'"),
        ("CREATE OR REPLACE STREAM IF NOT EXISTS s AS SELECT * FROM t;", "use one of them"),
        ("CREATE OR STREAM s AS SELECT * FROM t;", "expected REPLACE"),
    ],
)
def test_syntax_errors_name_the_line(script: str, message: str) -> None:
    with pytest.raises(KsqlError) as raised:
        parse_script(script, "x.sql")
    assert message in str(raised.value) and str(raised.value).startswith("x.sql:1: ")
