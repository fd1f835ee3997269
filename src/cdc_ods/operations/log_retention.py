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

from cdc_ods.config import Config, SourceConfig
from cdc_ods.connectors.offsets import connector_position
from cdc_ods.connectors.rest import ConnectClient
from cdc_ods.operations import metrics
from cdc_ods.operations.said_once import SaidOnce
from cdc_ods.sources import source_for
from cdc_ods.sources.base import LogRetention


class LogRetentionProbe:
    def __init__(self, config: Config, connect: ConnectClient) -> None:
        self.config = config
        self.connect = connect
        self.sources = [s for s in config.sources if s.enabled and s.has_catalog]
        self._asking = SaidOnce("log retention")

    def measure(self) -> None:
        """Export each source's retention gauges; a source that cannot be asked keeps its last
        values (and says why once)."""
        for source in self.sources:
            answered, retention = self._asking.ask(source.name, lambda s=source: self._retention(s))
            if not answered or retention is None:
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

    def _retention(self, source: SourceConfig) -> LogRetention | None:
        return source_for(self.config, source).log_retention(connector_position(self.connect, source))
