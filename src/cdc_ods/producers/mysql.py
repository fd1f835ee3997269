"""The `mysql` source (MariaDB locally, MySQL 8 in docker-compose): movies and app events.

Writes go through pymysql as one multi-statement packet per transaction: pymysql escapes
parameters on the client anyway, and one round trip per batch instead of one per change
is what lets a single connection reach thousands of changes per second.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pymysql
from pymysql.constants import CLIENT

from cdc_ods.endpoints import split_host_port
from cdc_ods.errors import CdcError, ServiceError
from cdc_ods.paths import tool_file
from cdc_ods.producers import vocab
from cdc_ods.producers.ops import Kind, Mix, Op, OpGenerator, Row, WorkingSet
from cdc_ods.producers.runner import ConnectionLost
from cdc_ods.sources.tls import Tls, pymysql_options

EVENTS = ["click_timeline", "click_transaction", "change_category", "back"]
EVENT_WEIGHTS = [45, 10, 25, 20]
PLATFORMS = ["ios", "android", "web"]
SESSIONS = 50  # concurrent app sessions the events come from
EVENT_WORKING_SET = 1000  # recent events a (rare) delete may hit


class MySQLOps(OpGenerator):
    """Movies churn (inserts, updates of a few columns, deletes); app events are appended,
    and rarely deleted. Timestamps are naive UTC: MySQL has no time zone in DATETIME."""

    mix = Mix(
        {
            ("app_events", "insert"): 57,
            ("app_events", "delete"): 2,
            ("movies", "insert"): 12,
            ("movies", "update"): 23,
            ("movies", "delete"): 6,
        }
    )

    def __init__(self, seed: int | str, next_ids: Mapping[str, int], working_set: int = 1000) -> None:
        super().__init__(seed, next_ids)
        self.movies = WorkingSet(working_set)
        self.events = WorkingSet(EVENT_WORKING_SET)
        self.sessions: list[Row] = []

    def now(self) -> datetime:
        return self.clock.tick().replace(tzinfo=None)

    def make(self, table: str, kind: Kind) -> list[Op]:
        live = self.movies if table == "movies" else self.events
        if kind == "insert" or not live:
            values = self.movie() if table == "movies" else self.event()
            live.add(values["id"], values, self.rng)
            return [Op(table, "insert", values["id"], values)]
        key = live.pick(self.rng)
        if kind == "delete":
            live.remove(key)
            return [Op(table, "delete", key, {})]
        changes = self.movie_changes()
        live.rows[key] = {**live.rows[key], **changes}
        return [Op(table, "update", key, changes)]

    def movie(self) -> Row:
        return {"id": self.new_id("movies"), **self.movie_columns()}

    def movie_columns(self) -> Row:
        rng = self.rng
        now = self.now()
        return {
            "title": vocab.title(rng),
            "original_title": None if rng.random() < 0.4 else vocab.title(rng),
            "genres": self.genres(),
            "release_date": None if rng.random() < 0.1 else vocab.random_date(rng, 1950, 2025),
            "rating": None if rng.random() < 0.15 else Decimal(rng.randint(10, 100)).scaleb(-1),
            "runtime_min": None if rng.random() < 0.1 else rng.randint(70, 210),
            "budget_usd": None if rng.random() < 0.3 else Decimal(rng.randint(10**7, 3 * 10**10)).scaleb(-2),
            "metadata": None if rng.random() < 0.2 else self.metadata(),
            "created_at": now,
            "updated_at": now,
        }

    def genres(self) -> str:
        return ",".join(sorted(self.rng.sample(vocab.GENRES, self.rng.randint(1, 3))))

    def metadata(self) -> dict[str, Any]:
        rng = self.rng
        return {
            "imdb_id": f"tt{rng.randint(1, 9_999_999):07d}",
            "languages": rng.sample(vocab.LANGUAGES, rng.randint(1, 3)),
            "awards": {"wins": rng.randint(0, 12), "nominations": rng.randint(0, 30)},
            "streaming": rng.random() < 0.5,
            "tagline": vocab.title(rng),
        }

    def movie_changes(self) -> Row:
        fresh = self.movie_columns()  # a whole candidate row; an update takes a few of its columns
        columns = ["title", "original_title", "genres", "rating", "runtime_min", "budget_usd", "metadata"]
        changes = {column: fresh[column] for column in self.pick_columns(columns)}
        changes["updated_at"] = fresh["updated_at"]
        return changes

    def event(self) -> Row:
        rng = self.rng
        if not self.sessions or rng.random() < 0.05:
            session = {
                "uid": rng.randint(1, 50_000),
                "sid": str(UUID(int=rng.getrandbits(128), version=4)),
                "platform": rng.choices(PLATFORMS, [45, 45, 10])[0],
                "country": None if rng.random() < 0.05 else rng.choice(vocab.COUNTRIES),
                "app_version": None if rng.random() < 0.02 else f"5.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
            }
            if len(self.sessions) >= SESSIONS:
                self.sessions.pop(rng.randrange(len(self.sessions)))
            self.sessions.append(session)
        else:
            session = rng.choice(self.sessions)
        return {
            "id": self.new_id("app_events"),
            "event_ts": self.now(),
            "uid": session["uid"],
            "sid": session["sid"],
            "event": rng.choices(EVENTS, EVENT_WEIGHTS)[0],
            "platform": session["platform"],
            "country": session["country"],
            "app_version": session["app_version"],
        }


def _param(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


@functools.cache
def query(kind: Kind, table: str, columns: tuple[str, ...]) -> str:
    """SQL text of one kind of statement, built once (table and column names are the
    producer's own)."""
    quoted = [f"`{c}`" for c in columns]
    if kind == "insert":
        marks = ", ".join(["%s"] * len(columns))
        return f"INSERT INTO `{table}` ({', '.join(quoted)}) VALUES ({marks})"
    if kind == "update":
        sets = ", ".join(f"{c} = %s" for c in quoted)
        return f"UPDATE `{table}` SET {sets} WHERE id = %s"
    return f"DELETE FROM `{table}` WHERE id = %s"


def statement(op: Op) -> tuple[str, list[Any]]:
    params = [_param(v) for v in op.values.values()]
    if op.kind != "insert":
        params.append(op.key)  # WHERE id = %s
    return query(op.kind, op.table, tuple(op.values)), params


# client errors of a connection that broke: 2003 cannot connect, 2006 server gone away,
# 2013 lost connection during query, 2055 lost connection (pymysql's error numbers)
_CONNECTION_LOST = frozenset({2003, 2006, 2013, 2055})


class MySQLTarget:
    name = "mysql"

    def __init__(self, address: str, user: str, password: str, database: str, tls: Tls | None = None) -> None:
        self.address = address
        self.tls = tls
        self.user = user
        self.password = password
        self.database = database
        self._conn: pymysql.Connection | None = None

    @property
    def conn(self) -> pymysql.Connection:
        if self._conn is None:
            raise CdcError("mysql: producer used before open()")
        return self._conn

    def open(self) -> None:
        host, port = split_host_port(self.address)
        try:
            self._conn = pymysql.connect(
                host=host,
                port=port,
                user=self.user,
                password=self.password,
                charset="utf8mb4",
                autocommit=False,
                client_flag=CLIENT.MULTI_STATEMENTS,
                init_command="SET time_zone = '+00:00'",
                connect_timeout=5,
                **pymysql_options(self.tls),
            )
        except pymysql.MySQLError as exc:
            raise ServiceError(f"mysql: cannot connect to {self.address}: {exc.args[-1]}") from None
        with self.conn.cursor() as cur:
            try:
                cur.execute(
                    f"CREATE DATABASE IF NOT EXISTS `{self.database}` CHARACTER SET utf8mb4 "
                    "COLLATE utf8mb4_unicode_ci"
                )
                self.conn.select_db(self.database)
                self._execute_all(cur, tool_file("producers", "mysql.sql").read_text(encoding="utf-8"))
                self.conn.commit()
            except pymysql.MySQLError as exc:
                raise CdcError(
                    f"mysql at {self.address}: creating the schema failed: {exc.args[-1]}"
                ) from None

    @staticmethod
    def _execute_all(cur: pymysql.cursors.Cursor, sql: str) -> None:
        cur.execute(sql)
        while cur.nextset():
            pass

    def next_ids(self) -> dict[str, int]:
        with self.conn.cursor() as cur:
            ids = {}
            for table in MySQLOps.mix.tables:
                cur.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM `{table}`")
                (ids[table],) = cur.fetchone()
            self.conn.commit()
            return ids

    def generator(self, seed: int | str) -> MySQLOps:
        return MySQLOps(seed, self.next_ids())

    def write(self, ops: Sequence[Op]) -> None:
        with self.conn.cursor() as cur:
            sql = ";\n".join(cur.mogrify(*statement(op)) for op in ops)
            try:
                self._execute_all(cur, sql)
                self.conn.commit()
            except pymysql.MySQLError as exc:
                self._rollback()
                message = f"mysql at {self.address}: transaction failed: {exc.args[-1]}"
                if exc.args and exc.args[0] in _CONNECTION_LOST:
                    raise ConnectionLost(message) from None
                raise CdcError(message) from None

    def committed(self, ops: Sequence[Op]) -> bool | None:
        """By the last row the transaction inserted and kept: present if it committed."""
        deleted = {(op.table, op.key) for op in ops if op.kind == "delete"}
        kept = [op for op in ops if op.kind == "insert" and (op.table, op.key) not in deleted]
        if not kept:
            return None
        last = kept[-1]
        try:
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT 1 FROM `{last.table}` WHERE id = %s", (last.key,))
                found = cur.fetchone() is not None
            self.conn.commit()
        except pymysql.MySQLError as exc:
            raise CdcError(f"mysql at {self.address}: reading {last.table} failed: {exc.args[-1]}") from None
        return found

    def _rollback(self) -> None:
        # if the connection is gone, the server discards the transaction itself
        with contextlib.suppress(pymysql.MySQLError):
            self.conn.rollback()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(pymysql.MySQLError):  # a broken connection is closed already
                self._conn.close()
            self._conn = None
