"""Syntax tree of the supported KSQL subset: types, expressions, statements.

Identifiers follow ksqlDB: unquoted names are upper-cased, back-quoted names keep their case.
Every node keeps the line it started on, so later checks can name it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

# ---- types ----


@dataclass(frozen=True)
class SqlType:
    name: str  # BOOLEAN INT BIGINT DOUBLE DECIMAL STRING BYTES DATE TIME TIMESTAMP ARRAY MAP STRUCT
    params: tuple[int, ...] = ()  # DECIMAL(precision, scale)
    item: SqlType | None = None  # ARRAY item, MAP value
    fields: tuple[tuple[str, SqlType], ...] = ()  # STRUCT fields in order

    def field(self, name: str) -> SqlType | None:
        return next((t for n, t in self.fields if n == name), None)

    def __str__(self) -> str:
        if self.name == "DECIMAL":
            return f"DECIMAL({self.params[0]}, {self.params[1]})"
        if self.name == "ARRAY":
            return f"ARRAY<{self.item}>"
        if self.name == "MAP":
            return f"MAP<STRING, {self.item}>"
        if self.name == "STRUCT":
            return "STRUCT<" + ", ".join(f"`{n}` {t}" for n, t in self.fields) + ">"
        return self.name


# ---- expressions ----


@dataclass(frozen=True)
class Expr:
    line: int = field(compare=False)  # equal expressions on different lines are the same


@dataclass(frozen=True)
class Literal(Expr):
    value: bool | int | Decimal | float | str | None


@dataclass(frozen=True)
class Column(Expr):
    name: str


@dataclass(frozen=True)
class Deref(Expr):
    """Struct field access `base->field`."""

    base: Expr
    field: str


@dataclass(frozen=True)
class Subscript(Expr):
    """Array element `base[index]`, 1-based; negative counts from the end."""

    base: Expr
    index: Expr


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # NOT, -
    operand: Expr


@dataclass(frozen=True)
class Binary(Expr):
    op: str  # AND OR = <> < <= > >= + - * / % ||
    left: Expr
    right: Expr


@dataclass(frozen=True)
class IsNull(Expr):
    operand: Expr
    negated: bool


@dataclass(frozen=True)
class Between(Expr):
    operand: Expr
    low: Expr
    high: Expr
    negated: bool


@dataclass(frozen=True)
class InList(Expr):
    operand: Expr
    items: tuple[Expr, ...]
    negated: bool


@dataclass(frozen=True)
class Like(Expr):
    operand: Expr
    pattern: Expr
    negated: bool


@dataclass(frozen=True)
class Case(Expr):
    operand: Expr | None  # simple CASE x WHEN v ...; None for searched CASE WHEN cond ...
    whens: tuple[tuple[Expr, Expr], ...]
    default: Expr | None


@dataclass(frozen=True)
class Cast(Expr):
    operand: Expr
    to: SqlType


@dataclass(frozen=True)
class Call(Expr):
    name: str  # upper case
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class StructLit(Expr):
    """`STRUCT(name := expr, ...)`."""

    fields: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True)
class ArrayLit(Expr):
    """`ARRAY[expr, ...]`."""

    items: tuple[Expr, ...]


# ---- statements ----


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type: SqlType
    key: bool
    line: int


@dataclass(frozen=True)
class Projection:
    expr: Expr | None  # None for `*`
    alias: str | None
    line: int


@dataclass(frozen=True)
class Select:
    projections: tuple[Projection, ...]
    source: str
    where: Expr | None
    partition_by: Expr | None
    line: int


@dataclass(frozen=True)
class Statement:
    line: int
    text: str = field(default="", compare=False, kw_only=True)  # as written, for the ksqlDB backend


@dataclass(frozen=True)
class CreateStream(Statement):
    """`CREATE STREAM name (cols) WITH (...)` or `CREATE STREAM name WITH (...) AS SELECT ...`."""

    name: str
    if_not_exists: bool
    columns: tuple[ColumnDef, ...]
    properties: dict[str, str | int] = field(default_factory=dict)
    query: Select | None = None
    # ksqlDB upgrades an existing stream in place; the embedded backend builds every stream
    # once per start, so for it this is a plain CREATE
    or_replace: bool = False


@dataclass(frozen=True)
class InsertInto(Statement):
    target: str
    query: Select


@dataclass(frozen=True)
class Script:
    statements: tuple[Statement, ...]
    origin: str
