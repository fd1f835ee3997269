"""One raw record in, cleansed records and dead letters out: the embedded backend's core,
free of Kafka clients so it is tested and benchmarked on its own.

A record is all-or-nothing: if any query fails on it (a value that does not fit the declared
schema, a failed CAST), none of its outputs are emitted and it becomes one dead letter.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import orjson

from cdc_ods.errors import Rejected
from cdc_ods.ksql.compiler import PSEUDO_COLUMNS
from cdc_ods.ksql.plan import DLQ_REASON, Plan, Query, Stream
from cdc_ods.ksql.values import encode, finite


@dataclass(frozen=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes


Drift = tuple[tuple[Stream, frozenset[str]], ...]


@dataclass
class Result:
    outputs: list[Output]
    rejects: list[str]  # dead-letter reasons for this record
    skipped: bool = False  # a tombstone: ksqlDB streams drop records without a value
    # per source stream, the row-image fields its declaration lacks: the source table
    # gained a column the script does not know yet (its value would be dropped)
    drift: Drift = ()


def _decode_key(stream: Stream, raw: bytes | None) -> dict[str, Any]:
    if not stream.keys:
        return {}
    name = stream.keys[0]
    if raw is None:
        return {name: None}
    if stream.key_format == "KAFKA":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected("key is not UTF-8 text") from None
        return {name: stream.key_decoders[name](text, name)}
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected(f"key is not JSON: {exc}") from None
    return {name: stream.key_decoders[name](parsed, f"key {name}")}


def _lookup(obj: dict[str, Any], name: str) -> Any:
    if name in obj:
        return obj[name]
    # ksqlDB matches JSON field names to column names case-insensitively
    folded = name.casefold()
    return next((v for k, v in obj.items() if k.casefold() == folded), None)


def parse_value(topic: str, value: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise Rejected(f"value is not JSON: {exc}") from None
    if type(obj) is not dict:
        raise Rejected(f"value is not a JSON object (topic {topic})")
    return obj


def new_fields(stream: Stream, obj: dict[str, Any]) -> frozenset[str]:
    """Fields of the record's row images (`after`, `before`) the stream does not declare."""
    declared = stream.image_fields
    if declared is None:
        return frozenset()
    found: set[str] = set()
    for image in (obj.get("after"), obj.get("before")):
        if type(image) is dict and not image.keys() <= declared:
            found.update(image.keys() - declared)
    return frozenset(found)


def decode_record(stream: Stream, key: bytes | None, obj: dict[str, Any]) -> dict[str, Any]:
    """A source stream's row from the record's key and parsed value, or Rejected."""
    row = _decode_key(stream, key)
    for name, decode in stream.value_decoders.items():
        row[name] = decode(_lookup(obj, name), name)
    return row


def encode_key(stream: Stream, row: dict[str, Any]) -> bytes | None:
    """The key of an output `row` (its non-finite doubles named by `values.finite`)."""
    if not stream.keys or stream.key_format == "NONE":
        return None
    value = row[stream.keys[0]]
    if value is None:
        return None
    if stream.key_format == "JSON":
        return encode(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Rejected(f"KEY_FORMAT KAFKA cannot carry a {type(value).__name__} key")
    if isinstance(value, str):
        return value.encode()
    return struct.pack(">q", value)  # KAFKA BIGINT: 8 bytes big-endian


class Engine:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.by_topic: dict[str, list[Stream]] = {}
        for stream in plan.sources:
            self.by_topic.setdefault(stream.topic, []).append(stream)

    @property
    def topics(self) -> list[str]:
        return sorted(self.by_topic)

    def process(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int, offset: int, timestamp: int
    ) -> Result:
        result = Result([], [])
        if value is None:
            result.skipped = True
            return result
        try:
            obj = parse_value(topic, value)
            streams = self.by_topic[topic]
            result.drift = tuple((s, f) for s in streams if (f := new_fields(s, obj)))
            for stream in streams:
                row = decode_record(stream, key, obj)
                row["ROWTIME"], row["ROWPARTITION"], row["ROWOFFSET"] = timestamp, partition, offset
                for query in stream.readers:
                    self._run(query, row, result)
        except Rejected as exc:
            return Result([], [str(exc)], drift=result.drift)
        except RecursionError:
            return Result([], ["value nests too deeply"], drift=result.drift)
        return result

    def _run(self, query: Query, row: dict[str, Any], result: Result) -> None:
        try:
            out = query.evaluate(row)
        except Rejected as exc:
            raise Rejected(f"{query.origin}: {exc}") from None
        if out is None:
            return
        target = query.target
        if target.in_process:
            for pseudo in PSEUDO_COLUMNS:  # a derived row keeps its source record's position
                out.setdefault(pseudo, row.get(pseudo))
            for reader in target.readers:
                self._run(reader, out, result)
            return
        if target.is_dlq:
            result.rejects.append(str(out.get(DLQ_REASON) or "rejected (no reason given)"))
            return
        if query.doubles:
            out = finite(out, query.doubles)
        values = {name: v for name, v in out.items() if name not in target.keys}
        result.outputs.append(Output(target.topic, encode_key(target, out), encode(values)))
