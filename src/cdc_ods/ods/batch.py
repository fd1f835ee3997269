"""A batch of row changes: per ODS table its widest schema and the last change of each key.

Every cleansed record is its key's full row state, so applying only the last change of each
key equals applying all of them in order. A record `cdc dlq replay` sent back (old by
design) never replaces a newer change of its key already in the batch.
"""

from __future__ import annotations

from confluent_kafka import Message

from cdc_ods.ods.schema import TableSchema
from cdc_ods.ods.writer import Change

Entry = tuple[Message, Change]
Tables = dict[str, tuple[TableSchema, dict[tuple, Entry]]]


class Batch:
    def __init__(self) -> None:
        self.tables: Tables = {}
        self.replays = False  # whether it holds records `cdc dlq replay` sent back
        # ODS table -> (its schema, the newest TRUNCATE's source position): applied after the
        # batch's rows, it removes the rows whose position it follows, whatever their order
        self.truncates: dict[str, tuple[TableSchema, int]] = {}

    def truncate(self, schema: TableSchema, source_pos: int) -> None:
        previous = self.truncates.get(schema.ods_name)
        if previous is None or previous[1] < source_pos:
            self.truncates[schema.ods_name] = (schema, source_pos)

    def add(self, schema: TableSchema, msg: Message, change: Change, replay: bool) -> None:
        entry = self.tables.get(schema.ods_name)
        if entry is None or len(entry[0].columns) < len(schema.columns):
            # a column added mid-batch: the whole batch is written with the widest schema
            entry = self.tables[schema.ods_name] = (schema, entry[1] if entry else {})
        changes = entry[1]
        if not change.source_pos and schema.ods_name in self.truncates:
            # a row re-read without a position (its source block had none) after this batch's
            # TRUNCATE was read after it: it stays when the TRUNCATE is applied
            change.source_pos = self.truncates[schema.ods_name][1]
        if replay:
            self.replays = True
            previous = changes.get(change.key)
            if previous is not None and change.source_pos < previous[1].source_pos:
                return  # a replay older than the key's change already in this batch
        changes[change.key] = (msg, change)

    @property
    def rows(self) -> int:
        return sum(len(entries) for _, entries in self.tables.values())

    def split(self, parts: int) -> list[Tables]:
        """The batch in `parts` by key (a key always lands in the same part)."""
        if parts == 1:
            return [self.tables]
        split: list[Tables] = [{} for _ in range(parts)]
        for name, (schema, entries) in self.tables.items():
            for key, entry in entries.items():
                part = split[hash(key) % parts]
                part.setdefault(name, (schema, {}))[1][key] = entry
        return split
