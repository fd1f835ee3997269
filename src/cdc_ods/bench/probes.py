"""Latency probes: a source commit at a known time, timed until a Phoenix query shows it.

Each source keeps one probe row (id 0 of its first table; the producers never touch it:
their ids start after the highest existing one). A probe updates its title to a new token
and commits at t0; a poller queries the ODS row until the token is visible at t1. t1 - t0 is
the end-to-end latency as an analyst experiences it: source commit -> visible in Phoenix.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import phoenixdb.errors

from cdc_ods import contract
from cdc_ods.config import Config, SourceConfig
from cdc_ods.ods.phoenix import connect
from cdc_ods.sources import source_for

PROBE_ID = 0
# the first table of each source family, with the columns a fresh probe row needs
PROBE_ROWS = {
    "mysql": (
        "movies",
        "INSERT IGNORE INTO movies (id, title, genres, created_at, updated_at)"
        " VALUES (0, 'probe', 'Probe', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
        "UPDATE movies SET title = %s, updated_at = UTC_TIMESTAMP(6) WHERE id = 0",
    ),
    "postgres": (
        "tv_series",
        "INSERT INTO tv_series (id, uuid, title, is_running, created_at, updated_at)"
        " VALUES (0, '00000000-0000-0000-0000-000000000000', 'probe', false, now(), now())"
        " ON CONFLICT (id) DO NOTHING",
        "UPDATE tv_series SET title = %s, updated_at = now() WHERE id = 0",
    ),
}


@dataclass(frozen=True)
class ProbeTiming:
    """One probe's wall-clock times (epoch ms): sent (its UPDATE issued, commit included),
    handed to Phoenix (the row's CDC_LOADED_AT: when the loader built its UPSERT) and seen."""

    token: str
    sent_ms: float
    loaded_ms: float
    visible_ms: float


class Prober:
    """Writes probes into one source and times their arrival in the ODS, on its own thread."""

    def __init__(
        self, config: Config, source: SourceConfig, phoenix_url: str, interval_s: float = 0.5
    ) -> None:
        self.config = config
        self.source = source
        self.phoenix_url = phoenix_url
        self.interval_s = interval_s
        self.table, self.insert_sql, self.update_sql = PROBE_ROWS[
            "mysql" if source.kind in ("mariadb", "mysql") else "postgres"
        ]
        self.ods_table = contract.ods_table(source.name, source.database, self.table)
        self.latencies_ms: list[float] = []
        self.timings: list[ProbeTiming] = []
        self.lost = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"probe-{source.name}", daemon=True)

    def executor(self) -> tuple[Callable[[str, tuple], None], Callable[[], None]]:
        src = source_for(self.config, self.source)
        if self.source.kind in ("mariadb", "mysql"):
            conn = src.connect("admin")

            def run(sql: str, args: tuple) -> None:
                with conn.cursor() as cur:
                    cur.execute(sql, args)

            return run, conn.close
        pg = src.connect("admin")
        pg.execute(f"SET search_path TO {self.source.namespace}")
        return lambda sql, args: pg.execute(sql, args), pg.close

    def ensure_row(self) -> None:
        run, close = self.executor()
        try:
            run(self.insert_sql, ())
        finally:
            close()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        run, close = self.executor()
        phoenix = connect(self.phoenix_url)
        try:
            n = 0
            while not self._stop.is_set():
                n += 1
                token = f"probe {self.source.name} {n} {time.time_ns()}"
                sent_ms, started = time.time() * 1000, time.monotonic()
                run(self.update_sql, (token,))  # autocommit: committed when this returns
                loaded_ms = self._wait_visible(phoenix, token, deadline=started + 60)
                if loaded_ms is None:
                    self.lost += 1
                    continue
                self.latencies_ms.append((time.monotonic() - started) * 1000)
                self.timings.append(ProbeTiming(token, sent_ms, loaded_ms, time.time() * 1000))
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
        finally:
            close()
            phoenix.close()

    def _wait_visible(self, phoenix, token: str, deadline: float) -> float | None:
        """The row's CDC_LOADED_AT (epoch ms) once the token is visible; None after the deadline."""
        cursor = phoenix.cursor()
        query = (
            f'SELECT "TITLE", CAST({contract.CDC_LOADED_AT} AS DECIMAL) FROM {self.ods_table}'
            f' WHERE "ID" = {PROBE_ID}'
        )
        while time.monotonic() < deadline:
            try:
                cursor.execute(query)
                row = cursor.fetchone()
            except phoenixdb.errors.ProgrammingError:  # the ODS table is not created yet
                row = None
            if row and row[0] == token:
                return float(Decimal(row[1]))
            time.sleep(0.01)
        return None
