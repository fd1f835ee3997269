"""Wires parsed scripts into the embedded backend's dataflow.

Streams declared with columns over a topic are sources; each `CREATE STREAM ... AS SELECT`
and `INSERT INTO ... SELECT` is a query from one stream into another. A query's output goes
to the queries that read its stream, in-process, and - when nothing in the scripts reads
that stream - to its Kafka topic. (A ksqlDB server also writes intermediate streams to their
topics; the embedded backend skips those writes because only its own queries read them.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdc_ods.dlq import DLQ_TOPIC
from cdc_ods.ksql import ast
from cdc_ods.ksql.compiler import Compiled, Scope, compile_expr, infer, shared_subexpressions
from cdc_ods.ksql.errors import KsqlError, UnsupportedError
from cdc_ods.ksql.parser import parse_script
from cdc_ods.ksql.values import Decoder, decoder, may_hold_double

_KNOWN_PROPERTIES = {"KAFKA_TOPIC", "VALUE_FORMAT", "KEY_FORMAT", "FORMAT", "PARTITIONS", "REPLICAS"}
_KEY_FORMATS = {"JSON", "KAFKA", "NONE"}
DLQ_REASON = "reason"
IMAGE_COLUMN = "after"  # Debezium's row image after the change (`before` has the same fields)


@dataclass
class Stream:
    name: str
    topic: str
    key_format: str
    columns: dict[str, ast.SqlType | None]  # in order, keys first
    keys: tuple[str, ...]
    line: int
    origin: str
    source: bool  # declared over a topic (read from Kafka) rather than created AS SELECT
    readers: list[Query] = field(default_factory=list)
    key_decoders: dict[str, Decoder] = field(default_factory=dict)
    value_decoders: dict[str, Decoder] = field(default_factory=dict)
    # Debezium envelopes: the fields of the declared row image (`after` STRUCT), against
    # which raw records are checked for source columns the script does not know (drift)
    image_fields: frozenset[str] | None = None

    @property
    def is_dlq(self) -> bool:
        return self.topic == DLQ_TOPIC

    @property
    def in_process(self) -> bool:
        """Rows of a stream created AS SELECT that other queries read are handed to them
        in-process instead of being written to the stream's topic."""
        return not self.source and bool(self.readers)


