"""Who may send events: API keys per app, only their SHA-256 kept; a rate limit per key.

The operators' JSON file (`collector.api_keys_file`; `cdc collector key add` writes it):

    {"keys": [{"app": "ios", "sha256": "<hex SHA-256 of the key>", "per_s": 50, "burst": 100}]}

The collector reads it again when it changes (`WatchedFile`), so a key is added or revoked
without a restart, and several keys may be valid at once: a key is rotated by adding the new
one, shipping it, then removing the old one. A request names its key in `Authorization: Bearer
<key>` (or `X-Api-Key: <key>`); without a valid one it gets 401. Each key has a token bucket
of `burst` requests refilled at `per_s` a second: a request over it gets 429 with
`Retry-After`. Without the file the collector takes every request (the local default).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from cdc_ods.collector import metrics
from cdc_ods.collector.ingest import Answer
from cdc_ods.collector.watched_file import WatchedFile

_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ApiKey:
    app: str
    sha256: str
    per_s: float = 50.0
    burst: int = 100


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_keys(raw: bytes, origin: str) -> dict[str, ApiKey]:
    """The keys of a file, by hash; ValueError names the entry that is wrong."""
    data = orjson.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError(f'{origin}: expected {{"keys": [{{"app": ..., "sha256": ...}}, ...]}}')
    keys = {}
    for i, entry in enumerate(data["keys"]):
        where = f"{origin}: keys[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("app"), str) or not entry["app"]:
            raise ValueError(f"{where}: needs an app name")
        digest = entry.get("sha256")
        if not isinstance(digest, str) or not _HEX_SHA256.match(digest):
            raise ValueError(f"{where}: sha256 must be 64 lower-case hex digits (the key's SHA-256)")
        per_s, burst = entry.get("per_s", ApiKey.per_s), entry.get("burst", ApiKey.burst)
        if isinstance(per_s, bool) or not isinstance(per_s, int | float) or not per_s > 0:
            raise ValueError(f"{where}: per_s must be a number above 0")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"{where}: burst must be a whole number of requests, at least 1")
        keys[digest] = ApiKey(entry["app"], digest, float(per_s), burst)
    return keys


class TokenBuckets:
    """Per key: `burst` requests at once, refilled at `per_s` a second."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._state: dict[str, tuple[float, float]] = {}  # key hash -> (tokens, when)

    def take(self, key: ApiKey) -> float:
        """0 when the request may go, else the seconds until the key has a token again."""
        now = self.clock()
        tokens, when = self._state.get(key.sha256, (float(key.burst), now))
        tokens = min(float(key.burst), tokens + (now - when) * key.per_s)
        if tokens >= 1:
            self._state[key.sha256] = (tokens - 1, now)
            return 0.0
        self._state[key.sha256] = (tokens, now)
        return (1 - tokens) / key.per_s


def presented_key(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("X-Api-Key") or None


class Gate:
    """Admits a request, or answers it (401, 429). Open when there is no keys file."""

    def __init__(self, path: Path | None, buckets: TokenBuckets | None = None) -> None:
        self._keys = WatchedFile(path, parse_keys, "API keys") if path is not None else None
        self._buckets = buckets or TokenBuckets()

    def refusal(self, headers: Mapping[str, str]) -> Answer | None:
        if self._keys is None:
            return None
        presented = presented_key(headers)
        key = self._keys.current().get(key_hash(presented)) if presented else None
        if key is None:
            why = "an API key is required" if presented is None else "unknown API key"
            metrics.UNAUTHORIZED.labels("missing" if presented is None else "unknown").inc()
            metrics.REQUESTS.labels("401").inc()
            return Answer(401, {"error": why}, {"WWW-Authenticate": 'Bearer realm="cdc-collector"'})
        wait_s = self._buckets.take(key)
        if wait_s:
            metrics.RATE_LIMITED.labels(key.app).inc()
            metrics.REQUESTS.labels("429").inc()
            return Answer(
                429,
                {"error": f"over the rate limit of app {key.app} ({key.per_s:g}/s, burst {key.burst})"},
                {"Retry-After": str(max(1, math.ceil(wait_s)))},
            )
        return None
