"""The loader's sequence-integrity checks (cdc_ods.ods.sequence) on plain data."""

from __future__ import annotations

from cdc_ods.ods.sequence import SUSPECT_GRACE_S, SequenceChecker

TABLE, TOPIC = "ODS.MYSQL_MAF_MOVIES", "ods.mysql.maf.movies"


def totals(checker: SequenceChecker, final: bool = False) -> dict[int, list]:
    """partition -> [checked, gaps, regressions, duplicates] of the pending totals."""
    rows, _problems = checker.take(final)
    return {row[2]: row[3:7] for row in rows}


def test_contiguous_offsets_from_the_committed_one_are_clean() -> None:
    checker = SequenceChecker()
    checker.assigned(TOPIC, 0, 40)
    assert all(checker.offset(TABLE, TOPIC, 0, offset) for offset in range(40, 50))
    assert totals(checker) == {0: [10, 0, 0, 0]}


def test_a_skipped_offset_is_a_gap_named_in_the_problem() -> None:
    checker = SequenceChecker()
    checker.assigned(TOPIC, 2, 0)
    for offset in (0, 1, 5):
        checker.offset(TABLE, TOPIC, 2, offset)
    rows, problems = checker.take()
    assert rows[0][3:7] == [3, 3, 0, 0]
    assert problems == [[TABLE, TOPIC, 2, f"gap: offsets 2..4 of {TOPIC}[2] never read"]]


def test_records_deleted_before_the_loader_read_them_are_a_gap() -> None:
    """A group that never committed must start at offset 0; a log starting later lost records."""
    checker = SequenceChecker()
    checker.assigned(TOPIC, 0, -1001)  # OFFSET_INVALID: nothing committed
    checker.offset(TABLE, TOPIC, 0, 7)
    assert totals(checker) == {0: [1, 7, 0, 0]}


def test_redelivered_records_are_not_checked_twice() -> None:
    checker = SequenceChecker()
    checker.assigned(TOPIC, 0, 0)
    for offset in range(5):
        checker.offset(TABLE, TOPIC, 0, offset)
    assert not checker.offset(TABLE, TOPIC, 0, 3)
    assert totals(checker) == {0: [5, 0, 0, 0]}


def test_a_reassigned_partition_starts_again_at_the_committed_offset() -> None:
    checker = SequenceChecker()
    checker.assigned(TOPIC, 0, 0)
    checker.offset(TABLE, TOPIC, 0, 0)
    checker.revoked(TOPIC, 0)
    checker.assigned(TOPIC, 0, 1)
    assert checker.offset(TABLE, TOPIC, 0, 1)
    assert totals(checker) == {0: [2, 0, 0, 0]}


