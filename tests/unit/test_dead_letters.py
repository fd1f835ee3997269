"""The dead-letter format: the original bytes come back exactly, and a letter carries them once."""

from __future__ import annotations

import base64

import orjson
import pytest

from cdc_ods.dlq import DeadLetter
from cdc_ods.errors import Rejected


def _letter(key: bytes | None, value: bytes | None) -> DeadLetter:
    return DeadLetter("cleansing", "bad rating", "mysql.maf.movies", 0, 7, key, value, 1_700_000_000_000)


@pytest.mark.parametrize(
    ("key", "value"),
    [(b'{"id":1}', '{"t":"ž😀"}'.encode()), (b"\x00\xff", b"\xfe\xff not utf-8"), (None, None), (b"", b"")],
)
def test_a_letter_gives_back_the_exact_bytes(key: bytes | None, value: bytes | None) -> None:
    assert DeadLetter.from_json(_letter(key, value).to_json()) == _letter(key, value)


def test_text_is_carried_once_so_a_large_record_makes_a_letter_barely_larger() -> None:
    value = b'{"after": {"notes": "' + b"toast " * 100_000 + b'"}}'
    letter = orjson.loads(_letter(b"1", value).to_json())
    assert letter["value"] == value.decode() and "value_b64" not in letter
    assert len(_letter(b"1", value).to_json()) < len(value) + 500
    binary = orjson.loads(_letter(b"1", b"\xff" * 10).to_json())
    assert binary["value_b64"] == base64.b64encode(b"\xff" * 10).decode() and "value" not in binary


def test_letters_written_with_both_forms_still_read() -> None:
    old = {"stage": "loader", "reason": "r", "source": {"topic": "t", "partition": 0, "offset": 1},
           "key_b64": base64.b64encode(b"k").decode(), "key": "k",
           "value_b64": base64.b64encode(b"\xff").decode(), "value": None, "failed_at_ms": 5}  # fmt: skip
    letter = DeadLetter.from_json(orjson.dumps(old))
    assert (letter.key, letter.value) == (b"k", b"\xff")


def test_a_rejection_located_by_its_stage_is_what_the_letter_says() -> None:
    rejected = Rejected("value is not JSON").at("loader", "ods.mysql.maf.movies", 2, 41)
    letter = DeadLetter.of(rejected, b"k", b"{oops", now_ms=5)
    assert letter == DeadLetter(
        "loader", "value is not JSON", "ods.mysql.maf.movies", 2, 41, b"k", b"{oops", 5
    )
    assert letter.headers() == [("cdc.stage", b"loader"), ("cdc.reason", b"value is not JSON")]
    assert (
        dict(DeadLetter.of(Rejected("r" * 900, "collector", "t"), None, b"v").headers())["cdc.reason"]
        == b"r" * 500
    )
