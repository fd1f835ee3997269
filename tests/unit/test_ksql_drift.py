"""Schema drift: a source column the cleansing script does not declare is detected per record;
an unedited generated script is regenerated and reloaded, an edited one only reported."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from cdc_ods.config import SourceConfig
from cdc_ods.ksql.drift import SchemaDrift, SourceTable
from cdc_ods.ksql.engine import Engine
from cdc_ods.ksql.functions import PII_KEY_ENV, pii_key
from cdc_ods.ksql.generate import DLQ_HEADER, generate_script, is_unedited
from cdc_ods.ksql.ksqldb import KsqlDbClient
from cdc_ods.ksql.parser import parse_script
from cdc_ods.ksql.plan import plan_scripts
from cdc_ods.sources import CatalogColumn, TableCatalog

TOPIC = "mysql.maf.films"
SOURCE = SourceConfig(name="mysql", kind="mariadb", database="maf", tables=["films"])
BEFORE = (
    CatalogColumn("id", "bigint"),
    CatalogColumn("title", "varchar"),
    CatalogColumn("rating", "decimal", precision=3, scale=1),
)
AFTER = (
    *BEFORE,
    CatalogColumn("box_office", "decimal", precision=12, scale=2),
    CatalogColumn("tagline", "varchar"),
)


def films(columns: tuple[CatalogColumn, ...]) -> TableCatalog:
    return TableCatalog("mysql", "maf", "films", columns, ("id",))


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PII_KEY_ENV, "k")
    pii_key.cache_clear()


def script(columns: tuple[CatalogColumn, ...]) -> str:
    return generate_script("mariadb", films(columns), "maf")


def record(op: str = "u", **extra: object) -> bytes:
    row = {"id": 7, "title": " Heat ", "rating": "8.3", **extra}
    image = {"before": row, "after": None} if op == "d" else {"before": None, "after": row}
    source = {"ts_ms": 1709251199000, "file": "mariadb-bin.000012", "pos": 3456, "row": 1}
    return orjson.dumps({**image, "source": source, "op": op})


def process(engine: Engine, value: bytes) -> dict:
    result = engine.process(TOPIC, b'{"id": 7}', value, 0, 5, 0)
    assert result.rejects == []
    return orjson.loads(result.outputs[0].value)


class Columns:
    """The source's catalog as `Source.catalog` would read it, counting reads."""

    def __init__(self, columns: tuple[CatalogColumn, ...]) -> None:
        self.columns, self.reads = columns, 0

    def __call__(self, source: SourceConfig, table: str) -> TableCatalog:
        assert (source.name, table) == ("mysql", "films")
        self.reads += 1
        return films(self.columns)


def drift_for(tmp_path: Path, text: str, columns: Columns) -> tuple[SchemaDrift, Engine]:
    scripts = {"ksql/00_dlq.sql": DLQ_HEADER, "ksql/mysql_maf_films.sql": text}
    handler = SchemaDrift(scripts, tmp_path / "regenerated", {TOPIC: SourceTable(SOURCE, "films")}, columns)
    return handler, Engine(plan_scripts(scripts))


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_mark_tells_an_unedited_script_from_an_edited_one() -> None:
    text = script(BEFORE)
    assert is_unedited(text)
    assert not is_unedited(text.replace("'rating outside 0..10'", "'rating out of range'"))
    assert not is_unedited(text.split("\n", 1)[1])  # no mark: written by hand, or before marks existed


@pytest.mark.parametrize("op", ["u", "d"])
def test_the_engine_reports_fields_the_declaration_lacks(op: str) -> None:
    engine = Engine(plan_scripts({"a": DLQ_HEADER, "b": script(BEFORE)}))
    result = engine.process(TOPIC, b'{"id": 7}', record(op, box_office="1.50"), 0, 0, 0)
    ((stream, fields),) = result.drift
    assert stream.topic == TOPIC and fields == {"box_office"}
    assert "box_office" not in orjson.loads(result.outputs[0].value)  # what drift costs unresolved
    assert engine.process(TOPIC, b'{"id": 7}', record(op), 0, 1, 0).drift == ()


def test_drift_on_a_rejected_record_is_still_reported() -> None:
    engine = Engine(plan_scripts({"a": DLQ_HEADER, "b": script(BEFORE)}))
    result = engine.process(TOPIC, b'{"id": 7}', record(rating="11", tagline="x"), 0, 0, 0)
    assert result.rejects == ["rating outside 0..10"] and result.drift[0][1] == {"tagline"}


def test_an_unedited_generated_script_is_regenerated_and_reloaded(tmp_path: Path) -> None:
    columns = Columns(AFTER)
    handler, engine = drift_for(tmp_path, script(BEFORE), columns)
    before = sample("cdc_cleansing_schema_drift_total", topic=TOPIC, outcome="regenerated")
    value = record(box_office="1234.50", tagline=" Ame\u0301lie ")
    result = engine.process(TOPIC, b'{"id": 7}', value, 0, 5, 0)
    new_engine = handler.resolve(result.drift)
    assert new_engine is not None and columns.reads == 1
    row = process(new_engine, value)
    assert row["box_office"] == "1234.50" and row["tagline"] == "Amélie" and row["title"] == "Heat"
    written = tmp_path / "regenerated" / "mysql_maf_films.sql"
    assert written.read_text(encoding="utf-8") == script(AFTER) and is_unedited(script(AFTER))
    assert sample("cdc_cleansing_schema_drift_total", topic=TOPIC, outcome="regenerated") == before + 2
    # the same drift again (the records of the rest of the batch) costs nothing
    assert handler.resolve(result.drift) is None and columns.reads == 1
    assert new_engine.process(TOPIC, b'{"id": 7}', value, 0, 6, 0).drift == ()


