"""`cdc collector key add|list|remove`: the API keys file, written as the collector reads it
(`api_keys.parse_keys`), owner-only (0600), replaced atomically so the collector never reads
half a file."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import orjson

from cdc_ods.collector.api_keys import ApiKey, key_hash, parse_keys
from cdc_ods.errors import CdcError, ConfigError


def read_keys(path: Path) -> dict[str, ApiKey]:
    if not path.exists():
        return {}
    try:
        return parse_keys(path.read_bytes(), str(path))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _write(path: Path, keys: dict[str, ApiKey]) -> None:
    entries = [{"app": k.app, "sha256": k.sha256, "per_s": k.per_s, "burst": k.burst} for k in keys.values()]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(orjson.dumps({"keys": entries}, option=orjson.OPT_INDENT_2))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_key(path: Path, app: str, per_s: float, burst: int) -> tuple[str, str]:
    """A new random key for `app`: (the key, its hash). Only the hash is written."""
    if not app or per_s <= 0 or burst < 1:
        raise ConfigError("a key needs an app name, per_s above 0 and burst of at least 1")
    keys = read_keys(path)
    key = f"cdc_{secrets.token_urlsafe(32)}"
    digest = key_hash(key)
    keys[digest] = ApiKey(app, digest, per_s, burst)
    _write(path, keys)
    return key, digest


def remove_keys(path: Path, app: str, sha256_prefix: str = "") -> int:
    """Remove `app`'s keys (those whose hash starts with `sha256_prefix`); how many."""
    keys = read_keys(path)
    gone = [d for d, k in keys.items() if k.app == app and d.startswith(sha256_prefix.lower())]
    if not gone:
        raise CdcError(
            f"no key of {app}" + (f" with a hash starting {sha256_prefix}" if sha256_prefix else "")
        )
    for digest in gone:
        del keys[digest]
    _write(path, keys)
    return len(gone)
