"""The Connect REST client: Connect's 409 (rebalancing / stale config), its login."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
import yaml

from cdc_ods.config import load_config
from cdc_ods.connectors import rest
from cdc_ods.connectors.rest import ConnectClient, Rebalancing
from cdc_ods.errors import CdcError, ConfigError
from cdc_ods.secrets import CONNECT_PASSWORD_ENV, load_credentials


def client_answering(answers: list[int]) -> tuple[ConnectClient, list[str]]:
    """A client whose Connect answers with `answers` in turn (the last one from then on)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        status = answers.pop(0) if len(answers) > 1 else answers[0]
        body = {"message": "Cannot complete request momentarily due to stale configuration"}
        return httpx.Response(status, json=body if status == 409 else {})

    client = ConnectClient("http://127.0.0.1:1")
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(handler))
    return client, seen


def test_a_409_is_retried_until_connect_gives_the_real_answer() -> None:
    client, seen = client_answering([409, 409, 200])
    assert client.put("mysql", {"connector.class": "x"}) is False  # 200: updated
    assert seen == ["PUT /connectors/mysql/config"] * 3


def test_a_409_that_lasts_ends_as_a_transient_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rest, "REBALANCE_WAIT_S", 0.5)
    client, seen = client_answering([409])
    with pytest.raises(Rebalancing, match="409 Cannot complete request momentarily"):
        client.put("mysql", {"connector.class": "x"})
    assert len(seen) >= 2


def test_other_errors_are_not_retried() -> None:
    client, seen = client_answering([400])
    with pytest.raises(CdcError, match="400"):
        client.put("mysql", {"connector.class": "x"})
    assert len(seen) == 1


def test_the_client_logs_in_as_cdc_with_the_secrets_files_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connect's REST API asks for basic authentication: the password comes from the
    environment, else the local stack's secrets file; a refusal names the variable."""
    monkeypatch.delenv(CONNECT_PASSWORD_ENV, raising=False)
    (tmp_path / "cdc.yaml").write_text(yaml.safe_dump({"stack": {"data_dir": "state"}}))
    config = load_config(tmp_path / "cdc.yaml")
    password = load_credentials(config.data_dir).connect.get_secret_value()
    sent: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("authorization"))
        return httpx.Response(200 if sent[-1] else 401, json=[])

    client = ConnectClient.of(config)
    client._http._transport = httpx.MockTransport(handler)  # the client's auth still applies
    assert client.connectors() == []
    assert sent == ["Basic " + base64.b64encode(f"cdc:{password}".encode()).decode()]

    anonymous = ConnectClient("http://connect.invalid:8083")
    anonymous._http._transport = httpx.MockTransport(handler)
    with pytest.raises(ConfigError, match=f"401 unauthorized .*{CONNECT_PASSWORD_ENV}"):
        anonymous.connectors()
