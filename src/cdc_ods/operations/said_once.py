"""A probe's questions to each source, with its failures logged once per outage."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("cdc_ods.watchdog")
T = TypeVar("T")


class SaidOnce:
    """A probe runs at every look of the watchdog: a source down or refusing the query is
    logged the first time, then not again until it has answered (the log would fill up)."""

    def __init__(self, what: str) -> None:
        self.what = what  # what the probe measures, for the log line
        self._failing: set[str] = set()

    def ask(self, source: str, question: Callable[[], T]) -> tuple[bool, T | None]:
        """(True, the answer), or (False, None) when asking failed: the watchdog goes on."""
        try:
            answer = question()
        except Exception as exc:  # any failure of one source's probe must not stop the others
            if source not in self._failing:
                log.warning("%s of source %s unknown: %s", self.what, source, exc)
            self._failing.add(source)
            return False, None
        self._failing.discard(source)
        return True, answer
