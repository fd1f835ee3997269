"""`cdc ksql generate` output and the committed ksql/*.sql: they load, and cleanse to the contract."""

from __future__ import annotations

import math
import re

import orjson
import pytest

from cdc_ods import contract
from cdc_ods.errors import CdcError, Rejected
from cdc_ods.ksql.engine import Engine
from cdc_ods.ksql.functions import PII_KEY_ENV, pii_key
from cdc_ods.ksql.generate import DLQ_HEADER, generate_script
from cdc_ods.ksql.ksqldb import _normalized, _outcome
from cdc_ods.ksql.plan import build_plan, plan_text, script_files
from cdc_ods.ods.decode import parse_row, to_change
from cdc_ods.ods.schema import Column, TableSchema
from cdc_ods.sources import CatalogColumn, TableCatalog
from tests import PROJECT_DIR

MOVIES = TableCatalog(
    "mysql",
    "maf",
    "movies",
    (
        CatalogColumn("id", "bigint"),
        CatalogColumn("title", "varchar"),
        CatalogColumn("release_date", "date"),
        CatalogColumn("rating", "decimal", precision=3, scale=1),
        CatalogColumn("runtime_min", "smallint", unsigned=True),
        CatalogColumn("metadata", "json", json=True),
        CatalogColumn("created_at", "datetime", datetime_precision=6),
        CatalogColumn("seen_at", "datetime", datetime_precision=3),
        CatalogColumn("event_ts", "timestamp", datetime_precision=6),
        CatalogColumn("email", "varchar"),
        CatalogColumn("phone", "varchar"),
        CatalogColumn("birth_date", "date"),
    ),
    ("id",),
)
PII = {"email": "email", "phone": "phone", "birth_date": "year"}
ISO_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PII_KEY_ENV, "k")
    pii_key.cache_clear()


def movies_engine() -> Engine:
    return Engine(plan_text(DLQ_HEADER, generate_script("mariadb", MOVIES, "maf", PII)))


def event(op: str = "c", **after: object) -> bytes:
    row = {
        "id": 1,
        "title": " Ame\u0301lie ",
        "release_date": 11437,
        "rating": "8.3",
        "runtime_min": 122,
        "metadata": '{"a": 1}',
        "created_at": 1709251198123456,
        "seen_at": 1709251198123,
        "event_ts": "2024-02-29T23:59:58.5Z",
        "email": " Bob@X.org ",
        "phone": "+44 20 7946 0000",
        "birth_date": 3000,
        **after,
    }
    image = {"before": row if op == "d" else None, "after": None if op == "d" else row}
    source = {"ts_ms": 1709251199000, "file": "mariadb-bin.000012", "pos": 3456, "row": 1}
    return orjson.dumps({**image, "source": source, "op": op})


def test_a_generated_script_cleanses_to_the_contract() -> None:
    result = movies_engine().process("mysql.maf.movies", b'{"id": 1}', event(), 0, 0, 0)
    assert result.rejects == [] and len(result.outputs) == 1
    out = result.outputs[0]
    assert out.topic == "ods.mysql.maf.movies" and out.key == b'{"id":1}'
    value = orjson.loads(out.value)
    assert value["title"] == "Amélie" and value["rating"] == "8.3" and value["release_date"] == "2001-04-25"
    assert value["created_at"] == "2024-02-29T23:59:58.123456Z"
    assert value["seen_at"] == "2024-02-29T23:59:58.123000Z"
    assert value["event_ts"] == "2024-02-29T23:59:58.500000Z"
    assert value["metadata"] == '{"a": 1}'
    assert re.fullmatch("[0-9a-f]{64}", value["email"]) and value["email"] != value["phone"]
    assert value["birth_year"] == 1978 and "birth_date" not in value
    assert value["__source_pos"] == contract.binlog_position("mariadb-bin.000012", 3456, 1)
    assert value["__op"] == "c" and value["__deleted"] is False and value["__source_ts_ms"] == 1709251199000
    assert all(ISO_TS.match(value[c]) for c in ("created_at", "seen_at", "event_ts"))