def test_a_column_dropped_then_added_again_is_regenerated_again(tmp_path: Path) -> None:
    """The hostile-DDL fault test: a column renamed away and back (or dropped and re-added)."""
    columns = Columns(AFTER)
    handler, engine = drift_for(tmp_path, script(BEFORE), columns)
    engine = handler.resolve(engine.process(TOPIC, b'{"id": 7}', record(tagline="a"), 0, 0, 0).drift)
    assert engine is not None
    budget = CatalogColumn("budget", "varchar")
    columns.columns = (*BEFORE, budget)  # tagline and box_office dropped, budget added
    engine = handler.resolve(engine.process(TOPIC, b'{"id": 7}', record(budget="x"), 0, 1, 0).drift)
    assert (
        engine is not None
        and "tagline" not in handler.scripts[str(tmp_path / "regenerated" / "mysql_maf_films.sql")]
    )
    columns.columns = (*BEFORE, budget, CatalogColumn("tagline", "varchar"))  # added again
    engine = handler.resolve(
        engine.process(TOPIC, b'{"id": 7}', record(budget="x", tagline="b"), 0, 2, 0).drift
    )
    assert engine is not None and columns.reads == 3
    assert process(engine, record(budget="x", tagline="b"))["tagline"] == "b"


def test_an_edited_script_is_not_touched_and_the_drift_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    edited = script(BEFORE).replace("'rating outside 0..10'", "'rating out of range'")
    columns = Columns(AFTER)
    handler, engine = drift_for(tmp_path, edited, columns)
    result = engine.process(TOPIC, b'{"id": 7}', record(tagline="x"), 0, 0, 0)
    with caplog.at_level(logging.WARNING, logger="cdc_ods.cleansing"):
        assert handler.resolve(result.drift) is None
    assert columns.reads == 0 and not (tmp_path / "regenerated").exists()
    assert TOPIC in caplog.text and "tagline" in caplog.text and "edited by hand" in caplog.text
    assert sample("cdc_cleansing_schema_drift_unhandled", topic=TOPIC) == 1
    assert handler.resolve(result.drift) is None and caplog.text.count("tagline") == 1  # warned once


def test_a_field_the_source_no_longer_has_is_reported_not_regenerated(tmp_path: Path) -> None:
    handler, engine = drift_for(tmp_path, script(BEFORE), Columns(BEFORE))
    result = engine.process(TOPIC, b'{"id": 7}', record(dropped_again=1), 0, 0, 0)
    manual = sample("cdc_cleansing_schema_drift_total", topic=TOPIC, outcome="manual")
    assert handler.resolve(result.drift) is None
    assert sample("cdc_cleansing_schema_drift_total", topic=TOPIC, outcome="manual") == manual + 1


def test_a_source_read_failure_marks_nothing(tmp_path: Path) -> None:
    def unreachable(source: SourceConfig, table: str) -> TableCatalog:
        raise ConnectionError("source down")

    handler, engine = drift_for(tmp_path, script(BEFORE), Columns(AFTER))
    handler.read_catalog = unreachable
    drift = engine.process(TOPIC, b'{"id": 7}', record(tagline="x"), 0, 0, 0).drift
    with pytest.raises(ConnectionError):
        handler.resolve(drift)
    handler.read_catalog = Columns(AFTER)
    assert handler.resolve(drift) is not None  # the replayed record tries again


def test_a_new_source_column_comes_last_in_every_stream() -> None:
    """ksqlDB's in-place upgrade (CREATE OR REPLACE) accepts only columns appended at the end."""
    old, new = (
        plan_scripts({"a": DLQ_HEADER, "b": script(BEFORE)}),
        plan_scripts({"a": DLQ_HEADER, "b": script(AFTER)}),
    )
    for name, stream in old.streams.items():
        assert list(new.streams[name].columns)[: len(stream.columns)] == list(stream.columns), name
        after = stream.columns.get("after")
        if after is not None:
            assert new.streams[name].columns["after"].fields[: len(after.fields)] == after.fields


def fake_ksqldb(submitted: list[str], running: list[str]) -> httpx.MockTransport:
    """Answers like a ksqlDB server: a stream is replaced, an INSERT INTO starts a query."""

    def handle(request: httpx.Request) -> httpx.Response:
        text = json.loads(request.content)["ksql"]
        if text == "SHOW QUERIES;":
            return httpx.Response(200, json=[{"queries": [{"queryString": q} for q in running]}])
        submitted.append(text)
        if text.startswith("INSERT INTO"):
            running.append(text)
        return httpx.Response(200, json=[{"commandStatus": {"message": "Created query"}}])

    return httpx.MockTransport(handle)


def test_ksqldb_applies_a_changed_script_as_in_place_upgrades() -> None:
    submitted: list[str] = []
    running: list[str] = []
    transport = fake_ksqldb(submitted, running)
    outcomes = []
    for columns in (BEFORE, AFTER, AFTER):  # first apply, the changed script, the same again
        with KsqlDbClient("http://ksqldb:8088", transport=transport) as client:
            outcomes.append([r.outcome for r in client.apply([parse_script(script(columns), "films.sql")])])
    assert outcomes == [["created"] * 4] + [["created"] * 3 + ["skipped"]] * 2
    creates = [s for s in submitted if s.startswith("CREATE")]
    assert len(creates) == 9 and all(s.startswith("CREATE OR REPLACE STREAM") for s in creates)
    assert "`box_office`" in creates[3] and "`box_office`" not in creates[0]
    assert len(running) == 1  # the dead-letter INSERT did not change: never started twice
