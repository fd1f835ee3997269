"""Simulated app installs sending behaviour events through the telemetry library (`cdc produce events`).

Each simulated install is a real `TelemetryClient` with its own queue directory, device and
user (every third user is external, so its uid travels as a keyed hash). One driver thread
paces events to the requested total rate, spread over the installs; a session ends after a
random number of events. At the end every client flushes its queue and the report counts
what was tracked, accepted, rejected, dropped by a queue cap and left unsent.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cdc_telemetry import ClientConfig, DeviceInfo, HttpChannel, TelemetryClient

HASH_KEY = b"simulated-app-secret"  # stands in for the key a real app holds in its configuration
DEVICES = [
    ("ios", "iOS 17.4", "iPhone15,2"),
    ("ios", "iOS 16.7", "iPhone12,1"),
    ("android", "Android 14", "Pixel 8"),
    ("android", "Android 13", "SM-S911B"),
    ("web", "Windows 11", "Chrome 126"),
    ("web", "macOS 14", "Safari 17"),
]
COUNTRIES = ["DE", "FR", "GB", "US", "ES", "IT", "NL", "PL", "BR", "JP"]
CATEGORIES = ["drama", "comedy", "thriller", "documentary", "kids"]


def random_event(rng: random.Random) -> tuple[str, dict[str, object] | None]:
    roll = rng.random()
    if roll < 0.40:
        return "click_timeline", {"position": rng.randrange(50)}
    if roll < 0.55:
        return "click_transaction", {"amount_cents": rng.randrange(99, 2000), "currency": "EUR"}
    if roll < 0.70:
        return "change_category", {"category": rng.choice(CATEGORIES)}
    if roll < 0.85:
        return "play", {"movie_id": rng.randrange(1, 10_000)}
    return "back", None


@dataclass(frozen=True)
class SimulationReport:
    clients: int
    tracked: int
    not_tracked: int  # blocked by the blocklist
    accepted: int
    rejected: int
    refused: int  # in batches the collector refused whole (400/413)
    dropped: int  # by a queue cap
    unsent: int  # still queued when the final flush timed out
    seconds: float


def _client(
    queue_dir: Path, url: str, index: int, seed: int, rng: random.Random, api_key: str | None
) -> TelemetryClient:
    platform, os_name, device = rng.choice(DEVICES)
    client = TelemetryClient(
        ClientConfig(
            queue_dir=queue_dir,
            device=DeviceInfo(platform, rng.choice(COUNTRIES), f"5.{rng.randrange(4)}.0", os_name, device),
            channels=[HttpChannel(url, api_key=api_key)],
            hash_key=HASH_KEY,
            max_batch_age_s=1.0,
        )
    )
    client.identify(f"user-{seed}-{index}", external=index % 3 == 0)
    return client


def simulate(
    url: str,
    rate: float,
    *,
    duration_s: float | None = None,
    count: int | None = None,
    clients: int = 20,
    seed: int = 1,
    work_dir: Path | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
    flush_timeout_s: float = 60.0,
    api_key: str | None = None,
) -> SimulationReport:
    """Send events at `rate` per second (0: as fast as possible) for `duration_s` or `count`;
    `api_key`: the key the collector requires, if it does."""
    if (duration_s is None) == (count is None):
        raise ValueError("give exactly one of duration_s and count")
    rng = random.Random(seed)
    stop = stop or threading.Event()
    with tempfile.TemporaryDirectory(prefix="cdc-events-", dir=work_dir) as tmp:
        apps = [_client(Path(tmp) / f"app-{i}", url, i, seed, rng, api_key) for i in range(clients)]
        tracked = not_tracked = 0
        started = time.monotonic()
        try:
            while not stop.is_set():
                elapsed = time.monotonic() - started
                if (count is not None and tracked + not_tracked >= count) or (
                    duration_s is not None and elapsed >= duration_s
                ):
                    break
                if rate > 0 and (tracked + not_tracked) >= elapsed * rate:
                    time.sleep(min(0.01, 1 / rate))
                    continue
                app = rng.choice(apps)
                if rng.random() < 0.02:
                    app.start_session()
                name, props = random_event(rng)
                if app.track(name, props):
                    tracked += 1
                else:
                    not_tracked += 1
                if progress is not None:
                    progress(1)
            deadline = time.monotonic() + flush_timeout_s
            for app in apps:
                app.flush(max(0.0, deadline - time.monotonic()))
        finally:
            for app in apps:
                app.close()
        seconds = time.monotonic() - started
        stats = [s for app in apps for s in app.stats().values()]
        return SimulationReport(
            clients=clients,
            tracked=tracked,
            not_tracked=not_tracked,
            accepted=sum(s.upload.accepted_events for s in stats),
            rejected=sum(s.upload.rejected_events for s in stats),
            refused=sum(s.upload.refused_events for s in stats),
            dropped=sum(s.dropped_events for s in stats),
            unsent=sum(s.pending_events for s in stats),
            seconds=seconds,
        )
