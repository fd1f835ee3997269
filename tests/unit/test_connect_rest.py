"""The Connect REST client's handling of Connect's 409 (rebalancing / stale config)."""

from __future__ import annotations

import httpx
import pytest

from cdc_ods.connectors import rest
from cdc_ods.connectors.rest import ConnectClient, Rebalancing
from cdc_ods.errors import CdcError


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
