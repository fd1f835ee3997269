"""Records/s through the embedded KSQL runner on this machine.

Two figures for the movies cleansing script (generated as `cdc ksql generate` would):
- engine: decode + evaluate + encode in one process, no Kafka;
- runner: end to end through Kafka - N raw Debezium events pre-loaded into a fresh topic,
  then the runner (consume, cleanse, produce, flush, commit) until it has read them all.

    CDC_CONFIG=.stack/h6/cdc.yaml .venv/bin/python scripts/bench_ksql.py [--records 100000]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid

import orjson
from confluent_kafka import Producer

from cdc_ods.config import load_config
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import client_config, ensure_topic
from cdc_ods.ksql.engine import Engine
from cdc_ods.ksql.functions import PII_KEY_ENV
from cdc_ods.ksql.generate import DLQ_HEADER, generate_script
from cdc_ods.ksql.plan import plan_text
from cdc_ods.ksql.runner import Runner
from cdc_ods.sources import CatalogColumn, TableCatalog

COLUMNS = (
    CatalogColumn("id", "bigint"),
    CatalogColumn("title", "varchar"),
    CatalogColumn("genres", "varchar"),
    CatalogColumn("release_date", "date"),
    CatalogColumn("rating", "decimal", precision=3, scale=1),
    CatalogColumn("runtime_min", "smallint", unsigned=True),
    CatalogColumn("metadata", "json", json=True),
    CatalogColumn("created_at", "datetime", datetime_precision=6),
    CatalogColumn("updated_at", "datetime", datetime_precision=6),
)


def raw_event(i: int) -> tuple[bytes, bytes]:
    row = {
        "id": i % 10_000,
        "title": f" Movie {i} ",
        "genres": "Comedy,Drama",
        "release_date": 11_000 + i % 5000,
        "rating": f"{i % 100 / 10:.1f}",
        "runtime_min": 90 + i % 60,
        "metadata": '{"lang": "en", "awards": 2}',
        "created_at": 1_709_251_198_123_456 + i,
        "updated_at": 1_709_251_198_123_456 + i,
    }
    source = {"ts_ms": 1_709_251_199_000 + i, "file": "mariadb-bin.000003", "pos": 4 + i * 300, "row": 0}
    value = {"before": None, "after": row, "source": source, "op": "c"}
    return orjson.dumps({"id": row["id"]}), orjson.dumps(value)


def bench_engine(engine: Engine, topic: str, events: list[tuple[bytes, bytes]]) -> float:
    started = time.perf_counter()
    for offset, (key, value) in enumerate(events):
        engine.process(topic, key, value, 0, offset, 0)
    return len(events) / (time.perf_counter() - started)


def bench_runner(engine: Engine, bootstrap: str, topic: str, events: list[tuple[bytes, bytes]]) -> float:
    ensure_topic(bootstrap, topic)
    producer = Producer(client_config(bootstrap, **{"linger.ms": 50}))
    for key, value in events:
        while True:
            try:
                producer.produce(topic, value, key=key)
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(120)
    runner = Runner(engine, bootstrap, group=f"bench-{uuid.uuid4().hex[:8]}")
    stop = threading.Event()
    started = time.monotonic()

    def watch() -> None:
        while runner.counters.consumed < len(events) and time.monotonic() - started < 600:
            time.sleep(0.05)
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    runner.run(stop)
    return runner.counters.consumed / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    os.environ.setdefault(PII_KEY_ENV, "bench-key")
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    script = generate_script("mariadb", TableCatalog(prefix, "maf", "movies", COLUMNS, ("id",)), "maf")
    engine = Engine(plan_text(DLQ_HEADER, script))
    topic = f"{prefix}.maf.movies"
    events = [raw_event(i) for i in range(args.records)]
    print(f"engine (no Kafka): {bench_engine(engine, topic, events):,.0f} records/s")
    bootstrap = Endpoints.from_config(load_config()).kafka_bootstrap
    rate = bench_runner(engine, bootstrap, topic, events)
    print(f"runner (Kafka in, cleansed + committed out, {args.records:,} records): {rate:,.0f} records/s")


if __name__ == "__main__":
    main()
