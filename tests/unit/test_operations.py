"""Operations logic without services: DLQ filters and grouping, the restart policy, freshness."""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client import REGISTRY

from cdc_ods.config import Config, SourceConfig
from cdc_ods.connectors.failures import diagnosis, root_cause, unparseable_statement
from cdc_ods.connectors.offsets import snapshotting
from cdc_ods.dlq import DeadLetter
from cdc_ods.operations import metrics
from cdc_ods.operations.dlq import BadFilter, Entry, Listing, Selection, parse_since
from cdc_ods.operations.freshness import Backlog, freshness, stage_inputs
from cdc_ods.operations.schema_history import drops
from cdc_ods.operations.settings import OperationsConfig, operations_config
from cdc_ods.operations.table_drift import TableDrift, table_drift
from cdc_ods.operations.watchdog import RestartPolicy, StallDetector, Watchdog
from cdc_ods.sources.mysql import DDL_FILTER_OPTION, ddl_filter, skipped_statements

NOW = dt.datetime(2026, 1, 2, 12, 0, tzinfo=dt.UTC)


def _entry(offset: int, stage: str, reason: str, failed_at: dt.datetime = NOW) -> Entry:
    letter = DeadLetter(
        stage,
        reason,
        "ods.mysql.maf.movies",
        0,
        100 + offset,
        b'{"id":1}',
        b"{bad",
        int(failed_at.timestamp() * 1000),
    )
    return Entry(0, offset, letter)


def test_since_takes_durations_and_iso_times() -> None:
    assert parse_since("30m", NOW) == int((NOW - dt.timedelta(minutes=30)).timestamp() * 1000)
    assert parse_since("2d", NOW) == int((NOW - dt.timedelta(days=2)).timestamp() * 1000)
    assert parse_since("2026-01-02T11:00:00", NOW) == int(
        dt.datetime(2026, 1, 2, 11, tzinfo=dt.UTC).timestamp() * 1000
    )
    with pytest.raises(BadFilter, match="--since 'yesterday'"):
        parse_since("yesterday", NOW)


def test_selection_and_groups() -> None:
    entries = [
        _entry(0, "loader", "value is not JSON: x"),
        _entry(1, "cleansing", "bad rating"),
        _entry(2, "loader", "value is not JSON: x"),
        _entry(3, "loader", "Phoenix rejected the row", NOW - dt.timedelta(hours=3)),
    ]
    assert [e.dlq_offset for e in entries if Selection(stage="loader", reason="JSON").matches(e)] == [0, 2]
    recent = Selection(since_ms=parse_since("1h", NOW + dt.timedelta(minutes=1)))
    assert [e.dlq_offset for e in entries if recent.matches(e)] == [0, 1, 2]
    assert all(Selection(topic="ods.mysql.maf.movies").matches(e) for e in entries)
    assert not any(Selection(topic="ods.mysql.maf.other").matches(e) for e in entries)
    groups = Listing(entries, 0).groups()
    assert [(key, [e.dlq_offset for e in group]) for key, group in groups] == [
        (("loader", "value is not JSON: x"), [0, 2]),
        (("cleansing", "bad rating"), [1]),
        (("loader", "Phoenix rejected the row"), [3]),
    ]
    shown = entries[0].as_dict()
    assert shown["source"] == {"topic": "ods.mysql.maf.movies", "partition": 0, "offset": 100}
    assert (shown["key"], shown["value"], entries[0].ledger_key) == ('{"id":1}', "{bad", "0:0")


