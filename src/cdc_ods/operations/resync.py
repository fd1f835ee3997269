"""`cdc connectors snapshot SOURCE TABLE --replace`: one table re-read, its ODS table made equal.

For what no change event describes: a table dropped and created again under the same name (the
old rows never got a delete), a column renamed or added with a DEFAULT (the rows unchanged
since hold NULL in the ODS under the new name), rows deleted while a change was lost. The
table's current state is read again, and what the ODS holds beyond it goes:
1. the cut-off is this command's clock, taken CLOCK_MARGIN_S before the signal (the loader's
   clock may lag);
2. an incremental snapshot of the table (Debezium's execute-snapshot signal): every row the
   table has now arrives again as an op 'r' event while streaming goes on;
3. its end is Debezium's notification under the signal's id (sink channel, topic
   `contract.notification_topic`), type COMPLETED, with the table's scan SUCCEEDED (or EMPTY);
   a scan that failed (e.g. SQL_EXCEPTION: Debezium then still says COMPLETED), ABORTED or
   SKIPPED stop the command with nothing removed;
4. every stage has consumed it (`wait_caught_up`, for this source);
5. the rows of the table's ODS table loaded before the cut-off were neither written again by
   the snapshot nor changed since: the source no longer has them, and they are removed
   (`ods.delete_mode`). A row whose snapshot record a stage dead-lettered goes too: reconcile
   reports it rejected, with the reason.
On PostgreSQL the table is put back in the source's publication first, with its grants (a
table dropped and created again is in neither; `cdc connectors apply` does the same).
Running it again is harmless: another snapshot, and only rows the source lacks are removed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from cdc_ods import contract
from cdc_ods.config import Config
from cdc_ods.connectors.apply import Planned, publish
from cdc_ods.connectors.rest import ConnectClient, NoSuchConnector
from cdc_ods.connectors.snapshot import request_snapshot
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError, ConfigError
from cdc_ods.kafka import client_config, ensure_topic
from cdc_ods.ods.phoenix import connect as phoenix_connect
from cdc_ods.operations.recover import CLOCK_MARGIN_S, relational_source, remove_loaded_before
from cdc_ods.reconcile.catchup import stages_read, wait_caught_up
from cdc_ods.sources import source_for

Report = Callable[[str], None]
SNAPSHOT_NOTIFICATIONS = "Incremental Snapshot"


@dataclass
class Resync:
    table: str  # qualified at the source: database.table or schema.table
    ods_table: str
    snapshot_s: float = 0.0
    removed: int = 0  # rows of the ODS table the source no longer has


def resync(
    connect: ConnectClient, config: Config, name: str, table: str, timeout_s: float, report: Report
) -> Resync:
    source = relational_source(config, name)
    stored = connect.get_config(name)
    if stored is None:
        raise NoSuchConnector(f"Kafka Connect has no connector named {name!r}; `cdc connectors apply` first")
    topic = stored.get("notification.sink.topic.name")
    if "sink" not in str(stored.get("notification.enabled.channels", "")).split(",") or not topic:
        raise ConfigError(
            f"connector {name} does not report when a snapshot is over (notification.enabled.channels"
            " has no sink); `cdc connectors apply` gives it the generated configuration"
        )
    endpoints = Endpoints.from_config(config)
    # PostgreSQL: a table dropped and created again left the publication and its grants
    publish(Planned(name, source_for(config, source, endpoints), stored), report)
    ensure_topic(endpoints.kafka_bootstrap, topic)  # read from its start: the signal's id is new
    cutoff = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    time.sleep(CLOCK_MARGIN_S)
    started = time.monotonic()
    deadline = started + timeout_s
    request = request_snapshot(connect, name, table, config, endpoints)
    this_source = config.model_copy(update={"sources": [source]})
    ods_table = contract.ods_table(source.name, source.database, request.table.partition(".")[2])
    result = Resync(request.table, ods_table)
    report(f"{name}: snapshot of {request.table} requested (signal {request.signal_id})")
    _wait_completed(endpoints.kafka_bootstrap, topic, request.signal_id, deadline, report)
    result.snapshot_s = time.monotonic() - started
    wait_caught_up(this_source, stages_read(this_source), max(30.0, deadline - time.monotonic()), report)
    conn = phoenix_connect(endpoints.phoenix_url, autocommit=True)
    try:
        result.removed = remove_loaded_before(conn, ods_table, config.ods.delete_mode, cutoff)
    finally:
        conn.close()
    report(f"{ods_table}: {result.removed} row(s) the source no longer has removed")
    return result


# a table scan that ended otherwise read part of the table (or none): removing the rows it did
# not write again would remove rows the source still has
GOOD_SCANS = frozenset({"SUCCEEDED", "EMPTY"})


def snapshot_outcome(note: object, signal_id: str, scans: dict[str, str]) -> str | None:
    """One notification of the source's topic, for the snapshot of `signal_id`: "completed" once
    it is over with every table scanned whole, else its state (None: not this snapshot's).
    `scans` collects each table scan's status; raises CdcError when the snapshot failed."""
    if not isinstance(note, dict) or note.get("id") != signal_id:
        return None
    if note.get("aggregate_type") != SNAPSHOT_NOTIFICATIONS:
        return None
    kind = str(note.get("type"))
    data = note.get("additional_data") or {}
    if kind == "TABLE_SCAN_COMPLETED":
        scans[str(data.get("scanned_collection"))] = str(data.get("status"))
    if kind in ("ABORTED", "SKIPPED"):
        raise CdcError(f"the snapshot (signal {signal_id}) was {kind.lower()}: nothing removed")
    if kind != "COMPLETED":
        return kind.lower().replace("_", " ")
    failed = {table: status for table, status in scans.items() if status not in GOOD_SCANS}
    if failed or not scans:
        raise CdcError(
            f"the snapshot (signal {signal_id}) did not read the whole table ({failed or 'no scan reported'};"
            " Connect's log has the error): nothing removed. On PostgreSQL after a column's type"
            " changed, restart the connector first (`cdc connectors restart NAME`), then run it again"
        )
    return "completed"


def _wait_completed(bootstrap: str, topic: str, signal_id: str, deadline: float, report: Report) -> None:
    """Until the connector's notification that the snapshot of `signal_id` completed whole."""
    consumer = Consumer(
        client_config(bootstrap, **{"group.id": f"cdc-resync-{signal_id}", "enable.auto.commit": False})
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    said = ""
    scans: dict[str, str] = {}
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error() or not msg.value():
                continue
            try:
                note = orjson.loads(msg.value())
            except orjson.JSONDecodeError:
                continue
            state = snapshot_outcome(note, signal_id, scans)
            if state == "completed":
                return
            if state is not None and state != said:
                report(f"snapshot {state}")
                said = state
    finally:
        consumer.close()
    raise CdcError(
        f"the snapshot (signal {signal_id}) did not complete in time: nothing removed; run it again"
    )
