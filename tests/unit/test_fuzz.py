"""Property-based fuzzing (hypothesis) of what the outside world sends the pipeline.

- The collector's HTTP API, served by the real aiohttp service on a free port, its Kafka
  sink replaced by a recording one: arbitrary bytes, gzip of arbitrary bytes, deep JSON,
  huge strings and a wrong type in any field of otherwise valid events. Every answer is
  200, 400 or 413 within a bound (no crash, no hang); every event of a 200 is accepted or
  rejected with a code and a reason, each reject is dead-lettered with it, and the valid
  events mixed in are written exactly as sent.
- The cleansing stage's input (a generated script's engine, as the runner drives it):
  arbitrary bytes, deep JSON and wrong types in every field of a Debezium change event. No
  exception: each record is cleansed, skipped (a tombstone) or rejected with a reason, and a
  valid change cleanses the same whatever came before it.

The number of examples is the profile's: `HYPOTHESIS_PROFILE=fault` (`make fault`) runs many
more than the default one of `make test`.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stage_fakes import RunningCollector

from cdc_ods.collector.settings import EVENTS_TOPIC
from cdc_ods.dlq import DLQ_TOPIC, DeadLetter
from cdc_ods.ksql.engine import Engine
from cdc_ods.ksql.functions import PII_KEY_ENV, pii_key
from cdc_ods.ksql.generate import DLQ_HEADER, generate_script
from cdc_ods.ksql.plan import plan_text
from cdc_ods.sources import CatalogColumn, TableCatalog

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("fault", max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REQUEST_TIMEOUT_S = 30  # an answer within this, or the service hangs

# --- hostile values --------------------------------------------------------------------------

HUGE_TEXT = st.builds(
    lambda piece, times: piece * times, st.text(min_size=1, max_size=4), st.integers(10_000, 300_000)
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    HUGE_TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=40,
)


DEEP_MARK = "\u0000deep\u0000"  # stands for a deeply nested value until `dumps` writes it


def dumps(document: object, depth: int = 0) -> bytes:
    """JSON of `document` with every DEEP_MARK string as a list nested `depth` levels (beyond
    what orjson writes: it stops at 254), integers of any size included."""
    nested = "[" * depth + "1" + "]" * depth
    return json.dumps(document).replace(json.dumps(DEEP_MARK), nested).encode()


DEPTHS = st.integers(min_value=100, max_value=5_000)


# --- the collector over HTTP -----------------------------------------------------------------

NOW_MS = int(time.time() * 1000)  # the service checks event times against its clock (a day's skew)


def valid_event(seq: int) -> dict[str, object]:
    return {
        "ts": NOW_MS - 1000, "uid": f"u-{seq % 3}", "sid": "s-1", "seq": seq,
        "event": "click_timeline", "platform": "ios", "country": "DE", "app_version": "5.2.0",
        "os": "iOS 17.4", "device": "iPhone15,2",
    }  # fmt: skip


FIELDS = list(valid_event(0))


@st.composite
def broken_event(draw: st.DrawFn) -> object:
    """A valid event with a hostile value in one field, or a field gone, or no object at all."""
    kind = draw(st.sampled_from(["value", "missing", "not an object", "deep"]))
    if kind == "not an object":
        return draw(JSON)
    event: dict[str, object] = valid_event(draw(st.integers(1, 10**6)))
    field = draw(st.sampled_from(FIELDS))
    if kind == "missing":
        del event[field]
    else:
        event[field] = DEEP_MARK if kind == "deep" else draw(JSON)
    return event


@pytest.fixture(scope="module")
def collector() -> Iterator[RunningCollector]:
    running = RunningCollector()
    yield running
    running.stop()


@given(body=st.one_of(st.binary(max_size=5_000), st.binary(max_size=5_000).map(gzip.compress)))
def test_arbitrary_bytes_get_a_clear_answer(collector: RunningCollector, body: bytes) -> None:
    answer = collector.post(body)
    assert answer.status_code in (200, 400, 413), answer.text
    if answer.status_code != 200:
        assert answer.json()["error"], answer.text
        assert collector.sink.records == []


@given(document=st.one_of(JSON, st.just(DEEP_MARK), st.fixed_dictionaries({"events": JSON})), depth=DEPTHS)
def test_any_json_document_gets_a_clear_answer(
    collector: RunningCollector, document: object, depth: int
) -> None:
    answer = collector.post(gzip.compress(dumps(document, depth)))
    assert answer.status_code in (200, 400, 413), answer.text


VALID = st.builds(valid_event, st.integers(1, 10**6)).map(lambda e: (True, e))
BROKEN = broken_event().map(lambda e: (False, e))


# within the decoder's 1,024 levels (deeper bodies are refused whole: the test above)
@given(batch=st.lists(st.one_of(VALID, BROKEN), max_size=30), depth=st.integers(100, 1_000))
def test_every_event_is_accepted_or_dead_lettered_with_a_reason(
    collector: RunningCollector, batch: list[tuple[bool, object]], depth: int
) -> None:
    events = [event for _, event in batch]
    answer = collector.post(gzip.compress(dumps({"events": events}, depth)))
    if answer.status_code == 413:  # a huge string made the batch larger than the service takes
        return
    assert answer.status_code == 200, answer.text
    body = answer.json()
    written = [orjson.loads(r.value) for r in collector.sink.records if r.topic == EVENTS_TOPIC]
    letters = [DeadLetter.from_json(r.value) for r in collector.sink.records if r.topic == DLQ_TOPIC]
    assert body["accepted"] == len(written) and body["accepted"] + body["rejected"] == len(events)
    rejected = {r["index"]: r for r in body["rejections"]}
    assert all(r["code"] and r["reason"] for r in rejected.values()), rejected
    assert sorted(int(d.reason.split(":")[0].removeprefix("event ")) for d in letters) == sorted(rejected)
    assert not [rejected[i] for i, (valid, _) in enumerate(batch) if valid and i in rejected]
    sent = [event for i, event in enumerate(events) if i not in rejected]
    assert [{k: v for k, v in w.items() if k != "received_at_ms"} for w in written] == sent


# --- the cleansing stage's input -------------------------------------------------------------

MOVIES = TableCatalog(
    "mysql", "maf", "movies",
    (CatalogColumn("id", "bigint"), CatalogColumn("title", "varchar"), CatalogColumn("release_date", "date"),
     CatalogColumn("rating", "decimal", precision=3, scale=1), CatalogColumn("metadata", "json", json=True),
     CatalogColumn("created_at", "datetime", datetime_precision=6), CatalogColumn("yr", "year")),
    ("id",),
)  # fmt: skip
TOPIC = "mysql.maf.movies"
ROW: dict[str, object] = {
    "id": 1, "title": " Amélie ", "release_date": 11437, "rating": "8.3", "metadata": '{"a": 1}',
    "created_at": 1709251198123456, "yr": 2001,
}  # fmt: skip
SOURCE = {"ts_ms": 1709251199000, "file": "mariadb-bin.000012", "pos": 3456, "row": 1}


@pytest.fixture(scope="module")
def engine() -> Engine:
    os.environ.setdefault(PII_KEY_ENV, "fuzz")
    pii_key.cache_clear()
    return Engine(plan_text(DLQ_HEADER, generate_script("mariadb", MOVIES, "maf")))


def change(row: dict[str, object], op: str = "c") -> bytes:
    return orjson.dumps({"before": None, "after": row, "source": SOURCE, "op": op})


@st.composite
def hostile_change(draw: st.DrawFn) -> bytes | None:
    kind = draw(st.sampled_from(["bytes", "json", "deep", "field", "envelope"]))
    if kind == "bytes":
        return draw(st.none() | st.binary(max_size=2_000))
    if kind == "json":
        return dumps(draw(JSON))
    if kind == "deep":
        return dumps({"after": DEEP_MARK, "source": SOURCE, "op": "c"}, draw(DEPTHS))
    if kind == "field":  # a wrong type in one column of the row image
        value = draw(JSON | st.just(DEEP_MARK))
        return dumps({"before": None, "after": {**ROW, draw(st.sampled_from(list(ROW))): value},
                      "source": SOURCE, "op": "c"}, draw(DEPTHS))  # fmt: skip
    envelope: dict[str, object] = {"before": None, "after": ROW, "source": SOURCE, "op": "c"}
    envelope[draw(st.sampled_from(list(envelope)))] = draw(JSON)
    return dumps(envelope)


@given(values=st.lists(hostile_change(), min_size=1, max_size=10))
@settings(suppress_health_check=list(HealthCheck))
def test_every_raw_record_is_cleansed_skipped_or_rejected_with_a_reason(
    engine: Engine, values: list[bytes | None]
) -> None:
    alone = engine.process(TOPIC, b'{"id": 1}', change(ROW), 0, 0, 0)
    assert len(alone.outputs) == 1 and alone.rejects == []
    for offset, value in enumerate(values, start=1):
        result = engine.process(TOPIC, b'{"id": 1}', value, 0, offset, 0)
        outcomes = bool(result.outputs) + bool(result.rejects) + bool(result.skipped)
        assert outcomes == 1 or result.drift, (value, result)
        assert all(isinstance(r, str) and r for r in result.rejects), result.rejects
    after = engine.process(TOPIC, b'{"id": 1}', change(ROW), 0, len(values) + 1, 0)
    assert [(o.topic, o.key, o.value) for o in after.outputs] == [
        (o.topic, o.key, o.value) for o in alone.outputs
    ]
