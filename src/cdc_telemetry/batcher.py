"""Events -> gzip batches, sealed by count, by size or by age (whichever comes first)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Batch:
    body: bytes  # gzip of {"events": [...]}, ready to POST
    count: int


def seal(encoded: list[bytes], max_body_bytes: int) -> list[Batch]:
    """Gzip `encoded` events into one body, or several if one would exceed `max_body_bytes`."""
    body = gzip.compress(b'{"events":[' + b",".join(encoded) + b"]}", compresslevel=6)
    if len(body) <= max_body_bytes or len(encoded) == 1:
        return [Batch(body, len(encoded))]
    half = len(encoded) // 2
    return seal(encoded[:half], max_body_bytes) + seal(encoded[half:], max_body_bytes)


class Batcher:
    """The open batch. Not thread-safe: the client serialises calls."""

    def __init__(self, max_events: int, max_bytes: int, max_age_s: float) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes  # uncompressed JSON
        self.max_age_s = max_age_s
        self._events: list[bytes] = []
        self._bytes = 0
        self._opened_at = 0.0

    def __len__(self) -> int:
        return len(self._events)

    def add(self, event: dict[str, Any], now: float) -> bool:
        """Add `event`; True when the batch is now full (count or size) and should be sealed."""
        if not self._events:
            self._opened_at = now
        data = encode(event)
        self._events.append(data)
        self._bytes += len(data) + 1
        return len(self._events) >= self.max_events or self._bytes >= self.max_bytes

    def expired(self, now: float) -> bool:
        return bool(self._events) and now - self._opened_at >= self.max_age_s

    def take(self) -> list[bytes]:
        events, self._events, self._bytes = self._events, [], 0
        return events
