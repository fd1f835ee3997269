"""A file operators edit while the collector runs (the blocklist, the API keys): its parsed
contents, read again when its modification time or size changes. A file that becomes
unreadable or invalid keeps the last good contents in force (logged): a typo must not unblock
every event or lock every app out."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from cdc_ods.errors import ConfigError

log = logging.getLogger("cdc_ods.collector")
T = TypeVar("T")


class WatchedFile(Generic[T]):
    def __init__(self, path: Path, parse: Callable[[bytes, str], T], what: str) -> None:
        """`parse(raw, origin)` raises ValueError naming what is wrong; the first read must
        succeed (ConfigError otherwise: the service does not start on a file it cannot read)."""
        self.path = path
        self._parse = parse
        self._what = what
        try:
            self._current = parse(path.read_bytes(), str(path))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{what} file {path}: {exc}") from None
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def current(self) -> T:
        stamp = self._file_stamp()
        if stamp is not None and stamp != self._stamp:
            self._stamp = stamp
            try:
                self._current = self._parse(self.path.read_bytes(), str(self.path))
                log.info("%s re-read from %s", self._what, self.path)
            except (OSError, ValueError) as exc:
                log.warning("%s not re-read, the last good one stays in force: %s", self._what, exc)
        return self._current
