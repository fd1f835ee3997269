"""phoenixdb's SQLAlchemy dialect, mended where Superset's reflection of the ODS breaks it."""

from __future__ import annotations

from typing import Any

from phoenixdb.sqlalchemy_phoenix import COLUMN_DATA_TYPE, PhoenixDialect, _get_dbapi
from sqlalchemy import types

# Phoenix reports an ARRAY column as 3000 + the JDBC type of its elements
# (PDataType.ARRAY_TYPE_BASE), e.g. 3012 for VARCHAR ARRAY.
ARRAY_TYPE_BASE = 3000


def column_type(type_id: int) -> types.TypeEngine:
    """The SQLAlchemy type of a Phoenix column type id; NullType for one it cannot name."""
    if type_id in COLUMN_DATA_TYPE:
        return COLUMN_DATA_TYPE[type_id]()
    element = COLUMN_DATA_TYPE.get(type_id - ARRAY_TYPE_BASE)
    if element is not None:
        return types.ARRAY(element())
    return types.NullType()


def _is_table(row: dict[str, Any], table_name: str, schema: str | None) -> bool:
    """The metadata row is of this very table (the API matched a LIKE pattern)."""
    return row["TABLE_NAME"] == table_name and (row["TABLE_SCHEM"] or "") == (schema or "")


class CdcPhoenixDialect(PhoenixDialect):
    """`cdc_phoenix://host:port/`: phoenixdb's dialect with exact table matching, ARRAY
    columns and the URL's password passed as the password."""

    name = "cdc_phoenix"
    supports_statement_cache = False

    def create_connect_args(self, url: Any) -> tuple[list[str], dict[str, Any]]:
        args, kwargs = super().create_connect_args(url)
        if url.password is not None:
            kwargs["password"] = url.password
        return args, kwargs

    def get_columns(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> list:
        rows = (
            _get_dbapi(connection).meta().get_columns(schemaPattern=schema or "", tableNamePattern=table_name)
        )
        return [
            {
                "name": row["COLUMN_NAME"],
                "type": column_type(row["TYPE_ID"]),
                "nullable": row["NULLABLE"] != 0,  # JDBC columnNoNulls; IS_NULLABLE is "YES"/"NO"
                "autoincrement": bool(row["IS_AUTOINCREMENT"]),
                "comment": row["REMARKS"],
                "default": None,
            }
            for row in rows
            if _is_table(row, table_name, schema)
        ]

    def get_pk_constraint(
        self, connection: Any, table_name: str, schema: str | None = None, **kw: Any
    ) -> dict:
        rows = _get_dbapi(connection).meta().get_primary_keys(schema=schema or "", table=table_name)
        rows = [r for r in rows if _is_table(r, table_name, schema)]
        ordered = sorted(rows, key=lambda r: r["KEY_SEQ"])
        return {
            "name": ordered[0]["PK_NAME"] if ordered else None,
            "constrained_columns": [r["COLUMN_NAME"] for r in ordered],
        }
