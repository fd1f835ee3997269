"""The ksqlDB backend: submits the scripts to a ksqlDB server's REST API (`POST /ksql`).

Idempotent: a CREATE ... IF NOT EXISTS (the hand-written scripts) is reported as existing on
a second apply; the generated scripts' CREATE OR REPLACE statements upgrade their stream in
place, from the committed offsets, when the script changed (a source column added comes
last in every stream, the in-place upgrade ksqlDB accepts) and leave it as it is otherwise;
an INSERT INTO is skipped when a running query already has the same text (ksqlDB would
otherwise start a second, duplicating query). Not run against a ksqlDB server here.

Two things the real server needs that the embedded backend does not:
- a stream declared over a topic (`CREATE STREAM s (...) WITH (KAFKA_TOPIC=...)`, no AS
  SELECT) is refused while the topic does not exist, and a raw topic appears only once its
  connector wrote to it (`ods.dlq` and the events topic maybe never before the first
  reject or event): the topic is created first (`ensure_topic`);
- each statement is sent with the command sequence number of the previous one, so the server
  runs it only after the stream it reads was created (ksqlDB applies DDL through its command
  topic and may answer before that finished).

The project's CDC_* functions come from the UDF jar built from ksql/udf/ (docker-compose's
ksqldb image has it); CDC_HMAC's key is the server's `ksql.functions.cdc_hmac.key`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from cdc_ods.errors import CdcError, TransientError
from cdc_ods.ksql import ast

_HEADERS = {"Accept": "application/vnd.ksql.v1+json", "Content-Type": "application/vnd.ksql.v1+json"}
_PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest"}


@dataclass(frozen=True)
class Applied:
    statement: ast.Statement
    origin: str
    outcome: str  # created, exists, skipped, error
    message: str


def _normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(";").upper()


class KsqlDbClient:
    def __init__(
        self,
        url: str,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        ensure_topic: Callable[[str], None] | None = None,
    ) -> None:
        """`ensure_topic` creates a declared stream's topic if it is missing (see above)."""
        self.url = url.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s, headers=_HEADERS, transport=transport)
        self._ensure_topic = ensure_topic
        self._sequence: int | None = None  # the last command sequence number the server gave

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KsqlDbClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def submit(self, text: str) -> list[dict]:
        request: dict[str, object] = {"ksql": text, "streamsProperties": _PROPERTIES}
        if self._sequence is not None:
            request["commandSequenceNumber"] = self._sequence
        try:
            response = self._http.post(f"{self.url}/ksql", json=request)
        except httpx.HTTPError as exc:
            raise TransientError(f"ksqlDB at {self.url}: {exc}") from None
        if response.status_code >= 500:
            raise TransientError(f"ksqlDB at {self.url}: HTTP {response.status_code}")
        body = response.json() if response.content else []
        if response.status_code >= 400:
            message = body.get("message", response.text) if isinstance(body, dict) else response.text
            raise CdcError(f"ksqlDB at {self.url}: {str(message).splitlines()[0]}")
        entities = body if isinstance(body, list) else [body]
        for entity in entities:
            sequence = entity.get("commandSequenceNumber") if isinstance(entity, dict) else None
            if isinstance(sequence, int) and sequence > (self._sequence or -1):
                self._sequence = sequence
        return entities

    def running_queries(self) -> set[str]:
        entities = self.submit("SHOW QUERIES;")
        return {_normalized(q.get("queryString", "")) for e in entities for q in e.get("queries", [])}

    def apply(self, scripts: list[ast.Script]) -> list[Applied]:
        """Submit every statement in order; stops at the first error (later ones depend on it)."""
        running = self.running_queries()
        results: list[Applied] = []
        for script in scripts:
            for statement in script.statements:
                if isinstance(statement, ast.InsertInto) and _normalized(statement.text) in running:
                    results.append(Applied(statement, script.origin, "skipped", "same query already running"))
                    continue
                try:
                    if (
                        self._ensure_topic
                        and isinstance(statement, ast.CreateStream)
                        and statement.query is None
                    ):
                        self._ensure_topic(str(statement.properties["KAFKA_TOPIC"]))
                    entities = self.submit(statement.text)
                except CdcError as exc:
                    results.append(Applied(statement, script.origin, "error", str(exc)))
                    return results
                results.append(Applied(statement, script.origin, *_outcome(entities)))
        return results


def _outcome(entities: list[dict]) -> tuple[str, str]:
    for entity in entities:
        warnings = entity.get("warnings") or []
        message = (entity.get("commandStatus") or {}).get("message", "") or entity.get("message", "")
        if any("already exists" in w.get("message", "") for w in warnings) or "already exists" in message:
            return "exists", message or warnings[0].get("message", "")
        if message:
            return "created", message
    return "created", ""