def test_unknown_start_checks_from_the_first_record() -> None:
    checker = SequenceChecker()
    checker.offset(TABLE, TOPIC, 1, 100)
    checker.offset(TABLE, TOPIC, 1, 101)
    assert totals(checker) == {1: [2, 0, 0, 0]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_position_going_down_for_a_key_is_a_regression() -> None:
    clock = Clock()
    checker = SequenceChecker(clock=clock)
    checker.position(TABLE, TOPIC, 0, (1,), 100, offset=0)
    checker.position(TABLE, TOPIC, 0, (2,), 50, offset=1)  # another key may be older
    checker.position(TABLE, TOPIC, 0, (1,), 100, offset=2)  # the same change again: a duplicate
    checker.position(TABLE, TOPIC, 0, (1,), 90, offset=3)
    assert not checker.due()  # a suspect until the key's newest change comes again, or not
    clock.now += SUSPECT_GRACE_S
    assert checker.due()
    rows, problems = checker.take()
    assert rows[0][3:7] == [0, 0, 1, 1]
    assert f"key [1] at position 90 after 100 ({TOPIC}[0]@3)" in problems[0][3]


def test_a_record_without_a_position_is_not_ordered_against_the_keys_changes() -> None:
    """A record whose source block had no position (the cleansing stage gives it 0)."""
    clock = Clock()
    checker = SequenceChecker(clock=clock)
    checker.position(TABLE, TOPIC, 0, (1,), 100, offset=0)
    checker.position(TABLE, TOPIC, 0, (1,), 0, offset=1)  # the row re-read by a snapshot
    checker.position(TABLE, TOPIC, 0, (1,), 120, offset=2)
    checker.position(TABLE, TOPIC, 0, (1,), 110, offset=3)  # still compared with 120
    clock.now += SUSPECT_GRACE_S
    rows, problems = checker.take()
    assert rows[0][3:7] == [0, 0, 1, 0] and "position 110 after 120" in problems[0][3]


def test_a_newer_change_that_is_not_the_newest_again_makes_the_suspect_a_regression() -> None:
    checker = SequenceChecker()
    for offset, position in enumerate([10, 30, 20, 40]):
        checker.position(TABLE, TOPIC, 0, (1,), position, offset=offset)
    assert totals(checker) == {0: [0, 0, 1, 0]}


def test_a_stretch_sent_again_after_a_crash_is_duplicates_not_regressions() -> None:
    """At-least-once stages re-send changes already seen: older positions, but known ones."""
    checker = SequenceChecker()
    for offset, position in enumerate([10, 20, 30, 20, 30, 40]):
        checker.position(TABLE, TOPIC, 0, (1,), position, offset=offset)
    checker.position(TABLE, TOPIC, 0, (1,), 15, offset=6)  # never seen: a real regression
    assert totals(checker, final=True) == {0: [0, 0, 1, 2]}


def test_a_stretch_sent_again_to_a_restarted_loader_is_duplicates() -> None:
    """Everything crashed at once: the restarted loader reads key 1's change at 30 (already
    loaded before the crash, not in its memory), then Debezium's re-sent stretch 10, 20, 30.
    The older changes are suspects until 30 comes again: duplicates, not regressions."""
    checker = SequenceChecker()
    for offset, position in enumerate([30, 10, 20, 30, 40]):
        checker.position(TABLE, TOPIC, 0, (1,), position, offset=offset)
    assert totals(checker, final=True) == {0: [0, 0, 0, 3]}


def test_a_suspect_left_when_the_loader_stops_is_a_regression() -> None:
    checker = SequenceChecker()
    checker.position(TABLE, TOPIC, 0, (1,), 30, offset=0)
    checker.position(TABLE, TOPIC, 0, (1,), 10, offset=1)
    assert totals(checker) == {}
    assert totals(checker, final=True) == {0: [0, 0, 1, 0]}


def test_only_recent_keys_are_remembered() -> None:
    checker = SequenceChecker(remembered_keys=2)
    for key in range(3):
        checker.position(TABLE, TOPIC, 0, (key,), 10, offset=key)
    checker.position(TABLE, TOPIC, 0, (0,), 5, offset=3)  # key 0 was forgotten
    checker.position(TABLE, TOPIC, 0, (2,), 5, offset=4)
    assert totals(checker, final=True) == {0: [0, 0, 1, 0]}


def test_problems_are_due_at_once_clean_counts_only_after_the_interval() -> None:
    checker = SequenceChecker()
    checker.assigned(TOPIC, 0, 0)
    checker.offset(TABLE, TOPIC, 0, 0)
    assert not checker.due()
    checker.offset(TABLE, TOPIC, 0, 2)
    assert checker.due()
    checker.take()
    assert not checker.due() and checker.take() == ([], [])


def test_totals_add_up_in_the_upsert_parameters() -> None:
    """Each row carries the counts twice: the inserted values and the ON DUPLICATE KEY addends."""
    checker = SequenceChecker()
    checker.assigned(TOPIC, 0, 0)
    checker.offset(TABLE, TOPIC, 0, 0)
    rows, _ = checker.take()
    assert rows == [[TABLE, TOPIC, 0, 1, 0, 0, 0, 1, 0, 0, 0]]
