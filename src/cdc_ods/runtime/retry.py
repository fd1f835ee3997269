"""Retrying transient failures until the work they belong to gives up."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, wait_exponential_jitter

from cdc_ods.errors import TransientError

T = TypeVar("T")


def retry_transient(
    action: Callable[[], T],
    give_up: Callable[[], bool],
    on_retry: Callable[[BaseException | None, float], None] | None = None,
) -> T:
    """`action()`'s result, retried with backoff (0.5 s doubling to 10 s, jittered) while it
    raises `TransientError`, until `give_up()` says the work is abandoned: then a
    `TransientError` naming the last failure. Other errors are raised at once.
    `on_retry(error, sleep_s)` is told of each retry (logs, metrics)."""

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            error = state.outcome.exception() if state.outcome else None
            on_retry(error, state.next_action.sleep if state.next_action else 0.0)

    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        wait=wait_exponential_jitter(multiplier=0.5, max=10, jitter=0.5),
        stop=lambda _state: give_up(),
        before_sleep=before_sleep,
        reraise=False,
    )
    try:
        return retrying(action)
    except RetryError as exc:
        raise TransientError(f"gave up: {exc.last_attempt.exception()}") from None
