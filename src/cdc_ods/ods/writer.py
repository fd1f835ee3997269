"""Applies batches of row changes to Phoenix tables through the Query Server.

One Phoenix connection with autocommit off: every table's UPSERTs and DELETEs of a batch
go out as batched statements (Avatica ExecuteBatch, one round trip per statement kind and
table), then one commit. Errors are sorted into two kinds: the Query Server or HBase being
unavailable (`TransientError`: retry the same batch later) and Phoenix refusing the data
(`Rejected`: the caller isolates the bad row and dead-letters it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import phoenixdb
import phoenixdb.errors
import requests

from cdc_ods import contract
from cdc_ods.errors import CdcError, Rejected, TransientError
from cdc_ods.ods import metrics, sequence
from cdc_ods.ods.avatica import MissingStatement, execute_prepared, prepare
from cdc_ods.ods.phoenix import connect, error_message
from cdc_ods.ods.schema import (
    Column,
    TableSchema,
    add_column_ddl,
    add_metadata_ddl,
    create_table_ddl,
    metadata_cache_ddl,
    removal_sql,
)
from cdc_ods.runtime import retry_transient

log = logging.getLogger("cdc_ods.loader")
T = TypeVar("T")

# Phoenix refuses the data, not the connection: SQLSTATE classes 22 (data), 23 (integrity),
# 42 (syntax/unknown column), or a Java exception the same data would raise again.
_ROW_ERRORS = (phoenixdb.errors.DataError, phoenixdb.errors.IntegrityError, phoenixdb.errors.ProgrammingError)
_DATA_EXCEPTIONS = re.compile(
    r"NullPointerException|IllegalArgumentException|ClassCastException|NumberFormatException"
    r"|IndexOutOfBoundsException|IllegalDataException"
)


# Phoenix's ConcurrentTableMutationException, SQLSTATE 23000 but no fault of the data: another
# loader process of the group created or altered the same table at the same moment; done again,
# the statement finds the table as the other left it (IF NOT EXISTS)
_CONCURRENT_DDL = "Concurrent modification to table"


def _rejects_the_data(exc: phoenixdb.errors.Error) -> bool:
    """True when retrying the same rows cannot help (unlike Query Server or HBase outages)."""
    message = error_message(exc)
    if _CONCURRENT_DDL in message:
        return False
    return isinstance(exc, _ROW_ERRORS) or bool(_DATA_EXCEPTIONS.search(message))


class Refusals:
    """Tells data Phoenix keeps refusing from an outage, for errors `_rejects_the_data` does
    not recognize (e.g. a value of a DECIMAL ARRAY Phoenix cannot take). An outage makes
    Phoenix stop answering; refused data fails the same way every time while Phoenix answers
    everything else. So: the same error `attempts` times in a row, and Phoenix answering a
    trivial query (`answers`), make it the data's fault."""

    def __init__(self, answers: Callable[[], bool], attempts: int = 3) -> None:
        self.answers = answers
        self.attempts = attempts
        self._recent: list[str] = []

    def classify(self, exc: TransientError) -> CdcError:
        """The error to raise for this failed attempt: `exc` itself (retry), or Rejected."""
        self._recent = [*self._recent, str(exc)][-self.attempts :]
        if len(self._recent) == self.attempts and len(set(self._recent)) == 1 and self.answers():
            return Rejected(
                f"refused {self.attempts} times in a row while Phoenix answers other queries: {exc}"
            )
        return exc


def retry_phoenix(
    action: Callable[[], T], give_up: Callable[[], bool], writer: PhoenixWriter | None = None
) -> T:
    """`action()`, retried while Phoenix or HBase is unavailable until `give_up()` (the batch's
    checkpoint: the loader stopping, or a rebalance's time for it over).

    With `writer`, data Phoenix keeps refusing is not taken for an outage: the same error
    several times in a row while Phoenix answers other queries raises Rejected (the rows go to
    the dead-letter topic; the rest keeps loading): see `Refusals`."""
    refusals = Refusals(writer.answers) if writer is not None else None

    def once() -> T:
        try:
            return action()
        except TransientError as exc:
            raise exc if refusals is None else refusals.classify(exc) from None

    return retry_transient(once, give_up, _count_retry)


def _count_retry(error: BaseException, sleep_s: float) -> None:
    metrics.RETRIES.inc()
    log.warning("retrying in %.1fs: %s", sleep_s, error)


