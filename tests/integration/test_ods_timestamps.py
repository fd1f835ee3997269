"""The ODS keeps the sources' microseconds, through the real Query Server and Phoenix.

Avatica carries a TIMESTAMP parameter and result as milliseconds; the loader sends
timestamps as text and reconcile reads them as DECIMAL, so a microsecond more or less is a
difference. A timestamp that is part of the key is found and deleted by its exact value.
"""

from __future__ import annotations

import datetime as dt
import uuid

import phoenixdb

from cdc_ods.endpoints import Endpoints
from cdc_ods.ods.replay_guard import ReplayGuard
from cdc_ods.ods.schema import Column, TableSchema
from cdc_ods.ods.writer import Change, PhoenixWriter
from cdc_ods.reconcile.readers import ods_rows

TS = Column("ts", "TIMESTAMP", False)
MOMENTS = [  # naive UTC, as the reconcile reader returns them
    dt.datetime(2024, 2, 29, 23, 59, 58, 123456),
    dt.datetime(2024, 2, 29, 23, 59, 58, 123457),  # one microsecond later: another key
    dt.datetime(1969, 12, 31, 23, 59, 59, 999999),  # before the epoch
    dt.datetime(2025, 1, 1, 0, 0, 0, 1),
]


def change(key: dt.datetime, seen: dt.datetime | None, pos: int, deleted: bool = False) -> Change:
    """A change as the loader hands it to the writer (values converted by the ODS columns)."""
    key_text = TS.convert(key)
    return Change(
        key=(key_text,),
        values={"ts": key_text} if deleted else {"ts": key_text, "seen_at": TS.convert(seen)},
        op="d" if deleted else "c",
        source_ts_ms=1_700_000_000_000,
        source_pos=pos,
        deleted=deleted,
    )


def test_timestamps_keep_their_microseconds_as_values_and_as_keys(endpoints: Endpoints) -> None:
    schema = TableSchema(
        "itest",
        "maf",
        f"ts_{uuid.uuid4().hex[:8]}",
        (TS, Column("seen_at", "TIMESTAMP")),
        ("ts",),
    )
    writer = PhoenixWriter(endpoints.phoenix_url)
    guard = ReplayGuard(endpoints.phoenix_url)
    try:
        writer.ensure_table(schema)
        writer.stage(schema, [change(m, m + dt.timedelta(microseconds=1), i) for i, m in enumerate(MOMENTS)])
        writer.stage(schema, [change(dt.datetime(2030, 1, 1), None, 9)])  # one row alone: same path
        writer.commit()
        rows = dict(ods_rows(endpoints.phoenix_url, schema))
        assert rows == {
            **{m: m + dt.timedelta(microseconds=1) for m in MOMENTS},
            dt.datetime(2030, 1, 1): None,
        }

        # the replay guard looks a row up by its exact timestamp key, not by its millisecond
        assert guard.ods_position(schema, (TS.convert(MOMENTS[1]),)) == 1
        assert guard.ods_position(schema, ("2024-02-29 23:59:58.123000",)) is None

        writer.stage(schema, [change(MOMENTS[0], None, 10, deleted=True)])  # a hard delete by that key
        writer.commit()
        assert set(dict(ods_rows(endpoints.phoenix_url, schema))) == {*MOMENTS[1:], dt.datetime(2030, 1, 1)}
    finally:
        writer.close()
        guard.close()
        with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as conn:
            conn.cursor().execute(f"DROP TABLE IF EXISTS {schema.ods_name}")
