"""`cdc connectors recover`: a connector whose log is gone, re-snapshotted, the ODS made equal.

When the binlog file or the WAL a connector must read next is gone (`ConnectorLogLost`: purged
while the connector was stopped, a replication slot invalidated by `max_slot_wal_keep_size`),
the changes in it cannot be read by anyone. The tables' current state can:
1. the connector is stopped and its offsets are deleted (Connect's `DELETE .../offsets`);
   what holds the lost place is released (PostgreSQL: the invalidated slot is dropped; the
   connector creates it again);
2. it starts as for the first time, with `snapshot.mode=initial`: it snapshots every
   captured table (op 'r' events, upserts in the ODS), then streams from the snapshot's
   position. (Not `when_needed`: Debezium 3.5 cannot tell that a MariaDB GTID position was
   purged, since it reads MariaDB's purged GTIDs as none, and would stream and fail again.)
3. once its offsets are a streaming position past the source's position at the start, its
   own configuration is back (when it differs) and every stage has consumed the snapshot;
4. the snapshot wrote every row the source still has, so the rows of this source's ODS
   tables loaded before the recovery started (`CDC_LOADED_AT`) are the ones deleted at the
   source while the log was lost: they are deleted (or marked deleted, `ods.delete_mode`).
   (A row whose snapshot record a stage dead-lettered goes too: reconcile reports it
   rejected, with the reason.)
The cut-off is this command's clock, taken before the connector restarts: the loader's clock
must agree within seconds (the same machine, or NTP). Running it again is harmless: another
snapshot, and only rows the source no longer has are removed. `cdc reconcile` proves it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cdc_ods import contract
from cdc_ods.config import Config, SourceConfig
from cdc_ods.connectors.apply import replace_config
from cdc_ods.connectors.failures import diagnosis, failed_instances
from cdc_ods.connectors.offsets import committed_offsets, offsets_position, snapshotting
from cdc_ods.connectors.rest import ConnectClient, NoSuchConnector
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError, ConfigError
from cdc_ods.ods.phoenix import connect as phoenix_connect
from cdc_ods.ods.schema import removal_sql
from cdc_ods.reconcile.catchup import stages_read, wait_caught_up
from cdc_ods.reconcile.readers import ods_columns, ods_key_columns
from cdc_ods.sources import source_for
from cdc_ods.topology import source_tables

Report = Callable[[str], None]
CLOCK_MARGIN_S = 5.0  # between the cut-off and the connector's restart (the loader's clock may lag)


@dataclass
class Recovery:
    connector: str
    released: str | None = None
    cutoff: dt.datetime | None = None
    snapshot_s: float = 0.0
    removed: dict[str, int] = field(default_factory=dict)  # ODS table -> rows deleted at the source


def recover(connect: ConnectClient, config: Config, name: str, timeout_s: float, report: Report) -> Recovery:
    source = relational_source(config, name)
    stored = connect.get_config(name)
    if stored is None:
        raise NoSuchConnector(f"Kafka Connect has no connector named {name!r}; `cdc connectors apply` first")
    endpoints = Endpoints.from_config(config)
    src = source_for(config, source, endpoints)
    result = Recovery(name)
    for ident, trace in failed_instances(connect.status(name) or {"connector": {}}):
        report(f"{name} {ident} FAILED: {diagnosis(trace, name)}")
    connect.stop(name)
    connect.wait_state(name, "STOPPED", timeout_s=60)
    result.released = src.release_lost_log()
    if result.released:
        report(result.released)
    connect.reset_offsets(name)
    report(f"{name}: stopped, its offsets deleted")
    result.cutoff = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    target = src.position()
    time.sleep(CLOCK_MARGIN_S)
    started = time.monotonic()
    deadline = started + timeout_s
    snapshotting_config = {**stored, "snapshot.mode": "initial"}
    report(f"{name}: snapshot of every captured table")
    connect.put(name, snapshotting_config)
    connect.resume(name)
    try:
        _wait_snapshot_over(connect, name, target, deadline, report)
    finally:
        if snapshotting_config != stored:
            report(f"{name}: its own configuration back (snapshot.mode {stored.get('snapshot.mode')})")
            replace_config(connect, name, stored, timeout_s)
    connect.wait_running(name, timeout_s=max(30.0, deadline - time.monotonic()))
    result.snapshot_s = time.monotonic() - started
    this_source = config.model_copy(update={"sources": [source]})
    stages = stages_read(this_source)
    wait_caught_up(this_source, stages, max(30.0, deadline - time.monotonic()), report)
    cleansed = set(stages[0].topics)  # a table without a cleansing script got no snapshot rows
    result.removed = _remove_deleted(this_source, endpoints.phoenix_url, cleansed, result.cutoff, report)
    return result


def relational_source(config: Config, name: str) -> SourceConfig:
    """The enabled source `name` of cdc.yaml, which must have a catalog (tables to re-read)."""
    for source in config.sources:
        if source.name == name and source.enabled:
            if not source.has_catalog:
                raise ConfigError(f"source {name} ({source.kind}): only relational sources are re-read")
            return source
    raise ConfigError(f"no enabled source named {name!r} in cdc.yaml (a connector is named as its source)")


def _wait_snapshot_over(
    connect: ConnectClient, name: str, target: tuple[int, int], deadline: float, report: Report
) -> None:
    """Until the connector's offsets are a streaming position at or past `target`."""
    said = ""
    while True:
        offsets = committed_offsets(connect, name)
        reached = offsets_position(offsets)
        if offsets and not snapshotting(offsets) and reached is not None and reached >= target:
            return
        status = connect.status(name) or {"connector": {}}
        for ident, trace in failed_instances(status):
            raise CdcError(f"connector {name} {ident} FAILED during the recovery: {diagnosis(trace, name)}")
        state = "snapshotting" if snapshotting(offsets) else f"at {reached}, waiting for {target}"
        if state != said:
            report(f"{name}: {state}")
            said = state
        if time.monotonic() > deadline:
            raise CdcError(f"connector {name}: snapshot not over in time ({state}); run the command again")
        time.sleep(2)


def _remove_deleted(
    config: Config, url: str, cleansed: set[str], cutoff: dt.datetime, report: Report
) -> dict[str, int]:
    """Rows of the source's ODS tables the snapshot did not write again: deleted at the source.
    (`config` holds that source only; `cleansed`: the raw topics the cleansing scripts read.)"""
    removed = {}
    conn = phoenix_connect(url, autocommit=True)
    try:
        for table in source_tables(config, relational_only=True):
            if table.raw_topic not in cleansed or not ods_columns(conn, table.ods_table):
                continue  # not loaded: no snapshot row reached it
            removed[table.ods_table] = remove_loaded_before(
                conn, table.ods_table, config.ods.delete_mode, cutoff
            )
            report(f"{table.ods_table}: {removed[table.ods_table]} row(s) deleted at the source meanwhile")
    finally:
        conn.close()
    return removed


def remove_loaded_before(conn: Any, ods_table: str, delete_mode: str, cutoff: dt.datetime) -> int:
    """Delete (soft: mark deleted) the rows of `ods_table` loaded before `cutoff`; how many.
    `conn`: a Phoenix connection in autocommit."""
    keys = ods_key_columns(conn, ods_table) if delete_mode != "hard" else []
    where = f"{contract.CDC_LOADED_AT} < ?"
    cursor = conn.cursor()
    try:
        cursor.execute(removal_sql(ods_table, keys, where, delete_mode, {contract.CDC_OP: "'d'"}), [cutoff])
        return max(0, cursor.rowcount)
    finally:
        cursor.close()
