"""The ksqlDB UDF jar (ksql/udf/) computes exactly what the embedded runner's CDC_* functions do.

The jar is built by ksql/udf/build.sh (what `make ksqldb-udf` and the compose image run),
then a small Java program (ksql/udf/test/) loads its functions as ksqlDB does (annotations,
Configurable with the server's `ksql.functions.*` properties, reflection) and runs them on
vectors whose expected values come from src/cdc_ods/ksql/functions.py: NULLs, non-ASCII text,
range edges, and seeded random mutations of valid inputs. Needs a JDK and Maven (`make setup`
installs both); skips, saying so, without them.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cdc_ods.ksql.functions import FUNCTIONS, PII_KEY_ENV, PROJECT_UDFS, pii_key

ROOT = Path(__file__).resolve().parents[2]
UDF_DIR = ROOT / "ksql" / "udf"
HMAC_KEY = "vector-key-é"  # a non-ASCII key: both sides must take its UTF-8 bytes
TOOLS = ("java", "javac", "jar", "mvn")

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in TOOLS),
    reason=f"the UDF jar needs {', '.join(TOOLS)} (`make setup` installs a JDK and Maven)",
)


# ------------------------------------------------------------------ the vectors


def _text(value: str) -> str:
    return "S" + value.encode("utf-16-be", "surrogatepass").hex()


def _field(value: Any) -> str:
    if value is None:
        return "N"
    if isinstance(value, int):
        return f"I{value}"
    if isinstance(value, list):
        return "L" + ",".join(_field(item) for item in value)
    return _text(value)


def _expected(name: str, value: Any) -> str:
    """What the embedded runner computes: NULL in, NULL out; E where it raises."""
    if value is None:
        return "N"
    try:
        return _field(FUNCTIONS[name].impl(value))
    except Exception:  # any exception: the outcome "raises", on both sides
        return "E"


LONG_EDGES = [0, 1, -1, 999, 1000, -1000, 2**31, -(2**31), 2**63 - 1, -(2**63)]
# the first and last microsecond/millisecond Python's datetime holds, and one beyond
MICRO_EDGES = [-62135596800000000, -62135596800000001, 253402300799999999, 253402300800000000]
MILLI_EDGES = [-62135596800000, -62135596800001, 253402300799999, 253402300800000, 9223372036854775]

ISO_SAMPLES = [
    "2024-02-29T23:59:58Z",
    "2024-03-01T01:59:58.5+02:00",
    "2024-02-29 23:59:58.123456789",
    "2024-02-29T23:59:58,25-05:30",
    "20240229T235958",
    "2024-02-29",
    "20240229",
    "2024-W09-4T12:00",
    "2024W094T1200",
    "2024-W09",
    "2020-W53-7",
    "2021-W53-1",
    "2024-01-01T12:00:00 Z",
    "2024-01-01T12:00:00+00:00:00.5",
    "2024-01-01T12:00:00-00:00:00.5",
    "2024-01-01T12:00:00+23:59:59.999999",
    "2024-01-01T12:00:00+24:00",
    "2024-01-01T24:00:00",
    "2024-01-01é12:00:00",
    "2024-01-01😀12:00",
    "2024-01-01\ud80012:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+00:01",
    "9999-12-31T23:59:59.999999-00:01",
    "0000-01-01T00:00:00",
    "0000-W52-7",
    "2024-02-30",
    "2023-02-29",
    "  2024-02-29T23:59:58Z\n",
    "\u00a02024-02-29\u3000",
    "2024-01-01T12:00:00Z\x00junk",
    "2024-01-01T12",
    "2024-01-01T1",
    "2024-01-01T",
    "garbage",
    "",
    "2024-01-01T12:00:00.",
    "2024-01-01T12:00:00:5",
    "2024-01-01T12000012",
    "2024-01-01T12:00+05",
    "2024-01-01T12:00+0530",
    "2024-01-01T12:00+99:00",
    "2024-01-01T12:00z",
    "\uff11\uff12\uff13\uff14-01-01",  # fullwidth digits
]

JSON_SAMPLES = [
    '["a", 1, null, true, false, 1.5, -0.0, "é😀", {"b": [1, {"c": null}]}, []]',
    "[1e-5, 1e-6, 1e16, 1e15, 0.1, 5e-324, 1.7976931348623157e308, 123456789.123, 1E2, -0, -0e5]",
    "[18446744073709551615, 18446744073709551616, -9223372036854775808, -9223372036854775809]",
    '["\\u00e9", "\\ud83d\\ude00", "\\n\\t\\b\\f\\r\\"\\\\/", "\\u0001\\u001f\\u007f\\u2028"]',
    '[{"a": 1, "b": 2, "a": 3}]',
    "[1e400]",
    "[1e-400, -1e-400]",
    '["\\ud800"]',
    '["\\udc00"]',
    "[1,]",
    "[01]",
    "[.5]",
    "[1.]",
    "[NaN]",
    "\ufeff[1]",
    " [ 1 , 2 ] ",
    "[]",
    "{}",
    '"a"',
    "",
    " ",
    "[" * 254 + "]" * 254,
    "[" + "[" * 254 + "]" * 254 + "]",
    "[" + "[" * 255 + "]" * 255 + "]",
    "[" * 1024 + "]" * 1024,
    "[" * 1025 + "]" * 1025,
    '["\x01"]',
    "[\ud800]",
    "[true, false, null]",
    "[1]x",
]

BSON_SAMPLES = [
    '{"$date": "1984-07-02T00:00:00Z"}',
    '{"$date": {"$numberLong": "1000"}}',
    '{"$date": {"$numberLong": "-1000"}}',
    '{"$date": -1000}',
    '{"$date": 1.5}',
    '{"$date": true}',
    '{"$date": null}',
    '{"$date": {"$numberLong": 5}}',
    '{"$date": "--5"}',
    '{"$date": "-"}',
    '{"$date": "123"}',
    '{"$date": "١٢٣"}',
    '{"$date": "²"}',
    '{"$date": "99999999999999999999999"}',
    '{"$date": 18446744073709551615}',
    '{"$date": 253402300800000}',
    '{"x": 1}',
    '"2024-01-01T00:00:00+01:00"',
    "1700000000000",
    "not json",
]


def _mutations(samples: list[str], rng: random.Random, count: int) -> Iterator[str]:
    """Seeded random edits of the samples: deletions, duplications, swapped characters."""
    alphabet = "0123456789-:+.,TZWzt é\x00"
    for _ in range(count):
        text = list(rng.choice(samples))
        for _ in range(rng.randint(1, 3)):
            if not text:
                break
            pos = rng.randrange(len(text))
            action = rng.randrange(3)
            if action == 0:
                del text[pos]
            elif action == 1:
                text.insert(pos, rng.choice(alphabet))
            else:
                text[pos] = rng.choice(alphabet)
        yield "".join(text)


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randint(-(2**70), 2**70) if rng.random() < 0.2 else rng.randint(-(10**6), 10**6)
    if kind == 2:
        return rng.choice(
            [rng.uniform(-1e6, 1e6), rng.random() * 10 ** rng.randint(-30, 30), 2.0 ** rng.randint(-60, 60)]
        )
    if kind in (3, 4):
        return "".join(rng.choice('aé😀\n\t"\\/\x01\x1f\u2028 ') for _ in range(rng.randint(0, 6)))
    if kind in (5, 6):
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"k{rng.randint(0, 3)}": _random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _vectors() -> list[tuple[str, Any]]:
    rng = random.Random(20241123)
    vectors: list[tuple[str, Any]] = [(name, None) for name in PROJECT_UDFS]
    text_samples = ["", " ", "Amélie", "Ame\u0301lie", "ｶﾞ", "Å", "한국어", "😀", "a\u0000b", "\ud800x"]
    for name in ("CDC_NFC", "CDC_HMAC"):
        vectors += [(name, s) for s in [*text_samples, "alice@example.com", "+1 (555) 010-9999"]]
    longs = LONG_EDGES + [rng.randint(-(2**63), 2**63 - 1) for _ in range(300)]
    longs += [rng.randint(-(10**17), 10**17) for _ in range(300)]
    vectors += [("CDC_TS_MICROS", v) for v in longs + MICRO_EDGES]
    bit_values = [b"", b"\x00", b"\x01", b"\xff" * 8, *(rng.randbytes(rng.randint(1, 8)) for _ in range(300))]
    vectors += [("CDC_BITS", base64.b64encode(b).decode()) for b in bit_values] + [("CDC_BITS", "!!!!")]
    vectors += [
        ("CDC_TS_MILLIS", v)
        for v in longs + MILLI_EDGES + [rng.randint(-(10**14), 10**14) for _ in range(300)]
    ]
    vectors += [("CDC_TS_ISO", s) for s in ISO_SAMPLES + list(_mutations(ISO_SAMPLES, rng, 4000))]
    # what str.strip() strips, around a valid timestamp: every space and control character
    spaces = [
        chr(c) for c in range(0x3001) if unicodedata.category(chr(c))[0] in "ZC" and not 0xD800 <= c <= 0xDFFF
    ]
    vectors += [("CDC_TS_ISO", f"{c}2024-02-29T12:00{c}") for c in spaces]
    documents = [
        json.dumps([_random_json(rng) for _ in range(rng.randint(0, 5))], ensure_ascii=False)
        for _ in range(600)
    ]
    vectors += [
        ("CDC_JSON_ARRAY", s) for s in JSON_SAMPLES + documents + list(_mutations(JSON_SAMPLES, rng, 1500))
    ]
    vectors += [("CDC_BSON_TS", s) for s in BSON_SAMPLES + list(_mutations(BSON_SAMPLES, rng, 1500))]
    # str.isdigit() and int() over every digit-like code point
    digits = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in ("Nd", "No")]
    vectors += [("CDC_BSON_TS", json.dumps({"$date": chr(c) * 2}, ensure_ascii=False)) for c in digits]
    return vectors


# ------------------------------------------------------------------ build and run


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The jar (built as `make ksqldb-udf` builds it) and the classpath of the vector checker."""
    out = tmp_path_factory.mktemp("ksqldb-udf")
    jar = out / "cdc-ksqldb-udf.jar"
    built = subprocess.run([str(UDF_DIR / "build.sh"), str(jar)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    build = out / "build"
    classpath = f"{jar}:{build / 'stubs'}:{(build / 'classpath').read_text().strip()}"
    sources = [str(p) for p in (UDF_DIR / "test").rglob("*.java")]
    javac = ["javac", "--release", "11", "-d", str(out / "test"), "-cp", classpath, *sources]
    compiled = subprocess.run(javac, capture_output=True, text=True, check=False)
    assert compiled.returncode == 0, compiled.stderr
    return jar, f"{out / 'test'}:{classpath}"


def test_the_jar_holds_no_ksqldb_class(checker: tuple[Path, str]) -> None:
    """The annotation stubs stay out: the server's own classes must be the ones loaded."""
    listing = subprocess.run(["jar", "tf", str(checker[0])], capture_output=True, text=True, check=True)
    classes = [line for line in listing.stdout.splitlines() if line.endswith(".class")]
    assert classes and all(c.startswith("io/github/cdcods/ksqldb/") for c in classes), classes


def test_java_functions_equal_the_python_ones(
    checker: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PII_KEY_ENV, HMAC_KEY)
    pii_key.cache_clear()
    vectors = _vectors()
    lines = [f"{name}\t{_field(value)}\t{_expected(name, value)}" for name, value in vectors]
    (tmp_path / "vectors").write_text("\n".join(lines) + "\n", encoding="ascii")
    jar, classpath = checker
    command = [
        "java",
        "-cp",
        classpath,
        "io.github.cdcods.ksqldb.VectorCheck",
        str(jar),
        str(tmp_path / "vectors"),
        HMAC_KEY,
    ]
    run = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    report = run.stdout + run.stderr
    assert run.stdout.startswith("udfs: "), report
    assert run.stdout.splitlines()[0].removeprefix("udfs: ").split(",") == sorted(PROJECT_UDFS), report
    assert run.returncode == 0, report
    assert f"{len(vectors)} vectors, 0 differences" in run.stdout
    # the vectors reach every outcome of every function: a value, NULL and (where Python raises) an error
    outcomes = {(line.split("\t")[0], line.split("\t")[2][0]) for line in lines}
    assert {name for name, kind in outcomes if kind in "SL"} == set(PROJECT_UDFS)
    assert {name for name, kind in outcomes if kind == "E"} >= {
        "CDC_TS_MICROS",
        "CDC_TS_MILLIS",
        "CDC_TS_ISO",
        "CDC_BSON_TS",
    }
