"""The ksqlDB backend's requests: what a real server needs before each statement.

Without a ksqlDB server here, a stand-in transport records the requests and answers with
command sequence numbers as ksqlDB does.
"""

from __future__ import annotations

import itertools
import json

import httpx

from cdc_ods.ksql.ksqldb import KsqlDbClient
from cdc_ods.ksql.parser import parse_script

SCRIPT = """
CREATE STREAM IF NOT EXISTS raw (`k` BIGINT KEY, `v` STRING)
  WITH (KAFKA_TOPIC='src.raw', KEY_FORMAT='JSON', VALUE_FORMAT='JSON');
CREATE STREAM IF NOT EXISTS clean WITH (KAFKA_TOPIC='ods.clean', KEY_FORMAT='JSON', VALUE_FORMAT='JSON') AS
SELECT `k`, CDC_NFC(`v`) AS `v` FROM raw EMIT CHANGES;
"""


def test_each_statement_waits_for_the_previous_and_declared_topics_exist_first() -> None:
    events: list[tuple[str, object]] = []
    sequence = itertools.count(7)

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        events.append(("submit", body.get("commandSequenceNumber")))
        if body["ksql"] == "SHOW QUERIES;":
            return httpx.Response(200, json=[{"queries": []}])
        return httpx.Response(
            200, json=[{"commandStatus": {"message": "created"}, "commandSequenceNumber": next(sequence)}]
        )

    with KsqlDbClient(
        "http://ksqldb:8088",
        transport=httpx.MockTransport(handle),
        ensure_topic=lambda topic: events.append(("ensure", topic)),
    ) as client:
        results = client.apply([parse_script(SCRIPT, "t.sql")])
    assert [r.outcome for r in results] == ["created", "created"]
    # SHOW QUERIES; then the declared stream's topic is created before its CREATE, the second
    # statement carries the first one's sequence number; a CREATE ... AS SELECT makes its own topic
    assert events == [("submit", None), ("ensure", "src.raw"), ("submit", None), ("submit", 7)]
