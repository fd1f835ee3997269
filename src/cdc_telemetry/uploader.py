"""One channel's uploader: sends its disk queue oldest first, one batch at a time.

Only the holder of the queue directory's `uploader.lock` (fcntl.flock) uploads; in other
processes sharing the directory the uploader just keeps trying to take the lock over, so
when the holder exits another one continues. One batch in flight keeps batches in order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cdc_telemetry.backoff import Backoff
from cdc_telemetry.channels import Channel, Outcome
from cdc_telemetry.diskqueue import DiskQueue, FileLock

log = logging.getLogger("cdc_telemetry")

LOCK_RETRY_S = 1.0


@dataclass
class UploadStats:
    sent_batches: int = 0
    accepted_events: int = 0
    rejected_events: int = 0  # the receiver refused them one by one (schema, blocked)
    refused_batches: int = 0  # the receiver refused the whole batch (400/413)
    refused_events: int = 0
    retries: int = 0


class Uploader:
    def __init__(
        self,
        channel: Channel,
        queue: DiskQueue,
        backoff: Backoff,
        on_blocklist_version: Callable[[int], None],
    ) -> None:
        self.channel = channel
        self.queue = queue
        self.backoff = backoff
        self.stats = UploadStats()
        self.lock = FileLock(queue.directory / "uploader.lock")
        self._on_blocklist_version = on_blocklist_version
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"telemetry-upload-{channel.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        self._thread.join()
        self.lock.release()

    def _run(self) -> None:
        attempt = 0
        while not self._closing.is_set():
            if not self.lock.held:
                if not self.lock.acquire(blocking=False):
                    self._closing.wait(LOCK_RETRY_S)
                    continue
                self.queue.recover()
            self._wake.clear()
            taken = self.queue.next_batch()
            if taken is None:
                self._wake.wait(LOCK_RETRY_S)
                continue
            item, body = taken
            delivery = self.channel.send(body)
            if delivery.outcome is Outcome.RETRY:
                self.queue.give_back(item)
                attempt += 1
                self.stats.retries += 1
                self._closing.wait(self.backoff.delay(attempt, delivery.retry_after_s))
                continue
            attempt = 0
            self.queue.done(item)
            if delivery.outcome is Outcome.REFUSED:
                log.warning(
                    "%s refused a batch of %d events: %s", self.channel.name, item.count, delivery.detail
                )
                self.stats.refused_batches += 1
                self.stats.refused_events += item.count
                continue
            self.stats.sent_batches += 1
            self.stats.accepted_events += delivery.accepted
            self.stats.rejected_events += delivery.rejected
            if delivery.blocklist_version is not None:
                self._on_blocklist_version(delivery.blocklist_version)
