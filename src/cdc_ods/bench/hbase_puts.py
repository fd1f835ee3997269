"""The ceiling of any writer into the ODS: happybase batched puts straight into HBase.

The rows hold the cells an ODS row holds (its 7 source columns and the 5 metadata columns the
loader fills; CDC_EMPTY is NULL here: no cell), values as text, through HBase's Thrift
server: no Kafka, no Query Server, no SQL. `make bench-loader` reads the loader against it,
`cdc bench --ceilings` the whole pipeline.
"""

from __future__ import annotations

import time
import uuid

import happybase

from cdc_ods import contract
from cdc_ods.endpoints import Endpoints, split_host_port

PUT_BATCH = 2000


def source_row(i: int) -> dict:
    """Row `i` of the benchmarks' ODS table: its 7 source columns (`make bench-loader`'s table)."""
    return {
        "id": i,
        "title": f"Movie {i} \u2013 été",
        "rating": f"{(i % 100) / 10:.1f}",
        "released": f"{1950 + i % 70}-0{1 + i % 9}-1{i % 9}",
        "updated_at": "2026-11-23T10:00:00.123456Z",
        "runtime_min": 80 + i % 100,
        "metadata": '{"lang": "en", "tags": ["a", "b"]}',
    }


def ods_metadata(i: int) -> dict:
    """What the loader writes besides the source columns (contract.ODS_METADATA_COLUMNS): CDC_EMPTY
    is NULL (no empty value in these rows), and a NULL is no cell."""
    now = time.time()
    values = ("c", int(now * 1000) - 5, i, now, False, None)
    return {k: v for k, v in zip(contract.ODS_METADATA_COLUMNS, values, strict=True) if v is not None}


def hbase_put_rate(endpoints: Endpoints, rows: int) -> float:
    """Rows/s of batched puts of `rows` ODS rows into a scratch table (dropped after)."""
    host, port = split_host_port(endpoints.hbase_thrift)
    conn = happybase.Connection(host, port=port)
    name = f"bench_raw_{uuid.uuid4().hex[:6]}"
    conn.create_table(name, {"0": {"max_versions": 1}})
    try:
        table = conn.table(name)
        started = time.monotonic()
        with table.batch(batch_size=PUT_BATCH) as batch:
            for i in range(rows):
                values = {**source_row(i), **ods_metadata(i)}
                cells = {f"0:{k}".encode(): str(v).encode() for k, v in values.items()}
                batch.put(i.to_bytes(4, "big"), cells)
        elapsed = time.monotonic() - started
    finally:
        conn.delete_table(name, disable=True)
        conn.close()
    return rows / elapsed
