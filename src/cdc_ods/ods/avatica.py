"""Statements with parameters, sent to the Query Server with requests built here.

Batches: phoenixdb's `Cursor.executemany` builds one TypedValue message per parameter and then copies
each into the request (appending a protobuf message copies it): for batches of thousands of
rows that is the largest CPU cost of the loader, whose throughput is bound by one Python
thread. `execute_prepared` sends the same request, but creates every value inside its parent
(`add()`), once, for a statement `prepare`d once and reused (phoenixdb prepares and closes the
statement around every batch: two more round trips). It uses phoenixdb 1.2's cursor internals
(the prepared statement's id and parameter types, the client's request method);
tests/unit/test_avatica.py checks that the request is byte for byte the one phoenixdb builds,
so a phoenixdb upgrade that changes them fails there.

One deliberate difference: a TIMESTAMP parameter given as text ('YYYY-MM-DD HH:MM:SS.ffffff',
UTC: what cdc_ods.ods.schema converts timestamps to) travels as text, where phoenixdb would
fail. Avatica's protobuf carries a TIMESTAMP as milliseconds, which would cut the sources'
microseconds; an UPSERT hands a text value to Phoenix, which parses it (in UTC, its default
phoenix.query.dateFormatTimeZone) into a TIMESTAMP with the fraction intact. Phoenix takes
text for a TIMESTAMP only as an UPSERT value, not in a WHERE clause (see
TableSchema.key_condition), and not in arrays (it would store a TIMESTAMP ARRAY's text as
raw bytes), so datetimes keep phoenixdb's encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import phoenixdb.cursor
import phoenixdb.errors
from phoenixdb.avatica.proto import common_pb2, requests_pb2, responses_pb2

# phoenixdb.types.TypeHelper.from_param: (TypedValue field, Rep, to-wire conversion, from-wire
# conversion, is an array)
ParameterType = tuple[str, int, Any, Any, bool]


def build_request(
    connection_id: str, statement_id: int, types: Sequence[ParameterType], rows: Sequence[Sequence[Any]]
) -> requests_pb2.ExecuteBatchRequest:
    """The ExecuteBatch request of `rows` for a statement prepared with parameter `types`."""
    request = requests_pb2.ExecuteBatchRequest(statement_id=statement_id, connection_id=connection_id)
    null_rep, timestamp_rep, text_rep = common_pb2.NULL, common_pb2.JAVA_SQL_TIMESTAMP, common_pb2.STRING
    for row in rows:
        if len(row) != len(types):
            raise phoenixdb.errors.ProgrammingError(
                f"{len(types)} placeholders (?) but {len(row)} parameters in a row"
            )
        values = request.updates.add().parameter_values
        for value, (field, rep, to_wire, _from_wire, is_array) in zip(row, types, strict=True):
            if value is None:
                values.add(null=True, type=null_rep)
            elif is_array:
                _add_array(values.add(), field, rep, to_wire, value)
            elif rep == timestamp_rep and isinstance(value, str):
                values.add(type=text_rep, string_value=value)
            else:
                typed = values.add(type=rep)
                setattr(typed, field, value if to_wire is None else to_wire(value))
    return request


def _add_array(typed: common_pb2.TypedValue, field: str, rep: int, to_wire: Any, value: Any) -> None:
    if not isinstance(value, list | tuple):
        raise phoenixdb.errors.ProgrammingError("Scalar value specified for array parameter.")
    for element in value:
        item = typed.array_value.add()
        if element is None:  # typed NULL: an untyped one reads as PRIMITIVE_BOOLEAN on the server
            item.null = True
            item.type = common_pb2.NULL
        else:
            item.type = rep
            setattr(item, field, element if to_wire is None else to_wire(element))
    typed.type = common_pb2.ARRAY
    typed.component_type = rep


class MissingStatement(phoenixdb.errors.DatabaseError):
    """The Query Server no longer knows a prepared statement (Avatica expires one idle for
    `avatica.statementcache.expiryduration`, 5 minutes by default)."""


def prepare(cursor: phoenixdb.cursor.Cursor, statement: str) -> None:
    """Prepare `statement` on the server as `cursor`'s statement (its id and parameter types);
    the cursor can then run any number of batches until it is closed."""
    connection = cursor._connection
    prepared = connection._client.prepare(connection._id, statement, max_rows_total=0)
    cursor._set_id(prepared.id)
    cursor._set_signature(prepared.signature)


def execute_prepared(cursor: phoenixdb.cursor.Cursor, rows: Sequence[Sequence[Any]]) -> None:
    """`cursor.executemany(<its prepared statement>, rows)`, with the request built in place (and
    text TIMESTAMP values sent as text, see the module's docstring): one round trip.

    A statement the Query Server no longer knows raises MissingStatement. The Query Server
    (PQS 6.0.0) does not say so the way Avatica's protocol describes (`missing_statement` stays
    false): it answers with no update count at all and executes nothing, and a commit after it
    succeeds with none of the rows. Hence one update count per row is required; a loader whose
    statements had expired while Kafka was down lost every row it "applied" that way."""
    connection = cursor._connection
    request = build_request(connection._id, cursor._id, cursor._parameter_data_types, rows)
    response = responses_pb2.ExecuteBatchResponse()
    response.ParseFromString(connection._client._apply(request))
    if response.missing_statement or len(response.update_counts) != len(rows):
        raise MissingStatement(
            f"the Query Server executed {len(response.update_counts)} of {len(rows)} rows"
            f" (statement {cursor._id} unknown to it: expired or closed)",
            -1,
        )
