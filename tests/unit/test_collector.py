"""The collector's request handling without Kafka: body decoding and caps, the event schema,
the versioned blocklist, and the answers of one ingest request (a recording sink stands in
for Kafka here; the integration test uses the real one)."""

from __future__ import annotations

import asyncio
import gzip
import os
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from cdc_ods.collector.blocklist import Blocklist
from cdc_ods.collector.decode import BodyError, decode_events
from cdc_ods.collector.ingest import Ingest
from cdc_ods.collector.schema import check_event
from cdc_ods.collector.settings import EVENTS_TOPIC, CollectorConfig, collector_config
from cdc_ods.collector.sink import Record
from cdc_ods.config import Config
from cdc_ods.dlq import DLQ_TOPIC, DeadLetter
from cdc_ods.errors import TransientError

NOW_MS = 1_750_000_000_000


def event(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ts": NOW_MS - 1000,
        "uid": "u-1",
        "sid": "s-1",
        "seq": 1,
        "event": "click_timeline",
        "platform": "ios",
        "country": "DE",
        "app_version": "5.2.0",
        "os": "iOS 17.4",
        "device": "iPhone15,2",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def body(events: object) -> bytes:
    return gzip.compress(orjson.dumps({"events": events}))


class RecordingSink:
    def __init__(self, fail: bool = False) -> None:
        self.records: list[Record] = []
        self.fail = fail

    async def send(self, records: Sequence[Record]) -> None:
        if self.fail:
            raise TransientError("all brokers down")
        self.records.extend(records)


def ingest(sink: RecordingSink, blocklist: Blocklist | None = None, **settings: object) -> Ingest:
    return Ingest(
        CollectorConfig(**settings), sink, blocklist or Blocklist(None), clock=lambda: NOW_MS / 1000
    )


# --- decode -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (orjson.dumps({"events": []}), 400, "not gzip"),
        (b"\x1f\x8b" + b"garbage" * 5, 400, "not valid gzip"),
        (gzip.compress(b"{not json"), 400, "not JSON"),
        (gzip.compress(b'[{"ts": 1}]'), 400, '{"events": [...]}'),
        (gzip.compress(b'{"events": {}}'), 400, '{"events": [...]}'),
        (gzip.compress(b'{"events": []}')[:-6], 400, "truncated"),
        (gzip.compress(b'{"events": []}') + b"junk", 400, "after the end"),
        (gzip.compress(b" " * 5_000_000 + b'{"events": []}'), 413, "decompressed body exceeds"),
    ],
)
def test_bad_bodies_are_refused_with_a_clear_reason(raw: bytes, status: int, words: str) -> None:
    with pytest.raises(BodyError) as caught:
        decode_events(raw, 4096 * 1024)
    assert caught.value.status == status and words in caught.value.reason


def test_gzip_bomb_is_not_inflated_past_the_cap() -> None:
    bomb = gzip.compress(b"\0" * 200_000_000)  # ~200 KB that inflates to 200 MB
    assert len(bomb) < 256 * 1024
    started = time.perf_counter()
    with pytest.raises(BodyError, match="exceeds 1024 bytes"):
        decode_events(bomb, 1024)
    assert time.perf_counter() - started < 0.5


# --- schema -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "code", "words"),
    [
        (event(sid=None, seq=None), "missing_field", "missing field(s): sid, seq"),
        ({**event(), "colour": "red"}, "unknown_field", "unknown field(s): colour"),
        (event(seq="1"), "invalid_type", "seq must be an integer (got string)"),
        (event(ts=True), "invalid_type", "ts must be an integer (got boolean)"),
        (event(uid=7), "invalid_type", "uid must be a string (got integer)"),
        (event(props=[1]), "invalid_type", "props must be an object (got array)"),
        (event(uid=""), "invalid_value", "uid must be 1..128 characters"),
        (event(event="Click Timeline"), "invalid_value", "event 'Click Timeline' does not match"),
        (event(country="de"), "invalid_value", "country 'de' does not match"),
        (event(platform="tv"), "invalid_value", "platform must be one of ios, android, web"),
        (event(ts=NOW_MS + 2 * 86_400_000), "invalid_value", "not a plausible epoch-millis time"),
        (event(ts=1000), "invalid_value", "not a plausible epoch-millis time"),
        (event(seq=0), "invalid_value", "seq must be a positive integer"),
        ([1, 2], "not_an_object", "event must be a JSON object (got array)"),
    ],
)
def test_each_schema_rule_has_a_code_and_a_reason(bad: object, code: str, words: str) -> None:
    rejection = check_event(4, bad, NOW_MS, 86_400_000)
    assert not isinstance(rejection, dict)
    assert (rejection.index, rejection.code) == (4, code)
    assert words in rejection.reason