def test_equal_personal_data_hashes_equal() -> None:
    eng = movies_engine()
    a = orjson.loads(eng.process("mysql.maf.movies", b'{"id": 1}', event(), 0, 0, 0).outputs[0].value)
    other = event(email="bob@x.ORG", phone="442079460000")
    b = orjson.loads(eng.process("mysql.maf.movies", b'{"id": 1}', other, 0, 1, 0).outputs[0].value)
    assert (a["email"], a["phone"]) == (b["email"], b["phone"])


def test_a_delete_carries_the_key_and_the_flag() -> None:
    result = movies_engine().process("mysql.maf.movies", b'{"id": 1}', event("d"), 0, 0, 0)
    value = orjson.loads(result.outputs[0].value)
    assert value["id"] == 1 and value["__deleted"] is True and value["__op"] == "d"


def test_a_truncate_passes_with_its_position_and_no_row() -> None:
    source = {"ts_ms": 1709251199000, "file": "mariadb-bin.000012", "pos": 4000, "row": 0}
    raw = orjson.dumps({"before": None, "after": None, "source": source, "op": "t"})
    result = movies_engine().process("mysql.maf.movies", None, raw, 0, 0, 0)
    assert result.rejects == [] and len(result.outputs) == 1 and result.outputs[0].key is None
    value = orjson.loads(result.outputs[0].value)
    assert value["__op"] == "t"
    assert value["__source_pos"] == contract.binlog_position("mariadb-bin.000012", 4000, 0)
    assert value["id"] is None and value["title"] is None


@pytest.mark.parametrize(
    ("raw", "record_key", "reason"),
    [
        (event(rating="10.5"), b'{"id": 1}', "rating outside 0..10"),
        (event(rating="-0.1"), b'{"id": 1}', "rating outside 0..10"),
        (event(runtime_min=-5), b'{"id": 1}', "negative runtime_min"),
        (event(metadata="{broken"), b'{"id": 1}', "malformed JSON in metadata"),
        (event(id=None), b'{"id": 1}', "no key value id"),
        (event(), None, "no key"),
        (event(op="x"), b'{"id": 1}', "unknown op (not c, u, d, r, t)"),
        (orjson.dumps({"op": "c", "after": None, "before": None}), b'{"id": 1}', "no after image"),
        (orjson.dumps({"op": "d", "after": None, "before": None}), b'{"id": 1}', "no row image"),
        (event(rating="abc"), b'{"id": 1}', "CAST('abc' AS DOUBLE) failed"),
    ],
)
def test_invalid_records_are_rejected_with_a_reason(
    raw: bytes, record_key: bytes | None, reason: str
) -> None:
    # (not `key`: that name is the autouse fixture setting the masking key)
    result = movies_engine().process("mysql.maf.movies", record_key, raw, 0, 0, 0)
    assert result.outputs == [] and len(result.rejects) == 1 and reason in result.rejects[0]


def test_null_json_and_null_rating_are_valid() -> None:
    result = movies_engine().process(
        "mysql.maf.movies", b'{"id": 1}', event(metadata=None, rating=None), 0, 0, 0
    )
    assert result.rejects == [] and orjson.loads(result.outputs[0].value)["metadata"] is None


def test_the_committed_scripts_load_and_cover_every_configured_table() -> None:
    plan = build_plan(script_files(PROJECT_DIR / "ksql"))
    assert {s.topic for s in plan.sources} == {
        "mysql.maf.movies",
        "mysql.maf.app_events",
        "postgres.maf.tv_series",
        "postgres.maf.episodes",
        "mongodb.maf.persons",
        "events.app.client_events",  # the apps' events, written by the collector
    }
    sinks = {q.target.topic for q in plan.queries if not q.target.in_process}
    assert sinks == {f"ods.{s.topic}" for s in plan.sources} | {"ods.dlq"}


