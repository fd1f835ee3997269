"""The common event schema, as the collector checks it (cdc_ods.collector.schema)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PLATFORMS = ("ios", "android", "web")
EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class DeviceInfo:
    """What every event of this app install carries."""

    platform: str  # ios | android | web
    country: str  # ISO 3166-1 alpha-2
    app_version: str
    os: str
    device: str

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {PLATFORMS}, not {self.platform!r}")
        if not re.fullmatch(r"[A-Z]{2}", self.country):
            raise ValueError(f"country must be two upper-case letters, not {self.country!r}")


def make_event(
    name: str, ts_ms: int, uid: str, sid: str, seq: int, device: DeviceInfo, props: dict[str, Any] | None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "ts": ts_ms,
        "uid": uid,
        "sid": sid,
        "seq": seq,
        "event": name,
        "platform": device.platform,
        "country": device.country,
        "app_version": device.app_version,
        "os": device.os,
        "device": device.device,
    }
    if props:
        event["props"] = props
    return event
