"""The event blocklist: event names apps stop sending, without a release.

Operators edit a JSON file `{"version": 7, "events": ["click_banner"]}` and bump the version;
the collector re-reads it when the file changes, serves it at `GET /v1/blocklist` (ETag =
version) and names the version in every ingest answer, so clients know when to re-fetch.
Events of a blocked name that still arrive (old clients) are rejected with code `blocked`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from cdc_ods.collector.watched_file import WatchedFile


@dataclass(frozen=True)
class BlocklistVersion:
    version: int
    events: frozenset[str]

    def to_json(self) -> bytes:
        return orjson.dumps({"version": self.version, "events": sorted(self.events)})


EMPTY = BlocklistVersion(0, frozenset())


def parse_blocklist(raw: bytes, origin: str) -> BlocklistVersion:
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"{origin}: expected an object with version and events")
    version, events = data.get("version"), data.get("events")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError(f"{origin}: version must be a non-negative integer")
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise ValueError(f"{origin}: events must be a list of event names")
    return BlocklistVersion(version, frozenset(events))


class Blocklist:
    """The current blocklist of a file, re-read when it changes (`WatchedFile`: an invalid
    edit keeps the last good version in force)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file = WatchedFile(path, parse_blocklist, "blocklist") if path is not None else None

    def current(self) -> BlocklistVersion:
        return self._file.current() if self._file is not None else EMPTY
