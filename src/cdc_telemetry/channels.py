"""Receivers of event batches. Each channel has its own disk queue and uploader, so a slow or
unreachable receiver delays only itself.

`HttpChannel` talks to the collector (standard library `urllib`, so the package needs no
dependency); `MemoryChannel` keeps what it receives in memory, for tests of code that
tracks events.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from cdc_telemetry.blocklist import BlocklistVersion

log = logging.getLogger("cdc_telemetry")

REFUSED_STATUSES = frozenset({400, 404, 413, 415, 422})
# the app's key is missing, wrong or revoked: its batches stay queued (and are sent again,
# with backoff) until the app has a valid key, rather than being thrown away
UNAUTHORIZED_STATUSES = frozenset({401, 403})


class Outcome(Enum):
    DELIVERED = "delivered"  # the receiver has the batch (some events may have been rejected)
    RETRY = "retry"  # not received: unreachable, overloaded, 5xx; send again later
    REFUSED = "refused"  # the batch itself is unacceptable (400, 413): sending again cannot help


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    accepted: int = 0
    rejected: int = 0
    blocklist_version: int | None = None
    retry_after_s: float = 0.0
    detail: str = ""


class Channel(Protocol):
    name: str  # names the channel's queue directory

    def send(self, body: bytes) -> Delivery:
        """POST one gzip batch."""

    def fetch_blocklist(self) -> BlocklistVersion | None:
        """The receiver's current blocklist, or None if it serves none or is unreachable."""


def _retry_after(headers: Any) -> float:
    try:
        return float(headers.get("Retry-After") or 0)
    except ValueError:
        return 0.0


class HttpChannel:
    """`api_key`: the app's key, sent as `Authorization: Bearer` (a collector with API keys
    answers 401 without it); a 429 is sent again after its Retry-After."""

    def __init__(
        self, url: str, name: str = "collector", timeout_s: float = 30.0, api_key: str | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.name = name
        self.timeout_s = timeout_s  # keep above the collector's Kafka timeout: fewer duplicates
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def __repr__(self) -> str:  # never the key
        return f"HttpChannel({self.url!r}, name={self.name!r}, api_key={'set' if self._auth else None})"

    def send(self, body: bytes) -> Delivery:
        request = urllib.request.Request(
            f"{self.url}/v1/events",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip", **self._auth},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            exc.close()
            if exc.code in REFUSED_STATUSES:
                return Delivery(Outcome.REFUSED, detail=f"HTTP {exc.code}: {detail}")
            if exc.code in UNAUTHORIZED_STATUSES:
                log.warning(
                    "%s refused the app's API key (HTTP %d): batches stay queued", self.name, exc.code
                )
            return Delivery(Outcome.RETRY, retry_after_s=_retry_after(exc.headers), detail=f"HTTP {exc.code}")
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets, a garbled answer
            return Delivery(Outcome.RETRY, detail=str(exc))
        return Delivery(
            Outcome.DELIVERED,
            accepted=answer.get("accepted", 0),
            rejected=answer.get("rejected", 0),
            blocklist_version=answer.get("blocklist_version"),
        )

    def fetch_blocklist(self) -> BlocklistVersion | None:
        request = urllib.request.Request(f"{self.url}/v1/blocklist", headers=self._auth)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                data = json.loads(response.read())
        except (OSError, ValueError):
            return None
        return BlocklistVersion(int(data["version"]), frozenset(data["events"]))


class MemoryChannel:
    """Receives in memory: `events` holds every delivered event; `online = False` simulates an
    unreachable receiver; `blocklist` is what `fetch_blocklist` serves."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.online = True
        self.blocklist: BlocklistVersion | None = None
        self.events: list[dict[str, Any]] = []
        self.requests = 0
        self._lock = threading.Lock()

    def send(self, body: bytes) -> Delivery:
        with self._lock:
            self.requests += 1
            if not self.online:
                return Delivery(Outcome.RETRY, detail="offline")
            events = json.loads(gzip.decompress(body))["events"]
            self.events.extend(events)
            version = self.blocklist.version if self.blocklist else None
            return Delivery(Outcome.DELIVERED, accepted=len(events), blocklist_version=version)

    def fetch_blocklist(self) -> BlocklistVersion | None:
        return self.blocklist
