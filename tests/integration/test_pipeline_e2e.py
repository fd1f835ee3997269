"""The whole pipeline on the real stack: producers -> Debezium -> cleansing -> loader -> Phoenix.

Reconcile proves the result: every ODS table equals its source table row by row, every
column exact (timestamps to the microsecond), deletes applied. The stages run
under the stack's supervisor (`cdc stack up --pipeline`), as in `make demo`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import uuid
from collections import defaultdict

import orjson
import phoenixdb
from confluent_kafka import Consumer, TopicPartition

from cdc_ods import contract
from cdc_ods.dlq import DLQ_TOPIC, DeadLetter
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import client_config
from cdc_ods.sources import source_for
from cdc_ods.stack.context import StackContext
from cdc_ods.stack.manager import StackManager

from .conftest import background_producers, cdc, end_offsets


def reconcile_ok() -> list[dict]:
    result = cdc("reconcile", "--json", "--timeout", "400", timeout=600)
    reports = json.loads(result.stdout) if result.stdout.strip() else []
    assert result.returncode == 0, result.stdout + result.stderr
    assert reports and all(r["ok"] for r in reports)
    return reports


def letters_since(bootstrap: str, start: dict[int, int]) -> list[DeadLetter]:
    consumer = Consumer(client_config(bootstrap, **{"group.id": f"itest-{uuid.uuid4().hex}"}))
    consumer.assign([TopicPartition(DLQ_TOPIC, p, o) for p, o in start.items()])
    letters, deadline = [], time.monotonic() + 10
    while time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            letters.append(DeadLetter.from_json(msg.value()))
    consumer.close()
    return letters


def test_every_replicated_table_equals_its_source(pipeline: StackContext) -> None:
    produced = cdc("produce", "all", "--count", "2000", "--rate", "1000", "--seed", "102")
    assert produced.returncode == 0, produced.stderr
    reports = reconcile_ok()
    configured = {
        f"{s.name}.{s.database}.{t}" for s in pipeline.config.sources if s.enabled and s.kind != "mongodb"
        for t in s.tables
    }  # fmt: skip
    assert {r["table"] for r in reports} == configured
    assert all(r["source_rows"] > 0 for r in reports)
    # the loader checked every record's sequence: no skipped offset, no key going back in time
    assert all(r["sequence"]["checked"] > 0 for r in reports), reports


def test_loader_kill9_and_query_server_restart_mid_stream(
    pipeline: StackContext, endpoints: Endpoints
) -> None:
    manager = StackManager(pipeline)
    start = end_offsets(endpoints.kafka_bootstrap, DLQ_TOPIC)
    producer = background_producers(rate=200, duration_s=30, seed=103)
    try:
        time.sleep(6)
        loader_pid = manager.supervisor.info("loader")["pid"]
        os.kill(loader_pid, signal.SIGKILL)  # supervisord restarts it (an unexpected exit)
        time.sleep(8)
        assert manager.supervisor.info("loader")["pid"] not in (0, loader_pid)
        manager.supervisor.stop_process("phoenix-query-server")  # the loader retries meanwhile
        time.sleep(8)
        manager.up(["phoenix-query-server"])
        _, errors = producer.communicate(timeout=120)  # drains stderr while waiting
        assert producer.returncode == 0, errors
    finally:
        producer.kill()
    reconcile_ok()
    loader_letters = [x for x in letters_since(endpoints.kafka_bootstrap, start) if x.stage == "loader"]
    assert loader_letters == [], [x.reason for x in loader_letters]


def test_a_poison_row_is_dead_lettered_while_the_other_tables_keep_loading(
    pipeline: StackContext, endpoints: Endpoints
) -> None:
    """A row the ODS cannot hold exactly (a NULL element in tv_series' text[]) arrives while the
    producers stream into every demo table. It goes to the dead-letter topic with its reason;
    every other change of every table still loads: reconcile reports only that row, as rejected
    by the loader with the reason (exit 3), nothing lost. Fixed at the source, its next change
    loads and reconcile is clean. (A data error used to be retried as an outage: the loader
    stopped for every table.)"""
    start = end_offsets(endpoints.kafka_bootstrap, DLQ_TOPIC)
    poison = 900_000_000 + int(uuid.uuid4().int % 1_000_000)
    producer = background_producers(rate=200, duration_s=20, seed=108)
    try:
        time.sleep(5)
        with source_for(pipeline.config, "postgres").connect("admin") as pg:
            pg.execute(
                "INSERT INTO maf.tv_series (id, uuid, title, genres, is_running, created_at, updated_at)"
                " VALUES (%s, gen_random_uuid(), 'poison', ARRAY['Drama', NULL], true, now(), now())",
                (poison,),
            )
        _, errors = producer.communicate(timeout=120)
        assert producer.returncode == 0, errors
    finally:
        producer.kill()
    result = cdc("reconcile", "--json", "--timeout", "400", timeout=600)
    reports = {r["table"]: r for r in json.loads(result.stdout)}
    assert [t for t, r in reports.items() if not r["ok"]] == ["postgres.maf.tv_series"], result.stdout
    assert result.returncode == 3 and not any(r["lost"] for r in reports.values()), result.stdout
    [rejected] = reports["postgres.maf.tv_series"]["rejected_keys"]
    assert rejected["key"] == [poison] and rejected["kind"] == "missing", rejected
    assert rejected["stage"] == "loader", rejected
    assert "a NULL element: Phoenix's VARCHAR ARRAY reads one back as an empty string" in rejected["reason"]
    letters = [x for x in letters_since(endpoints.kafka_bootstrap, start) if x.stage == "loader"]
    assert [x for x in letters if str(poison) in (x.key or b"").decode()], [x.reason for x in letters]

    with source_for(pipeline.config, "postgres").connect("admin") as pg:
        pg.execute("UPDATE maf.tv_series SET genres = ARRAY['Drama'] WHERE id = %s", (poison,))
    reconcile_ok()


def test_app_events_land_in_the_ods_exactly_once(pipeline: StackContext, endpoints: Endpoints) -> None:
    raw_topic = contract.raw_topic(contract.EVENTS_SOURCE, contract.EVENTS_DATABASE, contract.EVENTS_TABLE)
    settings = {"group.id": f"itest-{uuid.uuid4().hex}"}
    consumer = Consumer(client_config(endpoints.kafka_bootstrap, **settings))
    partitions = consumer.list_topics(raw_topic, timeout=10).topics[raw_topic].partitions
    start = [  # only this run's events: other tests drop some on purpose (the offline-queue cap)
        TopicPartition(
            raw_topic, p, consumer.get_watermark_offsets(TopicPartition(raw_topic, p), timeout=10)[1]
        )
        for p in partitions
    ]
    sent = cdc("produce", "events", "--count", "1000", "--rate", "500", "--seed", "104", timeout=300)
    assert sent.returncode == 0, sent.stderr
    consumer.assign(start)
    accepted: set[tuple[str, str, int]] = set()
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 5:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            event = orjson.loads(msg.value())
            accepted.add((event["uid"], event["sid"], event["seq"]))
            idle_since = time.monotonic()
    consumer.close()
    assert len(accepted) >= 1000
    sessions = {(uid, sid) for uid, sid, _ in accepted}
    ods_table = contract.ods_table(contract.EVENTS_SOURCE, contract.EVENTS_DATABASE, contract.EVENTS_TABLE)
    deadline, rows = time.monotonic() + 120, []
    while time.monotonic() < deadline:
        with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as conn:
            cur = conn.cursor()
            cur.execute(f'SELECT "UID", "SID", "SEQ" FROM {ods_table}')
            rows = [tuple(r) for r in cur.fetchall() if (r[0], r[1]) in sessions]
        if len(rows) >= len(accepted):
            break
        time.sleep(2)
    assert len(rows) == len(set(rows))  # once each
    assert set(rows) == accepted
    sequences: dict[tuple[str, str], list[int]] = defaultdict(list)
    for uid, sid, seq in rows:
        sequences[(uid, sid)].append(seq)
    for session, seqs in sequences.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), f"gap in {session}"


def test_cdc_status_shows_the_running_pipeline(pipeline: StackContext) -> None:
    result = cdc("status", "--json")
    assert result.returncode == 0, result.stderr
    health = json.loads(result.stdout)
    assert health["unavailable"] == {}
    for source in ("mysql", "postgres"):
        assert health["connectors"][source]["state"] == "RUNNING"
        assert set(health["connectors"][source]["tasks"].values()) == {"RUNNING"}
        assert source in health["metrics"]["source_lag_ms"]
    assert set(health["backlog"]) == {"cleansing", "loader"}
    assert health["metrics"]["latency_p99_s"] is not None
    assert health["metrics"]["targets_down"] == 0
    shown = cdc("status")
    assert "connectors" in shown.stdout and "end-to-end latency" in shown.stdout


def test_pipeline_panels_show_data_once_changes_flow(pipeline: StackContext, endpoints: Endpoints) -> None:
    """Every dashboard query about the flow of changes returns data while the pipeline runs."""
    from .test_monitoring import queries, query

    flowing = re.compile(
        r"cdc_ods_(rows_applied|end_to_end|batch_rows|phoenix_commit|consumer_lag)|debezium_streaming"
    )
    time.sleep(12)  # two scrapes after the traffic of the tests above
    checked = 0
    for where, expr in queries():
        if where.startswith("alert") or not flowing.search(expr):
            continue
        if "rate(" in expr and "[1m]" in expr:
            expr = expr.replace("[1m]", "[30m]")  # the traffic above may be minutes old
        assert query(endpoints.prometheus_url, expr)["result"], f"{where}: no data for {expr}"
        checked += 1
    assert checked >= 8
