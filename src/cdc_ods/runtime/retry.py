"""Retrying transient failures until the work they belong to gives up."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from cdc_ods.errors import TransientError

T = TypeVar("T")

FIRST_WAIT_S = 0.5  # doubling per attempt
MAX_WAIT_S = 10.0
JITTER_S = 0.5
GIVE_UP_CHECK_S = 0.1  # how often a wait looks whether the work was given up


def retry_transient(
    action: Callable[[], T],
    give_up: Callable[[], bool],
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> T:
    """`action()`'s result, retried with backoff (0.5 s doubling to 10 s, jittered) while it
    raises `TransientError`, until `give_up()` says the work is abandoned: then a
    `TransientError` naming the last failure. Other errors are raised at once.

    `give_up` is asked after every failure and during every wait, and no attempt starts once
    it says yes: work given up (a batch dropped in a rebalance) must not be done late, after
    someone else took it over. `on_retry(error, wait_s)` is told of each retry (logs, metrics).
    """
    attempt = 0
    while True:
        try:
            return action()
        except TransientError as exc:
            error = exc
        attempt += 1
        wait_s = min(MAX_WAIT_S, FIRST_WAIT_S * 2 ** (attempt - 1)) + random.uniform(0, JITTER_S)
        if not give_up() and on_retry is not None:
            on_retry(error, wait_s)
        deadline = time.monotonic() + wait_s
        while not give_up() and time.monotonic() < deadline:
            time.sleep(min(GIVE_UP_CHECK_S, max(0.0, deadline - time.monotonic())))
        if give_up():
            raise TransientError(f"gave up: {error}") from None
