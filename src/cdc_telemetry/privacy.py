"""Personal fields of external users leave the device only as keyed hashes.

HMAC-SHA256 with a key the app holds (not a plain hash): without the key, nobody can test a
guessed e-mail address or user id against the data; with it, the same value always maps to
the same digest, so joins and per-user counts still work.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def hash_props(props: dict[str, Any], personal: Iterable[str], key: bytes) -> dict[str, Any]:
    """A copy of `props` whose personal keys (string values) are replaced by their keyed hash."""
    names = set(personal)
    return {
        name: keyed_hash(key, value) if name in names and isinstance(value, str) else value
        for name, value in props.items()
    }
