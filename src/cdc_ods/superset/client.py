"""A small client for Superset's REST API, logged in as the stack's admin user."""

from __future__ import annotations

from typing import Any, Self

import httpx
from pydantic import SecretStr

from cdc_ods.config import Config
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError, ConfigError, TransientError
from cdc_ods.secrets import SUPERSET_ADMIN_USER, SUPERSET_PASSWORD_ENV, lookup_secret


class SupersetClient:
    def __init__(self, url: str, password: SecretStr | None, user: str = SUPERSET_ADMIN_USER) -> None:
        self.url = url.rstrip("/")
        self._user, self._password = user, password
        # Superset checks a CSRF token bound to the session cookie on every write, and that
        # the Referer is its own address
        self._http = httpx.Client(base_url=self.url, timeout=60, headers={"Referer": f"{self.url}/"})
        self._logged_in = False

    @classmethod
    def of(cls, config: Config) -> Self:
        """The configured Superset (`Endpoints.superset_url`), with the admin's password from the
        environment or the local stack's secrets file."""
        return cls(
            Endpoints.from_config(config).superset_url, lookup_secret(config.data_dir, SUPERSET_PASSWORD_ENV)
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise TransientError(f"Superset at {self.url} unreachable: {exc}") from None

    def login(self) -> None:
        if self._logged_in:
            return
        if self._password is None:
            raise ConfigError(
                f"Superset at {self.url}: no password for its user {self._user}: set"
                f" {SUPERSET_PASSWORD_ENV} (the local stack's secrets file has it)"
            )
        body = {"username": self._user, "password": self._password.get_secret_value(), "provider": "db"}
        response = self._send("POST", "/api/v1/security/login", json={**body, "refresh": False})
        if response.status_code == 401:
            raise ConfigError(
                f"Superset at {self.url} refused the login of {self._user}: the password in"
                f" {SUPERSET_PASSWORD_ENV} is not its password"
            )
        self._check("POST", "/api/v1/security/login", response)
        self._http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        csrf = self._check("GET", "csrf", self._send("GET", "/api/v1/security/csrf_token/"))
        self._http.headers["X-CSRFToken"] = csrf.json()["result"]
        self._logged_in = True

    def _check(self, method: str, path: str, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            raise CdcError(f"Superset {method} {path}: {response.status_code} {_message(response)}")
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call as the admin; the decoded JSON answer."""
        self.login()
        return self._check(method, path, self._send(method, path, **kwargs)).json()

    def find(self, resource: str, column: str, value: str) -> list[dict[str, Any]]:
        """The `resource` objects (dataset, database, chart...) whose `column` equals `value`."""
        query = f"(filters:!((col:{column},opr:eq,value:'{value}')),page_size:100)"
        return self.request("GET", f"/api/v1/{resource}/", params={"q": query})["result"]

    def import_bundle(self, bundle: bytes) -> None:
        """Import an assets bundle (Superset's export format), replacing what it names."""
        self.request(
            "POST",
            "/api/v1/assets/import/",
            files={"bundle": ("cdc-ods-assets.zip", bundle, "application/zip")},
            data={"overwrite": "true"},
        )


def _message(response: httpx.Response) -> str:
    """Superset's own error text: `message`, or the messages of its `errors` list."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:400]
    if isinstance(body, dict):
        if body.get("errors"):
            return "; ".join(str(e.get("message", e)) for e in body["errors"])
        if "message" in body:
            return str(body["message"])
    return str(body)[:400]
