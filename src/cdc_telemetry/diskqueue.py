"""The offline queue: sealed batches as files in a directory, oldest sent first, size-capped.

File names sort in enqueue order and carry the event count:
`<time_ns>-<pid>-<n>-<events>.batch`. Several processes (app instances sharing a data
directory) may enqueue at once: enqueueing holds a short flock on `queue.lock`, so the cap
is applied to a consistent view. When the queue would exceed `max_bytes`, its oldest batches
are deleted and their events counted in `dropped_events`. The batch being uploaded is
renamed `.sending`, so the cap never drops a batch that is on its way (and thus never counts
a delivered event as dropped).
"""

from __future__ import annotations

import fcntl
import itertools
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

QUEUED = ".batch"
SENDING = ".sending"


@dataclass(frozen=True)
class Item:
    path: Path
    count: int

    @staticmethod
    def of(path: Path) -> Item:
        return Item(path, int(path.name.split(".")[0].rsplit("-", 1)[1]))


class FileLock:
    """An exclusive fcntl.flock on a file; released on `release` or when the process ends.

    flock excludes other open files (other processes, other FileLock objects), not other
    threads sharing this object: `held_for` adds a thread lock for that.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._threads = threading.Lock()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, blocking: bool) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @contextmanager
    def held_for(self) -> Iterator[None]:
        with self._threads:
            self.acquire(blocking=True)
            try:
                yield
            finally:
                self.release()


class DiskQueue:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self.dropped_events = 0
        self.dropped_batches = 0
        self._names = itertools.count()
        self._enqueue_lock = FileLock(directory / "queue.lock")

    def _files(self, suffix: str) -> list[Path]:
        return sorted(self.directory.glob(f"*{suffix}"))

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:  # sent or dropped by another process meanwhile
            return 0

    def put(self, body: bytes, count: int) -> None:
        """Write a sealed batch; drop the oldest queued batches first if the cap needs room."""
        with self._enqueue_lock.held_for():
            queued = self._files(QUEUED)
            total = sum(self._size(p) for p in queued + self._files(SENDING))
            while queued and total + len(body) > self.max_bytes:
                oldest = queued.pop(0)
                total -= self._size(oldest)
                self._drop(oldest)
            if total + len(body) > self.max_bytes:  # larger than the whole cap: nothing else to drop
                self.dropped_events += count
                self.dropped_batches += 1
                return
            name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._names)}-{count}"
            tmp = self.directory / f"{name}.tmp"
            tmp.write_bytes(body)
            os.replace(tmp, self.directory / f"{name}{QUEUED}")

    def _drop(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            return
        self.dropped_events += Item.of(path).count
        self.dropped_batches += 1

    def pending(self) -> tuple[int, int]:
        """(batches, events) waiting, including one being sent."""
        files = self._files(QUEUED) + self._files(SENDING)
        return len(files), sum(Item.of(p).count for p in files)

    def purge(self) -> None:
        """Delete every queued batch (opt-out): they are not counted as dropped."""
        with self._enqueue_lock.held_for():
            for path in self._files(QUEUED) + self._files(SENDING):
                path.unlink(missing_ok=True)

    # The methods below are for the uploader, which holds the directory's uploader lock.

    def recover(self) -> None:
        """Put back a batch a previous uploader was sending when it died."""
        for path in self._files(SENDING):
            os.replace(path, path.with_suffix(QUEUED))

    def next_batch(self) -> tuple[Item, bytes] | None:
        """The oldest queued batch, marked as being sent, with its body."""
        with self._enqueue_lock.held_for():
            for path in self._files(QUEUED):
                sending = path.with_suffix(SENDING)
                try:
                    os.replace(path, sending)
                except FileNotFoundError:
                    continue
                return Item.of(sending), sending.read_bytes()
        return None

    def done(self, item: Item) -> None:
        item.path.unlink(missing_ok=True)

    def give_back(self, item: Item) -> None:
        """Not sent (will be retried): queued again under its old name, so it stays oldest."""
        with self._enqueue_lock.held_for():
            if item.path.exists():
                os.replace(item.path, item.path.with_suffix(QUEUED))
