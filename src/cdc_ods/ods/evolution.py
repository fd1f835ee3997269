"""Schema evolution: the ODS table each cleansed topic loads into, created from the source
table's schema on the topic's first record, and widened (ALTER TABLE ADD) before the first
record that carries a field it does not have (a column added at the source; the ODS never
drops one).

A table whose ODS table cannot be made (the source has no such table or key, Phoenix refuses
the DDL) has its records dead-lettered (`Rejected`); the other tables keep loading. Anything
else that stops the schema from being read (a source missing from cdc.yaml, a password not
set: a `ConfigError`) is no record's fault and stops the loader.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from cdc_ods import contract
from cdc_ods.config import Config
from cdc_ods.errors import Rejected
from cdc_ods.ods import metrics
from cdc_ods.ods.schema import Column, TableSchema
from cdc_ods.ods.source_schema import UnknownTableError, read_table_schema
from cdc_ods.ods.static_schemas import STATIC_SCHEMAS
from cdc_ods.ods.writer import retry_phoenix
from cdc_ods.runtime import retry_transient

log = logging.getLogger("cdc_ods.loader")

Table = tuple[str, str, str]  # source, database, table
SchemaReader = Callable[[str, str, str], TableSchema]
GiveUp = Callable[[], bool]

# a field the cleansing stage derives (no source column): its ODS type from its JSON value
_JSON_TYPES: dict[type, str] = {bool: "BOOLEAN", int: "BIGINT", float: "DOUBLE", str: "VARCHAR"}
_METADATA_FIELDS = frozenset(contract.METADATA_FIELDS)


class Ddl(Protocol):
    def ensure_table(self, schema: TableSchema) -> None: ...

    def add_column(self, schema: TableSchema, column: Column) -> None: ...


def source_schema_reader(config: Config) -> SchemaReader:
    """Reads a table's schema: declared for the streams without a source database (the apps'
    events), else from the source's catalog."""

    def read(source: str, database: str, table: str) -> TableSchema:
        static = STATIC_SCHEMAS.get((source, database, table))
        if static is not None:
            return static
        return read_table_schema(config, config.source(source), table)

    return read


class Schemas:
    """The known ODS table schemas, by cleansed topic; `ddl` creates and widens the tables."""

    def __init__(self, read: SchemaReader, ddl: Ddl) -> None:
        self._read = read
        self._ddl = ddl
        self._schemas: dict[Table, TableSchema] = {}
        self._topic_tables: dict[str, Table] = {}
        self._checked_fields: set[tuple[str, str]] = set()

    def for_row(self, topic: str, row: dict[str, Any], give_up: GiveUp) -> TableSchema:
        """The schema `row` of `topic` is written with (its table created or widened first)."""
        return self._widened(self._of_topic(topic, give_up), row, give_up)

    def _read_source(self, table: Table, give_up: GiveUp) -> TableSchema:
        try:  # a source database restarting is waited for
            return retry_transient(lambda: self._read(*table), give_up, _log_source_retry)
        except UnknownTableError as exc:  # this table's records are dead-lettered; the others load
            raise Rejected(str(exc)) from None

    def _of_topic(self, topic: str, give_up: GiveUp) -> TableSchema:
        table = self._topic_tables.get(topic)
        if table is None:
            try:
                table = self._topic_tables[topic] = contract.parse_cleansed_topic(topic)
            except ValueError as exc:
                raise Rejected(str(exc)) from None
        schema = self._schemas.get(table)
        if schema is None:
            schema = self._read_source(table, give_up)
            try:
                retry_phoenix(lambda: self._ddl.ensure_table(schema), give_up)
            except Rejected as exc:
                raise Rejected(f"Phoenix refused to create {schema.ods_name}: {exc}") from None
            metrics.SCHEMA_CHANGES.labels(schema.ods_name, "create").inc()
            self._schemas[table] = schema
        return schema

    def _widened(self, schema: TableSchema, row: dict[str, Any], give_up: GiveUp) -> TableSchema:
        """Columns added for the fields the ODS table does not have yet."""
        unknown = row.keys() - schema.column_names  # one C-level set operation on the common path
        if unknown:
            unknown -= _METADATA_FIELDS
        if not unknown:
            return schema
        unchecked = [f for f in row if f in unknown and (schema.ods_name, f) not in self._checked_fields]
        if not unchecked:
            return schema
        table = (schema.source, schema.database, schema.table)
        fresh = self._read_source(table, give_up)
        columns = list(schema.columns)
        for name in unchecked:
            column = fresh.column(name) or Column(name, _JSON_TYPES.get(type(row[name]), "VARCHAR"))
            retry_phoenix(lambda column=column: self._ddl.add_column(schema, column), give_up)
            self._checked_fields.add((schema.ods_name, name))
            metrics.SCHEMA_CHANGES.labels(schema.ods_name, "add_column").inc()
            log.info("%s: added column %s %s", schema.ods_name, column.ods_name, column.phoenix_type)
            columns.append(column)
        updated = TableSchema(
            schema.source, schema.database, schema.table, tuple(columns), schema.primary_key
        )
        self._schemas[table] = updated
        return updated


def _log_source_retry(error: BaseException, sleep_s: float) -> None:
    log.warning("reading the source schema again in %.1fs: %s", sleep_s, error)
