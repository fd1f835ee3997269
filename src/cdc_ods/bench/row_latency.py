"""Every row's latency from its ODS timestamps: source commit (`CDC_SOURCE_TS`) -> handed to
Phoenix (`CDC_LOADED_AT`, when the loader built the row's UPSERT), for the rows a step changed.

A row changed several times in the step shows its last change; a row deleted (hard) shows
none. Unlike the probes, this costs the pipeline nothing while it runs: the rows are read
once, after the step. Only for sources whose log stamps a commit to the millisecond or
better: PostgreSQL (its commit time, in microseconds). The MySQL family's binlog events carry
whole seconds (MariaDB's `CDC_SOURCE_TS` ends in .000), an error of up to a second; its rows
are left out and `PRECISE_KINDS` says which kinds count.
"""

from __future__ import annotations

from decimal import Decimal

from cdc_ods import contract
from cdc_ods.config import Config, SourceConfig
from cdc_ods.ods.phoenix import connect
from cdc_ods.topology import source_tables

PRECISE_KINDS = ("postgres",)


def row_latencies(
    config: Config, sources: list[SourceConfig], phoenix_url: str, since_ms: float
) -> dict[str, list[float]]:
    """Per source of `sources` whose commit times are precise: milliseconds from source commit
    to UPSERT of every row loaded since `since_ms` (epoch ms). The others are left out."""
    precise = {s.name for s in sources if s.kind in PRECISE_KINDS}
    if not precise:
        return {}
    tables = [t for t in source_tables(config, relational_only=True) if t.source in precise]
    committed, loaded = contract.CDC_SOURCE_TS, contract.CDC_LOADED_AT
    latencies: dict[str, list[float]] = {name: [] for name in precise}
    connection = connect(phoenix_url)
    try:
        cursor = connection.cursor()
        for table in tables:
            cursor.execute(
                f"SELECT CAST({committed} AS DECIMAL), CAST({loaded} AS DECIMAL) FROM {table.ods_table}"
                f" WHERE CAST({loaded} AS DECIMAL) >= {int(since_ms)}"
            )
            rows = cursor.fetchall()
            latencies[table.source] += [float(Decimal(end) - Decimal(start)) for start, end in rows]
    finally:
        connection.close()
    return latencies
