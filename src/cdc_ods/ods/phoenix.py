"""Connections to Phoenix through the Query Server (Avatica protobuf, `phoenixdb`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import io
import pprint
from dataclasses import dataclass
from typing import Any

import phoenixdb
import phoenixdb.avatica.client
import phoenixdb.connection
import phoenixdb.errors
import urllib3

from cdc_ods.errors import CdcError, TransientError


class _DeferredPformat:
    """phoenixdb 1.2 pretty-prints every request for a debug log line, even with debug off:
    for a batch of thousands of rows that is about a sixth of the loader's CPU time. This
    stands in for the `pprint` module in phoenixdb's Avatica client and formats only when
    the line is actually logged."""

    class _Text:
        def __init__(self, value: Any) -> None:
            self.value = value

        def __str__(self) -> str:
            return pprint.pformat(self.value)

    def pformat(self, value: Any) -> _Text:
        return self._Text(value)


phoenixdb.avatica.client.pprint = _DeferredPformat()  # type: ignore[assignment]


@dataclass(frozen=True)
class _Response:
    """What phoenixdb's client reads of an HTTP response."""

    status_code: int
    raw: io.BytesIO
    encoding: str = "utf-8"


class _Client(phoenixdb.avatica.client.AvaticaClient):  # type: ignore[misc]
    """phoenixdb's Avatica client, its requests sent through one urllib3 connection pool
    instead of a requests Session: requests' own work per call (merging the environment's
    proxy and .netrc settings, cookies, hooks) was more than half the CPU of the loader's
    HTTP calls, a few per batch. A connection failure raises ConnectionError (an OSError,
    as requests' errors were)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, max_retries=0)
        self._pool = urllib3.connection_from_url(url, maxsize=1, block=False, retries=False)

    def _post_request(self, body: bytes) -> _Response:
        try:
            response = self._pool.urlopen("POST", self.url.path or "/", body=body, headers=self.headers)
        except urllib3.exceptions.HTTPError as exc:
            raise ConnectionError(str(exc)) from None
        return _Response(response.status, io.BytesIO(response.data))

    def close(self) -> None:  # also from the finalizer, after an __init__ that failed
        if getattr(self, "_pool", None) is not None:
            self._pool.close()


class _Connection(phoenixdb.connection.Connection):  # type: ignore[misc]
    """phoenixdb's connection, whose finalizer stays quiet when opening failed: phoenixdb's
    `__del__` then calls the dead Query Server again and Python prints that error's
    traceback as "Exception ignored" (a page of noise per health check of a starting one)."""

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            super().__del__()


def connect(url: str, autocommit: bool = True) -> phoenixdb.connection.Connection:
    """A Phoenix connection; a dead Query Server is named, not a traceback. (What
    `phoenixdb.connect` does for a URL without authentication, with the quiet finalizer.)"""
    try:
        return _Connection(_Client(url), autocommit=autocommit)
    except phoenixdb.errors.Error as exc:
        raise TransientError(f"Phoenix Query Server at {url}: {error_message(exc)}") from None
    except OSError as exc:
        raise TransientError(f"Phoenix Query Server at {url} unreachable: {exc}") from None


def error_message(exc: BaseException) -> str:
    """Phoenix's own message, without the Java stack trace phoenixdb appends."""
    message = getattr(exc, "message", None) or str(exc)
    return message.strip().splitlines()[0] if message.strip() else type(exc).__name__


class StatementError(CdcError):
    """Phoenix rejected a statement (syntax, unknown table, type mismatch...)."""


def run(
    conn: phoenixdb.connection.Connection, statement: str
) -> tuple[list[str], list[tuple[Any, ...]], int]:
    """Execute one statement: (column names, rows, rowcount). Rows are empty for DML/DDL."""
    cursor = conn.cursor()
    try:
        cursor.execute(statement.strip().rstrip(";"))
        if cursor.description is None:
            return [], [], cursor.rowcount
        columns = [d.name for d in cursor.description]
        return columns, [tuple(r) for r in cursor.fetchall()], cursor.rowcount
    except phoenixdb.errors.Error as exc:
        raise StatementError(error_message(exc)) from None
    finally:
        cursor.close()


def to_json_value(value: Any) -> Any:
    """A value as JSON shows it: exact decimals as strings, times in ISO-8601."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value
