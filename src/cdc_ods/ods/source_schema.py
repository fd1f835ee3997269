"""A source table's ODS schema (Phoenix columns and key), from the source's catalog."""

from __future__ import annotations

from cdc_ods.config import Config, SourceConfig
from cdc_ods.ods.schema import Column, TableSchema, mysql_type, postgres_type
from cdc_ods.sources import CatalogColumn, UnknownTableError, source_for

__all__ = ["UnknownTableError", "read_table_schema"]


def _phoenix_type(kind: str, column: CatalogColumn) -> str:
    if kind in ("mariadb", "mysql"):
        return mysql_type(column.data_type, column.column_type, column.precision, column.scale)
    return postgres_type(column.data_type, column.element_type or "", column.precision, column.scale)


def read_table_schema(config: Config, source: SourceConfig, table: str) -> TableSchema:
    catalog = source_for(config, source).catalog(table)
    columns = tuple(
        Column(c.name, _phoenix_type(source.kind, c), c.nullable, source_type=c.data_type)
        for c in catalog.columns
    )
    return TableSchema(source.name, source.database, table, columns, catalog.key)
