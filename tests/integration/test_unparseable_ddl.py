"""DDL that Debezium's parser cannot read, in a MariaDB database the pipeline captures from.

A database of the test's own (`cdc_ddl`, tables `kept` and `other`) joins a private cdc.yaml as
a source that captures both (`cdc sources prepare`, `cdc connectors apply`). Debezium 3.5's
MariaDB parser does not know the INET6 type.
1. A table the source does not capture is created and altered with INET6 columns: the connector
   keeps running, and a row written to `kept` afterwards reaches its raw topic. (Before the
   fix, the CREATE TABLE failed the task and stopped every table of the source.) Another one
   with a COMPRESSED column (syntax, not a type), and a RENAME COLUMN of a column whose INET6
   declaration was filtered (parsed, but Debezium never saw the column): the task FAILS on
   each, the watchdog skips the statement and restarts the connector, and the demo source's
   connector, which read them too; a row written to `kept` afterwards arrives. (Before, both
   stayed FAILED.)
2. `kept` gains an INET6 column: the task FAILS. `cdc status` names the statement and the way
   out, the watchdog's gauge `cdc_connector_unparseable_ddl` is 1 and Prometheus fires
   `ConnectorDdlUnparseable` for the connector.
3. The way out: `kept` leaves `tables` and `cdc connectors apply`: the connector runs again
   and a row written to `other` reaches its raw topic.
4. And back: the column dropped and added again as VARCHAR, `kept` back in `tables`, `cdc
   connectors apply`: its rows are re-read with the column, new rows arrive, and the demo
   source's connector on the same server (which reads every statement too) still runs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import yaml

from cdc_ods import contract
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.endpoints import Endpoints
from cdc_ods.sources.mysql import skipped_statements
from cdc_ods.stack.context import StackContext

from .conftest import metric_value
from .workspaces import cdc, drop_sources, mariadb, raw_events, workspace

PREFIX = "ddl_"
RUN = uuid.uuid4().hex[:6]  # Connect keeps a deleted connector's offsets: a fresh name per run
NAME = f"{PREFIX}my_{RUN}"
DATABASE = "cdc_ddl"
T = TypeVar("T")


def _drop(ctx: StackContext) -> None:
    drop_sources(ctx, PREFIX)
    mariadb(ctx, f"DROP DATABASE IF EXISTS {DATABASE};")


@pytest.fixture
def ddl_workspace(pipeline: StackContext, private_dir: Path) -> Iterator[Path]:
    _drop(pipeline)
    mariadb(
        pipeline,
        f"CREATE DATABASE {DATABASE}; USE {DATABASE};"
        " CREATE TABLE kept (id INT PRIMARY KEY, note VARCHAR(20));"
        " CREATE TABLE other (id INT PRIMARY KEY, note VARCHAR(20));"
        " INSERT INTO kept VALUES (1, 'before'); INSERT INTO other VALUES (1, 'before');",
    )
    source = {"name": NAME, "kind": "mariadb", "database": DATABASE, "tables": ["kept", "other"]}
    yield workspace(private_dir, [source])
    _drop(pipeline)


def _until(what: str, probe: Callable[[], T | None], timeout_s: float = 90) -> T:
    deadline = time.monotonic() + timeout_s
    while (found := probe()) is None or found is False:
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f}s: {what}"
        time.sleep(0.5)
    return found


def _arrived(ctx: StackContext, table: str, key: int) -> bool:
    topic = contract.raw_topic(NAME, DATABASE, table)
    events = raw_events(Endpoints.from_config(ctx.config).kafka_bootstrap, topic)
    return any((e.get("after") or {}).get("id") == key for e in events)


def _failures(config: Path) -> dict[str, str] | None:
    shown = cdc(config, "status", "--json")
    return json.loads(shown.stdout)["connectors"].get(NAME, {}).get("failures") or None


def _watchdog_metric(ctx: StackContext, name: str, labels: dict[str, str]) -> float | None:
    return metric_value(f"http://{ctx.host}:{ctx.config.operations.metrics_port}/metrics", name, labels)


def _watchdog_log(ctx: StackContext) -> list[str]:
    path = ctx.log("watchdog")
    return path.read_text(errors="replace").splitlines() if path.exists() else [f"(no {path})"]


def _gauge(ctx: StackContext) -> float | None:
    return _watchdog_metric(ctx, "cdc_connector_unparseable_ddl", {"connector": NAME, "task": "0"})


def _firing(ctx: StackContext) -> bool:
    alerts = httpx.get(f"{Endpoints.from_config(ctx.config).prometheus_url}/api/v1/alerts", timeout=5).json()
    return any(
        a["labels"].get("alertname") == "ConnectorDdlUnparseable"
        and a["labels"].get("connector") == NAME
        and a["state"] == "firing"
        for a in alerts["data"]["alerts"]
    )


def test_unparseable_ddl_of_other_tables_is_passed_and_of_a_captured_one_is_named_with_its_way_out(
    ddl_workspace: Path, pipeline: StackContext
) -> None:
    config = ddl_workspace
    for step in (("sources", "prepare", NAME), ("connectors", "apply", NAME)):
        done = cdc(config, *step)
        assert done.returncode == 0, done.stdout + done.stderr
    _until("kept's snapshot in its raw topic", lambda: _arrived(pipeline, "kept", 1))

    # 1. a table not captured, with INET6: passed over
    mariadb(
        pipeline,
        f"USE {DATABASE}; CREATE TABLE scratch (id INT PRIMARY KEY,\n  addr INET6 NOT NULL);"
        " ALTER TABLE scratch ADD COLUMN peer INET6; INSERT INTO kept VALUES (2, 'after scratch');",
    )
    _until("kept's row written after the INET6 table", lambda: _arrived(pipeline, "kept", 2))
    with ConnectClient.of(pipeline.config) as connect:
        assert [t["state"] for t in connect.status(NAME)["tasks"]] == ["RUNNING"]

    # 1b. syntax the parser does not know, in a table not captured: skipped by the watchdog
    skipped_total = "cdc_connector_ddl_skipped_total"
    skips = {c: _watchdog_metric(pipeline, skipped_total, {"connector": c}) or 0 for c in (NAME, "mysql")}
    mariadb(
        pipeline,
        # this run's own table names: a statement skipped once stays skipped for the demo connector
        f"USE {DATABASE}; CREATE TABLE squeezed_{RUN} (id INT PRIMARY KEY, note VARCHAR(20) COMPRESSED);"
        # parsed, but not applicable: Debezium never saw the column (its INET6 was filtered)
        f" CREATE TABLE peers_{RUN} (id INT PRIMARY KEY); ALTER TABLE peers_{RUN} ADD COLUMN peer INET6;"
        f" ALTER TABLE peers_{RUN} RENAME COLUMN peer TO peer_addr;"
        " INSERT INTO kept VALUES (4, 'after squeezed');",
    )
    _until(
        "kept's row written after the COMPRESSED table", lambda: _arrived(pipeline, "kept", 4), timeout_s=120
    )
    for connector, before in skips.items():  # the demo source's connector read them too
        try:
            _until(
                f"{connector}: both statements skipped",
                lambda c=connector, b=before: (
                    _watchdog_metric(pipeline, skipped_total, {"connector": c}) == b + 2
                ),
            )
        except AssertionError as missed:  # what the watchdog did, for whoever reads the failure
            counted = _watchdog_metric(pipeline, skipped_total, {"connector": connector})
            tail = "\n".join(_watchdog_log(pipeline)[-60:])
            raise AssertionError(
                f"{missed}; counted {counted} (was {before}); watchdog log:\n{tail}"
            ) from None
    with ConnectClient.of(pipeline.config) as connect:
        demo = connect.wait_running("mysql", timeout_s=60)
        skipped = connect.get_config(NAME) or {}
    assert [t["state"] for t in demo["tasks"]] == ["RUNNING"], demo
    assert [("COMPRESSED" in s, "RENAME COLUMN peer" in s) for s in skipped_statements(skipped)] == [
        (True, False),
        (False, True),
    ]

    # 2. a captured table gains an INET6 column: the task fails, and says why and what to do
    mariadb(pipeline, f"USE {DATABASE}; ALTER TABLE kept ADD COLUMN addr INET6;")
    failures = _until("the FAILED task in `cdc status`", lambda: _failures(config))
    assert "ALTER TABLE kept ADD COLUMN addr INET6" in failures["0"], failures
    assert "take it out of `tables`" in failures["0"], failures
    _until("cdc_connector_unparseable_ddl = 1", lambda: _gauge(pipeline) == 1)
    _until("ConnectorDdlUnparseable firing", lambda: _firing(pipeline))

    # 3. the way out: the table leaves `tables`, the other one streams again
    data = yaml.safe_load(config.read_text())
    next(s for s in data["sources"] if s["name"] == NAME)["tables"] = ["other"]
    config.write_text(yaml.safe_dump(data))
    applied = cdc(config, "connectors", "apply", NAME)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    mariadb(pipeline, f"USE {DATABASE}; INSERT INTO other VALUES (2, 'after the way out');")
    _until("other's row written after the way out", lambda: _arrived(pipeline, "other", 2))
    assert _failures(config) is None

    # 4. back: the column dropped and added again with a type Debezium knows (not MODIFY: Debezium
    # never saw the column); every connector on the server reads these statements
    mariadb(
        pipeline,
        f"USE {DATABASE}; ALTER TABLE kept DROP COLUMN addr; ALTER TABLE kept ADD COLUMN addr VARCHAR(45);"
        " UPDATE kept SET addr = '::1' WHERE id = 1;",
    )
    next(s for s in data["sources"] if s["name"] == NAME)["tables"] = ["kept", "other"]
    config.write_text(yaml.safe_dump(data))
    applied = cdc(config, "connectors", "apply", NAME)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    mariadb(pipeline, f"USE {DATABASE}; INSERT INTO kept VALUES (3, 'back', '10.0.0.1');")
    _until("kept's row written after it came back", lambda: _arrived(pipeline, "kept", 3))
    bootstrap = Endpoints.from_config(pipeline.config).kafka_bootstrap
    reads = {
        e["after"]["id"]: e["after"]
        for e in raw_events(bootstrap, contract.raw_topic(NAME, DATABASE, "kept"))
    }
    assert reads[1] == {"id": 1, "note": "before", "addr": "::1"}  # re-read by the incremental snapshot
    assert reads[3] == {"id": 3, "note": "back", "addr": "10.0.0.1"}
    with ConnectClient.of(pipeline.config) as connect:
        demo = connect.status("mysql")  # the demo source on the same server read every statement too
    assert [t["state"] for t in demo["tasks"]] == ["RUNNING"], demo