def _status(task_state: str, trace: str = "") -> dict:
    return {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": task_state, "trace": trace}]}


TRACE = "org.apache.kafka.connect.errors.ConnectException: boom\n\tat x\nCaused by: PSQLException: no login\n"


def test_policy_restarts_with_backoff_and_gives_up_after_the_cap() -> None:
    policy = RestartPolicy(OperationsConfig(restart_backoff_s=10, restart_max_attempts=3, healthy_after_s=60))
    failed = {"pg": _status("FAILED", TRACE)}
    first = policy.decide(failed, now=0)
    assert [(a.kind, a.task, a.attempt) for a in first] == [("restart", "0", 1)]
    assert (
        first[0].trace == "org.apache.kafka.connect.errors.ConnectException: boom <- PSQLException: no login"
    )
    assert policy.decide(failed, now=9) == []  # backoff 10 s
    assert [a.attempt for a in policy.decide(failed, now=10)] == [2]
    assert policy.decide(failed, now=29) == []  # backoff doubled: 20 s
    assert [a.attempt for a in policy.decide(failed, now=30)] == [3]
    assert [(a.kind, a.attempt) for a in policy.decide(failed, now=70)] == [("give_up", 3)]
    assert policy.decide(failed, now=10_000) == []  # given up: no restart loop
    # fixed by an operator: RUNNING again clears the give-up at once
    assert [a.kind for a in policy.decide({"pg": _status("RUNNING")}, now=10_001)] == ["recovered"]
    assert [a.attempt for a in policy.decide(failed, now=10_002)] == [1]


def test_policy_counts_a_task_as_recovered_only_after_it_stayed_running() -> None:
    policy = RestartPolicy(OperationsConfig(restart_backoff_s=1, restart_max_attempts=2, healthy_after_s=60))
    policy.decide({"pg": _status("FAILED")}, now=0)
    assert policy.decide({"pg": _status("RUNNING")}, now=30) == []  # not settled yet
    assert [a.kind for a in policy.decide({"pg": _status("RUNNING")}, now=61)] == ["recovered"]
    assert policy.history[("pg", "0")].attempts == 0
    policy.decide({}, now=62)  # connector deleted: forgotten
    assert policy.history == {}


def test_connector_instance_failures_are_handled_like_tasks() -> None:
    policy = RestartPolicy(OperationsConfig())
    status = {"connector": {"state": "FAILED", "trace": "boom"}, "tasks": []}
    assert [(a.task, a.trace) for a in policy.decide({"my": status}, now=0)] == [("connector", "boom")]
    assert root_cause(None) == "(no trace)"


def test_freshness_is_zero_when_caught_up_and_the_oldest_wait_otherwise() -> None:
    assert freshness([Backlog(0, 0.0), Backlog(0, 0.0)]) == 0.0  # idle: caught up
    assert freshness([Backlog(0, 0.0), Backlog(12, 42.5)]) == 42.5  # loader stuck
    assert freshness([Backlog(3, 7.0), Backlog(12, 42.5)]) == 42.5


def test_stage_inputs_follow_the_topic_contract() -> None:
    config = Config(sources=[SourceConfig(name="mysql", kind="mariadb", tables=["movies"])])
    assert [(i.stage, i.table, i.topic, i.group) for i in stage_inputs(config)] == [
        ("cleansing", "ODS.MYSQL_MAF_MOVIES", "mysql.maf.movies", "cdc-ksql-embedded"),
        ("loader", "ODS.MYSQL_MAF_MOVIES", "ods.mysql.maf.movies", "cdc-ods-loader"),
        # the apps' events take the same two stages (the watchdog used to miss them)
        ("cleansing", "ODS.EVENTS_APP_CLIENT_EVENTS", "events.app.client_events", "cdc-ksql-embedded"),
        ("loader", "ODS.EVENTS_APP_CLIENT_EVENTS", "ods.events.app.client_events", "cdc-ods-loader"),
    ]
    assert operations_config(config) == OperationsConfig()


def test_metrics_are_registered_with_their_documented_names() -> None:
    metrics.GAVE_UP.labels("unit", "0").set(1)
    metrics.TASK_RESTARTS.labels("unit", "0").inc()
    metrics.FRESHNESS_SECONDS.labels("ODS.UNIT").set(3)
    sample = REGISTRY.get_sample_value
    assert sample("cdc_watchdog_gave_up", {"connector": "unit", "task": "0"}) == 1
    assert sample("cdc_watchdog_task_restarts_total", {"connector": "unit", "task": "0"}) == 1
    assert sample("cdc_pipeline_freshness_seconds", {"table": "ODS.UNIT"}) == 3


def test_a_stalled_running_task_is_restarted_like_a_failed_one_under_the_same_cap() -> None:
    settings = OperationsConfig(restart_backoff_s=10, restart_max_attempts=2, stalled_after_s=60)
    policy, stalls = RestartPolicy(settings), StallDetector(settings.stalled_after_s)
    running = {"my": _status("RUNNING")}
    assert stalls.stalled({"my": 90.0}) == {}  # never seen fresh (e.g. still snapshotting): not stalled
    assert stalls.stalled({"my": 5.0}) == {}
    stalled = stalls.stalled({"my": 75.0})
    assert list(stalled) == ["my"] and "no heartbeat for 75s" in stalled["my"]
    first = policy.decide(running, now=0, stalled=stalled)
    assert [(a.kind, a.task, a.attempt) for a in first] == [("restart", "0", 1)]  # the task itself
    stalls.disarm("my")
    assert stalls.stalled({"my": 80.0}) == {}  # after a restart it must be fresh again first
    # the restarted task cannot log in: it FAILS, and the same cap applies
    assert [a.attempt for a in policy.decide({"my": _status("FAILED")}, now=10)] == [2]
    assert [a.kind for a in policy.decide({"my": _status("FAILED")}, now=30)] == ["give_up"]


class _Connect:
    """Stands in for Connect's REST API: statuses given by the test, restarts recorded."""

    def __init__(self) -> None:
        self.state = "RUNNING"
        self.restarted: list[tuple[str, str]] = []
        self.configs: dict[str, dict] = {}
        self.calls: list[str] = []

    def get_config(self, name: str) -> dict | None:
        return self.configs.get(name)

    def stop(self, name: str) -> None:
        self.calls.append(f"stop {name}")

    def wait_state(self, name: str, state: str, timeout_s: float) -> dict:
        return {}

    def put(self, name: str, config: dict) -> bool:
        self.calls.append(f"put {name}")
        self.configs[name] = config
        return False

    def resume(self, name: str) -> None:
        self.calls.append(f"resume {name}")

    def statuses(self) -> dict:
        return {"my": {"connector": {"state": self.state}, "tasks": [{"id": 0, "state": self.state}]}}

    def restart_task(self, connector: str, task: str) -> None:
        self.restarted.append((connector, task))


def test_a_resumed_connector_is_not_taken_for_stalled_before_its_first_heartbeat() -> None:
    connect = _Connect()
    watchdog = Watchdog(connect, OperationsConfig(stalled_after_s=60))  # type: ignore[arg-type]
    watchdog.check(0, {"my": 5.0})  # reading: fresh heartbeat
    connect.state = "PAUSED"
    watchdog.check(10, {"my": 70.0})  # paused: no heartbeats, nothing to restart
    connect.state = "RUNNING"
    assert watchdog.check(20, {"my": 300.0}) == []  # resumed: its first heartbeat is still to come
    assert watchdog.check(30, {"my": 1.0}) == []
    assert [a.kind for a in watchdog.check(40, {"my": 61.0})] == ["restart"]  # now it stopped reading
    assert connect.restarted == [("my", "0")]


# the shape of Debezium 3.5's trace when its MariaDB parser meets INET6 (abridged)
UNPARSEABLE_TRACE = (
    "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer.\n"
    "\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\n"
    "Caused by: io.debezium.DebeziumException: Error processing binlog event\n"
    "Caused by: io.debezium.text.ParsingException: DDL statement couldn't be parsed. Please open a GitHub"
    " issue at https://github.com/debezium/dbz/issues with the statement 'ALTER TABLE kept\n"
    " ADD COLUMN addr INET6'\nno viable alternative at input 'ALTER TABLE kept ADD COLUMN addr INET6'\n"
    "\tat io.debezium.antlr.ParsingErrorListener.syntaxError(ParsingErrorListener.java:44)\n"
)


def test_an_unparseable_ddl_statement_is_named_with_the_way_out_and_raises_its_gauge() -> None:
    why = diagnosis(UNPARSEABLE_TRACE)
    assert "'ALTER TABLE kept\\n ADD COLUMN addr INET6'" in why and "cdc connectors apply" in why
    never_seen = (
        "org.apache.kafka.connect.errors.ConnectException: An exception occurred\n"
        "Caused by: io.debezium.text.ParsingException: Trying to change column addr in cdc_ddl.kept table,"
        " which does not exist. Query: MODIFY addr VARCHAR(45)\n\tat io.debezium.Foo(Foo.java:1)\n"
    )
    assert unparseable_statement(never_seen) == "MODIFY addr VARCHAR(45)"
    assert diagnosis("java.lang.IllegalStateException: boom\nCaused by: x.Y: refused") == (
        "java.lang.IllegalStateException: boom <- x.Y: refused"
    )
    connect = _Connect()

    def failed(trace: str) -> dict:
        return {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "FAILED", "trace": trace}]}

    connect.statuses = lambda: {"ddl": failed(UNPARSEABLE_TRACE), "other": failed("boom")}  # type: ignore[method-assign]
    Watchdog(connect, OperationsConfig()).check(0)  # type: ignore[arg-type]
    sample = REGISTRY.get_sample_value
    assert sample("cdc_connector_unparseable_ddl", {"connector": "ddl", "task": "0"}) == 1
    assert sample("cdc_connector_unparseable_ddl", {"connector": "other", "task": "0"}) == 0
    assert sample("cdc_connector_unparseable_ddl", {"connector": "ddl", "task": "connector"}) == 0