def test_the_mongodb_script_reads_extended_json_and_masks() -> None:
    eng = Engine(build_plan(script_files(PROJECT_DIR / "ksql")))
    doc = {
        "_id": 7,
        "name": {"first": " Zoë ", "last": "Ng"},
        "birth_date": {"$date": "1990-05-01T00:00:00Z"},
        "email": "Zoe@Example.com",
        "phone": "+33 612345678",
        "address": {"street": "1 Rue", "city": "Paris", "postcode": "75001", "country": "FR"},
        "tags": ["film"],
        "loyalty": {"tier": "gold", "points": 12},
        "active": True,
        "created_at": {"$date": 1709251198123},
        "updated_at": {"$date": {"$numberLong": "1709251198123"}},
    }
    raw = {"after": orjson.dumps(doc).decode(), "source": {"ts_ms": 1709251198000, "ord": 3}, "op": "c"}
    result = eng.process("mongodb.maf.persons", b'{"id": "7"}', orjson.dumps(raw), 0, 0, 0)
    assert result.rejects == []
    value = orjson.loads(result.outputs[0].value)
    assert value["_id"] == "7" and value["name_first"] == "Zoë" and value["birth_year"] == 1990
    assert re.fullmatch("[0-9a-f]{64}", value["email"]) and "street" not in value and "postcode" not in value
    assert value["tags"] == ["film"] and value["loyalty_points"] == 12 and value["active"] is True
    assert value["created_at"] == value["updated_at"] == "2024-02-29T23:59:58.123000Z"
    assert value["__source_pos"] == 1709251198000 * 1000000 + 3
    deleted = {"after": None, "source": {"ts_ms": 1709251199000, "ord": 1}, "op": "d"}
    result = eng.process("mongodb.maf.persons", b'{"id": "7"}', orjson.dumps(deleted), 0, 1, 0)
    value = orjson.loads(result.outputs[0].value)
    assert value["_id"] == "7" and value["__deleted"] is True and value["email"] is None


def test_ksqldb_outcomes() -> None:
    created = [
        {"@type": "currentStatus", "commandStatus": {"status": "SUCCESS", "message": "Stream created"}}
    ]
    exists = [
        {
            "@type": "warning_entity",
            "message": "Cannot add stream X: A stream with the same name already exists",
        }
    ]
    assert _outcome(created) == ("created", "Stream created")
    assert _outcome(exists)[0] == "exists"
    assert _normalized("insert  into x\n select 1;") == _normalized("INSERT INTO x SELECT 1")


def test_a_boolean_column_takes_debeziums_true_or_a_number_and_refuses_other_numbers() -> None:
    columns = (
        CatalogColumn("id", "int"),
        CatalogColumn("active", "tinyint", column_type="tinyint(1)"),
        CatalogColumn("big", "bigint", column_type="bigint(20) unsigned", unsigned=True),
    )
    table = TableCatalog("shop", "db", "t", columns, ("id",))
    engine = Engine(plan_text(DLQ_HEADER, generate_script("mariadb", table, "db")))
    source = {"ts_ms": 1, "file": "b.000001", "pos": 4, "row": 0}

    def run(active: object) -> tuple[list, list]:
        after = {"id": 1, "active": active, "big": "18446744073709551615"}
        value = orjson.dumps({"before": None, "after": after, "source": source, "op": "c"})
        result = engine.process("shop.db.t", b'{"id": 1}', value, 0, 0, 0)
        return [orjson.loads(o.value) for o in result.outputs], result.rejects

    for sent, expected in ((True, True), (False, False), (1, True), (0, False), (None, None)):
        rows, rejects = run(sent)
        assert rejects == [] and rows[0]["active"] is expected
        assert rows[0]["big"] == "18446744073709551615"  # 2^64 - 1, exact
    rows, rejects = run(5)
    assert rows == [] and "active is TINYINT(1) with a value other than 0 and 1" in rejects[0]


