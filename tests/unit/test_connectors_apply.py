"""`cdc connectors apply` judges an update by the tasks that run the config it submitted.

Kafka Connect restarts a connector's tasks after a config change asynchronously: for a while
its status still shows the previous tasks (a FAILED one until its replacement reports, a
RUNNING one until it is stopped). The fake Connect below does the same on a fake clock, for
longer than the apply's settle time, so an apply that trusts the status read after its PUT
judges the old tasks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest

from cdc_ods.connectors import apply as applying
from cdc_ods.connectors import rest
from cdc_ods.connectors.apply import ConnectorFailed, Planned, apply_one
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.errors import ServiceError
from cdc_ods.sources import Source

NAME = "postgres"
# the source is read only for an added table's snapshot, which needs a signal table: none here
NO_SOURCE = cast(Source, None)
GOOD = {"connector.class": "io.debezium.connector.postgresql.PostgresConnector", "publication.name": "cdc"}
BROKEN = {**GOOD, "publication.name": "no_such_publication"}
TRACE = "org.apache.kafka.connect.errors.ConnectException: Publication autocreation is disabled\n\tat ..."
LAG_S = 2 * applying.SETTLE_S  # how long Connect's status lags behind a change


class Clock:
    """rest's `time`: sleeping advances it, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def status(connector: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": NAME, "connector": {"state": connector, "worker_id": "w:8083"}, "tasks": tasks}


def started(config: dict[str, Any]) -> dict[str, Any]:
    """The status once the connector's tasks run `config`: a missing publication fails the task."""
    task = {"id": 0, "state": "RUNNING", "worker_id": "w:8083"}
    if config["publication.name"] == BROKEN["publication.name"]:
        task = {**task, "state": "FAILED", "trace": TRACE}
    return status("RUNNING", [task])


class FakeConnect:
    """One registered connector as Connect handles it: a config change, a stop, a resume or a
    restart shows in the status LAG_S later. A stopped connector has no tasks (Connect removes
    their statuses once its workers have rebalanced; `rebalances=False` never gets there); a
    config change of a stopped connector starts nothing."""

    def __init__(self, clock: Clock, config: dict[str, Any], rebalances: bool = True) -> None:
        self.clock = clock
        self.rebalances = rebalances
        self.config = {**config, "name": NAME}
        self.running = True  # target state STARTED (else STOPPED)
        self.status = started(self.config)
        self.pending: list[tuple[float, dict[str, Any]]] = []
        self.calls: list[str] = []

    def _later(self, shown: dict[str, Any]) -> None:
        self.pending.append((self.clock.now + LAG_S, shown))

    def _catch_up(self) -> None:
        while self.pending and self.pending[0][0] <= self.clock.now:
            self.status = self.pending.pop(0)[1]

    def handle(self, request: httpx.Request) -> httpx.Response:
        action = request.url.path.removeprefix(f"/connectors/{NAME}")
        self.calls.append(f"{request.method} {action}")
        self._catch_up()
        match request.method, action:
            case "GET", "/config":
                return httpx.Response(200, json=self.config)
            case "GET", "/status":
                return httpx.Response(200, json=self.status)
            case "PUT", "/config":
                self.config = json.loads(request.content)
                if self.running:
                    self._later(started(self.config))
                return httpx.Response(200, json={"name": NAME, "config": self.config})
            case "PUT", "/stop":
                self.running = False
                left = [] if self.rebalances else [{"id": 0, "state": "UNASSIGNED", "worker_id": "w:8083"}]
                self._later(status("STOPPED", left))
                return httpx.Response(202)
            case ("PUT", "/resume") | ("POST", "/restart"):
                self.running = True
                self._later(started(self.config))
                return httpx.Response(202)
        raise AssertionError(f"the apply called {request.method} {request.url.path}")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(rest, "time", fake)
    return fake


@pytest.fixture
def client() -> Iterator[ConnectClient]:
    with ConnectClient("http://connect.invalid:8083") as connect:
        yield connect


def connected(client: ConnectClient, fake: FakeConnect) -> ConnectClient:
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(fake.handle))
    return client


def test_a_good_update_is_kept_while_the_status_still_shows_the_old_failed_task(
    clock: Clock, client: ConnectClient
) -> None:
    fake = FakeConnect(clock, BROKEN)
    lines: list[str] = []
    outcome = apply_one(connected(client, fake), Planned(NAME, NO_SOURCE, GOOD), 60, lines.append)
    assert outcome.action == "updated"
    assert [t["state"] for t in outcome.status["tasks"]] == ["RUNNING"]
    assert fake.config == {**GOOD, "name": NAME}
    assert lines[-1] == f"{NAME}: RUNNING"


def test_a_bad_update_is_undone_while_the_status_still_shows_the_old_running_task(
    clock: Clock, client: ConnectClient
) -> None:
    fake = FakeConnect(clock, GOOD)
    with pytest.raises(ConnectorFailed) as failed:
        apply_one(connected(client, fake), Planned(NAME, NO_SOURCE, BROKEN), 60, lambda _: None)
    assert str(failed.value) == (
        f"connector {NAME} task 0 FAILED: {TRACE.splitlines()[0]}; restored its previous config"
    )
    assert fake.config == {**GOOD, "name": NAME}
    # the undo was judged by the restored config's tasks: they run, no restart was needed
    assert "POST /restart" not in fake.calls
    clock.sleep(LAG_S)
    fake._catch_up()
    assert fake.status == started(fake.config)


def test_an_update_whose_tasks_do_not_go_away_is_not_made_and_the_connector_runs_on(
    clock: Clock, client: ConnectClient
) -> None:
    fake = FakeConnect(clock, GOOD, rebalances=False)
    with pytest.raises(ServiceError, match=f"connector {NAME} not STOPPED after 60s"):
        apply_one(
            connected(client, fake), Planned(NAME, NO_SOURCE, {**GOOD, "slot.name": "x"}), 60, lambda _: None
        )
    assert fake.config == {**GOOD, "name": NAME}
    assert fake.calls[-1] == "PUT /resume"
