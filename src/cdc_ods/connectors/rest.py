"""A small client for Kafka Connect's REST API."""

from __future__ import annotations

import time
from typing import Any, Self

import httpx
from pydantic import SecretStr
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from cdc_ods.config import Config
from cdc_ods.connectors import validation
from cdc_ods.connectors.failures import diagnosis
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError, ConfigError, ServiceError, TransientError
from cdc_ods.secrets import CONNECT_PASSWORD_ENV, CONNECT_USER, lookup_secret

REBALANCE_WAIT_S = 30.0


class NoSuchConnector(CdcError):
    """Connect has no connector of that name."""


class Rebalancing(TransientError):
    """Connect answered 409: its worker group is rebalancing or its config is being updated."""


def summarize(status: dict[str, Any] | None) -> str:
    """`connector RUNNING, task 0 RUNNING` for messages."""
    if not status:
        return "no status yet"
    tasks = status.get("tasks", [])
    parts = [f"connector {status['connector']['state']}"]
    parts += [f"task {t['id']} {t['state']}" for t in tasks] if tasks else ["no tasks"]
    return ", ".join(parts)


class ConnectClient:
    def __init__(self, url: str, timeout_s: float = 30.0, password: SecretStr | None = None) -> None:
        """`password`: of the REST API's user `cdc` (HTTP basic authentication), when it has one."""
        self.url = url.rstrip("/")
        auth = httpx.BasicAuth(CONNECT_USER, password.get_secret_value()) if password else None
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, auth=auth)

    @classmethod
    def of(cls, config: Config, timeout_s: float = 30.0) -> Self:
        """The client of the configured Connect: its address (`Endpoints`), and the password of
        the user `cdc` from the environment or the local stack's secrets file."""
        password = lookup_secret(config.data_dir, CONNECT_PASSWORD_ENV)
        return cls(Endpoints.from_config(config).connect_url, timeout_s, password)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ConnectClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One REST call. A 409 (the worker group is rebalancing, or its config is momentarily
        stale after a change) is retried for up to REBALANCE_WAIT_S: Connect's answer to the same
        request a moment later is the real one, and an undo after a failed update must not be
        lost to it."""
        for attempt in Retrying(
            retry=retry_if_exception_type(Rebalancing),
            wait=wait_exponential(multiplier=0.25, max=2),
            stop=stop_after_delay(REBALANCE_WAIT_S),
            reraise=True,
        ):
            with attempt:
                return self._request_once(method, path, **kwargs)
        raise AssertionError("unreachable: Retrying re-raises the last error")

    def _request_once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise TransientError(f"Kafka Connect at {self.url} unreachable: {exc}") from None
        if response.status_code == 401:
            raise ConfigError(
                f"Kafka Connect at {self.url} refused the request: 401 unauthorized (its REST API"
                f" wants the user {CONNECT_USER} and the password in {CONNECT_PASSWORD_ENV}:"
                " set it, or the local stack's secrets file has it)"
            )
        if response.status_code >= 400 and response.status_code != 404:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            error = Rebalancing if response.status_code == 409 else CdcError
            raise error(f"Kafka Connect {method} {path}: {response.status_code} {message}")
        return response

    def _existing(self, method: str, name: str, action: str = "", **kwargs: Any) -> httpx.Response:
        """A request about one connector that must exist."""
        response = self._request(method, f"/connectors/{name}{action}", **kwargs)
        if response.status_code == 404:
            raise NoSuchConnector(f"Kafka Connect has no connector named {name!r}")
        return response

    def connectors(self) -> list[str]:
        return sorted(self._request("GET", "/connectors").json())

    def validate(self, name: str, config: dict[str, Any]) -> list[str]:
        """Connect's own validation of a config, plus unknown keys: the problems, one
        `field: message` each (empty when valid)."""
        plugin = config["connector.class"].rsplit(".", 1)[-1]
        body = {**config, "name": name}
        result = self._request("PUT", f"/connector-plugins/{plugin}/config/validate", json=body).json()
        return validation.problems(body, result)

    def get_config(self, name: str) -> dict[str, Any] | None:
        """The stored config (passwords still as `${env:...}`), None when not registered."""
        response = self._request("GET", f"/connectors/{name}/config")
        return None if response.status_code == 404 else response.json()

    def put(self, name: str, config: dict[str, Any]) -> bool:
        """Create or update (idempotent); True when the connector was created."""
        response = self._request("PUT", f"/connectors/{name}/config", json=config)
        return response.status_code == 201

    def status(self, name: str) -> dict[str, Any] | None:
        response = self._request("GET", f"/connectors/{name}/status")
        return None if response.status_code == 404 else response.json()

    def statuses(self) -> dict[str, dict[str, Any]]:
        """Every registered connector's status, in one call."""
        result = self._request("GET", "/connectors", params={"expand": "status"}).json()
        return {name: entry["status"] for name, entry in sorted(result.items())}

    def offsets(self, name: str) -> dict[str, Any]:
        """The connector's committed source offsets (`{"offsets": [{"partition", "offset"}]}`)."""
        response = self._request("GET", f"/connectors/{name}/offsets")
        return {} if response.status_code == 404 else response.json()

    def reset_offsets(self, name: str) -> None:
        """Forget the connector's committed offsets (it must be STOPPED): its next start is a
        first start (KIP-875)."""
        self._existing("DELETE", name, "/offsets")

    def delete(self, name: str) -> bool:
        return self._request("DELETE", f"/connectors/{name}").status_code != 404

    def stop(self, name: str) -> None:
        """Stop the connector (its config stays): Connect shuts its tasks down and, once its
        workers have rebalanced, removes them and their statuses."""
        self._existing("PUT", name, "/stop")

    def pause(self, name: str) -> None:
        self._existing("PUT", name, "/pause")

    def resume(self, name: str) -> None:
        self._existing("PUT", name, "/resume")

    def restart(self, name: str, only_failed: bool = False) -> None:
        """Restart the connector and its tasks (only the FAILED ones with `only_failed`)."""
        params = {"includeTasks": "true", "onlyFailed": str(only_failed).lower()}
        self._existing("POST", name, "/restart", params=params)

    def wait_state(self, name: str, state: str, timeout_s: float = 30.0) -> dict[str, Any]:
        """Wait until the connector and all its tasks report `state` (e.g. PAUSED)."""
        deadline = time.monotonic() + timeout_s
        status: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            status = self.status(name)
            if status is None:
                raise NoSuchConnector(f"Kafka Connect has no connector named {name!r}")
            states = [status["connector"]["state"], *(t["state"] for t in status.get("tasks", []))]
            if all(s == state for s in states):
                return status
            time.sleep(0.5)
        raise ServiceError(f"connector {name} not {state} after {timeout_s:.0f}s ({summarize(status)})")

    def wait_running(self, name: str, timeout_s: float = 60.0, settle_s: float = 0.0) -> dict[str, Any]:
        """Wait until the connector and all its tasks are RUNNING; a FAILED task raises with
        its diagnosis (`failures.diagnosis`).

        `settle_s`: how long everything must stay RUNNING; a short settle time catches a task
        that fails right after it started. (Right after a plain config update the status may
        still show the previous tasks: `apply` stops the connector around an update.)
        """
        deadline = time.monotonic() + timeout_s
        running_since: float | None = None
        status: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            status = self.status(name)
            if status:
                tasks = status.get("tasks", [])
                for task in tasks:
                    if task.get("state") == "FAILED":
                        why = diagnosis(task.get("trace"), name)
                        raise ServiceError(f"connector {name} task {task.get('id')} FAILED: {why}")
                if status["connector"]["state"] == "FAILED":
                    why = diagnosis(status["connector"].get("trace"), name)
                    raise ServiceError(f"connector {name} FAILED: {why}")
                if (
                    status["connector"]["state"] == "RUNNING"
                    and tasks
                    and all(t["state"] == "RUNNING" for t in tasks)
                ):
                    running_since = running_since or time.monotonic()
                    if time.monotonic() - running_since >= settle_s:
                        return status
                else:
                    running_since = None
            time.sleep(0.5)
        raise ServiceError(f"connector {name} not RUNNING after {timeout_s:.0f}s ({summarize(status)})")
