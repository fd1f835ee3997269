"""The common event schema, checked per event with a reason for every rejection.

An event as apps send it (and as it is written to the raw events topic, plus the
collector's `received_at_ms`):

    ts           int    epoch milliseconds (UTC) when the event happened on the device
    uid          str    user id (a keyed hash for external users, done by the client)
    sid          str    session id
    seq          int    per-session sequence number, 1, 2, 3, ... (gaps and duplicates show)
    event        str    name, lower snake case: click_timeline, change_category, back, ...
    platform     str    ios | android | web
    country      str    ISO 3166-1 alpha-2, upper case
    app_version  str
    os           str
    device       str
    props        object optional, event-specific properties (nesting at most 32 levels)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PLATFORMS = ("ios", "android", "web")
MIN_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_SEQ = 2**63 - 1
MAX_PROPS_DEPTH = 32  # deeper props are refused: no analytics query reads them, and JSON
# writers give up somewhere above (orjson at 254 levels)

_STRINGS: dict[str, tuple[int, re.Pattern[str] | None]] = {
    # field: (max length, pattern)
    "uid": (128, None),
    "sid": (128, None),
    "event": (64, re.compile(r"[a-z][a-z0-9_]*")),
    "platform": (16, None),
    "country": (2, re.compile(r"[A-Z]{2}")),
    "app_version": (64, None),
    "os": (64, None),
    "device": (128, None),
}
REQUIRED = ("ts", "uid", "sid", "seq", "event", "platform", "country", "app_version", "os", "device")
OPTIONAL = ("props",)
FIELDS = frozenset(REQUIRED + OPTIONAL)


@dataclass(frozen=True)
class Rejection:
    index: int  # position in the batch
    code: str  # short, for metrics: missing_field, invalid_type, invalid_value, unknown_field, ...
    reason: str  # for people

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "code": self.code, "reason": self.reason}


def _type_name(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", float: "number"}.get(
        type(value), "integer" if isinstance(value, int) else "null"
    )


def _depth(value: object) -> int:
    """How deep a JSON value nests (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in children)
    return deepest


def _problems(event: dict[str, Any], now_ms: int, max_skew_ms: int) -> list[tuple[str, str]]:
    missing = [f for f in REQUIRED if f not in event]
    if missing:
        return [("missing_field", "missing field(s): " + ", ".join(missing))]
    unknown = sorted(k for k in event if k not in FIELDS)
    if unknown:
        return [("unknown_field", "unknown field(s): " + ", ".join(map(str, unknown)))]
    problems: list[tuple[str, str]] = []
    for name in ("ts", "seq"):
        value = event[name]
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(("invalid_type", f"{name} must be an integer (got {_type_name(value)})"))
    for name, (max_len, pattern) in _STRINGS.items():
        value = event[name]
        if not isinstance(value, str):
            problems.append(("invalid_type", f"{name} must be a string (got {_type_name(value)})"))
        elif not 0 < len(value) <= max_len:
            problems.append(("invalid_value", f"{name} must be 1..{max_len} characters"))
        elif pattern is not None and not pattern.fullmatch(value):
            problems.append(("invalid_value", f"{name} {value!r} does not match {pattern.pattern}"))
    if "props" in event and not isinstance(event["props"], dict):
        problems.append(("invalid_type", f"props must be an object (got {_type_name(event['props'])})"))
    elif "props" in event and _depth(event["props"]) > MAX_PROPS_DEPTH:
        problems.append(("invalid_value", f"props nest deeper than {MAX_PROPS_DEPTH} levels"))
    if problems:
        return problems
    if event["platform"] not in PLATFORMS:
        problems.append(("invalid_value", f"platform must be one of {', '.join(PLATFORMS)}"))
    if not MIN_TS_MS <= event["ts"] <= now_ms + max_skew_ms:
        problems.append(("invalid_value", f"ts {event['ts']} is not a plausible epoch-millis time"))
    if not 0 < event["seq"] <= MAX_SEQ:
        problems.append(("invalid_value", "seq must be a positive integer"))
    return problems


def check_event(index: int, event: object, now_ms: int, max_skew_ms: int) -> dict[str, Any] | Rejection:
    """`event` itself when it follows the schema, else why not (every problem, first one's code)."""
    if not isinstance(event, dict):
        return Rejection(index, "not_an_object", f"event must be a JSON object (got {_type_name(event)})")
    problems = _problems(event, now_ms, max_skew_ms)
    if not problems:
        return event
    return Rejection(index, problems[0][0], "; ".join(reason for _, reason in problems))
