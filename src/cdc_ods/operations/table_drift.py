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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from prometheus_client import Gauge

from cdc_ods.config import Config, SourceConfig
from cdc_ods.connectors.apply import captured_tables
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.connectors.validation import captures, include_entries
from cdc_ods.operations import metrics
from cdc_ods.operations.said_once import SaidOnce
from cdc_ods.sources import source_for
from cdc_ods.sources.base import OWN_TABLES, matches


@dataclass(frozen=True)
class TableDrift:
    gone: list[str]  # captured by the connector, no longer at the source
    not_captured: list[str]  # at the source, taken by cdc.yaml's `tables`, not captured


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


class TableDriftProbe:
    def __init__(self, config: Config, connect: ConnectClient) -> None:
        self.config = config
        self.connect = connect
        self.sources = [s for s in config.sources if s.enabled and s.has_catalog]
        self.found: dict[str, TableDrift] = {}  # per source, as of the last look that could ask it
        self._asking = SaidOnce("the tables captured")
        self._series: set[tuple[Gauge, str, str]] = set()

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
        return TableDrift(drift.gone, drift.not_captured + unpublished)
