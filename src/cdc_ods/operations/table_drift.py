"""Tables renamed, dropped or created at a source since its connector was applied.

A connector captures the tables its `table.include.list` names. A captured table renamed or
dropped at the source stops sending changes without any error (the entry matches nothing; the
ODS table keeps the rows it had), and a table created, or renamed into a name cdc.yaml's
`tables` takes, is not captured until `cdc sources sync`. Each look of the watchdog compares
every source's tables with its connector's list: `cdc_captured_table_gone{source,table}` and
`cdc_source_table_not_captured{source,table}` are 1 for each such table (alerts
`CapturedTableGone` and `SourceTableNotCaptured`); `cdc watch --once` prints them. On
PostgreSQL a captured table missing from the source's publication counts as not captured too:
its changes never reach the connector (a table dropped and created again under the same name
leaves the publication, and the new one is not added).

On MariaDB/MySQL a table dropped and created again under the same name goes on being captured:
the new table's changes arrive, but the binlog logged the DROP as a statement, not as a delete
per row, so the ODS keeps the old table's rows. Each look reads the connector's schema history
(`schema_history`) for DROP TABLE statements of captured tables; one that exists again while
its ODS table still holds rows last changed before the DROP's position, not deleted, is
*recreated*: `cdc_source_table_recreated{source,table}` is 1 (alert `SourceTableRecreated`)
until `cdc connectors snapshot SOURCE TABLE --replace` has removed those rows. (A table whose
ODS has no such row is not looked at again for that DROP.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Gauge

from cdc_ods import contract
from cdc_ods.config import MYSQL_FAMILY, Config, SourceConfig
from cdc_ods.connectors.apply import captured_tables
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.connectors.validation import captures, include_entries
from cdc_ods.endpoints import Endpoints
from cdc_ods.ods.phoenix import connect as phoenix_connect
from cdc_ods.operations import metrics
from cdc_ods.operations.said_once import SaidOnce
from cdc_ods.operations.schema_history import HISTORY_TOPIC, HistoryReader, drops
from cdc_ods.reconcile.readers import ods_columns
from cdc_ods.sources import source_for
from cdc_ods.sources.base import OWN_TABLES, matches


@dataclass(frozen=True)
class TableDrift:
    gone: list[str]  # captured by the connector, no longer at the source
    not_captured: list[str]  # at the source, taken by cdc.yaml's `tables`, not captured
    recreated: list[str] = field(default_factory=list)  # MySQL family: see the module docstring

    def lines(self, source: str) -> list[str]:
        """What `cdc watch --once` says of them, with the command for each."""
        return [
            *(f"source {source}: captured table {t} is gone (renamed or dropped)" for t in self.gone),
            *(
                f"source {source}: table {t} not captured: `cdc sources sync {source}`"
                for t in self.not_captured
            ),
            *(
                f"source {source}: table {t} was dropped and created again; the ODS still has rows of the"
                f" old one: `cdc connectors snapshot {source} {t} --replace`"
                for t in self.recreated
            ),
        ]


def table_drift(
    connector: dict[str, Any], namespace: str, tables: list[str], wanted: list[str]
) -> TableDrift:
    """`tables`: every base table of the source's namespace now (the project's own included);
    `wanted`: cdc.yaml's `tables` (names or glob patterns). A connector without an include
    list captures every table: nothing to tell."""
    entries = include_entries(connector)
    if not entries:
        return TableDrift([], [])
    qualified = [f"{namespace}.{t}" for t in tables]
    prefix = re.escape(f"{namespace}.")
    gone = [
        re.sub(r"\\(.)", r"\1", entry.removeprefix(prefix))  # the generated entries are escaped names
        for entry in entries
        if not any(captures([entry], q) for q in qualified)
    ]
    not_captured = [
        t
        for t in tables
        if t not in OWN_TABLES and matches(wanted, t) and not captures(entries, f"{namespace}.{t}")
    ]
    return TableDrift(gone, not_captured)


def old_rows_left(phoenix_url: str, ods_table: str, position: int) -> bool:
    """Whether `ods_table` holds a row, not deleted, last changed before source position
    `position` (False when the table does not exist)."""
    conn = phoenix_connect(phoenix_url)
    try:
        if not ods_columns(conn, ods_table):
            return False
        cursor = conn.cursor()
        cursor.execute(
            f"SELECT 1 FROM {ods_table} WHERE {contract.CDC_SOURCE_POS} < {int(position)}"
            f" AND ({contract.CDC_DELETED} IS NULL OR NOT {contract.CDC_DELETED}) LIMIT 1"
        )
        return cursor.fetchone() is not None
    finally:
        conn.close()


class TableDriftProbe:
    def __init__(self, config: Config, connect: ConnectClient) -> None:
        self.config = config
        self.connect = connect
        self.endpoints = Endpoints.from_config(config)
        self.sources = [s for s in config.sources if s.enabled and s.has_catalog]
        self.found: dict[str, TableDrift] = {}  # per source, as of the last look that could ask it
        self._asking = SaidOnce("the tables captured")
        self._series: set[tuple[Gauge, str, str]] = set()
        self._histories: dict[str, HistoryReader] = {}  # MySQL family, per source
        self._dropped: dict[str, dict[str, int]] = {}  # source -> table -> its latest DROP's position
        self._settled: set[tuple[str, str, int]] = set()  # (source, table, DROP position): no old rows

    def measure(self) -> dict[str, TableDrift]:
        """Export the gauges; a source or connector that cannot be asked keeps its last values
        (and says why once). Returns the drift per source, for `cdc watch --once`."""
        for source in self.sources:
            answered, found = self._asking.ask(source.name, lambda s=source: self._drift(s))
            if not answered:
                continue  # its last findings stand
            if found is None:
                self.found.pop(source.name, None)
            else:
                self.found[source.name] = found
        series = {
            (gauge, name, table)
            for name, drift in self.found.items()
            for gauge, tables in (
                (metrics.CAPTURED_TABLE_GONE, drift.gone),
                (metrics.TABLE_NOT_CAPTURED, drift.not_captured),
                (metrics.TABLE_RECREATED, drift.recreated),
            )
            for table in tables
        }
        for gauge, name, table in self._series - series:
            gauge.remove(name, table)
        for gauge, name, table in series:
            gauge.labels(name, table).set(1)
        self._series = series
        return self.found

    def _drift(self, source: SourceConfig) -> TableDrift | None:
        """None while its connector is not applied: nothing captured to compare."""
        connector = self.connect.get_config(source.name)
        if connector is None:
            return None
        src = source_for(self.config, source)
        tables = src.namespace_tables()
        drift = table_drift(connector, source.namespace, tables, list(source.tables))
        captured = captured_tables(src, connector, tables)
        unpublished = [t for t in src.unpublished(connector, captured) if t not in drift.not_captured]
        recreated = self._recreated(source, connector, captured) if source.kind in MYSQL_FAMILY else []
        return TableDrift(drift.gone, drift.not_captured + unpublished, recreated)

    def _recreated(self, source: SourceConfig, connector: dict[str, Any], captured: list[str]) -> list[str]:
        """Captured tables dropped while streaming, there again, whose ODS table still holds
        rows last changed before the DROP."""
        topic = connector.get(HISTORY_TOPIC)
        if not topic:
            return []
        reader = self._histories.get(source.name)
        if reader is None or reader.topic != topic:  # first look, or the connector was re-applied
            if reader is not None:
                reader.close()
            reader = self._histories[source.name] = HistoryReader(self.endpoints.kafka_bootstrap, topic)
            self._dropped[source.name] = {}
        dropped = self._dropped[source.name]
        dropped.update(drops(reader.read_new(), source.namespace))
        found = []
        for table, position in sorted(dropped.items()):
            settled = (source.name, table, position)
            if table not in captured or settled in self._settled:
                continue  # not there again (yet), or its ODS was found clean
            ods_table = contract.ods_table(source.name, source.database, table)
            if old_rows_left(self.endpoints.phoenix_url, ods_table, position):
                found.append(table)
            else:
                self._settled.add(settled)
        return found

    def close(self) -> None:
        for reader in self._histories.values():
            reader.close()