@dataclass
class Query:
    target: Stream
    source: Stream
    projections: list[tuple[str, Compiled]]  # output column -> evaluator
    where: Compiled | None
    key: Compiled | None  # PARTITION BY: the new key
    line: int
    origin: str
    doubles: tuple[str, ...]  # output columns whose static type may hold a DOUBLE (values.finite)
    # subexpressions computed once per row into the row, under keys no column can have
    shared: list[tuple[str, Compiled]] = field(default_factory=list)

    def evaluate(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The output row for one input row, or None when WHERE rejects it."""
        for slot, compute in self.shared:
            row[slot] = compute(row)
        if self.where is not None and self.where(row) is not True:
            return None
        out = {name: f(row) for name, f in self.projections}
        if self.key is not None:
            out[self.target.keys[0]] = self.key(row)
        return out


@dataclass
class Plan:
    streams: dict[str, Stream]
    queries: list[Query]

    @property
    def sources(self) -> list[Stream]:
        """Declared streams at least one query reads: the topics the runner consumes."""
        return [s for s in self.streams.values() if s.source and s.readers]

    def input_topics(self, topic: str) -> set[str]:
        """The consumed topics whose records reach the output `topic` (through the in-process
        streams between them)."""
        found: set[str] = set()
        todo = [q.source for q in self.queries if q.target.topic == topic]
        seen: set[str] = set()
        while todo:
            stream = todo.pop()
            if stream.name in seen:
                continue
            seen.add(stream.name)
            if stream.source:
                found.add(stream.topic)
            else:
                todo += [q.source for q in self.queries if q.target.name == stream.name]
        return found


def _format(
    props: dict[str, str | int], line: int, inherited: tuple[str, str] = ("", "KAFKA")
) -> tuple[str, str]:
    """(value format, key format); a stream created AS SELECT inherits its source's."""
    for name in props:
        if name not in _KNOWN_PROPERTIES:
            raise UnsupportedError(f"WITH property {name}", line)
    both = str(props.get("FORMAT", "")).upper()
    value_format = str(props.get("VALUE_FORMAT", both or inherited[0])).upper()
    key_format = str(props.get("KEY_FORMAT", both or inherited[1])).upper()
    if value_format != "JSON":
        raise UnsupportedError(f"VALUE_FORMAT {value_format or '(missing)'} (only JSON)", line)
    if key_format not in _KEY_FORMATS:
        raise UnsupportedError(f"KEY_FORMAT {key_format} (only JSON, KAFKA, NONE)", line)
    return value_format, key_format


class Planner:
    def __init__(self) -> None:
        self.plan = Plan({}, [])

    def add_script(self, script: ast.Script) -> None:
        for statement in script.statements:
            try:
                if isinstance(statement, ast.CreateStream):
                    self.create(statement, script.origin)
                elif isinstance(statement, ast.InsertInto):
                    target = self.stream(statement.target, statement.line)
                    self.query(target, statement.query, script.origin, into_existing=True)
            except KsqlError as exc:
                raise exc if exc.origin else exc.located(script.origin) from None

    def stream(self, name: str, line: int) -> Stream:
        if name not in self.plan.streams:
            raise KsqlError(f"unknown stream {name}", line)
        return self.plan.streams[name]

    def create(self, statement: ast.CreateStream, origin: str) -> None:
        if statement.name in self.plan.streams:
            if statement.if_not_exists:
                return
            raise KsqlError(f"stream {statement.name} already exists", statement.line)
        inherited = ("", "KAFKA")
        if statement.query is not None:
            inherited = ("JSON", self.stream(statement.query.source, statement.query.line).key_format)
        _, key_format = _format(statement.properties, statement.line, inherited)
        topic = str(statement.properties.get("KAFKA_TOPIC", statement.name))
        if statement.query is None:
            if "KAFKA_TOPIC" not in statement.properties:
                raise KsqlError(f"stream {statement.name}: KAFKA_TOPIC is required", statement.line)
            keys = tuple(c.name for c in statement.columns if c.key)
            self.check_keys(statement.name, keys, key_format, statement.line)
            columns = {c.name: c.type for c in statement.columns}
            if len(columns) != len(statement.columns):
                raise KsqlError(f"stream {statement.name}: a column is declared twice", statement.line)
            stream = Stream(statement.name, topic, key_format, columns, keys, statement.line, origin, True)
            stream.key_decoders = {c.name: decoder(c.type) for c in statement.columns if c.key}
            stream.value_decoders = {c.name: decoder(c.type) for c in statement.columns if not c.key}
            image = columns.get(IMAGE_COLUMN)
            if image is not None and image.name == "STRUCT":
                stream.image_fields = frozenset(name for name, _ in image.fields)
            self.plan.streams[stream.name] = stream
            return
        stream = Stream(statement.name, topic, key_format, {}, (), statement.line, origin, False)
        self.query(stream, statement.query, origin, into_existing=False)
        self.plan.streams[stream.name] = stream

    @staticmethod
    def check_keys(name: str, keys: tuple[str, ...], key_format: str, line: int) -> None:
        if len(keys) > 1:
            raise UnsupportedError(f"stream {name}: several KEY columns (use one STRUCT key)", line)
        if keys and key_format == "NONE":
            raise KsqlError(f"stream {name}: KEY_FORMAT NONE with a KEY column", line)

    def query(self, target: Stream, select: ast.Select, origin: str, into_existing: bool) -> None:
        source = self.stream(select.source, select.line)
        if source is target:
            raise KsqlError(f"stream {target.name} reads from itself", select.line)
        scope = Scope(source.columns, source.name, decoded=source.source)
        projections: list[tuple[str, Compiled]] = []
        columns: dict[str, ast.SqlType | None] = {}
        keys: list[str] = []
        partition_key = select.partition_by
        shared = self.share(select, scope)
        for index, item in enumerate(select.projections):
            if item.expr is None:  # SELECT *
                for name, col_type in source.columns.items():
                    self.add_column(columns, name, col_type, item.line)
                    projections.append((name, compile_expr(ast.Column(item.line, name), scope)))
                    if name in source.keys and partition_key is None:
                        keys.append(name)
                continue
            name = item.alias or _default_name(item.expr, index)
            self.add_column(columns, name, infer(item.expr, scope), item.line)
            is_key = (
                item.expr == partition_key
                if partition_key is not None
                else isinstance(item.expr, ast.Column) and item.expr.name in source.keys
            )
            if is_key:
                keys.append(name)
                if partition_key is not None:
                    continue  # the PARTITION BY value is computed once, as the key
            projections.append((name, compile_expr(item.expr, scope)))
        if partition_key is not None and not keys:
            raise KsqlError("the PARTITION BY expression must also be in the projection", select.line)
        if partition_key is None and source.keys and not keys:
            raise KsqlError(
                f"the projection must include the key column {source.keys[0]} of {source.name}", select.line
            )
        self.check_keys(target.name, tuple(keys), target.key_format, select.line)
        if into_existing:
            if set(columns) != set(target.columns) or tuple(keys) != target.keys:
                raise KsqlError(
                    f"INSERT INTO {target.name}: the query's columns {sorted(columns)} do not match"
                    f" the stream's {sorted(target.columns)}",
                    select.line,
                )
        else:
            target.columns, target.keys = columns, tuple(keys)
        if target.is_dlq and DLQ_REASON not in columns:
            raise KsqlError(f"a query into {DLQ_TOPIC} must project a `{DLQ_REASON}` column", select.line)
        where = compile_expr(select.where, scope) if select.where is not None else None
        key = compile_expr(partition_key, scope) if partition_key is not None else None
        doubles = tuple(name for name, col_type in columns.items() if may_hold_double(col_type))
        query = Query(target, source, projections, where, key, select.line, origin, doubles, shared)
        source.readers.append(query)
        self.plan.queries.append(query)

    def share(self, select: ast.Select, scope: Scope) -> list[tuple[str, Compiled]]:
        """Compile the query's repeated subexpressions once, each under a row key of its own
        (a NUL-prefixed name no column has), and let the scope's later compiles read them."""
        exprs = [item.expr for item in select.projections if item.expr is not None]
        exprs += [e for e in (select.where, select.partition_by) if e is not None]
        shared = []
        for i, expr in enumerate(shared_subexpressions(exprs, scope)):
            compute = compile_expr(expr, scope)  # reads the inner ones already shared
            scope.computed[expr] = slot = f"\0{len(self.plan.queries)}.{i}"
            shared.append((slot, compute))
        return shared

    @staticmethod
    def add_column(columns: dict[str, Any], name: str, col_type: ast.SqlType | None, line: int) -> None:
        if name in columns:
            raise KsqlError(f"column {name} appears twice in the projection", line)
        columns[name] = col_type


def _default_name(expr: ast.Expr, index: int) -> str:
    """ksqlDB's names for unaliased projections: the column or field name, else KSQL_COL_<i>."""
    if isinstance(expr, ast.Column):
        return expr.name
    if isinstance(expr, ast.Deref):
        return expr.field
    return f"KSQL_COL_{index}"


def script_files(directory: Path) -> list[Path]:
    """The scripts in name order (a shared header like `00_dlq.sql` sorts first)."""
    files = sorted(directory.glob("*.sql"))
    if not files:
        raise KsqlError(f"no .sql scripts in {directory}")
    return files


def read_scripts(files: Iterable[Path]) -> dict[str, str]:
    """Script texts by origin (the file's path), in the given order."""
    return {str(path): path.read_text(encoding="utf-8") for path in files}


def build_plan(files: Iterable[Path]) -> Plan:
    return plan_scripts(read_scripts(files))


def plan_scripts(scripts: dict[str, str]) -> Plan:
    """The plan of script texts by origin, planned in the dict's order."""
    planner = Planner()
    for origin, text in scripts.items():
        planner.add_script(parse_script(text, origin))
    if not planner.plan.sources:
        raise KsqlError("the scripts declare no stream that a query reads from a topic")
    return planner.plan


def plan_text(*texts: str) -> Plan:
    """A plan from script texts (tests, tools)."""
    planner = Planner()
    for i, text in enumerate(texts):
        planner.add_script(parse_script(text, f"<script {i + 1}>"))
    return planner.plan
