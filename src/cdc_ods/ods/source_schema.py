"""A source table's ODS schema (Phoenix columns and key), from the source's catalog."""

from __future__ import annotations

from cdc_ods.config import Config, SourceConfig
from cdc_ods.ksql.generate import masked_name
from cdc_ods.ods.schema import Column, TableSchema
from cdc_ods.sources import CatalogColumn, UnknownTableError, column_type, source_for

__all__ = ["UnknownTableError", "ods_column", "read_table_schema"]

# the Phoenix type of a column after its personal-data mask (cdc.yaml's table_options.pii)
_MASKED_TYPES = {"hash": "VARCHAR", "email": "VARCHAR", "phone": "VARCHAR", "year": "INTEGER"}


def ods_column(kind: str, column: CatalogColumn, mask: str | None = None) -> Column:
    if mask is not None:
        name = masked_name(column.name, mask)
        return Column(name, _MASKED_TYPES[mask], column.nullable, column.data_type, mask, column.name)
    phoenix = column_type(kind, column).phoenix
    return Column(column.name, phoenix, column.nullable, source_type=column.data_type)


def read_table_schema(config: Config, source: SourceConfig, table: str) -> TableSchema:
    catalog = source_for(config, source).catalog(table)
    options = source.table_options.get(table)
    pii = options.pii if options else {}
    columns = tuple(ods_column(source.kind, c, pii.get(c.name)) for c in catalog.columns)
    return TableSchema(source.name, source.database, table, columns, catalog.key)
