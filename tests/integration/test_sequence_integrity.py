"""Sequence integrity: the real loader notices records it never read and changes out of order,
and `cdc reconcile` reports them (cdc_ods.ods.sequence)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import orjson
import phoenixdb
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from cdc_ods import contract
from cdc_ods.endpoints import Endpoints
from cdc_ods.kafka import client_config
from cdc_ods.ods import sequence
from cdc_ods.sources import source_for
from cdc_ods.stack.context import StackContext

from .conftest import cdc
from .test_loader import produce

ROWS = 10


@pytest.fixture
def probe_table(stack: StackContext, endpoints: Endpoints) -> Iterator[str]:
    """A source table of ROWS rows, and its cleansed topic; dropped with its ODS traces afterwards."""
    table = f"itest_seq_{uuid.uuid4().hex[:8]}"
    conn = source_for(stack.config, "mysql").connect("admin")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(i, f"v{i}") for i in range(ROWS)])
    yield table
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")
    conn.close()
    ods_table = contract.ods_table("mysql", "maf", table)
    with phoenixdb.connect(endpoints.phoenix_url, autocommit=True) as ph:
        ph.cursor().execute(f"DROP TABLE IF EXISTS {ods_table}")
        ph.cursor().execute(f"DELETE FROM {sequence.TABLE} WHERE ODS_TABLE = ?", [ods_table])
    topic = contract.cleansed_topic("mysql", "maf", table)
    admin = AdminClient(client_config(endpoints.kafka_bootstrap))  # alive until the future resolves
    admin.delete_topics([topic])[topic].result(30)


def cleansed(key: int, value: str, position: int) -> tuple[bytes, bytes]:
    row = {"id": key, "v": value, "__op": "u", "__source_ts_ms": 0, "__source_pos": position,
           "__deleted": False}  # fmt: skip
    return orjson.dumps({"id": key}), orjson.dumps(row)


def load_once(table: str) -> None:
    """The real loader, as a batch job on its own consumer group."""
    topic = contract.cleansed_topic("mysql", "maf", table)
    loaded = cdc("ods", "run", "--topic", topic, "--idle-exit", "5", "--group", f"itest-{table}",
                 "--metrics-port", "0", timeout=300)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr


def reconcile(table: str) -> tuple[int, dict]:
    result = cdc("reconcile", "--table", f"mysql.{table}", "--json", "--no-wait")
    [report] = json.loads(result.stdout)
    return result.returncode, report


def test_in_order_changes_are_checked_and_clean(endpoints: Endpoints, probe_table: str) -> None:
    topic = contract.cleansed_topic("mysql", "maf", probe_table)
    produce(endpoints.kafka_bootstrap, topic, [cleansed(i, f"v{i}", 100 + i) for i in range(ROWS)])
    load_once(probe_table)
    code, report = reconcile(probe_table)
    assert code == 0, report
    assert report["sequence"] == {
        "checked": ROWS, "gaps": 0, "regressions": 0, "duplicates": 0, "last_problem": None,
    }  # fmt: skip


def test_a_change_older_than_its_key_is_a_regression(endpoints: Endpoints, probe_table: str) -> None:
    """The rows end up equal, but a stage delivered key 3's changes out of order: reconcile fails."""
    topic = contract.cleansed_topic("mysql", "maf", probe_table)
    records = [cleansed(i, f"v{i}", 100 + i) for i in range(ROWS)]
    records.append(cleansed(3, "v3", 50))
    produce(endpoints.kafka_bootstrap, topic, records)
    load_once(probe_table)
    code, report = reconcile(probe_table)
    assert report["missing"] == report["extra"] == report["different"] == 0
    assert code == 1 and not report["ok"]
    assert report["sequence"]["regressions"] == 1
    assert "key [3] at position 50 after 103" in report["sequence"]["last_problem"]


def test_records_deleted_before_loading_are_a_gap(endpoints: Endpoints, probe_table: str) -> None:
    """Retention (here: DeleteRecords) took records the loader never read: a gap, and missing rows."""
    topic = contract.cleansed_topic("mysql", "maf", probe_table)
    produce(endpoints.kafka_bootstrap, topic, [cleansed(i, f"v{i}", 100 + i) for i in range(ROWS)])
    admin = AdminClient(client_config(endpoints.kafka_bootstrap))
    [future] = admin.delete_records([TopicPartition(topic, 0, 4)]).values()
    assert future.result(30).low_watermark == 4  # the log now starts at offset 4
    load_once(probe_table)
    code, report = reconcile(probe_table)
    assert code == 1
    assert report["missing"] == 4
    assert report["sequence"]["gaps"] == 4
    assert f"gap: offsets 0..3 of {topic}[0] never read" == report["sequence"]["last_problem"]
