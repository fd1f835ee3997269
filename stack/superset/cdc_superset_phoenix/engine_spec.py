"""Superset's Apache Phoenix engine spec, mended for the ODS.

Superset's own (superset/db_engine_specs/phoenix.py) is taken as it is except where a
chart on the ODS fails with it:

- a time grain's column is labelled with the column's own name (`... AS "EVENT_TS" ...
  GROUP BY <expression of EVENT_TS>`), which Phoenix refuses: "Column reference ambiguous
  or duplicate names". Every label gets a suffix in the SQL (Superset renames the result's
  columns back to its labels);
- an unquoted alias comes back upper-cased ("count" as COUNT), so Superset could not find
  its own metric in the result: aliases are always quoted;
- the QUARTER grain: Phoenix has no such unit (an error at query time), so it is not offered;
  DAY and coarser grains stay TIMESTAMPs, like the finer ones, so an axis has one type;
- time filters were cut to whole seconds: they keep the milliseconds Phoenix stores;
- SQL Lab replaced a query's own LIMIT with its row limit (`SELECT ... LIMIT 1` returned
  484 rows): the row limit now wraps the query (`SELECT * FROM (<query>) LIMIT n`), which
  Phoenix runs with the inner LIMIT kept;
- Superset re-formats every statement (SQL Lab's, a virtual dataset's) with sqlglot before it
  runs it; with no dialect for the engine, the generic one writes `CURRENT_DATE()` as
  `CURRENT_DATE`, which Phoenix takes for a column: `PhoenixSql` keeps Phoenix's functions.

It answers to its own backend name, `cdc_phoenix://HOST:PORT/`: for `phoenix://` Superset
would pick its own spec (it takes the first that names the backend).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import types
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from superset.constants import TimeGrain
from superset.db_engine_specs.phoenix import PhoenixEngineSpec as SupersetPhoenixEngineSpec
from superset.sql import parse
from superset.sql.parse import LimitMethod

LABEL_SUFFIX = "__"


def _trunc(unit: str) -> str:
    return f"CAST(TRUNC(CAST({{col}} AS TIMESTAMP), '{unit}') AS TIMESTAMP)"


class PhoenixSql(Dialect):
    """sqlglot's generic dialect, writing the current date and time as Phoenix's functions."""

    class Generator(Dialect.generator_class):  # type: ignore[name-defined,misc]
        TRANSFORMS = {  # noqa: RUF012 (sqlglot's own pattern)
            **Dialect.generator_class.TRANSFORMS,
            exp.CurrentDate: lambda _gen, _e: "CURRENT_DATE()",
            exp.CurrentTime: lambda _gen, _e: "CURRENT_TIME()",
            exp.CurrentTimestamp: lambda _gen, _e: "NOW()",
        }


class PhoenixEngineSpec(SupersetPhoenixEngineSpec):
    engine = "cdc_phoenix"
    engine_name = "Apache Phoenix (cdc-ods)"
    sqlalchemy_uri_placeholder = "cdc_phoenix://127.0.0.1:8765/"

    force_column_alias_quotes = True
    limit_method = LimitMethod.WRAP_SQL

    _time_grain_expressions: ClassVar[dict[str | None, str]] = {
        None: "{col}",
        TimeGrain.SECOND: _trunc("SECOND"),
        TimeGrain.MINUTE: _trunc("MINUTE"),
        TimeGrain.HOUR: _trunc("HOUR"),
        TimeGrain.DAY: _trunc("DAY"),
        TimeGrain.WEEK: _trunc("WEEK"),  # Phoenix's weeks start on Monday
        TimeGrain.MONTH: _trunc("MONTH"),
        TimeGrain.YEAR: _trunc("YEAR"),
    }

    @classmethod
    def _mutate_label(cls, label: str) -> str:
        return f"{label}{LABEL_SUFFIX}"

    @classmethod
    def epoch_to_dttm(cls) -> str:
        return "CAST({col} * 1000 AS TIMESTAMP)"  # Phoenix casts a number as epoch milliseconds

    @classmethod
    def convert_dttm(
        cls, target_type: str, dttm: datetime, db_extra: dict[str, Any] | None = None
    ) -> str | None:
        sqla_type = cls.get_sqla_column_type(target_type)
        if isinstance(sqla_type, (types.DateTime, types.TIMESTAMP)):
            text = dttm.isoformat(sep=" ", timespec="milliseconds")
            return f"TO_TIMESTAMP('{text}', 'yyyy-MM-dd HH:mm:ss.SSS')"
        return super().convert_dttm(target_type, dttm, db_extra)


# Superset looks a parser dialect up by engine name when it formats a statement
parse.SQLGLOT_DIALECTS[PhoenixEngineSpec.engine] = PhoenixSql
