"""Each source's log as its connector needs it: still there, and how close to being removed.

A connector stopped or behind for long enough loses its place: MariaDB/MySQL purge binlog
files older than their expiry, and PostgreSQL invalidates a replication slot that retains
more WAL than `max_slot_wal_keep_size`. Before that happens `SourceLogRetentionAtRisk` fires
(the slot's safe WAL left, or the connector's lag against the binlog expiry); after it,
`SourceLogLost` (and `ConnectorLogLost` once the connector tried to read). The way back is
`cdc connectors recover` (cdc_ods.operations.recover).
"""

from __future__ import annotations

import contextlib
import logging

from cdc_ods.config import Config
from cdc_ods.connectors.offsets import connector_position
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.operations import metrics
from cdc_ods.sources import source_for

log = logging.getLogger("cdc_ods.watchdog")


class LogRetentionProbe:
    def __init__(self, config: Config, connect: ConnectClient) -> None:
        self.config = config
        self.connect = connect
        self.sources = [s for s in config.sources if s.enabled and s.has_catalog]
        self._failing: set[str] = set()  # sources whose last look failed: said once

    def measure(self) -> None:
        """Export each source's retention gauges; a source that cannot be asked keeps its last
        values (and says why once)."""
        for source in self.sources:
            try:
                reached = connector_position(self.connect, source)
                retention = source_for(self.config, source).log_retention(reached)
            except Exception as exc:  # a source down or refusing the query: the watchdog goes on
                if source.name not in self._failing:
                    log.warning("log retention of source %s unknown: %s", source.name, exc)
                self._failing.add(source.name)
                continue
            self._failing.discard(source.name)
            if retention is None:
                continue
            metrics.LOG_AVAILABLE.labels(source.name).set(int(retention.available))
            for gauge, value in (
                (metrics.LOG_BEHIND_BYTES, retention.behind_bytes),
                (metrics.LOG_SAFE_BYTES, retention.safe_bytes),
                (metrics.LOG_RETENTION_SECONDS, retention.retention_s),
            ):
                if value is None:
                    with contextlib.suppress(KeyError):  # no series: never set
                        gauge.remove(source.name)
                else:
                    gauge.labels(source.name).set(value)
