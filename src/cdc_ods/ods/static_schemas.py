"""ODS tables of streams that have no source database to read a schema from.

The apps' behaviour events arrive through the collector; their common schema is fixed
(cdc_telemetry.schema), so their ODS table is declared here. Keyed by (uid, sid, seq): one
row per event, and a batch a client re-sent after a lost acknowledgement overwrites itself.
"""

from __future__ import annotations

from cdc_ods import contract
from cdc_ods.ods.schema import Column, TableSchema

EVENTS = TableSchema(
    contract.EVENTS_SOURCE,
    contract.EVENTS_DATABASE,
    contract.EVENTS_TABLE,
    (
        Column("uid", "VARCHAR", False),
        Column("sid", "VARCHAR", False),
        Column("seq", "BIGINT", False),
        Column("event", "VARCHAR"),
        Column("platform", "VARCHAR"),
        Column("country", "VARCHAR"),
        Column("app_version", "VARCHAR"),
        Column("os", "VARCHAR"),
        Column("device", "VARCHAR"),
        Column("props", "VARCHAR"),
        Column("event_ts", "TIMESTAMP"),
        Column("received_at", "TIMESTAMP"),
    ),
    ("uid", "sid", "seq"),
)

STATIC_SCHEMAS = {(s.source, s.database, s.table): s for s in (EVENTS,)}
