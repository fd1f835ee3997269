"""Telling a row a stage rejected from a row the pipeline lost.

A change the cleansing stage or the loader refused is in the dead-letter topic with its
reason, keyed by the record's key (`cdc_ods.dlq`). A difference reconcile finds (a row
missing, extra or different) whose table and key have a dead letter is reported as rejected,
with the stage and reason of the newest letter: the data's fault, fixed at the source or
replayed with `cdc dlq replay`. A difference without one is lost: the pipeline's fault.

A letter's key is matched in the canonical form reconcile compares keys in; a key the two
forms do not agree on (e.g. a DATE key, days since 1970 in the raw topic) finds no letter and
its row counts as lost: never the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from cdc_ods.dlq import DeadLetter
from cdc_ods.ods.schema import TableSchema
from cdc_ods.reconcile.canonical import canonical

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Rejection:
    stage: str
    reason: str
    failed_at_ms: int


def letter_key(schema: TableSchema, key: bytes | None) -> Key | None:
    """The dead letter's record key in reconcile's canonical form, or None if it has none."""
    try:
        fields = orjson.loads(key or b"")
    except orjson.JSONDecodeError:
        return None
    if isinstance(fields, dict) and isinstance(fields.get("payload"), dict):  # schemas enabled
        fields = fields["payload"]
    if not isinstance(fields, dict):
        return None
    by_name = {str(name).lower(): value for name, value in fields.items()}
    try:
        return tuple(canonical(schema.column(k), by_name[k.lower()]) for k in schema.primary_key)
    except (KeyError, TypeError, ValueError):
        return None


def rejections(schema: TableSchema, topics: set[str], letters: Iterable[DeadLetter]) -> dict[Key, Rejection]:
    """The newest rejection per key among the letters of `topics` (the table's raw and cleansed topics)."""
    found: dict[Key, Rejection] = {}
    for letter in letters:
        if letter.topic not in topics or (key := letter_key(schema, letter.key)) is None:
            continue
        known = found.get(key)
        if known is None or letter.failed_at_ms >= known.failed_at_ms:
            found[key] = Rejection(letter.stage, letter.reason, letter.failed_at_ms)
    return found
