"""The in-place ExecuteBatch request is byte for byte the one phoenixdb builds (on plain data)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import phoenixdb.errors
import pytest
from phoenixdb.avatica.client import AvaticaClient
from phoenixdb.avatica.proto import common_pb2, responses_pb2
from phoenixdb.cursor import Cursor
from phoenixdb.types import TypeHelper

from cdc_ods.ods.avatica import build_request

# java.sql.Types of an ODS row: INTEGER, VARCHAR, DECIMAL, DATE, TIMESTAMP, BIGINT, BOOLEAN,
# DOUBLE, CHAR, and a VARCHAR ARRAY (Phoenix's array codes are 3000 + the element's code)
JDBC_CODES = [4, 12, 3, 91, 93, -5, 16, 8, 1, 3012]
NOW = dt.datetime(2026, 11, 23, 10, 0, 0, 123000)
ROWS: list[list[Any]] = [
    [1, "Amélie", Decimal("8.3"), dt.date(2001, 4, 25), NOW, 9007199254740993, True, 0.5, "u", ["a", "b"]],
    [2, None, None, None, None, None, None, None, None, None],
    [3, "東京物語", Decimal("-0.01"), dt.date(1953, 11, 3), NOW, -1, False, -1e300, "d", []],
]


def parameter_types() -> list[tuple]:
    params = []
    for code in JDBC_CODES:
        param = common_pb2.AvaticaParameter()
        param.parameter_type = code % (1 << 32)  # uint32 on the wire, as the Query Server sends it
        params.append(param)
    return [TypeHelper.from_param(p) for p in params]


class _Capture(AvaticaClient):
    """phoenixdb's own client, with the request captured instead of sent."""

    def _apply(self, request_data: Any, expected_response_type: Any = None) -> bytes:
        self.sent = request_data
        return responses_pb2.ExecuteBatchResponse().SerializeToString()


def phoenixdb_request(types: list[tuple], rows: list[list[Any]]) -> bytes:
    cursor = Cursor.__new__(Cursor)  # only its parameter conversion is used
    cursor._parameter_data_types = types
    cursor._connection, cursor._closed = SimpleNamespace(_closed=True), True  # nothing to close
    client = _Capture("http://127.0.0.1:1/")
    client.execute_batch("conn-1", 7, [cursor._transform_parameters(row) for row in rows])
    return client.sent.SerializeToString()


def test_the_request_equals_phoenixdbs_own() -> None:
    types = parameter_types()
    ours = build_request("conn-1", 7, types, ROWS).SerializeToString()
    assert ours == phoenixdb_request(types, ROWS)


def test_a_null_array_element_is_a_typed_null() -> None:
    """phoenixdb leaves it untyped, which the Query Server reads as PRIMITIVE_BOOLEAN and refuses
    ("cannot convert false ... to PRIMITIVE_BOOLEAN", seen on Pagila's text[] with a NULL)."""
    row = [1, None, None, None, None, None, None, None, None, ["a", None, "c"]]
    array = build_request("conn-1", 7, parameter_types(), [row]).updates[0].parameter_values[9]
    assert [(v.null, v.type) for v in array.array_value] == [
        (False, common_pb2.STRING), (True, common_pb2.NULL), (False, common_pb2.STRING)
    ]  # fmt: skip


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(phoenixdb.errors.ProgrammingError, match="placeholders"):
        build_request("conn-1", 7, parameter_types(), [[1, "x"]])


def test_a_text_timestamp_travels_as_text_and_a_datetime_as_phoenixdb_sends_it() -> None:
    """Avatica would send the TIMESTAMP as milliseconds; as text Phoenix keeps the fraction."""
    types = parameter_types()
    text_row = [1, None, None, None, "2024-02-29 23:59:58.123456", None, None, None, None, None]
    value = build_request("conn-1", 7, types, [text_row]).updates[0].parameter_values[4]
    assert (value.type, value.string_value) == (common_pb2.STRING, "2024-02-29 23:59:58.123456")
    datetime_row = [*text_row[:4], NOW, *text_row[5:]]  # the metadata columns, a key's range
    assert build_request("conn-1", 7, types, [datetime_row]).SerializeToString() == phoenixdb_request(
        types, [datetime_row]
    )