def test_a_non_finite_double_travels_as_its_name_from_debezium_to_the_loader() -> None:
    """Kafka Connect's JSON (Jackson) quotes NaN and the infinities; the cleansed row carries
    the same names (orjson alone would write null) and the loader reads them as floats in an
    array, and refuses them, naming the column, where Phoenix cannot store them."""
    columns = (
        CatalogColumn("id", "integer"),
        CatalogColumn("d", "double precision"),
        CatalogColumn("r", "real"),
        CatalogColumn("da", "array", element_type="_float8"),
    )
    table = TableCatalog("shop", "public", "m", columns, ("id",))
    engine = Engine(plan_text(DLQ_HEADER, generate_script("postgres", table, "db")))
    assert {q.target.name: q.doubles for q in engine.plan.queries if q.doubles} == {
        "SHOP_DB_M_CHECKED": ("d", "r", "da"),
        "ODS_SHOP_DB_M": ("d", "r", "da"),
    }
    assert not any(q.doubles for q in movies_engine().plan.queries)  # nothing searched there

    def run(**after: object) -> tuple[list, list]:
        image = {"id": 1, "d": 1.5, "r": None, "da": None, **after}
        value = orjson.dumps({"before": None, "after": image, "source": {"ts_ms": 1, "lsn": 7}, "op": "c"})
        result = engine.process("shop.public.m", b'{"id": 1}', value, 0, 0, 0)
        return result.outputs, result.rejects

    outputs, rejects = run(d="NaN", r="Infinity", da=[1.5, "-Infinity", "NaN"])
    assert rejects == [] and len(outputs) == 1
    cleansed = orjson.loads(outputs[0].value)
    assert (cleansed["d"], cleansed["r"], cleansed["da"]) == ("NaN", "Infinity", [1.5, "-Infinity", "NaN"])

    schema = TableSchema(
        "shop",
        "db",
        "m",
        (Column("id", "INTEGER"), Column("d", "DOUBLE"), Column("r", "FLOAT"), Column("da", "DOUBLE ARRAY")),
        ("id",),
    )
    with pytest.raises(Rejected, match="column d: cannot convert 'NaN' to DOUBLE: Phoenix cannot store NaN"):
        to_change(schema, parse_row(outputs[0].value), outputs[0].key)
    outputs, rejects = run(da=[1.5, "-Infinity", "NaN"])
    values = to_change(schema, parse_row(outputs[0].value), outputs[0].key).values
    assert values["d"] == 1.5 and values["da"][:2] == [1.5, -math.inf] and math.isnan(values["da"][2])

    outputs, rejects = run(d="nan")  # only Jackson's names: anything else is no double
    assert outputs == [] and "after->d: expected DOUBLE, got string" in rejects[0]


def test_a_postgres_incremental_snapshot_read_takes_the_position_it_was_read_at() -> None:
    """Debezium gives an incremental snapshot's reads no `lsn`; their `sequence` holds the
    streaming position: it becomes `__source_pos`, so a replayed older change never overwrites
    the row read (it used to be 0, older than any change)."""
    columns = (CatalogColumn("id", "integer"), CatalogColumn("body", "text"))
    script = generate_script("postgres", TableCatalog("shop", "public", "t", columns, ("id",)), "shop")
    engine = Engine(plan_text(DLQ_HEADER, script))

    def position(op: str, source: dict) -> int:
        value = orjson.dumps({"before": None, "after": {"id": 1, "body": "x"}, "source": source, "op": op})
        result = engine.process("shop.public.t", b'{"id": 1}', value, 0, 0, 0)
        return orjson.loads(result.outputs[0].value)[contract.SOURCE_POS]

    read = {"ts_ms": 1, "lsn": None, "snapshot": "incremental", "sequence": '["48704528","48704600"]'}
    assert position("r", read) == 48704600
    assert position("u", {"ts_ms": 1, "lsn": 48704700, "sequence": '["48704528","48704700"]'}) == 48704700


