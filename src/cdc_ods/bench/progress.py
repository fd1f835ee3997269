"""When a counter of the pipeline (records in topics, a group's committed offsets) first and
last moved: a drain or a stage alone is timed to its last record, not to the moment a
catch-up check (Connect's offset flush, PostgreSQL's heartbeat) confirms it."""

from __future__ import annotations

import time
from collections.abc import Callable

from cdc_ods.errors import CdcError
from cdc_ods.reconcile.catchup import stage_progress
from cdc_ods.topology import Stage

SAMPLE_S = 0.25


def topic_records(bootstrap: str, stage: Stage) -> int:
    """Records written so far into the stage's input topics (their end offsets summed)."""
    return sum(stage_progress(bootstrap, stage)[0].values())


def consumed(bootstrap: str, stage: Stage) -> int:
    """Records the stage's consumer group has committed so far in its input topics."""
    return sum(stage_progress(bootstrap, stage)[1].values())


class Clock:
    """A counter sampled over time from its release: when it first and last moved."""

    def __init__(self, read: Callable[[], int]) -> None:
        self.read = read
        self.released = time.monotonic()
        self.start = self.value = read()
        self.first_moved: float | None = None  # the last sample before the first move
        self.last_moved = self.sampled = self.released

    def sample(self) -> int:
        value, now = self.read(), time.monotonic()
        if value != self.value:
            if self.first_moved is None:
                self.first_moved = self.sampled  # it moved after that sample: count from there
            self.value, self.last_moved = value, now
        self.sampled = now
        return value

    @property
    def moved(self) -> int:
        return self.value - self.start

    def until_quiet(self, quiet_s: float, timeout_s: float, what: str) -> None:
        """Sample until the counter has moved and then stood still for `quiet_s` (the callers
        confirm the end with a catch-up check)."""
        deadline = time.monotonic() + timeout_s
        while self.first_moved is None or time.monotonic() - self.last_moved < quiet_s:
            if time.monotonic() > deadline:
                raise CdcError(f"{what}: not over after {timeout_s:.0f} s ({self.moved:,} so far)")
            self.sample()
            time.sleep(SAMPLE_S)

    def until(
        self, target: int, timeout_s: float, what: str, check: Callable[[], object] = lambda: None
    ) -> None:
        """Sample until the counter reaches `target`; `check` raises to give up (what moves it failed)."""
        deadline = time.monotonic() + timeout_s
        while self.sample() < target:
            check()
            if time.monotonic() > deadline:
                raise CdcError(f"{what}: still {target - self.value:,} short after {timeout_s:.0f} s")
            time.sleep(SAMPLE_S)

    def span(self) -> tuple[float, float]:
        """(start-up: release to first move, work: first move to last move), in seconds. When it
        all happened between two samples, the work counts from the release."""
        if self.first_moved is None or self.last_moved <= self.first_moved:
            return 0.0, self.last_moved - self.released
        return self.first_moved - self.released, self.last_moved - self.first_moved