@dataclass(slots=True)
class Change:
    """One row change for one ODS table, already converted to Phoenix parameter values. (Not
    frozen: a frozen dataclass sets each field through object.__setattr__, and the loader makes
    one Change per record.)"""

    key: tuple[Any, ...]
    values: dict[str, Any]  # source column name -> value (full row; key only for deletes)
    op: str
    source_ts_ms: int
    source_pos: int
    deleted: bool
    empty: list[str] | None = None  # CDC_EMPTY: the ODS names of the columns whose value is empty


# The metadata columns a soft delete writes with the key (`_metadata`); an UPSERT writes every
# one (contract.ODS_METADATA_COLUMNS): CDC_EMPTY too, which describes the row's values, and a
# soft delete leaves those as they were.
UPSERT_METADATA = contract.ODS_METADATA_COLUMNS
SOFT_DELETE_METADATA = tuple(c for c in UPSERT_METADATA if c != contract.CDC_EMPTY)


def _metadata(change: Change, loaded_at: dt.datetime, deleted: bool) -> list[Any]:
    """The values of SOFT_DELETE_METADATA."""
    source_ts = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=change.source_ts_ms)
    return [change.op, source_ts, change.source_pos, loaded_at, deleted]


class PhoenixWriter:
    def __init__(self, url: str, delete_mode: Literal["hard", "soft"] = "hard") -> None:
        self.url = url
        self.delete_mode = delete_mode
        self._conn: phoenixdb.connection.Connection | None = None
        # statement -> its cursor, prepared once on this connection and reused for every batch
        self._prepared: dict[str, phoenixdb.cursor.Cursor] = {}
        self._sequence_table_ready = False

    def _connection(self) -> phoenixdb.connection.Connection:
        if self._conn is None:
            self._conn = connect(self.url, autocommit=False)
        return self._conn

    def reset(self) -> None:
        """Drop the connection after a failure; the next call reconnects."""
        if self._conn is not None:
            with contextlib.suppress(Exception):  # the server may already be gone
                self._conn.close()  # closes its prepared statements' cursors too
            self._conn = None
        self._prepared.clear()

    def close(self) -> None:
        self.reset()

    def answers(self) -> bool:
        """Whether Phoenix (Query Server and HBase) answers a trivial query on a connection of
        its own: tells a statement Phoenix refuses from an outage."""
        try:
            conn = connect(self.url, autocommit=True)
        except Exception:
            return False
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT COUNT(*) FROM SYSTEM.CATALOG WHERE TABLE_SCHEM = 'SYSTEM' LIMIT 1")
            return cursor.fetchone() is not None
        except Exception:
            return False
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _execute(
        self, statement: str, rows: Sequence[Sequence[Any]] | None = None, reuse: bool = True
    ) -> None:
        """Run a statement: with `rows`, as a batch of its prepared form (one row too:
        phoenixdb's own execute cannot send text TIMESTAMPs), kept for the next batch when
        `reuse`."""
        try:
            if rows is None:
                with contextlib.closing(self._connection().cursor()) as cursor:
                    cursor.execute(statement)
                return
            if not reuse:
                with contextlib.closing(self._connection().cursor()) as cursor:
                    prepare(cursor, statement)
                    execute_prepared(cursor, rows)
                return
            try:
                execute_prepared(self._prepared_cursor(statement), rows)
            except MissingStatement:  # expired on the server while idle: prepared again
                self._prepared.pop(statement)
                execute_prepared(self._prepared_cursor(statement), rows)
        except (phoenixdb.errors.Error, requests.RequestException, OSError) as exc:
            if rows is not None:
                self._forget(statement)
            raise self._failure(exc, "") from None

    def _forget(self, statement: str) -> None:
        """Close a statement whose batch failed: Phoenix keeps a failed batch's rows in the
        statement (it clears them only on success), and would send them again with the next."""
        cursor = self._prepared.pop(statement, None)
        if cursor is not None:
            with contextlib.suppress(Exception):  # the connection may be gone
                cursor.close()

    def _prepared_cursor(self, statement: str) -> phoenixdb.cursor.Cursor:
        cursor = self._prepared.get(statement)
        if cursor is None:
            cursor = self._connection().cursor()
            prepare(cursor, statement)
            self._prepared[statement] = cursor
        return cursor

    def ensure_table(self, schema: TableSchema) -> None:
        """Create the table, or give one an earlier version created the metadata columns and
        the metadata cache it lacks."""
        self._execute(create_table_ddl(schema))
        self._execute(add_metadata_ddl(schema))
        self._execute(metadata_cache_ddl(schema.ods_name))
        self.commit()

    def add_column(self, schema: TableSchema, column: Column) -> None:
        self._execute(add_column_ddl(schema, column))
        self.commit()

    def add_sequence_totals(self, totals: Sequence[Sequence[Any]], problems: Sequence[Sequence[Any]]) -> None:
        """Add the loader's sequence-integrity counts (see cdc_ods.ods.sequence)."""
        if not self._sequence_table_ready:
            self._execute(sequence.CREATE_TABLE)
            self._execute(metadata_cache_ddl(sequence.TABLE))
            self.commit()
            self._sequence_table_ready = True
        if totals:
            self._execute(sequence.ADD_TOTALS, totals)
        if problems:
            self._execute(sequence.SET_PROBLEM, problems)
        self.commit()

    def truncate(self, schema: TableSchema, source_pos: int, delete_mode: Literal["hard", "soft"]) -> int:
        """A TRUNCATE at the source at `source_pos`: the table's rows loaded from changes before
        it removed (soft: marked deleted, CDC_OP `t`); returns how many. On a connection of its
        own in autocommit, so that Phoenix runs the statement inside HBase rather than
        gathering every row in the Query Server (its mutation state holds 500,000 at most)."""
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        marks = {
            contract.CDC_OP: "'t'",
            contract.CDC_SOURCE_POS: str(int(source_pos)),
            contract.CDC_LOADED_AT: f"TO_TIMESTAMP('{now}')",
        }
        where = f"{contract.CDC_SOURCE_POS} < {int(source_pos)}"
        statement = removal_sql(
            schema.ods_name, [k.upper() for k in schema.primary_key], where, delete_mode, marks
        )
        conn = connect(self.url, autocommit=True)
        try:
            with contextlib.closing(conn.cursor()) as cursor:
                cursor.execute(statement)
                return max(cursor.rowcount, 0)
        except (phoenixdb.errors.Error, requests.RequestException, OSError) as exc:
            raise self._failure(exc, "TRUNCATE: ") from None
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def stage(self, schema: TableSchema, changes: Sequence[Change]) -> None:
        """Send one table's changes (distinct keys) without committing."""
        loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        upserts = [c for c in changes if not c.deleted]
        deletes = [c for c in changes if c.deleted]
        if upserts:
            names = ", ".join([*(f'"{col.ods_name}"' for col in schema.columns), *UPSERT_METADATA])
            marks = ", ".join("?" * (len(schema.columns) + len(UPSERT_METADATA)))
            rows = [
                [c.values.get(col.name) for col in schema.columns]
                + _metadata(c, loaded_at, False)
                + [c.empty]
                for c in upserts
            ]
            self._execute(f"UPSERT INTO {schema.ods_name} ({names}) VALUES ({marks})", rows)
        if deletes and self.delete_mode == "hard":
            self._execute(
                f"DELETE FROM {schema.ods_name} WHERE {schema.key_condition}",
                [schema.key_parameters(c.key) for c in deletes],
                reuse=False,  # a reused DELETE misses rows written after it was prepared
            )
        elif deletes:
            names = ", ".join([*(f'"{name.upper()}"' for name in schema.primary_key), *SOFT_DELETE_METADATA])
            marks = ", ".join("?" * (len(schema.primary_key) + len(SOFT_DELETE_METADATA)))
            rows = [list(c.key) + _metadata(c, loaded_at, True) for c in deletes]
            self._execute(f"UPSERT INTO {schema.ods_name} ({names}) VALUES ({marks})", rows)

    def commit(self) -> None:
        try:
            self._connection().commit()
        except (phoenixdb.errors.Error, requests.RequestException, OSError) as exc:
            failure = self._failure(exc, "commit failed: ")
            if isinstance(failure, Rejected):
                self.rollback()
            raise failure from None

    def _failure(self, exc: BaseException, what: str) -> CdcError:
        """The data was refused (Rejected) or Phoenix/HBase is unavailable (TransientError,
        after dropping the connection so the next attempt reconnects)."""
        if isinstance(exc, phoenixdb.errors.Error) and _rejects_the_data(exc):
            return Rejected(error_message(exc))
        self.reset()
        return TransientError(f"Phoenix at {self.url}: {what}{error_message(exc)}")

    def rollback(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rollback()
        except Exception:  # a failed rollback leaves nothing committed either
            self.reset()
