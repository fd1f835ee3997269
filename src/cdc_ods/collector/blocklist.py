"""The event blocklist: event names apps stop sending, without a release.

Operators edit a JSON file `{"version": 7, "events": ["click_banner"]}` and bump the version;
the collector re-reads it when the file changes, serves it at `GET /v1/blocklist` (ETag =
version) and names the version in every ingest answer, so clients know when to re-fetch.
Events of a blocked name that still arrive (old clients) are rejected with code `blocked`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

log = logging.getLogger("cdc_ods.collector")


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
    """The current blocklist of a file, re-read when its modification time or size changes.

    A file that becomes unreadable or invalid keeps the last good version in force (logged):
    a typo must not unblock everything.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._current = EMPTY
        if path is not None:
            self._current = parse_blocklist(path.read_bytes(), str(path))
            self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int] | None:
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def current(self) -> BlocklistVersion:
        if self.path is None:
            return self._current
        stamp = self._file_stamp()
        if stamp is not None and stamp != self._stamp:
            self._stamp = stamp
            try:
                self._current = parse_blocklist(self.path.read_bytes(), str(self.path))
            except (OSError, ValueError) as exc:
                log.warning("blocklist not reloaded, keeping version %d: %s", self._current.version, exc)
        return self._current
