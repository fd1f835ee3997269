"""The loader's writer against the real Query Server: a batch it says it wrote is in Phoenix.

The writer prepares each UPSERT once and reuses it. The Query Server forgets a statement
idle for five minutes (Avatica's statement cache) and then answers a batch on it with no
update count and no error, executing nothing; a loader that waited out a Kafka outage lost
every row it wrote that way until it was restarted. Closing the statement on the server is
what that expiry does to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Literal

import phoenixdb
import pytest

from cdc_ods.endpoints import Endpoints
from cdc_ods.ods.schema import Column, TableSchema
from cdc_ods.ods.writer import Change, PhoenixWriter
from cdc_ods.reconcile.readers import ods_rows


def change(key: int) -> Change:
    return Change(
        key=(key,),
        values={"id": key, "title": f"row {key}"},
        op="c",
        source_ts_ms=1_700_000_000_000,
        source_pos=key,
        deleted=False,
    )


@contextmanager
def scratch_table(endpoints: Endpoints, prefix: str) -> Iterator[TableSchema]:
    """The schema of an ODS table of its own (id, title), dropped afterwards."""
    schema = TableSchema(
        "itest",
        "maf",
        f"{prefix}_{uuid.uuid4().hex[:8]}",
        (Column("id", "BIGINT", False), Column("title", "VARCHAR")),
        ("id",),
    )
    try:
        yield schema
    finally:
        with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as conn:
            conn.cursor().execute(f"DROP TABLE IF EXISTS {schema.ods_name}")


def test_a_statement_the_query_server_forgot_is_prepared_again(endpoints: Endpoints) -> None:
    with (
        scratch_table(endpoints, "forgot") as schema,
        closing(PhoenixWriter(endpoints.phoenix_url)) as writer,
    ):
        writer.ensure_table(schema)
        writer.stage(schema, [change(1)])
        writer.commit()
        prepared = list(writer._prepared.values())
        assert prepared, "the UPSERT is kept prepared for the next batch"
        for cursor in prepared:  # what five idle minutes in Avatica's statement cache do
            cursor._connection._client.close_statement(cursor._connection._id, cursor._id)

        writer.stage(schema, [change(2), change(3)])
        writer.commit()
        writer.stage(schema, [change(4)])  # and the statement prepared again is kept
        writer.commit()

        assert dict(ods_rows(endpoints.phoenix_url, schema)) == {k: f"row {k}" for k in (1, 2, 3, 4)}


@pytest.mark.parametrize("delete_mode", ["hard", "soft"])
def test_a_truncate_removes_only_the_rows_changed_before_it(
    endpoints: Endpoints, delete_mode: Literal["hard", "soft"]
) -> None:
    writer = PhoenixWriter(endpoints.phoenix_url, delete_mode)
    with scratch_table(endpoints, "truncated") as schema, closing(writer):
        writer.ensure_table(schema)
        writer.stage(schema, [change(k) for k in (1, 2, 3, 4)])  # source positions 1..4
        writer.commit()
        removed = writer.truncate(schema, 3, delete_mode)
        assert removed == 2
        with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as conn:
            cursor = conn.cursor()
            columns = "ID, CDC_OP, CDC_SOURCE_POS, CDC_DELETED"
            cursor.execute(f"SELECT {columns} FROM {schema.ods_name} ORDER BY ID")
            rows = [tuple(r) for r in cursor.fetchall()]
        if delete_mode == "hard":
            assert rows == [(3, "c", 3, False), (4, "c", 4, False)]
        else:  # marked deleted at the TRUNCATE's position, the rest kept
            assert rows == [(1, "t", 3, True), (2, "t", 3, True), (3, "c", 3, False), (4, "c", 4, False)]
            assert writer.truncate(schema, 4, delete_mode) == 1  # the rows marked before stay as they were
