"""The telemetry library's disk queue, its cap, the uploader lock and the backoff."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

from cdc_telemetry import ClientConfig, DeviceInfo, MemoryChannel, TelemetryClient
from cdc_telemetry.backoff import Backoff
from cdc_telemetry.diskqueue import DiskQueue, FileLock


def test_queue_keeps_order_and_survives_a_new_instance(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, max_bytes=10_000)
    for i in range(3):
        queue.put(f"body-{i}".encode(), count=i + 1)
    again = DiskQueue(tmp_path, max_bytes=10_000)
    assert again.pending() == (3, 6)
    bodies = []
    while (taken := again.next_batch()) is not None:
        item, body = taken
        bodies.append((body, item.count))
        again.done(item)
    assert bodies == [(b"body-0", 1), (b"body-1", 2), (b"body-2", 3)]


def test_cap_drops_the_oldest_batches_and_counts_their_events(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, max_bytes=250)
    for i in range(5):
        queue.put(bytes([i]) * 100, count=10)  # room for two
    assert queue.pending() == (2, 20)
    assert (queue.dropped_batches, queue.dropped_events) == (3, 30)
    _, body = queue.next_batch() or (None, b"")
    assert body == bytes([3]) * 100  # the newest two are kept


def test_a_batch_being_sent_is_never_dropped(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, max_bytes=250)
    queue.put(b"a" * 100, count=1)
    taken = queue.next_batch()
    assert taken is not None
    for _ in range(3):
        queue.put(b"b" * 100, count=1)
    assert taken[0].path.exists()
    assert queue.dropped_events == 2
    queue.give_back(taken[0])  # a failed send puts it back, still the oldest
    _, body = queue.next_batch() or (None, b"")
    assert body == b"a" * 100


def test_recover_requeues_what_a_dead_uploader_was_sending(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, max_bytes=10_000)
    queue.put(b"x", count=1)
    assert queue.next_batch() is not None
    assert queue.next_batch() is None
    queue.recover()
    assert queue.next_batch() is not None


def test_purge_forgets_everything_without_counting_drops(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, max_bytes=10_000)
    queue.put(b"x", count=4)
    queue.purge()
    assert queue.pending() == (0, 0) and queue.dropped_events == 0


def test_file_lock_excludes_another_process(tmp_path: Path) -> None:
    path = tmp_path / "uploader.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
            " fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lock = FileLock(path)
        assert not lock.acquire(blocking=False)
    finally:
        holder.kill()
        holder.communicate()
    assert lock.acquire(blocking=False)  # the holder died: its lock went with it
    lock.release()


def test_one_uploader_per_queue_directory(tmp_path: Path) -> None:
    """Two clients on one directory: only the lock holder sends; the other takes over when it closes."""
    device = DeviceInfo(platform="web", country="FR", app_version="1.0", os="Linux", device="Firefox")
    first_channel, second_channel = MemoryChannel("collector"), MemoryChannel("collector")
    first = TelemetryClient(ClientConfig(queue_dir=tmp_path, device=device, channels=[first_channel]))
    time.sleep(0.3)  # let the first uploader take the lock
    second = TelemetryClient(ClientConfig(queue_dir=tmp_path, device=device, channels=[second_channel]))
    second.identify("u-2", external=False)
    second.track("back")
    assert second.flush(5)  # the first client's uploader sent it
    assert len(first_channel.events) == 1 and second_channel.events == []
    first.close()
    second.track("back")
    assert second.flush(10)
    second.close()
    assert len(second_channel.events) == 1


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap() -> None:
    backoff = Backoff(base_s=1.0, cap_s=8.0, rng=random.Random(7))
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2
    assert backoff.delay(1, at_least_s=5.0) == 5.0  # Retry-After wins