# Debezium 3.5 at task start (BaseSourceTask), and PostgreSQL refusing an invalidated slot
PURGED_TRACE = (
    "org.apache.kafka.connect.errors.ConnectException: Unable to start the connector\n"
    "Caused by: io.debezium.DebeziumException: The connector is trying to read change stream starting at"
    " BinlogOffsetContext{file=mariadb-bin.000003, pos=4213}, but this is no longer available on the"
    " server. Reconfigure the connector to use a snapshot mode when needed.\n"
)
INVALIDATED_TRACE = (
    "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer.\n"
    "Caused by: org.postgresql.util.PSQLException: ERROR: cannot read from logical replication slot"
    ' "cdc_postgres"\n  Detail: This slot has been invalidated because it exceeded the maximum'
    " reserved size.\n"
)


# MariaDB with GTIDs, as seen in tests/fault/test_lost_logs.py
GTID_PURGED_TRACE = (
    "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer."
    " This connector will be stopped.\n"
    "Caused by: io.debezium.DebeziumException: Could not find GTID state requested by slave in any binlog"
    " files. Probably the slave state is too old and required binlog files have been purged. Error code:"
    " 1236; SQLSTATE: HY000.\n"
)


def test_a_lost_log_is_named_with_the_recover_command_and_raises_its_gauge() -> None:
    for trace, connector in (
        (PURGED_TRACE, "mysql"),
        (GTID_PURGED_TRACE, "mysql"),
        (INVALIDATED_TRACE, "postgres"),
    ):
        why = diagnosis(trace, connector)
        assert why.startswith("the source no longer has the log"), why
        assert f"`cdc connectors recover {connector}`" in why
    connect = _Connect()

    def failed(trace: str) -> dict:
        return {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "FAILED", "trace": trace}]}

    connect.statuses = lambda: {"lost": failed(INVALIDATED_TRACE), "ddl": failed(UNPARSEABLE_TRACE)}  # type: ignore[method-assign]
    Watchdog(connect, OperationsConfig()).check(0)  # type: ignore[arg-type]
    sample = REGISTRY.get_sample_value
    assert sample("cdc_connector_log_lost", {"connector": "lost", "task": "0"}) == 1
    assert sample("cdc_connector_log_lost", {"connector": "ddl", "task": "0"}) == 0
    assert sample("cdc_connector_unparseable_ddl", {"connector": "lost", "task": "0"}) == 0


