"""The `postgres` source: TV series and their episodes, in PostgreSQL's own types.

Writes use psycopg 3's pipeline mode: every statement of a transaction is sent without
waiting for the previous result, so a batch costs about one round trip, and repeated
statements are prepared on the server automatically.

The tables have REPLICA IDENTITY FULL (see producers/postgres.sql): Debezium's update and
delete events then carry the whole old row, as they do for MariaDB (binlog_row_image=FULL),
so both sources reach the pipeline with the same before images.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from cdc_ods.endpoints import split_host_port
from cdc_ods.errors import CdcError, ServiceError
from cdc_ods.paths import tool_file
from cdc_ods.producers import vocab
from cdc_ods.producers.ops import Kind, Mix, Op, OpGenerator, Row, WorkingSet
from cdc_ods.producers.runner import ConnectionLost
from cdc_ods.sources.tls import Tls, libpq_options

SERIES_UUIDS = UUID("5d0c6a52-3b8e-4f0e-9c47-7f1d2a9e8b31")  # uuid5 namespace of tv_series.uuid


class PostgresOps(OpGenerator):
    """Series churn slowly; episodes are added, edited and removed more often. Deleting a
    series first deletes its episodes (the foreign key has no cascade), one operation each.

    Episodes are not capped on their own: they leave the working set with their series, so
    a series is never deleted while an episode the generator forgot still points at it."""

    mix = Mix(
        {
            ("tv_series", "insert"): 9,
            ("tv_series", "update"): 15,
            ("tv_series", "delete"): 4,
            ("episodes", "insert"): 40,
            ("episodes", "update"): 25,
            ("episodes", "delete"): 7,
        }
    )

    def __init__(self, seed: int | str, next_ids: Mapping[str, int], working_set: int = 200) -> None:
        super().__init__(seed, next_ids)
        self.series = WorkingSet(working_set)
        self.episodes = WorkingSet(sys.maxsize)
        self.episodes_of: dict[int, list[int]] = {}  # series id -> its episode ids, in order
        self.last_episode: dict[int, tuple[int, int]] = {}  # series id -> (season, number)

    def make(self, table: str, kind: Kind) -> list[Op]:
        if table == "episodes" and not self.series:
            table, kind = "tv_series", "insert"
        if table == "tv_series":
            if kind == "insert" or not self.series:
                return [self.insert_series()]
            key = self.series.pick(self.rng)
            if kind == "delete":
                return self.delete_series(key)
            changes = self.series_changes()
            self.series.rows[key] = {**self.series.rows[key], **changes}
            return [Op(table, "update", key, changes)]
        if kind == "insert" or not self.episodes:
            return [self.insert_episode(self.series.pick(self.rng))]
        key = self.episodes.pick(self.rng)
        if kind == "delete":
            self.episodes_of[self.episodes.rows[key]["series_id"]].remove(key)
            self.episodes.remove(key)
            return [Op(table, "delete", key, {})]
        changes = self.episode_changes()
        self.episodes.rows[key] = {**self.episodes.rows[key], **changes}
        return [Op(table, "update", key, changes)]

    def insert_series(self) -> Op:
        key = self.new_id("tv_series")
        # from the id, not the random stream: a seed run again on a filled table must not
        # repeat a uuid (the column is unique)
        values = {"id": key, "uuid": uuid5(SERIES_UUIDS, str(key)), **self.series_columns()}
        retired = self.series.add(values["id"], values, self.rng)
        if retired is not None:  # its episodes retire with it
            for episode in self.episodes_of.pop(retired):
                self.episodes.remove(episode)
            del self.last_episode[retired]
        self.episodes_of[values["id"]] = []
        self.last_episode[values["id"]] = (1, 0)
        return Op("tv_series", "insert", values["id"], values)

    def delete_series(self, key: int) -> list[Op]:
        episodes = self.episodes_of.pop(key)
        for episode in episodes:
            self.episodes.remove(episode)
        self.series.remove(key)
        del self.last_episode[key]
        return [*(Op("episodes", "delete", e, {}) for e in episodes), Op("tv_series", "delete", key, {})]

    def series_columns(self) -> Row:
        rng = self.rng
        now = self.clock.tick()
        return {
            "title": vocab.title(rng),
            "original_title": None if rng.random() < 0.4 else vocab.title(rng),
            "genres": rng.sample(vocab.GENRES, rng.randint(0, 3)),
            "first_aired": None if rng.random() < 0.1 else vocab.random_date(rng, 1960, 2025),
            "rating": None if rng.random() < 0.15 else Decimal(rng.randint(10, 100)).scaleb(-1),
            "is_running": rng.random() < 0.4,
            "metadata": None if rng.random() < 0.2 else self.metadata(),
            "created_at": now,
            "updated_at": now,
        }

    def metadata(self) -> dict[str, Any]:
        rng = self.rng
        return {
            "network": rng.choice(vocab.NETWORKS),
            "seasons_planned": rng.randint(1, 12),
            "languages": rng.sample(vocab.LANGUAGES, rng.randint(1, 3)),
            "awards": {"emmys": rng.randint(0, 20), "nominated": rng.random() < 0.3},
        }

    def series_changes(self) -> Row:
        fresh = self.series_columns()
        columns = ["title", "original_title", "genres", "rating", "is_running", "metadata"]
        return {c: fresh[c] for c in self.pick_columns(columns)} | {"updated_at": fresh["updated_at"]}

    def insert_episode(self, series: int) -> Op:
        season, number = self.last_episode[series]
        season, number = (season + 1, 1) if number and self.rng.random() < 0.1 else (season, number + 1)
        self.last_episode[series] = (season, number)
        values = {
            "id": self.new_id("episodes"),
            "series_id": series,
            "season": season,
            "number": number,
            **self.episode_columns(),
        }
        self.episodes.add(values["id"], values, self.rng)
        self.episodes_of[series].append(values["id"])
        return Op("episodes", "insert", values["id"], values)

    def episode_columns(self) -> Row:
        rng = self.rng
        now = self.clock.tick()
        return {
            "title": vocab.title(rng),
            "air_date": None if rng.random() < 0.1 else vocab.random_date(rng, 1960, 2025),
            "runtime_min": None if rng.random() < 0.1 else rng.randint(20, 95),
            "viewers_millions": None if rng.random() < 0.3 else Decimal(rng.randint(1, 30_000)).scaleb(-3),
            "has_subtitles": rng.random() < 0.7,
            "languages": rng.sample(vocab.LANGUAGES, rng.randint(0, 4)),
            "created_at": now,
            "updated_at": now,
        }

    def episode_changes(self) -> Row:
        fresh = self.episode_columns()
        columns = ["title", "air_date", "runtime_min", "viewers_millions", "has_subtitles", "languages"]
        return {c: fresh[c] for c in self.pick_columns(columns)} | {"updated_at": fresh["updated_at"]}


@functools.cache
def query(kind: Kind, table: str, columns: tuple[str, ...]) -> str:
    """SQL text of one kind of statement, built once: composing it per change would cost a
    third of the producer's time. Table and column names are the producer's own."""
    quoted = [f'"{c}"' for c in columns]
    if kind == "insert":
        marks = ", ".join(["%s"] * len(columns))
        return f'INSERT INTO "{table}" ({", ".join(quoted)}) VALUES ({marks})'
    if kind == "update":
        sets = ", ".join(f"{c} = %s" for c in quoted)
        return f'UPDATE "{table}" SET {sets} WHERE id = %s'
    return f'DELETE FROM "{table}" WHERE id = %s'


def statement(op: Op) -> tuple[str, list[Any]]:
    params = [Jsonb(v) if isinstance(v, dict) else v for v in op.values.values()]
    if op.kind != "insert":
        params.append(op.key)  # WHERE id = %s
    return query(op.kind, op.table, tuple(op.values)), params


class PostgresTarget:
    name = "postgres"

    def __init__(
        self, address: str, user: str, password: str, database: str, schema: str, tls: Tls | None = None
    ) -> None:
        self.address = address
        self.tls = tls
        self.user = user
        self.password = password
        self.database = database
        self.schema = schema
        self._conn: psycopg.Connection | None = None
        self._xid: int | None = None  # of the transaction `write` is in, or was last in

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None:
            raise CdcError("postgres: producer used before open()")
        return self._conn

    def _connect(self, database: str, autocommit: bool) -> psycopg.Connection:
        host, port = split_host_port(self.address)
        try:
            return psycopg.connect(
                host=host,
                port=port,
                user=self.user,
                password=self.password,
                dbname=database,
                connect_timeout=5,
                autocommit=autocommit,
                **libpq_options(self.tls),
            )
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[-1]
            raise ServiceError(f"postgres: cannot connect to {self.address}: {reason}") from None

    def open(self) -> None:
        with self._connect("postgres", autocommit=True) as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone():
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        self._conn = self._connect(self.database, autocommit=False)
        try:
            with self.conn.transaction():
                schema = sql.Identifier(self.schema)
                self.conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
                self.conn.execute(sql.SQL("SET search_path TO {}").format(schema))
                self.conn.execute(tool_file("producers", "postgres.sql").read_text(encoding="utf-8").encode())
        except psycopg.Error as exc:
            raise CdcError(f"postgres at {self.address}: creating the schema failed: {exc}") from None

    def next_ids(self) -> dict[str, int]:
        ids = {}
        with self.conn.transaction():
            for table in PostgresOps.mix.tables:
                query = sql.SQL("SELECT COALESCE(MAX(id), 0) + 1 FROM {}").format(sql.Identifier(table))
                (ids[table],) = self.conn.execute(query).fetchone() or (1,)
        return ids

    def generator(self, seed: int | str) -> PostgresOps:
        return PostgresOps(seed, self.next_ids())

    def write(self, ops: Sequence[Op]) -> None:
        self._xid = None
        try:
            with self.conn.transaction():
                # the transaction's id: after a lost connection, txid_status says if it committed
                (self._xid,) = self.conn.execute("SELECT txid_current()").fetchone() or (None,)
                with self.conn.pipeline(), self.conn.cursor() as cur:
                    for op in ops:
                        cur.execute(*statement(op))
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0]
            message = f"postgres at {self.address}: transaction failed: {reason}"
            if self.conn.broken:  # the connection is gone, not the transaction refused
                raise ConnectionLost(message) from None
            raise CdcError(message) from None

    def committed(self, ops: Sequence[Op]) -> bool | None:
        if self._xid is None:  # lost before its first statement ran
            return False
        try:
            (status,) = self.conn.execute("SELECT txid_status(%s)", (self._xid,)).fetchone() or (None,)
        except psycopg.Error as exc:
            raise CdcError(f"postgres at {self.address}: txid_status failed: {exc}") from None
        return {"committed": True, "aborted": False}.get(status)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
