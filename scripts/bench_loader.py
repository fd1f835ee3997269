"""Loader throughput against its floor and its ceiling, on the same rows.

1. the loader (`cdc_ods.ods.loader.Loader`) from a pre-filled cleansed topic into Phoenix, timed
   from its partition assignment to its last commit (its table is created before, as the
   ceiling's is);
2. a naive loader: one UPSERT and one commit per row through the Query Server;
3. happybase batched puts of the same rows straight into an HBase table (the ceiling,
   `cdc_ods.bench.hbase_puts`; run before and after the loader, the better run counts).

Prints rows/s for each and the two ratios; writes bench-results/loader.json.

    .venv/bin/python scripts/bench_loader.py [--rows 100000] [--naive-rows 2000]
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path

import orjson
import phoenixdb
from confluent_kafka import Producer, TopicPartition

from cdc_ods import contract
from cdc_ods.bench.hbase_puts import hbase_put_rate, source_row
from cdc_ods.config import load_config
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import client_config, ensure_topic
from cdc_ods.ods.avatica import execute_batch
from cdc_ods.ods.loader import Loader
from cdc_ods.ods.schema import Column, TableSchema, create_table_ddl

PROJECT_DIR = Path(__file__).resolve().parents[1]  # the checkout this script is part of

COLUMNS = (
    Column("id", "INTEGER", False),
    Column("title", "VARCHAR"),
    Column("rating", "DECIMAL(3,1)"),
    Column("released", "DATE"),
    Column("updated_at", "TIMESTAMP"),
    Column("runtime_min", "INTEGER"),
    Column("metadata", "VARCHAR"),
)


class _TimedLoader(Loader):
    """The loader, timed from the moment it has its partition (the consumer group join, like
    the ceiling's connection set-up, is not throughput)."""

    assigned_at = 0.0

    def assigned(self, partitions: list[TopicPartition]) -> None:
        super().assigned(partitions)
        self.assigned_at = time.monotonic()


def bench_loader(config, endpoints: Endpoints, rows: int) -> float:
    table = f"bench_{uuid.uuid4().hex[:6]}"
    topic = contract.cleansed_topic("bench", "maf", table)
    ensure_topic(endpoints.kafka_bootstrap, topic)
    producer = Producer(
        client_config(endpoints.kafka_bootstrap, **{"linger.ms": 50, "compression.type": "lz4"})
    )
    for i in range(rows):
        value = {**source_row(i), "__op": "c", "__source_ts_ms": int(time.time() * 1000), "__source_pos": i,
                 "__deleted": False}  # fmt: skip
        producer.produce(topic, orjson.dumps(value), key=orjson.dumps({"id": i}))
        if i % 10000 == 0:
            producer.poll(0)
    producer.flush(60)
    schema = TableSchema("bench", "maf", table, COLUMNS, ("id",))
    options = config.ods.model_copy(update={"group_id": f"bench-{table}", "batch_size": 10000})
    with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as conn:
        conn.cursor().execute(create_table_ddl(schema))  # like the ceiling's table: made before timing
    loader = _TimedLoader(
        config.model_copy(update={"ods": options}),
        endpoints.kafka_bootstrap,
        endpoints.phoenix_url,
        [topic],
        schema_reader=lambda *_: schema,
    )
    loader.run(idle_exit_s=3)
    elapsed = time.monotonic() - loader.assigned_at - 3
    with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(f"SELECT COUNT(*) FROM {schema.ods_name}")
        assert cur.fetchone()[0] == rows, "loader lost rows"
        cur.execute(f"DROP TABLE {schema.ods_name}")
    return rows / elapsed


def bench_naive(endpoints: Endpoints, rows: int) -> float:
    schema = TableSchema("bench", "maf", f"naive_{uuid.uuid4().hex[:6]}", COLUMNS, ("id",))
    with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(create_table_ddl(schema))
        names = ", ".join(f'"{c.ods_name}"' for c in COLUMNS)
        statement = f"UPSERT INTO {schema.ods_name} ({names}) VALUES ({', '.join('?' * len(COLUMNS))})"
        started = time.monotonic()
        for i in range(rows):
            values = source_row(i)
            # one row per request and commit (autocommit), bound as the loader binds it
            execute_batch(cur, statement, [[c.convert(values[c.name]) for c in COLUMNS]])
        elapsed = time.monotonic() - started
        cur.execute(f"DROP TABLE {schema.ods_name}")
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--naive-rows", type=int, default=2_000)
    args = parser.parse_args()
    config = load_config()
    endpoints = Endpoints.from_config(config)
    # the ceiling varies by a third between runs on a shared machine: measured before and after
    # the loader, the better of the two counts (the loader's ratio is the conservative one)
    hbase_runs = [hbase_put_rate(endpoints, args.rows)]
    loader = bench_loader(config, endpoints, args.rows)
    hbase_runs.append(hbase_put_rate(endpoints, args.rows))
    hbase = max(hbase_runs)
    naive = bench_naive(endpoints, args.naive_rows)
    result = {
        "rows": args.rows,
        "loader_rows_per_s": round(loader),
        "naive_rows_per_s": round(naive, 1),
        "hbase_batched_puts_rows_per_s": round(hbase),
        "hbase_batched_puts_runs": [round(r) for r in hbase_runs],
        "loader_vs_hbase": round(loader / hbase, 3),
        "loader_vs_naive": round(loader / naive, 1),
    }
    out = PROJECT_DIR / "bench-results" / "loader.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"loader (Kafka -> Phoenix, batched):  {loader:>10,.0f} rows/s")
    print(f"naive (1 UPSERT + commit per row):  {naive:>10,.1f} rows/s")
    print(f"happybase batched puts (ceiling):   {hbase:>10,.0f} rows/s")
    print(f"loader / hbase ceiling = {loader / hbase:.0%}   loader / naive = {loader / naive:.1f}x")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
