"""The dynamic blocklist: event names the collector asks apps to stop sending.

Kept in memory, cached in the queue directory (so a restarted app applies it before it
reaches the network), replaced only by a higher version.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BlocklistVersion:
    version: int
    events: frozenset[str]


class Blocklist:
    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self._lock = threading.Lock()
        self._current = BlocklistVersion(0, frozenset())
        try:
            data = json.loads(cache.read_text("utf-8"))
            self._current = BlocklistVersion(int(data["version"]), frozenset(data["events"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no cache yet (or a damaged one): start from version 0, nothing blocked

    @property
    def version(self) -> int:
        return self._current.version

    def blocks(self, event: str) -> bool:
        return event in self._current.events

    def update(self, new: BlocklistVersion) -> bool:
        """Adopt `new` if it is newer; True if it was."""
        with self._lock:
            if new.version <= self._current.version:
                return False
            self._current = new
            tmp = self.cache.with_suffix(".tmp")
            tmp.write_text(json.dumps({"version": new.version, "events": sorted(new.events)}), "utf-8")
            os.replace(tmp, self.cache)
            return True
