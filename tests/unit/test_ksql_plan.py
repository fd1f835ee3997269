"""Plans and the engine: statements wired into queries, records decoded, outputs and dead letters."""

from __future__ import annotations

import math

import orjson
import pytest

from cdc_ods.errors import Rejected
from cdc_ods.ksql import ast
from cdc_ods.ksql.engine import Engine
from cdc_ods.ksql.errors import KsqlError, UnsupportedError
from cdc_ods.ksql.generate import DLQ_HEADER
from cdc_ods.ksql.plan import plan_scripts, plan_text
from cdc_ods.ksql.values import decoder, encode, finite, to_json
from tests import PROJECT_DIR

RAW = """
CREATE STREAM raw (`k` STRUCT<`id` BIGINT> KEY, `after` STRUCT<`id` BIGINT, `n` INT, `tags` ARRAY<STRING>>,
                   `op` STRING)
  WITH (KAFKA_TOPIC='raw', KEY_FORMAT='JSON', VALUE_FORMAT='JSON');
"""
CLEAN = """
CREATE STREAM mid AS SELECT `k`, `after`->`n` AS `n`, `op`,
    CASE WHEN `after`->`n` < 0 THEN 'negative n' END AS `why` FROM raw;
CREATE STREAM good WITH (KAFKA_TOPIC='good', KEY_FORMAT='JSON', VALUE_FORMAT='JSON') AS
    SELECT `k`, `n`, `op` FROM mid WHERE `why` IS NULL EMIT CHANGES;
INSERT INTO ods_dlq SELECT TO_JSON_STRING(`k`) AS `dlq_key`, 'cleansing' AS `stage`, `why` AS `reason`,
    STRUCT(`topic` := 'raw', `partition` := ROWPARTITION, `offset` := ROWOFFSET) AS `source`
    FROM mid WHERE `why` IS NOT NULL PARTITION BY TO_JSON_STRING(`k`);
"""


def engine(*texts: str) -> Engine:
    return Engine(plan_text(DLQ_HEADER, RAW, *texts))


def run(eng: Engine, value: object, key: bytes | None = b'{"id": 1}') -> tuple[list, list]:
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    result = eng.process("raw", key, raw, 0, 5, 1000)
    return [(o.topic, o.key, orjson.loads(o.value)) for o in result.outputs], result.rejects


def test_a_chain_of_queries_runs_in_process_and_splits_valid_from_rejected() -> None:
    eng = engine(CLEAN)
    assert eng.topics == ["raw"]
    mid = eng.plan.streams["MID"]
    assert mid.in_process and mid.keys == ("k",) and list(mid.columns) == ["k", "n", "op", "why"]
    outputs, rejects = run(eng, {"after": {"id": 1, "n": 3}, "op": "c"})
    assert outputs == [("good", b'{"id":1}', {"n": 3, "op": "c"})] and rejects == []
    outputs, rejects = run(eng, {"after": {"id": 1, "n": -3}, "op": "c"})
    assert outputs == [] and rejects == ["negative n"]


@pytest.mark.parametrize(
    ("value", "key", "reason"),
    [
        (b"{not json", b'{"id": 1}', "value is not JSON"),
        (b"[1, 2]", b'{"id": 1}', "value is not a JSON object"),
        ({"after": "text", "op": "c"}, b'{"id": 1}', "after: expected a STRUCT (JSON object), got string"),
        ({"after": {"id": "x"}}, b'{"id": 1}', "after->id: expected BIGINT, got string"),
        ({"after": {"id": 1, "tags": "x"}}, b'{"id": 1}', "after->tags: expected ARRAY<STRING>"),
        ({"after": {"id": 1, "n": 2**40}}, b'{"id": 1}', "after->n: expected INT"),
        ({"after": {"id": 1}}, b"{bad key", "key is not JSON"),
        ({"after": {"id": 1}}, b'{"id": "x"}', "key k->id: expected BIGINT"),
    ],
)
def test_records_that_do_not_fit_the_declared_schema_are_dead_lettered(
    value: object, key: bytes, reason: str
) -> None:
    outputs, rejects = run(engine(CLEAN), value, key)
    assert outputs == [] and len(rejects) == 1 and reason in rejects[0]


