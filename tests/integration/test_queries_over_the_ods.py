"""The analyst queries of ods/queries.sql run on the live ODS and return rows.

Runs after the end-to-end tests (file order), which fill every ODS table.
"""

from __future__ import annotations

import re

import pytest

from cdc_ods.endpoints import Endpoints
from cdc_ods.ods.phoenix import connect, run
from tests import PROJECT_DIR

QUERIES = re.findall(r"-- name: (\w+)\n(.*?);", (PROJECT_DIR / "ods" / "queries.sql").read_text(), re.S)


@pytest.mark.parametrize(("name", "body"), QUERIES, ids=[name for name, _ in QUERIES])
def test_query_runs_and_returns_rows(endpoints: Endpoints, name: str, body: str) -> None:
    statement = "\n".join(line for line in body.splitlines() if not line.startswith("--"))
    conn = connect(endpoints.phoenix_url)
    try:
        columns, rows, _ = run(conn, statement)
    finally:
        conn.close()
    assert columns and rows, f"{name} returned nothing"
