"""The drain's and the ceilings' clock: a rate counts from a counter's first move to its last."""

from __future__ import annotations

import pytest

from cdc_ods.bench import progress
from cdc_ods.bench.progress import Clock
from cdc_ods.errors import CdcError


class _Time:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> _Time:
    clock = _Time()
    monkeypatch.setattr(progress.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(progress.time, "sleep", lambda s: setattr(clock, "now", clock.now + s))
    return clock


def test_start_up_and_work_are_split_at_the_sample_before_the_first_move(fake_time: _Time) -> None:
    values = iter([0, 0, 0, 10, 20, 30, 30, 30])
    clock = Clock(lambda: next(values))  # released at 100.0, reads 0
    for now in (101.0, 102.0, 103.0, 104.0, 105.0, 106.0, 107.0):
        fake_time.now = now
        clock.sample()
    # unmoved at 101 and 102, moved by 103: the work counts from 102 (conservative) to 105
    assert clock.span() == (2.0, 3.0) and clock.moved == 30


def test_a_counter_that_moved_before_its_first_sample_counts_from_its_release(fake_time: _Time) -> None:
    values = iter([0, 50])
    clock = Clock(lambda: next(values))
    fake_time.now = 104.0
    clock.sample()
    assert clock.span() == (0.0, 4.0) and clock.moved == 50


def test_until_quiet_waits_for_a_move_then_stillness(fake_time: _Time) -> None:
    reads = iter([0, 0, 0, 5, 9, *[9] * 100])
    clock = Clock(lambda: next(reads))
    clock.until_quiet(1.0, timeout_s=60, what="capture")
    assert clock.value == 9 and fake_time.now - clock.last_moved >= 1.0


def test_until_gives_up_with_what_it_waited_for(fake_time: _Time) -> None:
    clock = Clock(lambda: 3)
    with pytest.raises(CdcError, match="loader on its backlog: still 7 short"):
        clock.until(10, timeout_s=5, what="loader on its backlog")


def test_until_stops_when_what_moves_the_counter_failed(fake_time: _Time) -> None:
    clock = Clock(lambda: 0)

    def failed() -> None:
        raise CdcError("loader died while starting")

    with pytest.raises(CdcError, match="died while starting"):
        clock.until(10, timeout_s=60, what="loader", check=failed)