def test_every_problem_of_an_event_is_named() -> None:
    rejection = check_event(0, event(seq="x", platform=3), NOW_MS, 0)
    assert not isinstance(rejection, dict)
    assert "seq must be an integer" in rejection.reason and "platform must be a string" in rejection.reason


def test_a_valid_event_passes_with_or_without_props() -> None:
    assert check_event(0, event(), NOW_MS, 0) == event()
    assert check_event(0, event(props={"category": "drama"}), NOW_MS, 0) == event(props={"category": "drama"})


# --- blocklist --------------------------------------------------------------------------------


def test_blocklist_is_reread_when_the_file_changes_and_keeps_the_last_good_version(tmp_path: Path) -> None:
    path = tmp_path / "blocklist.json"
    path.write_bytes(b'{"version": 1, "events": ["click_banner"]}')
    blocklist = Blocklist(path)
    assert blocklist.current().version == 1 and "click_banner" in blocklist.current().events
    path.write_bytes(b'{"version": 2, "events": ["click_banner", "back"]}')
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert blocklist.current().version == 2
    path.write_bytes(b'{"version": "three"}')
    os.utime(path, ns=(time.time_ns() + 2 * 10**9, time.time_ns() + 2 * 10**9))
    assert blocklist.current().version == 2  # a broken file does not unblock everything
    assert orjson.loads(blocklist.current().to_json()) == {"version": 2, "events": ["back", "click_banner"]}


def test_no_blocklist_file_means_version_zero() -> None:
    assert Blocklist(None).current().version == 0


def test_settings_default_until_the_config_has_a_collector_section(tmp_path: Path) -> None:
    config = Config(root=tmp_path)
    assert collector_config(config) == CollectorConfig()
    # once wired, a relative blocklist path resolves against the config file's directory
    wired = config.model_copy(update={"collector": CollectorConfig(blocklist_file=Path("bl.json"))})
    assert collector_config(wired).blocklist_file == tmp_path / "bl.json"


# --- one request ------------------------------------------------------------------------------


def test_a_partly_bad_batch_delivers_every_valid_event_and_names_each_reject() -> None:
    sink = RecordingSink()
    events = [event(seq=1), event(seq=2, sid=None), event(seq=3), "oops", event(seq=4, uid="u-2")]
    answer = asyncio.run(ingest(sink).handle(body(events)))
    assert answer.status == 200
    assert answer.body["accepted"] == 3 and answer.body["rejected"] == 2
    assert [(r["index"], r["code"]) for r in answer.body["rejections"]] == [
        (1, "missing_field"),
        (3, "not_an_object"),
    ]
    written = [r for r in sink.records if r.topic == EVENTS_TOPIC]
    assert [(r.key, orjson.loads(r.value)["seq"]) for r in written] == [(b"u-1", 1), (b"u-1", 3), (b"u-2", 4)]
    assert orjson.loads(written[0].value) == {**event(seq=1), "received_at_ms": NOW_MS}
    letters = [DeadLetter.from_json(r.value) for r in sink.records if r.topic == DLQ_TOPIC]
    assert [(d.stage, d.topic, d.key) for d in letters] == [
        ("collector", EVENTS_TOPIC, b"u-1"),
        ("collector", EVENTS_TOPIC, None),
    ]
    assert letters[0].reason.startswith("event 1: missing field(s): sid")
    assert orjson.loads(letters[0].value or b"") == event(seq=2, sid=None)


def test_blocked_events_are_refused_but_not_dead_lettered(tmp_path: Path) -> None:
    path = tmp_path / "bl.json"
    path.write_bytes(b'{"version": 5, "events": ["click_banner"]}')
    sink = RecordingSink()
    answer = asyncio.run(ingest(sink, Blocklist(path)).handle(body([event(event="click_banner"), event()])))
    assert answer.body["accepted"] == 1 and answer.body["blocklist_version"] == 5
    assert answer.body["rejections"] == [
        {"index": 0, "code": "blocked", "reason": "event 'click_banner' is blocked"}
    ]
    assert [r.topic for r in sink.records] == [EVENTS_TOPIC]


def test_kafka_unavailable_is_503_with_retry_after() -> None:
    answer = asyncio.run(ingest(RecordingSink(fail=True)).handle(body([event()])))
    assert answer.status == 503 and answer.headers["Retry-After"] == "5"
    assert "Kafka is unavailable" in answer.body["error"]


def test_body_over_the_compressed_cap_is_413() -> None:
    answer = asyncio.run(ingest(RecordingSink(), max_body_kb=1).handle(os.urandom(2000)))
    assert answer.status == 413 and "1024 bytes" in answer.body["error"]


def test_not_gzip_is_400_and_nothing_is_written() -> None:
    sink = RecordingSink()
    answer = asyncio.run(ingest(sink).handle(orjson.dumps({"events": [event()]})))
    assert answer.status == 400 and "not gzip" in answer.body["error"]
    assert sink.records == []