def test_json_fields_match_columns_case_insensitively_and_missing_ones_are_null() -> None:
    eng = engine("CREATE STREAM o WITH (KAFKA_TOPIC='o') AS SELECT `k`, `op`, `after` FROM raw;")
    outputs, _ = run(eng, {"OP": "u"})
    assert outputs == [("o", b'{"id":1}', {"op": "u", "after": None})]  # formats inherited from raw


def test_a_failure_in_any_query_drops_all_outputs_of_the_record() -> None:
    eng = engine(
        "CREATE STREAM a WITH (KAFKA_TOPIC='a', KEY_FORMAT='JSON') AS SELECT `k`, `op` FROM raw;",
        "CREATE STREAM b WITH (KAFKA_TOPIC='b', KEY_FORMAT='JSON') AS"
        " SELECT `k`, CAST(`op` AS INT) AS `x` FROM raw;",
    )
    outputs, rejects = run(eng, {"op": "c"})
    assert outputs == [] and "CAST('c' AS INT) failed" in rejects[0] and "<script 4>" in rejects[0]
    outputs, rejects = run(eng, {"op": "42"})
    assert [o[0] for o in outputs] == ["a", "b"] and rejects == []


def test_tombstones_are_skipped_like_ksqldb_streams() -> None:
    result = engine(CLEAN).process("raw", b'{"id": 1}', None, 0, 1, 0)
    assert result.skipped and result.outputs == [] and result.rejects == []


def test_partition_by_and_kafka_keys() -> None:
    eng = engine(
        "CREATE STREAM s WITH (KAFKA_TOPIC='s', KEY_FORMAT='KAFKA') AS"
        " SELECT `after`->`id` AS `id`, `op` FROM raw PARTITION BY `after`->`id`;",
        "CREATE STREAM t WITH (KAFKA_TOPIC='t', KEY_FORMAT='KAFKA') AS"
        " SELECT `op` AS `key`, ROWOFFSET AS `o` FROM raw PARTITION BY `op`;",
    )
    outputs, _ = run(eng, {"after": {"id": 258}, "op": "c"})
    assert outputs == [("s", (258).to_bytes(8, "big"), {"op": "c"}), ("t", b"c", {"o": 5})]


def test_select_star_keeps_keys_and_columns() -> None:
    eng = engine("CREATE STREAM s WITH (KAFKA_TOPIC='s', KEY_FORMAT='JSON') AS SELECT * FROM raw;")
    outputs, _ = run(eng, {"after": {"id": 1, "n": 2, "tags": ["x"]}, "op": "r"})
    assert outputs == [("s", b'{"id":1}', {"after": {"id": 1, "n": 2, "tags": ["x"]}, "op": "r"})]


def test_unaliased_projections_get_ksqldb_names() -> None:
    plan = plan_text(
        RAW, "CREATE STREAM s WITH (KAFKA_TOPIC='s') AS SELECT `k`, `after`->`n`, `op` = 'd' FROM raw;"
    )
    assert list(plan.streams["S"].columns) == ["k", "n", "KSQL_COL_2"]


@pytest.mark.parametrize(
    ("text", "message", "error"),
    [
        ("CREATE STREAM s AS SELECT `k` FROM nowhere;", "unknown stream NOWHERE", KsqlError),
        ("CREATE STREAM raw AS SELECT `k` FROM raw;", "stream RAW already exists", KsqlError),
        ("CREATE STREAM IF NOT EXISTS raw AS SELECT `k` FROM raw;", None, None),
        ("CREATE STREAM s AS SELECT `op` FROM raw;", "must include the key column k", KsqlError),
        ("CREATE STREAM s AS SELECT `k`, `op` AS `k` FROM raw;", "column k appears twice", KsqlError),
        (
            "CREATE STREAM s AS SELECT `op` AS `x` FROM raw PARTITION BY `op` + 'a';",
            "PARTITION BY",
            KsqlError,
        ),
        ("CREATE STREAM s AS SELECT `k`, `nope` FROM raw;", "has no column nope", KsqlError),
        (
            "CREATE STREAM s WITH (VALUE_FORMAT='AVRO') AS SELECT `k` FROM raw;",
            "VALUE_FORMAT AVRO",
            UnsupportedError,
        ),
        (
            "CREATE STREAM s WITH (KEY_FORMAT='PROTOBUF') AS SELECT `k` FROM raw;",
            "KEY_FORMAT PROTOBUF",
            UnsupportedError,
        ),
        (
            "CREATE STREAM s WITH (TIMESTAMP='x') AS SELECT `k` FROM raw;",
            "WITH property TIMESTAMP",
            UnsupportedError,
        ),
        ("CREATE STREAM s (a INT) WITH (VALUE_FORMAT='JSON');", "KAFKA_TOPIC is required", KsqlError),
        (
            "CREATE STREAM s (a INT KEY, b INT KEY) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');",
            "several KEY columns",
            UnsupportedError,
        ),
        ("INSERT INTO raw SELECT `k`, `op` FROM raw;", "reads from itself", KsqlError),
        ("INSERT INTO ods_dlq SELECT `k`, `op` FROM raw;", "do not match", KsqlError),
        ("INSERT INTO nowhere SELECT `k` FROM raw;", "unknown stream NOWHERE", KsqlError),
    ],
)
def test_plan_errors(text: str, message: str | None, error: type[Exception] | None) -> None:
    if error is None:
        plan_text(DLQ_HEADER, RAW, text)
        return
    with pytest.raises(error) as raised:
        plan_text(DLQ_HEADER, RAW, text)
    assert message in str(raised.value) and str(raised.value).startswith("<script 3>:1: ")


