"""A source table's columns as `cdc ksql generate` needs them, from the source's catalog."""

from __future__ import annotations

from cdc_ods.config import Config, SourceConfig
from cdc_ods.endpoints import Endpoints
from cdc_ods.ksql.generate import SourceColumn
from cdc_ods.sources import source_for


def table_columns(
    config: Config, source: SourceConfig, table: str, endpoints: Endpoints | None = None
) -> list[SourceColumn]:
    catalog = source_for(config, source, endpoints).catalog(table)
    return [
        SourceColumn(
            c.name,
            c.data_type,
            c.datetime_precision,
            c.unsigned,
            element_type=c.element_type,
            key=c.name in catalog.key,
        )
        for c in catalog.columns
    ]
