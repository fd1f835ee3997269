"""Recursive-descent parser for the KSQL subset the embedded backend runs.

Supported (everything else is refused with the construct and its line):
- `CREATE [OR REPLACE] STREAM [IF NOT EXISTS] s (col TYPE [KEY], ...) WITH (KAFKA_TOPIC=...,
  VALUE_FORMAT='JSON', ...);`
- `CREATE [OR REPLACE] STREAM [IF NOT EXISTS] s [WITH (...)] AS SELECT ... FROM t [WHERE e]
  [PARTITION BY e] [EMIT CHANGES];`
- `INSERT INTO s SELECT ... FROM t [WHERE e] [PARTITION BY e] [EMIT CHANGES];`
- expressions: literals, columns, `a->b`, `a[i]`, arithmetic (`+` joins strings), comparisons,
  AND/OR/NOT,
  IS [NOT] NULL, [NOT] BETWEEN, [NOT] IN (...), [NOT] LIKE, CASE, CAST, function calls,
  `STRUCT(f := e, ...)`, `ARRAY[e, ...]`.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from cdc_ods.ksql import ast
from cdc_ods.ksql.errors import KsqlError, UnsupportedError
from cdc_ods.ksql.lexer import Token, tokenize

# Statements ksqlDB has that the embedded backend does not run.
_UNSUPPORTED_STATEMENTS = {
    "DROP": "DROP",
    "SET": "SET (session properties)",
    "UNSET": "UNSET",
    "TERMINATE": "TERMINATE",
    "SELECT": "a transient SELECT query",
    "DESCRIBE": "DESCRIBE",
    "SHOW": "SHOW",
    "LIST": "LIST",
    "EXPLAIN": "EXPLAIN",
    "PRINT": "PRINT",
    "RUN": "RUN SCRIPT",
    "DEFINE": "DEFINE (variables)",
    "PAUSE": "PAUSE",
    "RESUME": "RESUME",
    "ASSERT": "ASSERT",
    "ALTER": "ALTER",
}
# Clauses after FROM that ksqlDB has and the subset lacks.
_UNSUPPORTED_CLAUSES = {
    "JOIN": "JOIN",
    "INNER": "JOIN",
    "LEFT": "JOIN",
    "RIGHT": "JOIN",
    "FULL": "JOIN",
    "WINDOW": "WINDOW",
    "GROUP": "GROUP BY (aggregation)",
    "HAVING": "HAVING",
    "LIMIT": "LIMIT",
}
_TYPE_ALIASES = {"INTEGER": "INT", "VARCHAR": "STRING"}
_SIMPLE_TYPES = {"BOOLEAN", "INT", "BIGINT", "DOUBLE", "STRING", "BYTES", "DATE", "TIME", "TIMESTAMP"}
_COMPARISONS = ("=", "<>", "!=", "<", "<=", ">", ">=")
# Words that end or structure an expression; never a bare column name.
_RESERVED = {
    "SELECT",
    "FROM",
    "WHERE",
    "AS",
    "AND",
    "OR",
    "NOT",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "IS",
    "IN",
    "BETWEEN",
    "LIKE",
    "PARTITION",
    "EMIT",
    "BY",
    "WITH",
    "INSERT",
    "CREATE",
    "JOIN",
    "GROUP",
}


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    # ---- token helpers ----

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tok
        self.pos += 1
        return tok

    def accept_word(self, *words: str) -> bool:
        if self.tok.is_word(*words):
            self.pos += 1
            return True
        return False

    def accept_op(self, op: str) -> bool:
        if self.tok.is_op(op):
            self.pos += 1
            return True
        return False

    def fail(self, expected: str) -> KsqlError:
        shown = "end of script" if self.tok.kind == "EOF" else repr(self.tok.text)
        return KsqlError(f"expected {expected}, got {shown}", self.tok.line)

    def expect_word(self, word: str) -> None:
        if not self.accept_word(word):
            raise self.fail(word)

    def expect_op(self, op: str) -> None:
        if not self.accept_op(op):
            raise self.fail(f"'{op}'")

    def identifier(self, what: str = "a name") -> str:
        if self.tok.kind in ("IDENT", "QIDENT"):
            return self.advance().text
        raise self.fail(what)

    # ---- statements ----

    def script(self, origin: str) -> ast.Script:
        statements: list[ast.Statement] = []
        while self.tok.kind != "EOF":
            if self.accept_op(";"):
                continue
            start = self.tok.start
            statement = self.statement()
            text = self.text[start : self.tok.start].strip() + ";"
            statements.append(dataclasses.replace(statement, text=text))
            if self.tok.kind != "EOF":
                self.expect_op(";")
        return ast.Script(tuple(statements), origin)

    def statement(self) -> ast.Statement:
        tok = self.tok
        if tok.is_word("CREATE"):
            return self.create()
        if tok.is_word("INSERT"):
            self.advance()
            self.expect_word("INTO")
            target = self.identifier("a stream name")
            if self.tok.is_op("(") or self.tok.is_word("VALUES"):
                raise UnsupportedError("INSERT INTO ... VALUES", tok.line)
            return ast.InsertInto(tok.line, target, self.select())
        if tok.kind == "IDENT" and tok.text in _UNSUPPORTED_STATEMENTS:
            raise UnsupportedError(f"{_UNSUPPORTED_STATEMENTS[tok.text]} statement", tok.line)
        raise self.fail("CREATE STREAM or INSERT INTO")

    def create(self) -> ast.CreateStream:
        line = self.advance().line
        or_replace = self.accept_word("OR")
        if or_replace:
            self.expect_word("REPLACE")
        if self.tok.is_word("SOURCE"):
            raise UnsupportedError("CREATE SOURCE STREAM/TABLE", line)
        if self.tok.is_word("TABLE"):
            raise UnsupportedError("CREATE TABLE (only streams are supported)", line)
        if self.tok.is_word("TYPE", "CONNECTOR"):
            raise UnsupportedError(f"CREATE {self.tok.text}", line)
        self.expect_word("STREAM")
        if_not_exists = False
        if self.accept_word("IF"):
            if or_replace:
                raise KsqlError("CREATE OR REPLACE with IF NOT EXISTS (use one of them)", line)
            self.expect_word("NOT")
            self.expect_word("EXISTS")
            if_not_exists = True
        name = self.identifier("a stream name")
        columns: tuple[ast.ColumnDef, ...] = ()
        if self.tok.is_op("("):
            columns = self.column_defs()
        properties = self.with_properties() if self.tok.is_word("WITH") else {}
        query = None
        if self.accept_word("AS"):
            if columns:
                raise KsqlError("a stream created AS SELECT takes its columns from the query", line)
            query = self.select()
        elif not columns:
            raise self.fail("a column list or AS SELECT")
        return ast.CreateStream(line, name, if_not_exists, columns, properties, query, or_replace)

    def column_defs(self) -> tuple[ast.ColumnDef, ...]:
        self.expect_op("(")
        columns = []
        while True:
            line = self.tok.line
            name = self.identifier("a column name")
            col_type = self.sql_type()
            key = self.accept_word("KEY")
            if self.tok.is_word("PRIMARY"):
                raise UnsupportedError("PRIMARY KEY (table columns)", self.tok.line)
            if self.tok.is_word("HEADERS", "HEADER"):
                raise UnsupportedError("HEADERS columns", self.tok.line)
            columns.append(ast.ColumnDef(name, col_type, key, line))
            if not self.accept_op(","):
                break
        self.expect_op(")")
        return tuple(columns)

    def with_properties(self) -> dict[str, str | int]:
        self.expect_word("WITH")
        self.expect_op("(")
        props: dict[str, str | int] = {}
        while True:
            name = self.identifier("a property name").upper()
            self.expect_op("=")
            tok = self.advance()
            if tok.kind == "STRING":
                props[name] = tok.text
            elif tok.kind == "NUMBER" and tok.text.isdigit():
                props[name] = int(tok.text)
            else:
                raise KsqlError(f"property {name}: expected a string or an integer", tok.line)
            if not self.accept_op(","):
                break
        self.expect_op(")")
        return props

    def sql_type(self) -> ast.SqlType:
        tok = self.tok
        name = _TYPE_ALIASES.get(self.identifier("a type"), tok.text)
        if name in _SIMPLE_TYPES:
            return ast.SqlType(name)
        if name == "DECIMAL":
            self.expect_op("(")
            precision = int(self.number_token())
            self.expect_op(",")
            scale = int(self.number_token())
            self.expect_op(")")
            return ast.SqlType("DECIMAL", (precision, scale))
        if name == "ARRAY":
            self.expect_op("<")
            item = self.sql_type()
            self.expect_op(">")
            return ast.SqlType("ARRAY", item=item)
        if name == "MAP":
            self.expect_op("<")
            key_type = self.sql_type()
            if key_type.name != "STRING":
                raise UnsupportedError(f"MAP keys of type {key_type} (only STRING)", tok.line)
            self.expect_op(",")
            value = self.sql_type()
            self.expect_op(">")
            return ast.SqlType("MAP", item=value)
        if name == "STRUCT":
            self.expect_op("<")
            fields = []
            if not self.tok.is_op(">"):
                while True:
                    field = self.identifier("a field name")
                    fields.append((field, self.sql_type()))
                    if not self.accept_op(","):
                        break
            self.expect_op(">")
            return ast.SqlType("STRUCT", fields=tuple(fields))
        raise UnsupportedError(f"type {tok.text}", tok.line)

    def number_token(self) -> str:
        if self.tok.kind != "NUMBER":
            raise self.fail("a number")
        return self.advance().text

    def select(self) -> ast.Select:
        line = self.tok.line
        self.expect_word("SELECT")
        if self.tok.is_word("DISTINCT"):
            raise UnsupportedError("SELECT DISTINCT", self.tok.line)
        projections = [self.projection()]
        while self.accept_op(","):
            projections.append(self.projection())
        self.expect_word("FROM")
        source = self.identifier("a stream name")
        if self.tok.kind in ("IDENT", "QIDENT") and not self.tok.is_word(
            "WHERE", "PARTITION", "EMIT", *_UNSUPPORTED_CLAUSES
        ):
            raise UnsupportedError("stream aliases in FROM", self.tok.line)
        if self.tok.is_op(","):
            raise UnsupportedError("several streams in FROM", self.tok.line)
        self.refuse_clause()
        where = self.expression() if self.accept_word("WHERE") else None
        self.refuse_clause()
        partition_by = None
        if self.accept_word("PARTITION"):
            self.expect_word("BY")
            partition_by = self.expression()
            if self.tok.is_op(","):
                raise UnsupportedError("PARTITION BY several expressions", self.tok.line)
        self.refuse_clause()
        if self.accept_word("EMIT"):
            if self.tok.is_word("FINAL"):
                raise UnsupportedError("EMIT FINAL", self.tok.line)
            self.expect_word("CHANGES")
        self.refuse_clause()
        return ast.Select(tuple(projections), source, where, partition_by, line)

    def refuse_clause(self) -> None:
        if self.tok.kind == "IDENT" and self.tok.text in _UNSUPPORTED_CLAUSES:
            raise UnsupportedError(_UNSUPPORTED_CLAUSES[self.tok.text], self.tok.line)

    def projection(self) -> ast.Projection:
        line = self.tok.line
        if self.accept_op("*"):
            return ast.Projection(None, None, line)
        expr = self.expression()
        alias = self.identifier("an alias") if self.accept_word("AS") else None
        return ast.Projection(expr, alias, line)

    # ---- expressions, lowest precedence first ----

    def expression(self) -> ast.Expr:
        return self.disjunction()

    def disjunction(self) -> ast.Expr:
        left = self.conjunction()
        while self.tok.is_word("OR"):
            line = self.advance().line
            left = ast.Binary(line, "OR", left, self.conjunction())
        return left

    def conjunction(self) -> ast.Expr:
        left = self.negation()
        while self.tok.is_word("AND"):
            line = self.advance().line
            left = ast.Binary(line, "AND", left, self.negation())
        return left

    def negation(self) -> ast.Expr:
        if self.tok.is_word("NOT"):
            line = self.advance().line
            return ast.Unary(line, "NOT", self.negation())
        return self.predicate()

    def predicate(self) -> ast.Expr:
        left = self.additive()
        while True:
            tok = self.tok
            if tok.is_op(*_COMPARISONS):
                self.advance()
                op = "<>" if tok.text == "!=" else tok.text
                left = ast.Binary(tok.line, op, left, self.additive())
            elif tok.is_word("IS"):
                self.advance()
                negated = self.accept_word("NOT")
                if self.tok.is_word("DISTINCT"):
                    raise UnsupportedError("IS [NOT] DISTINCT FROM", self.tok.line)
                self.expect_word("NULL")
                left = ast.IsNull(tok.line, left, negated)
            elif tok.is_word("NOT") and self.peek().is_word("BETWEEN", "IN", "LIKE"):
                self.advance()
                left = self.special_predicate(left, negated=True)
            elif tok.is_word("BETWEEN", "IN", "LIKE"):
                left = self.special_predicate(left, negated=False)
            else:
                return left

    def special_predicate(self, left: ast.Expr, negated: bool) -> ast.Expr:
        tok = self.advance()
        if tok.text == "BETWEEN":
            low = self.additive()
            self.expect_word("AND")
            return ast.Between(tok.line, left, low, self.additive(), negated)
        if tok.text == "LIKE":
            pattern = self.additive()
            if self.tok.is_word("ESCAPE"):
                raise UnsupportedError("LIKE ... ESCAPE", self.tok.line)
            return ast.Like(tok.line, left, pattern, negated)
        self.expect_op("(")
        if self.tok.is_word("SELECT"):
            raise UnsupportedError("subqueries", self.tok.line)
        items = [self.expression()]
        while self.accept_op(","):
            items.append(self.expression())
        self.expect_op(")")
        return ast.InList(tok.line, left, tuple(items), negated)

    def additive(self) -> ast.Expr:
        left = self.multiplicative()
        while self.tok.is_op("+", "-", "||"):
            tok = self.advance()
            if tok.text == "||":
                raise UnsupportedError("the || operator (use CONCAT or +)", tok.line)
            left = ast.Binary(tok.line, tok.text, left, self.multiplicative())
        return left

    def multiplicative(self) -> ast.Expr:
        left = self.unary()
        while self.tok.is_op("*", "/", "%"):
            tok = self.advance()
            left = ast.Binary(tok.line, tok.text, left, self.unary())
        return left

    def unary(self) -> ast.Expr:
        if self.tok.is_op("-", "+"):
            tok = self.advance()
            operand = self.unary()
            if tok.text == "+":
                return operand
            value = operand.value if isinstance(operand, ast.Literal) else None
            if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
                return ast.Literal(tok.line, -value)
            return ast.Unary(tok.line, "-", operand)
        return self.postfix()

    def postfix(self) -> ast.Expr:
        expr = self.primary()
        while True:
            tok = self.tok
            if self.accept_op("->"):
                expr = ast.Deref(tok.line, expr, self.identifier("a field name"))
            elif self.accept_op("["):
                index = self.expression()
                self.expect_op("]")
                expr = ast.Subscript(tok.line, expr, index)
            elif tok.is_op("=>"):
                raise UnsupportedError("lambda functions", tok.line)
            elif tok.is_op("."):
                raise UnsupportedError("qualified column names (source.column)", tok.line)
            else:
                return expr

    def primary(self) -> ast.Expr:
        tok = self.tok
        line = tok.line
        if tok.kind == "NUMBER":
            self.advance()
            text = tok.text
            if "e" in text.lower():
                return ast.Literal(line, float(text))
            return ast.Literal(line, Decimal(text) if "." in text else int(text))
        if tok.kind == "STRING":
            self.advance()
            return ast.Literal(line, tok.text)
        if tok.kind == "QIDENT":
            self.advance()
            return ast.Column(line, tok.text)
        if tok.is_op("("):
            self.advance()
            if self.tok.is_word("SELECT"):
                raise UnsupportedError("subqueries", self.tok.line)
            expr = self.expression()
            if self.tok.is_op(","):
                raise UnsupportedError("row constructors", self.tok.line)
            self.expect_op(")")
            return expr
        if tok.kind != "IDENT":
            raise self.fail("an expression")
        word = tok.text
        if word in ("TRUE", "FALSE"):
            self.advance()
            return ast.Literal(line, word == "TRUE")
        if word == "NULL":
            self.advance()
            return ast.Literal(line, None)
        if word == "CASE":
            return self.case()
        if word == "CAST":
            self.advance()
            self.expect_op("(")
            operand = self.expression()
            self.expect_word("AS")
            to = self.sql_type()
            self.expect_op(")")
            return ast.Cast(line, operand, to)
        if word == "STRUCT" and self.peek().is_op("("):
            return self.struct_literal()
        if word == "ARRAY" and self.peek().is_op("["):
            self.advance()
            self.advance()
            items = [] if self.tok.is_op("]") else [self.expression()]
            while self.accept_op(","):
                items.append(self.expression())
            self.expect_op("]")
            return ast.ArrayLit(line, tuple(items))
        if word in ("MAP", "ARRAY") and self.peek().is_op("("):
            raise UnsupportedError(f"{word}(...) constructor", line)
        if word in ("INTERVAL", "EXISTS"):
            raise UnsupportedError(word, line)
        if word in _RESERVED:
            raise self.fail("an expression")
        self.advance()
        if self.accept_op("("):
            return self.call(word, line)
        return ast.Column(line, word)

    def call(self, name: str, line: int) -> ast.Expr:
        if self.tok.is_op("*"):
            raise UnsupportedError(f"{name}(*) (aggregate functions)", line)
        if self.tok.is_word("DISTINCT"):
            raise UnsupportedError(f"{name}(DISTINCT ...) (aggregate functions)", line)
        args: list[ast.Expr] = []
        if not self.tok.is_op(")"):
            args.append(self.expression())
            while self.accept_op(","):
                args.append(self.expression())
        self.expect_op(")")
        return ast.Call(line, name, tuple(args))

    def case(self) -> ast.Expr:
        line = self.advance().line
        operand = None if self.tok.is_word("WHEN", "END") else self.expression()
        whens = []
        while self.accept_word("WHEN"):
            condition = self.expression()
            self.expect_word("THEN")
            whens.append((condition, self.expression()))
        if not whens:
            raise self.fail("WHEN")
        default = self.expression() if self.accept_word("ELSE") else None
        self.expect_word("END")
        return ast.Case(line, operand, tuple(whens), default)

    def struct_literal(self) -> ast.Expr:
        line = self.advance().line
        self.expect_op("(")
        fields = []
        if not self.tok.is_op(")"):
            while True:
                name = self.identifier("a field name")
                self.expect_op(":=")
                fields.append((name, self.expression()))
                if not self.accept_op(","):
                    break
        self.expect_op(")")
        return ast.StructLit(line, tuple(fields))


def parse_script(text: str, origin: str = "<script>") -> ast.Script:
    """Parse a whole .sql file; errors name `origin` and the line."""
    try:
        return Parser(text).script(origin)
    except KsqlError as exc:
        raise exc.located(origin) from None


def parse_expression(text: str) -> ast.Expr:
    parser = Parser(text)
    expr = parser.expression()
    if parser.tok.kind != "EOF":
        raise parser.fail("end of expression")
    return expr
