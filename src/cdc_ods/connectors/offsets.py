"""Where a Debezium connector has committed its reading, from Connect's offsets API."""

from __future__ import annotations

from typing import Any

from cdc_ods.config import SourceConfig
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.sources import Source


def committed_offsets(connect: ConnectClient, name: str) -> list[dict[str, Any]]:
    """The connector's committed offsets (one per source partition; empty: none yet)."""
    body: dict[str, Any] = connect.offsets(name)
    return [entry.get("offset") or {} for entry in body.get("offsets", [])]


def offsets_position(offsets: list[dict[str, Any]]) -> tuple[int, int] | None:
    """The furthest position among committed offsets, or None if there is none."""
    return max(filter(None, map(Source.offset_position, offsets)), default=None)


def connector_position(connect: ConnectClient, source: SourceConfig) -> tuple[int, int] | None:
    """Where the source's Debezium connector has committed its reading, or None if nowhere yet."""
    return offsets_position(committed_offsets(connect, source.name))


def snapshotting(offsets: list[dict[str, Any]]) -> bool:
    """Whether the offsets are a snapshot's (Debezium writes `snapshot` until it is over; the
    first offsets of streaming have none, or `snapshot_completed`)."""
    return any(
        str(o.get("snapshot", "false")).lower() not in ("false", "") and not o.get("snapshot_completed")
        for o in offsets
    )