def test_postgres_placeholders_and_infinity_are_refused_never_stored() -> None:
    """Debezium's stand-in for an unchanged TOASTed value, and 'infinity' in a timestamptz, go
    to the dead-letter topic with their reason (they used to be stored as text and as NULL)."""
    columns = (
        CatalogColumn("id", "integer"),
        CatalogColumn("body", "text"),
        CatalogColumn("doc", "jsonb", json=True),
        CatalogColumn("at", "timestamp with time zone"),
    )
    engine = Engine(
        plan_text(
            DLQ_HEADER,
            generate_script("postgres", TableCatalog("shop", "public", "t", columns, ("id",)), "shop"),
        )
    )

    def run(**after: object) -> tuple[list, list]:
        image = {"id": 1, "body": "text", "doc": '{"a": 1}', "at": "2024-01-01T00:00:00Z", **after}
        value = orjson.dumps({"before": None, "after": image, "source": {"ts_ms": 1, "lsn": 7}, "op": "u"})
        result = engine.process("shop.public.t", b'{"id": 1}', value, 0, 0, 0)
        return result.outputs, result.rejects

    outputs, rejects = run()
    assert rejects == [] and orjson.loads(outputs[0].value)["at"] == "2024-01-01T00:00:00.000000Z"
    for column in ("body", "doc"):
        outputs, rejects = run(**{column: "__debezium_unavailable_value"})
        assert outputs == [] and f"{column}: an unchanged TOASTed value was not sent" in rejects[0]
    outputs, rejects = run(at="infinity")
    assert outputs == [] and "at: not a timestamp the ODS can hold" in rejects[0]


MARIADB_MOMENTS = (
    CatalogColumn("id", "int"),
    CatalogColumn("d", "date"),
    CatalogColumn("at", "datetime", datetime_precision=6),
)
POSTGRES_MOMENTS = (
    CatalogColumn("id", "integer"),
    CatalogColumn("d", "date"),
    CatalogColumn("at", "timestamp with time zone"),
)


@pytest.mark.parametrize(
    ("kind", "namespace", "columns", "before", "first"),
    [
        ("mariadb", "db", MARIADB_MOMENTS, -12212553600000001, -12212553600000000),  # epoch µs
        ("postgres", "public", POSTGRES_MOMENTS, "1582-12-31T23:59:59.999999Z", "1583-01-01T00:00:00Z"),
    ],
)
def test_dates_and_timestamps_before_1583_are_refused_never_stored_shifted(
    kind: str, namespace: str, columns: tuple[CatalogColumn, ...], before: object, first: object
) -> None:
    """Phoenix's calendar is Julian before 1582: such a value would be stored days off, and a
    PostgreSQL BC date arrives from Debezium as the same day AD."""
    script = generate_script(kind, TableCatalog("shop", namespace, "t", columns, ("id",)), "shop")
    engine = Engine(plan_text(DLQ_HEADER, script))

    def run(**after: object) -> tuple[list, list]:
        image = {"id": 1, "d": -141349, "at": first, **after}  # 1583-01-01, the first day carried
        source = {"ts_ms": 1, "lsn": 7, "file": "b.000001", "pos": 4, "row": 0}
        value = orjson.dumps({"before": None, "after": image, "source": source, "op": "c"})
        result = engine.process(f"shop.{namespace}.t", b'{"id": 1}', value, 0, 0, 0)
        return result.outputs, result.rejects

    outputs, rejects = run()
    assert rejects == [] and orjson.loads(outputs[0].value)["d"] == "1583-01-01"
    for column, value in (("d", -141350), ("at", before)):
        outputs, rejects = run(**{column: value})
        assert outputs == [] and f"{column}: before 1583-01-01 (Phoenix's calendar" in rejects[0]


def test_a_table_with_a_column_that_cannot_be_carried_gets_no_script() -> None:
    columns = (CatalogColumn("id", "integer"), CatalogColumn("price", "money"))
    with pytest.raises(CdcError, match=r"cannot carry column price \(Debezium carries money"):
        generate_script("postgres", TableCatalog("shop", "public", "t", columns, ("id",)), "shop")