def test_a_query_into_the_dlq_needs_a_reason() -> None:
    header = DLQ_HEADER.replace("`reason`", "`why`")
    with pytest.raises(KsqlError, match="must project a `reason` column"):
        plan_text(
            header,
            RAW,
            "INSERT INTO ods_dlq SELECT TO_JSON_STRING(`k`) AS `dlq_key`, 'x' AS `stage`, 'y' AS `why`,"
            " STRUCT(`topic` := 'raw', `partition` := 1, `offset` := 2) AS `source`"
            " FROM raw PARTITION BY TO_JSON_STRING(`k`);",
        )


def test_a_double_takes_the_non_finite_names_jackson_writes_and_no_other_text() -> None:
    decode = decoder(ast.SqlType("DOUBLE"))
    assert math.isnan(decode("NaN", "d")) and decode("Infinity", "d") == math.inf
    assert decode("-Infinity", "d") == -math.inf and decode(2, "d") == 2.0 and type(decode(2, "d")) is float
    for text in ("nan", "inf", "+Infinity", "1.5", ""):
        with pytest.raises(Rejected, match="d: expected DOUBLE, got string"):
            decode(text, "d")
    items = decoder(ast.SqlType("ARRAY", item=ast.SqlType("DOUBLE")))
    assert items([1, "-Infinity"], "a") == [1.0, -math.inf]


def test_a_non_finite_double_is_encoded_as_its_name_never_as_null() -> None:
    row = {"a": math.nan, "b": [1.5, math.inf], "c": {"x": -math.inf}, "d": None, "e": 2.5}
    named = {"a": "NaN", "b": [1.5, "Infinity"], "c": {"x": "-Infinity"}, "d": None, "e": 2.5}
    assert orjson.loads(to_json(row)) == named
    assert orjson.loads(encode(finite(row, ("b",)))) == named  # one found: the whole row is named
    clean = {"a": 1.5, "n": None}
    assert finite(clean, ("a", "n")) is clean and finite(row, ()) is row  # only the fields named


def test_a_query_searches_only_the_outputs_that_may_hold_a_double() -> None:
    eng = engine(
        "CREATE STREAM d WITH (KAFKA_TOPIC='d', KEY_FORMAT='JSON') AS SELECT `k`, `after`->`n` AS `n`,"
        " CAST(`op` AS DOUBLE) AS `x`, `after`->`n` * 2 AS `m`, `after`->`tags` AS `tags` FROM raw;"
    )
    assert eng.plan.queries[-1].doubles == ("x",)
    outputs, rejects = run(eng, {"after": {"id": 1, "n": 2}, "op": "NaN"})
    assert rejects == [] and outputs == [("d", b'{"id":1}', {"n": 2, "x": "NaN", "m": 4, "tags": None})]


SHARED = """
CREATE STREAM shared WITH (KAFKA_TOPIC='shared', KEY_FORMAT='JSON', VALUE_FORMAT='JSON') AS
SELECT `k`,
    CASE WHEN COALESCE(`after`, `before`)->`n` < 0 THEN 'negative n'
         WHEN `op` = 'u' AND CAST(`op` AS INT) = 1 THEN 'never reached unless op is u' END AS `why`,
    COALESCE(`after`, `before`)->`n` AS `n`, COALESCE(`after`, `before`)->`id` AS `id`,
    CAST(`op` AS INT) AS `op_number`
FROM raw2 WHERE `op` <> 'x' OR CAST(`op` AS INT) = 0;
"""
RAW2 = """
CREATE STREAM raw2 (`k` STRUCT<`id` BIGINT> KEY, `after` STRUCT<`id` BIGINT, `n` INT>,
                    `before` STRUCT<`id` BIGINT, `n` INT>, `op` STRING)
  WITH (KAFKA_TOPIC='raw2', KEY_FORMAT='JSON', VALUE_FORMAT='JSON');
"""


