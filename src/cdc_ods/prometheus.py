"""Prometheus's HTTP API: instant queries (`cdc status`, `cdc soak`)."""

from __future__ import annotations

from typing import Any

import httpx

from cdc_ods.errors import CdcError


def instant(url: str, expr: str, timeout_s: float = 5.0) -> list[dict[str, Any]]:
    """The series `expr` has now, as Prometheus gives them (each a `metric` and a `value`); a
    Prometheus unreachable or answering something else than JSON is named."""
    try:
        body = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=timeout_s).json()
    except (httpx.HTTPError, ValueError) as exc:
        raise CdcError(f"Prometheus at {url}: {exc}") from None
    return body.get("data", {}).get("result", [])
