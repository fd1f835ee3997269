"""A source table's ODS schema (Phoenix columns and key), from the source's catalog."""

from __future__ import annotations

from cdc_ods.config import Config, SourceConfig
from cdc_ods.ksql.generate import PII_MASKS, masked_name
from cdc_ods.ods.schema import Column, TableSchema
from cdc_ods.sources import CatalogColumn, UnknownTableError, column_type, source_for

__all__ = ["UnknownTableError", "read_table_schema"]


def _ods_column(kind: str, column: CatalogColumn, mask: str | None = None) -> Column:
    if mask is not None:
        name = masked_name(column.name, mask)
        return Column(name, PII_MASKS[mask].phoenix, column.nullable, column.data_type, mask, column.name)
    phoenix = column_type(kind, column).phoenix
    return Column(column.name, phoenix, column.nullable, source_type=column.data_type)


def read_table_schema(config: Config, source: SourceConfig, table: str) -> TableSchema:
    catalog = source_for(config, source).catalog(table)
    pii = source.options(table).pii
    columns = tuple(_ods_column(source.kind, c, pii.get(c.name)) for c in catalog.columns)
    return TableSchema(source.name, source.database, table, columns, catalog.key)
