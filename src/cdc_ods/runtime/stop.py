"""The one way a stage (or a producer run) is asked to stop: SIGTERM or SIGINT set a `Stop`."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


class Stop(threading.Event):
    """Set by the first SIGTERM (`supervisorctl stop`, `docker stop`) or Ctrl-C: work under way
    finishes and the stage returns. A second signal aborts at once (KeyboardInterrupt)."""

    @contextmanager
    def on_signals(self, notify: Callable[[], None] | None = None) -> Iterator[Stop]:
        """Install the handlers for the duration (`notify` is called on the first signal)."""

        def handler(_signum: int, _frame: FrameType | None) -> None:
            if self.is_set():
                raise KeyboardInterrupt
            self.set()
            if notify is not None:
                notify()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    async def wait_async(self) -> None:
        """Wait without blocking the event loop (the collector's aiohttp server)."""
        await asyncio.to_thread(self.wait)