def test_a_repeated_subexpression_that_cannot_fail_is_computed_once_per_row() -> None:
    plan = plan_text(DLQ_HEADER, RAW2, SHARED)
    (query,) = [q for q in plan.queries if q.target.name == "SHARED"]
    # COALESCE(after, before) and its ->n are shared; the CAST (which can fail) is not
    assert len(query.shared) == 2
    eng = Engine(plan)
    value = orjson.dumps({"before": {"id": 1, "n": 4}, "op": "5"})
    result = eng.process("raw2", b'{"id": 1}', value, 0, 1, 0)
    assert [orjson.loads(o.value) for o in result.outputs] == [
        {"why": None, "n": 4, "id": 1, "op_number": 5}
    ], result.rejects


def test_a_shared_subexpression_leaves_guarded_failures_guarded() -> None:
    eng = Engine(plan_text(DLQ_HEADER, RAW2, SHARED.replace("CAST(`op` AS INT) AS `op_number`", "`op`")))
    # op 'c': the guarded CAST(op AS INT) is never evaluated (AND stops at op = 'u'), as before sharing
    ok = eng.process("raw2", b'{"id": 2}', orjson.dumps({"after": {"id": 2, "n": 1}, "op": "c"}), 0, 2, 0)
    assert ok.rejects == [] and len(ok.outputs) == 1
    failed = eng.process("raw2", b'{"id": 2}', orjson.dumps({"after": {"id": 2, "n": 1}, "op": "u"}), 0, 3, 0)
    assert failed.outputs == [] and "CAST('u' AS INT) failed" in failed.rejects[0]


def test_a_struct_built_by_a_query_is_not_assumed_decoded() -> None:
    """Only a declared stream's STRUCT is known to be a dict or NULL; a derived stream's field
    access keeps its own check (and is not computed ahead)."""
    plan = plan_text(
        DLQ_HEADER, RAW2,
        "CREATE STREAM d AS SELECT `k`, COALESCE(`after`, `before`) AS `img` FROM raw2;"
        "CREATE STREAM e WITH (KAFKA_TOPIC='e', KEY_FORMAT='JSON', VALUE_FORMAT='JSON') AS"
        " SELECT `k`, `img`->`n` AS `n`, `img`->`n` + 1 AS `m` FROM d;",
    )  # fmt: skip
    (query,) = [q for q in plan.queries if q.target.name == "E"]
    assert query.shared == []


def test_an_output_topic_knows_the_consumed_topics_it_comes_from() -> None:
    """The cleansing stage gives each output topic the partitions of its own inputs."""
    json = "KEY_FORMAT='JSON', VALUE_FORMAT='JSON'"
    plan = plan_scripts({str(p): p.read_text() for p in sorted((PROJECT_DIR / "ksql").glob("*.sql"))})
    assert plan.input_topics("ods.mysql.maf.movies") == {"mysql.maf.movies"}
    assert plan.input_topics("ods.postgres.maf.tv_series") == {"postgres.maf.tv_series"}
    chained = plan_text(
        f"CREATE STREAM a (`id` INT KEY, `n` INT) WITH (KAFKA_TOPIC='t.a', {json});",
        f"CREATE STREAM b (`id` INT KEY, `n` INT) WITH (KAFKA_TOPIC='t.b', {json});",
        f"CREATE STREAM mid WITH (KAFKA_TOPIC='t.mid', {json}) AS SELECT `id`, `n` FROM a EMIT CHANGES;",
        "INSERT INTO mid SELECT `id`, `n` FROM b EMIT CHANGES;",
        f"CREATE STREAM out WITH (KAFKA_TOPIC='t.out', {json}) AS SELECT `id`, `n` FROM mid EMIT CHANGES;",
    )
    assert chained.input_topics("t.out") == {"t.a", "t.b"}  # through the in-process stream
    assert chained.input_topics("t.nowhere") == set()
