"""`cdc connectors snapshot --replace` removes rows only after a snapshot that read its table
whole: Debezium's notifications as it sent them in the hostile-DDL fault test."""

from __future__ import annotations

import pytest

from cdc_ods.errors import CdcError
from cdc_ods.operations.resync import snapshot_outcome

SIGNAL = "6c70e4fc-e871-4bf8-b090-028af87888dd"


def note(kind: str, signal: str = SIGNAL, **data: str) -> dict[str, object]:
    data = {"connector_name": "postgres", "data_collections": "maf.tv_series", **data}
    return {"id": signal, "type": kind, "aggregate_type": "Incremental Snapshot", "additional_data": data}


def outcomes(*notes: dict[str, object]) -> list[str | None]:
    scans: dict[str, str] = {}
    return [snapshot_outcome(n, SIGNAL, scans) for n in notes]


def scan(status: str) -> dict[str, object]:
    return note("TABLE_SCAN_COMPLETED", scanned_collection="maf.tv_series", status=status)


def test_a_snapshot_that_read_its_table_whole_is_completed() -> None:
    states = outcomes(note("STARTED"), note("IN_PROGRESS"), scan("SUCCEEDED"), note("COMPLETED"))
    assert states == ["started", "in progress", "table scan completed", "completed"]
    assert outcomes(scan("EMPTY"), note("COMPLETED"))[-1] == "completed"


def test_a_scan_that_failed_is_not_completed_though_debezium_says_so() -> None:
    """PostgreSQL after ALTER COLUMN TYPE: `cached plan must not change result type` after one
    chunk of 1,024 rows; Debezium reports the scan SQL_EXCEPTION, then COMPLETED."""
    with pytest.raises(CdcError, match=r"did not read the whole table.*SQL_EXCEPTION.*nothing removed"):
        outcomes(note("STARTED"), scan("SQL_EXCEPTION"), note("COMPLETED"))
    with pytest.raises(CdcError, match="no scan reported"):
        outcomes(note("COMPLETED"))


def test_other_snapshots_and_notifications_are_not_this_ones() -> None:
    initial = {"id": SIGNAL, "type": "COMPLETED", "aggregate_type": "Initial Snapshot", "additional_data": {}}
    assert outcomes(note("COMPLETED", signal="690ac273"), initial, "not a note") == [None, None, None]
    with pytest.raises(CdcError, match="was aborted"):
        outcomes(note("ABORTED"))
