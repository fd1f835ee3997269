"""Replayed records never overtake newer changes of the same key.

`cdc dlq replay` marks what it sends with the header `cdc.replay=1`. Only for marked records
the loader compares positions: a replayed change whose `__source_pos` is lower than the
ODS row's `CDC_SOURCE_POS` is skipped (the ODS already holds a newer state of the key).
Unmarked records, the hot path, are never looked up.

Limit: with `ods.delete_mode: hard` a deleted row leaves no position behind, so a replayed
older upsert of a deleted key is applied (the row comes back); soft deletes keep the position.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import phoenixdb
import phoenixdb.errors
import requests
from confluent_kafka import Message

from cdc_ods import contract
from cdc_ods.errors import TransientError
from cdc_ods.ods import metrics
from cdc_ods.ods.batch import Tables
from cdc_ods.ods.phoenix import connect, error_message
from cdc_ods.ods.schema import TableSchema
from cdc_ods.ods.writer import retry_phoenix

REPLAY_HEADER = "cdc.replay"


def is_replay(msg: Message) -> bool:
    headers = msg.headers()
    return bool(headers) and any(k == REPLAY_HEADER and v == b"1" for k, v in headers)


class ReplayGuard:
    """Looks up the ODS rows' positions; one autocommit connection per writer thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._connections: list[phoenixdb.connection.Connection] = []

    def _connection(self) -> phoenixdb.connection.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.url, autocommit=True)
            self._connections.append(conn)
        return conn

    def _reset(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):  # the server may already be gone
                conn.close()

    def ods_position(self, schema: TableSchema, key: tuple[Any, ...]) -> int | None:
        """CDC_SOURCE_POS of the key's ODS row; None when there is no row."""
        statement = f"SELECT {contract.CDC_SOURCE_POS} FROM {schema.ods_name} WHERE {schema.key_condition}"
        try:
            cursor = self._connection().cursor()
            try:
                cursor.execute(statement, schema.key_parameters(key))
                row = cursor.fetchone()
            finally:
                cursor.close()
        except (phoenixdb.errors.Error, requests.RequestException, OSError) as exc:
            self._reset()
            raise TransientError(f"Phoenix at {self.url}: replay check: {error_message(exc)}") from None
        return None if row is None or row[0] is None else int(row[0])

    def is_stale(self, schema: TableSchema, key: tuple[Any, ...], source_pos: int) -> bool:
        current = self.ods_position(schema, key)
        return current is not None and source_pos < current

    def drop_stale(self, tables: Tables, give_up: Callable[[], bool]) -> None:
        """Take out of `tables` the replayed changes older than their key's ODS row."""
        for schema, entries in tables.values():
            replays = [(key, change) for key, (msg, change) in entries.items() if is_replay(msg)]
            for key, change in replays:
                if retry_phoenix(lambda: self.is_stale(schema, key, change.source_pos), give_up):  # noqa: B023
                    del entries[key]
                    metrics.REPLAYS_SKIPPED.labels(schema.ods_name).inc()

    def close(self) -> None:
        for conn in self._connections:
            with contextlib.suppress(Exception):
                conn.close()
        self._connections.clear()
