"""The app-facing API: identify, sessions, track, opt-out, flush and close."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdc_telemetry.backoff import Backoff
from cdc_telemetry.batcher import Batcher, seal
from cdc_telemetry.blocklist import Blocklist
from cdc_telemetry.channels import Channel
from cdc_telemetry.diskqueue import DiskQueue
from cdc_telemetry.privacy import hash_props, keyed_hash
from cdc_telemetry.schema import EVENT_NAME, DeviceInfo, make_event
from cdc_telemetry.uploader import Uploader, UploadStats

OPTED_OUT_MARKER = "opted-out"


@dataclass(frozen=True)
class ClientConfig:
    queue_dir: Path
    device: DeviceInfo
    channels: Sequence[Channel]
    # keyed-hash key for external users' personal fields; required to identify an external user
    hash_key: bytes | None = None
    personal_props: tuple[str, ...] = ("email", "phone", "name")
    max_batch_events: int = 1000
    max_batch_bytes: int = 1_000_000  # uncompressed JSON
    max_batch_age_s: float = 5.0
    max_body_bytes: int = 256 * 1024  # the collector's limit for a gzip body
    queue_max_bytes: int = 20 * 1024 * 1024  # per channel
    blocklist_refresh_s: float = 300.0
    backoff: Callable[[], Backoff] = field(default=Backoff)
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class ChannelStats:
    upload: UploadStats
    dropped_events: int  # the queue cap dropped them (oldest first)
    pending_events: int


class TelemetryClient:
    """Thread-safe. Starts one flusher thread and one uploader thread per channel."""

    def __init__(self, config: ClientConfig) -> None:
        if not config.channels:
            raise ValueError("give at least one channel")
        if len({c.name for c in config.channels}) != len(config.channels):
            raise ValueError("channel names must be unique (each names its queue directory)")
        self.config = config
        config.queue_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._batcher = Batcher(config.max_batch_events, config.max_batch_bytes, config.max_batch_age_s)
        self._uid: str | None = None
        self._external = False
        self._opted_out = (config.queue_dir / OPTED_OUT_MARKER).exists()
        self._sid = ""
        self._seq = 0
        self.blocked_events = 0
        self.blocklist = Blocklist(config.queue_dir / "blocklist.json")
        self._blocklist_due = 0.0  # monotonic time of the next refresh
        self._queues = {
            c.name: DiskQueue(config.queue_dir / c.name, config.queue_max_bytes) for c in config.channels
        }
        self._uploaders = [
            Uploader(c, self._queues[c.name], config.backoff(), self._saw_blocklist_version)
            for c in config.channels
        ]
        self._closing = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="telemetry-flush", daemon=True)
        self.start_session()
        for uploader in self._uploaders:
            uploader.start()
        self._flusher.start()

    # --- identity, sessions, consent ---------------------------------------------------------

    def identify(self, uid: str, external: bool) -> None:
        """Events from now on carry `uid`; an external user's as its keyed hash."""
        if external:
            if self.config.hash_key is None:
                raise ValueError("external users need ClientConfig.hash_key (their uid is sent hashed)")
            uid = keyed_hash(self.config.hash_key, uid)
        with self._lock:
            self._uid = uid
            self._external = external

    def start_session(self) -> str:
        """A new session id; its sequence numbers start again at 1."""
        with self._lock:
            self._sid = uuid.uuid4().hex
            self._seq = 0
            return self._sid

    @property
    def opted_out(self) -> bool:
        return self._opted_out

    def opt_out(self) -> None:
        """Send nothing from now on (remembered across restarts); forget what is not sent yet."""
        with self._lock:
            (self.config.queue_dir / OPTED_OUT_MARKER).touch()
            self._opted_out = True
            self._batcher.take()
            for queue in self._queues.values():
                queue.purge()

    def opt_in(self) -> None:
        with self._lock:
            (self.config.queue_dir / OPTED_OUT_MARKER).unlink(missing_ok=True)
            self._opted_out = False

    # --- events ------------------------------------------------------------------------------

    def track(self, event: str, props: dict[str, Any] | None = None) -> bool:
        """Queue one event; False when it is not sent (opted out, or blocked by the blocklist)."""
        if not EVENT_NAME.fullmatch(event):
            raise ValueError(f"event name must be lower snake case (<= 64 characters), not {event!r}")
        with self._lock:
            if self._uid is None:
                raise RuntimeError("call identify() before track()")
            if self._opted_out:
                return False
            if self.blocklist.blocks(event):
                self.blocked_events += 1
                return False
            if props and self._external:
                assert self.config.hash_key is not None
                props = hash_props(props, self.config.personal_props, self.config.hash_key)
            self._seq += 1
            now = self.config.clock()
            record = make_event(
                event, int(now * 1000), self._uid, self._sid, self._seq, self.config.device, props
            )
            if self._batcher.add(record, now):
                self._seal()
            return True

    def _seal(self) -> None:
        events = self._batcher.take()
        if not events:
            return
        for batch in seal(events, self.config.max_body_bytes):
            for queue in self._queues.values():
                queue.put(batch.body, batch.count)
        for uploader in self._uploaders:
            uploader.wake()

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Seal the open batch and wait until every queue is sent; False if time ran out."""
        with self._lock:
            self._seal()
        deadline = time.monotonic() + timeout_s
        while any(q.pending()[0] for q in self._queues.values()):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        """Seal the open batch into the queue (sent by the next run if not now) and stop."""
        with self._lock:
            self._seal()
        self._closing.set()
        self._flusher.join()
        for uploader in self._uploaders:
            uploader.close()

    def stats(self) -> dict[str, ChannelStats]:
        return {
            u.channel.name: ChannelStats(u.stats, u.queue.dropped_events, u.queue.pending()[1])
            for u in self._uploaders
        }

    # --- background --------------------------------------------------------------------------

    def _saw_blocklist_version(self, version: int) -> None:
        if version > self.blocklist.version:
            self._blocklist_due = 0.0

    def _refresh_blocklist(self) -> None:
        for channel in self.config.channels:
            fetched = channel.fetch_blocklist()
            if fetched is not None:
                self.blocklist.update(fetched)
                return

    def _flush_loop(self) -> None:
        tick = min(0.25, self.config.max_batch_age_s / 4)
        while not self._closing.wait(tick):
            with self._lock:
                if self._batcher.expired(self.config.clock()):
                    self._seal()
            if time.monotonic() >= self._blocklist_due:
                self._blocklist_due = time.monotonic() + self.config.blocklist_refresh_s
                self._refresh_blocklist()