def test_a_snapshots_offsets_are_told_from_streamings() -> None:
    assert snapshotting([{"file": "mariadb-bin.000004", "pos": 4, "snapshot": "INITIAL"}])
    assert snapshotting([{"lsn": 10, "snapshot": "INITIAL", "last_snapshot_record": False}])
    assert not snapshotting([{"lsn": 10, "snapshot": "INITIAL", "snapshot_completed": True}])
    assert not snapshotting([{"file": "mariadb-bin.000004", "pos": 4, "ts_sec": 1}])
    assert not snapshotting([{"lsn": 10, "snapshot": False}])
    assert not snapshotting([])


def _unreadable(statement: str) -> str:
    """Debezium 3.5's trace for a statement its MariaDB parser cannot read (abridged)."""
    return (
        "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event"
        " producer.\nCaused by: io.debezium.text.ParsingException: DDL statement couldn't be parsed."
        " Please open a GitHub issue at https://github.com/debezium/dbz/issues with the statement"
        f" '{statement}'\n"
        f"no viable alternative at input '{statement}'\n\tat io.debezium.antlr.Foo(Foo.java:44)\n"
    )


def _unappliable(table: str, clause: str) -> str:
    """Debezium 3.5's trace for a statement that changes a column it never saw (abridged)."""
    return (
        "org.apache.kafka.connect.errors.ConnectException: An exception occurred\n"
        f"Caused by: io.debezium.text.ParsingException: Trying to change column peer in {table} table,"
        f" which does not exist. Query: {clause}\n\tat io.debezium.Foo(Foo.java:1)\n"
    )


