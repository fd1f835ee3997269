"""`cdc ods rebuild SOURCE TABLE`: an ODS table made again from its source table's schema.

For a change Phoenix cannot apply to a table: a column's type widened at the source (INT ->
BIGINT, FLOAT -> DOUBLE, DECIMAL(5,2) -> DECIMAL(12,2)). Values that still fit keep loading;
one that does not is dead-lettered by the cleansing stage (its script declares the old type)
and `cdc reconcile` reports it rejected. Phoenix has no ALTER COLUMN, so the way back is:
1. the table's cleansing script in ksql/ rewritten from the source's schema when it is as
   generated (`cdc ksql generate --update`, for this table); an edited one is kept, with a
   warning: the type is changed there by hand;
2. the cleansing stage and the loader stopped (the local stack's; stages run elsewhere must be
   stopped by the operator: the command refuses while their consumer groups have members),
   since both hold the table's old schema;
3. the ODS table dropped;
4. the stages started again: the cleansing stage reads the script anew, the loader creates the
   table from the source's schema at its next record;
5. PostgreSQL: the connector's task restarted (its JDBC session keeps the plan of the snapshot
   query from before the change and fails with "cached plan must not change result type");
6. the table re-read and waited for as `cdc connectors snapshot SOURCE TABLE --replace` does
   (`cdc_ods.operations.resync`): every row it has arrives again, into the new table.
The dead-lettered changes stay in the dead-letter topic; the snapshot wrote every row's
current state. Running it again is harmless: the table is made and filled again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cdc_ods import contract
from cdc_ods.config import Config, SourceConfig
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.connectors.snapshot import captured_table
from cdc_ods.endpoints import Endpoints
from cdc_ods.errors import CdcError
from cdc_ods.kafka import group_members
from cdc_ods.ksql.generate import is_unedited, stream_prefix
from cdc_ods.ksql.schema import write_scripts
from cdc_ods.ods.phoenix import connect as phoenix_connect
from cdc_ods.operations.recover import relational_source
from cdc_ods.operations.resync import Resync, resync

Report = Callable[[str], None]
STAGES = ["cleansing", "loader"]
LEAVE_GROUP_S = 60.0  # a stage killed without closing stays a member until its session times out


class StageControl(Protocol):
    """The services run by whoever runs this command: the local stack's `StackManager`."""

    def stop(self, names: list[str]) -> list[str]:
        """Stops those of `names` that run; returns them."""
        ...

    def up(self, only: list[str] | None = None) -> list[str]: ...


@dataclass
class Rebuild:
    resync: Resync
    script: str  # what became of the table's cleansing script
    stopped: list[str]  # the local stack's stages stopped and started again


def rebuild(
    connect: ConnectClient,
    config: Config,
    name: str,
    table: str,
    control: StageControl,
    timeout_s: float,
    report: Report,
) -> Rebuild:
    source = relational_source(config, name)
    endpoints = Endpoints.from_config(config)
    state = (connect.status(name) or {}).get("connector", {}).get("state")
    if state != "RUNNING":
        raise CdcError(f"connector {name} is {state}: the table is re-read through it, so it must run")
    captured = captured_table(connect, name, table, config, endpoints)
    ods_table = contract.ods_table(source.name, source.database, captured.name)
    script = _rewrite_script(config, source, captured.name, report)
    stopped = control.stop(STAGES)
    try:
        _wait_stages_left(config, endpoints.kafka_bootstrap, LEAVE_GROUP_S if stopped else 0.0, report)
        conn = phoenix_connect(endpoints.phoenix_url, autocommit=True)
        try:
            conn.cursor().execute(f"DROP TABLE IF EXISTS {ods_table}")
        finally:
            conn.close()
        report(f"{ods_table}: dropped; the loader makes it again from {captured.qualified}'s schema")
    finally:
        if stopped:
            control.up(stopped)
    if source.kind == "postgres":
        connect.restart(name)
        connect.wait_running(name, timeout_s=120)
        report(f"{name}: task restarted (its session's query plans predate the change)")
    return Rebuild(resync(connect, config, name, captured.qualified, timeout_s, report), script, stopped)


def _rewrite_script(config: Config, source: SourceConfig, table: str, report: Report) -> str:
    """The table's cleansing script in ksql/ brought to the source's schema, unless edited."""
    path = config.scripts_dir / f"{stream_prefix(source.name, source.database, table)}.sql"
    if path.exists() and not is_unedited(path.read_text(encoding="utf-8")):
        report(
            f"[yellow]warning:[/] {path} was edited by hand and is kept: a column whose type changed"
            " keeps its old type there until you change it (rows that do not fit are dead-lettered)"
        )
        return f"{path.name} kept (edited by hand)"
    only = (source.name, table)
    written = write_scripts(config, config.scripts_dir, force=False, update=True, report=report, only=only)
    return f"{path.name} rewritten from the source's schema" if written else f"{path.name} unchanged"


def _wait_stages_left(config: Config, bootstrap: str, wait_s: float, report: Report) -> None:
    """The cleansing and loader groups without members: nothing writes the table or holds its
    schema. `wait_s`: how long members may take to leave (stages this command stopped)."""
    deadline = time.monotonic() + wait_s
    for stage, group in zip(STAGES, (config.cleansing.group_id, config.ods.group_id), strict=True):
        while members := group_members(bootstrap, group):
            if time.monotonic() > deadline:
                raise CdcError(
                    f"the {stage} stage still runs (group {group}: {len(members)} member(s) on"
                    f" {', '.join(sorted(set(members)))}): stop it and the other stages, then run this again"
                )
            report(f"waiting for the {stage} stage to leave group {group}")
            time.sleep(2)
