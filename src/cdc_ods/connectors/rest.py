"""A small client for Kafka Connect's REST API."""

from __future__ import annotations

import time
from typing import Any

import httpx

from cdc_ods.errors import CdcError, ServiceError, TransientError


class ConnectClient:
    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ConnectClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise TransientError(f"Kafka Connect at {self.url} unreachable: {exc}") from None
        if response.status_code >= 400 and response.status_code != 404:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise CdcError(f"Kafka Connect {method} {path}: {response.status_code} {message}")
        return response

    def plugins(self) -> list[dict[str, Any]]:
        return self._request("GET", "/connector-plugins").json()

    def connectors(self) -> list[str]:
        return self._request("GET", "/connectors").json()

    def validate(self, name: str, config: dict[str, Any]) -> list[str]:
        """Connect's own validation of a config: the list of problems (empty when valid)."""
        plugin = config["connector.class"].rsplit(".", 1)[-1]
        body = {**config, "name": name}
        result = self._request("PUT", f"/connector-plugins/{plugin}/config/validate", json=body).json()
        problems = []
        for item in result.get("configs", []):
            value = item.get("value", {})
            for error in value.get("errors", []):
                problems.append(f"{value.get('name')}: {error}")
        return problems

    def put(self, name: str, config: dict[str, Any]) -> bool:
        """Create or update (idempotent); True when the connector was created."""
        response = self._request("PUT", f"/connectors/{name}/config", json=config)
        return response.status_code == 201

    def status(self, name: str) -> dict[str, Any] | None:
        response = self._request("GET", f"/connectors/{name}/status")
        return None if response.status_code == 404 else response.json()

    def delete(self, name: str) -> bool:
        return self._request("DELETE", f"/connectors/{name}").status_code != 404

    def wait_running(self, name: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """Wait until the connector and all its tasks are RUNNING; a FAILED task raises with its trace."""
        deadline = time.monotonic() + timeout_s
        status: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            status = self.status(name)
            if status:
                tasks = status.get("tasks", [])
                for task in tasks:
                    if task.get("state") == "FAILED":
                        trace = (task.get("trace") or "").strip().splitlines()
                        raise ServiceError(
                            f"connector {name} task {task.get('id')} FAILED: {trace[0] if trace else ''}"
                        )
                if (
                    status["connector"]["state"] == "RUNNING"
                    and tasks
                    and all(t["state"] == "RUNNING" for t in tasks)
                ):
                    return status
            time.sleep(0.5)
        raise ServiceError(f"connector {name} not RUNNING after {timeout_s:.0f}s: {status}")