def test_a_task_failed_on_ddl_of_a_table_not_captured_runs_again_with_it_skipped() -> None:
    connect = _Connect()
    connect.configs["skipper"] = {
        "database.include.list": "cdc_ddl",
        "table.include.list": r"cdc_ddl\.kept",
        DDL_FILTER_OPTION: ddl_filter(["kept", "debezium_signal"]),
    }
    trace = {"skipper": _unreadable("CREATE TABLE scratch (c VARCHAR(9) COMPRESSED)")}
    connect.statuses = lambda: {  # type: ignore[method-assign]
        name: {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "FAILED", "trace": t}]}
        for name, t in trace.items()
    }

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"connector": "skipper", **labels})

    before = sample("cdc_connector_ddl_skipped_total") or 0
    for skipped in (trace["skipper"], _unappliable("cdc_ddl.scratch", "RENAME COLUMN peer TO addr")):
        trace["skipper"] = skipped
        connect.calls.clear()
        assert Watchdog(connect, OperationsConfig()).check(0) == []  # type: ignore[arg-type]
        assert connect.calls == ["stop skipper", "put skipper", "resume skipper"]  # no plain restart
        assert sample("cdc_connector_unparseable_ddl", task="0") is None
    assert skipped_statements(connect.configs["skipper"]) == [
        "CREATE TABLE scratch (c VARCHAR(9) COMPRESSED)",
        "ALTER TABLE scratch RENAME COLUMN peer TO addr",
    ]
    assert sample("cdc_connector_ddl_skipped_total") == before + 2
    # failing again on one once skipped, or on a captured table's statement: named, restarted as usual
    for failing in (
        trace["skipper"],
        _unreadable("ALTER TABLE kept ADD COLUMN c VARCHAR(9) COMPRESSED"),
        _unappliable("cdc_ddl.kept", "RENAME COLUMN peer TO addr"),
    ):
        trace["skipper"] = failing
        connect.calls.clear()
        assert [a.kind for a in Watchdog(connect, OperationsConfig()).check(0)] == ["restart"]  # type: ignore[arg-type]
        assert connect.calls == [] and connect.restarted[-1] == ("skipper", "0")
        assert sample("cdc_connector_unparseable_ddl", task="0") == 1


def test_a_captured_table_renamed_dropped_or_created_at_the_source_is_told() -> None:
    connector = {"table.include.list": r"shop\.orders,shop\.order_items,shop\.customers"}
    tables = ["orders_2026", "order_items", "customers", "debezium_signal", "notes"]
    drift = table_drift(connector, "shop", tables, ["order*", "customers"])
    assert drift == TableDrift(gone=["orders"], not_captured=["orders_2026"])
    # as Debezium matches: whole names, any case; the project's own tables are not the user's
    together = table_drift(
        {"table.include.list": r"shop\.Orders"}, "shop", ["orders", "debezium_signal"], ["*"]
    )
    assert together == TableDrift([], [])
    assert table_drift({"table.include.list": r"shop\.order"}, "shop", ["orders"], ["x"]).gone == ["order"]
    assert table_drift({}, "shop", ["orders"], ["*"]) == TableDrift([], [])  # no list: Debezium takes all


def _history(ddl: str, kind: str, table: str, pos: int, snapshot: bool = False) -> dict:
    """A record of a MySQL connector's schema history topic, as Debezium writes it."""
    position = {"file": "mariadb-bin.000003", "pos": pos, "server_id": 1, "event": 1}
    if snapshot:
        position = {"file": "mariadb-bin.000001", "pos": pos, "snapshot": "INITIAL"}
    return {
        "position": position,
        "databaseName": "shop",
        "ddl": ddl,
        "tableChanges": [{"type": kind, "id": table}],
    }


def test_the_drops_of_a_schema_history_are_those_read_while_streaming_at_their_position() -> None:
    records = [
        # the initial snapshot writes the schema it read as DROP IF EXISTS + CREATE: not drops
        _history("DROP TABLE IF EXISTS `shop`.`orders`", "DROP", '"shop"."orders"', 400, snapshot=True),
        _history("CREATE TABLE `orders` (...)", "CREATE", '"shop"."orders"', 400, snapshot=True),
        _history("DROP TABLE `orders`", "DROP", '"shop"."orders"', 1200),
        _history("CREATE TABLE `orders` (...)", "CREATE", '"shop"."orders"', 1500),
        _history("DROP TABLE `orders`", "DROP", '"shop"."orders"', 2500),  # the latest counts
        _history("DROP TABLE `notes`", "DROP", '"other"."notes"', 2600),  # another database
        _history("ALTER TABLE `items` ADD c INT", "ALTER", '"shop"."items"', 2700),
    ]
    assert drops(records, "shop") == {"orders": 3 * 10**13 + 2500 * 10**3}
    assert drops(records, "SHOP") == drops(records, "shop")
    assert drops(records[:2], "shop") == {}
