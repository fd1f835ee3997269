"""The loader's rule for telling data Phoenix keeps refusing from an outage."""

import phoenixdb.errors

from cdc_ods.errors import Rejected, TransientError
from cdc_ods.ods.writer import Refusals, _rejects_the_data


def test_the_same_refusal_while_phoenix_answers_is_the_datas_fault() -> None:
    refusals = Refusals(answers=lambda: True, attempts=3)
    error = TransientError("Phoenix at http://q/: ERROR 201 (22000): Illegal data.")
    assert refusals.classify(error) is error
    assert refusals.classify(error) is error
    rejected = refusals.classify(error)
    assert isinstance(rejected, Rejected) and "refused 3 times in a row" in str(rejected)


def test_an_outage_is_retried_however_long_it_lasts() -> None:
    refusals = Refusals(answers=lambda: False, attempts=3)
    error = TransientError("Phoenix at http://q/: connection refused")
    assert all(refusals.classify(error) is error for _ in range(20))


def test_changing_errors_are_not_a_refusal() -> None:
    refusals = Refusals(answers=lambda: True, attempts=3)
    errors = [TransientError(f"region moving, attempt {i}") for i in range(10)]
    assert all(refusals.classify(e) is e for e in errors)


def test_a_concurrent_change_of_a_tables_definition_is_retried_not_rejected() -> None:
    """Two loader processes of one group create the same ODS table at once: Phoenix answers
    one with SQLSTATE 23000 (an integrity class), but the next attempt finds the table made."""
    concurrent = phoenixdb.errors.IntegrityError(
        "ERROR 301 (23000): Concurrent modification to table. tableName=ODS.MYSQL_MAF_MOVIES", 301, "23000"
    )
    duplicate = phoenixdb.errors.IntegrityError("ERROR 206 (22003): A duplicate key was given", 206, "23000")
    assert not _rejects_the_data(concurrent)
    assert _rejects_the_data(duplicate)
