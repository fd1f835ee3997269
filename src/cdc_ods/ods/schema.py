"""ODS table definitions derived from the source schema.

The loader reads each source table's columns and primary key from the source database's
catalog, each column's Phoenix type from the source kind's type map (cdc_ods.sources.types),
then adds the metadata columns of the contract. Values arrive as cleansed JSON (cdc_ods.contract) and
are converted to the Python types phoenixdb sends for the mapped Phoenix type.

Timestamps keep their microseconds: Avatica's protobuf carries a TIMESTAMP parameter as
milliseconds, so the loader sends TIMESTAMP values as UTC text, which Phoenix parses with the
fraction intact (cdc_ods.ods.avatica). (Source TIME columns are BIGINT microseconds in the ODS;
arrays of dates and timestamps are refused by the type maps: cdc_ods.sources.types.)

Phoenix stores an empty VARCHAR or VARBINARY as NULL: each row's CDC_EMPTY names its columns
whose value is empty (`Column.empty_value`, cdc_ods.contract). No array holds a NULL element
exactly (a VARCHAR ARRAY reads one back as an empty string, the fixed-width ones refuse it): a
row with one is refused (dead-lettered), an empty string element is kept.
NaN and the infinities fit a FLOAT or DOUBLE ARRAY, not a FLOAT or DOUBLE column (`_finite_float`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from math import isfinite
from typing import Any

import orjson

from cdc_ods import contract

Converter = Callable[[Any], Any]
_EPOCH = dt.datetime(1970, 1, 1)
_ONE_MS = dt.timedelta(milliseconds=1)


def _timestamp(value: Any) -> dt.datetime:
    """ISO-8601 UTC ('...Z' or with offset) or epoch ms -> naive UTC datetime."""
    if isinstance(value, int | float):
        return _EPOCH + dt.timedelta(milliseconds=value)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def timestamp_text(value: Any) -> str:
    """A timestamp as the UTC text Phoenix parses to the microsecond: 'YYYY-MM-DD HH:MM:SS.ffffff'.

    Takes the cleansed form ('2025-01-01T00:01:54.298668Z', the common case, sliced without
    parsing), any other ISO-8601 text, epoch milliseconds or a naive UTC datetime."""
    if isinstance(value, str) and len(value) == 27 and value[10] == "T" and value[26] == "Z":
        return f"{value[:10]} {value[11:26]}"
    moment = value if isinstance(value, dt.datetime) else _timestamp(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(sep=" ", timespec="microseconds")


def epoch_ms_decimal(moment: dt.datetime) -> Decimal:
    """A naive UTC datetime as Phoenix's CAST(timestamp AS DECIMAL) shows it: milliseconds since
    the epoch, the microseconds as the fraction."""
    return Decimal((moment - _EPOCH) // dt.timedelta(microseconds=1)).scaleb(-3)


def from_epoch_ms_decimal(value: Decimal) -> dt.datetime:
    """The inverse of `epoch_ms_decimal`: what CAST(timestamp AS DECIMAL) read -> naive UTC."""
    return _EPOCH + dt.timedelta(microseconds=int(Decimal(value).scaleb(3)))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _finite_float(value: Any) -> float:
    """A FLOAT or DOUBLE column's value. Phoenix 5.2.1 cannot store NaN or an infinity there: a
    bound value becomes a literal whose precision Phoenix takes from the value as a BigDecimal,
    which has none (NumberFormatException). In an array it can (no such literal per element)."""
    number = float(value)
    if not isfinite(number):
        raise ValueError(
            "Phoenix cannot store NaN or an infinity in a FLOAT or DOUBLE column, only in an array"
        )
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "t", "yes")
    return bool(value)


CONVERTERS: dict[str, Converter] = {
    "TINYINT": int,
    "SMALLINT": int,
    "INTEGER": int,
    "BIGINT": int,
    # a number, or a non-finite one by its name in the contract ("NaN", "Infinity", "-Infinity"),
    # which Python's float reads as such (a scalar column takes finite ones only: _finite_float)
    "FLOAT": float,
    "DOUBLE": float,
    "DECIMAL": lambda v: Decimal(str(v)),
    "BOOLEAN": _boolean,
    "VARCHAR": _text,
    "DATE": lambda v: dt.date.fromisoformat(str(v)[:10]),
    "TIMESTAMP": timestamp_text,
    "VARBINARY": lambda v: bytes.fromhex(v) if isinstance(v, str) else bytes(v),
}


_EMPTY_VALUES: dict[str, str | bytes] = {"VARCHAR": "", "VARBINARY": b""}


@dataclass(frozen=True)
class Column:
    name: str  # as in the source (cleansed field name)
    phoenix_type: str  # e.g. DECIMAL(3,1), VARCHAR ARRAY
    nullable: bool = True
    source_type: str = ""  # the source catalog's data_type (reconcile reads the source by it)
    mask: str | None = None  # the personal-data mask the cleansing applied (cdc.yaml's pii)
    source_column: str | None = None  # the source's name, where the mask renamed it (birth_date)

    @property
    def source_name(self) -> str:
        return self.source_column or self.name

    @property
    def ods_name(self) -> str:
        return self.name.upper()

    @cached_property
    def base_type(self) -> str:
        return self.phoenix_type.split("(")[0].removesuffix(" ARRAY").strip()

    @cached_property
    def is_array(self) -> bool:
        return self.phoenix_type.endswith(" ARRAY")

    @cached_property
    def empty_value(self) -> str | bytes | None:
        """The empty value of a VARCHAR ('') or VARBINARY (b''), which Phoenix stores as NULL (the
        row's CDC_EMPTY names the column); None for the other types and for arrays."""
        if self.is_array:
            return None
        return _EMPTY_VALUES.get(self.base_type)

    @cached_property
    def _converter(self) -> Converter:
        if not self.is_array and self.base_type in ("FLOAT", "DOUBLE"):
            return _finite_float
        return CONVERTERS[self.base_type]

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        if self.is_array:  # Phoenix stores an empty array as NULL (and its client cannot send one)
            if None in value:
                how = "reads one back as an empty string" if self.base_type == "VARCHAR" else "holds none"
                raise ValueError(f"a NULL element: Phoenix's {self.phoenix_type} {how}")
            return [self._converter(v) for v in value] or None
        return self._converter(value)

    @cached_property
    def convert_not_null(self) -> Converter:
        """`convert` for a value known not to be None, with one call less per value."""
        return self.convert if self.is_array else self._converter


@dataclass(frozen=True)
class TableSchema:
    source: str
    database: str
    table: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    # cached: the loader asks for these once per record
    @cached_property
    def ods_name(self) -> str:
        return contract.ods_table(self.source, self.database, self.table)

    @cached_property
    def column_names(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns)

    @cached_property
    def _by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    def column(self, name: str) -> Column | None:
        return self._by_name.get(name)

    @cached_property
    def ordered_columns(self) -> tuple[Column, ...]:
        """The key columns in the key's order, then the others in the source's order: the ODS
        table's column order (Phoenix refuses a primary key whose columns are declared in another
        order) and the order reconcile reads rows in."""
        key = tuple(self._by_name[k] for k in self.primary_key)
        return key + tuple(c for c in self.columns if c.name not in self.primary_key)

    @cached_property
    def can_be_empty(self) -> tuple[tuple[str, str], ...]:
        """(name, ODS name) of the columns that can hold an empty value (`Column.empty_value`)."""
        return tuple((c.name, c.ods_name) for c in self.columns if c.empty_value is not None)

    @cached_property
    def _timestamp_key(self) -> tuple[bool, ...]:
        return tuple(self._by_name[name].base_type == "TIMESTAMP" for name in self.primary_key)

    @cached_property
    def key_condition(self) -> str:
        """The WHERE condition that finds one key's row, with `key_parameters(key)`.

        Phoenix compares a TIMESTAMP only with a TIMESTAMP, which Avatica sends as milliseconds:
        a timestamp key column is matched by its millisecond (a point lookup for Phoenix) and,
        within it, by its exact value read as DECIMAL (epoch ms, the rest as the fraction)."""
        parts = []
        for name, is_timestamp in zip(self.primary_key, self._timestamp_key, strict=True):
            column = f'"{name.upper()}"'
            if is_timestamp:
                parts.append(f"{column} >= ? AND {column} < ? AND CAST({column} AS DECIMAL) = ?")
            else:
                parts.append(f"{column} = ?")
        return " AND ".join(parts)

    def key_parameters(self, key: Sequence[Any]) -> list[Any]:
        """The parameters of `key_condition` for a key of converted values."""
        if not any(self._timestamp_key):
            return list(key)
        parameters: list[Any] = []
        for value, is_timestamp in zip(key, self._timestamp_key, strict=True):
            if is_timestamp:
                moment = dt.datetime.fromisoformat(value)  # naive UTC, as timestamp_text wrote it
                millisecond = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
                parameters += [millisecond, millisecond + _ONE_MS, epoch_ms_decimal(moment)]
            else:
                parameters.append(value)
        return parameters


# the metadata columns ODS tables created by an earlier version lack (`add_metadata_ddl`)
ADDED_METADATA_COLUMNS = (f"{contract.CDC_EMPTY} VARCHAR ARRAY",)
METADATA_COLUMNS = (
    f"{contract.CDC_OP} CHAR(1)",
    f"{contract.CDC_SOURCE_TS} TIMESTAMP",
    f"{contract.CDC_SOURCE_POS} BIGINT",
    f"{contract.CDC_LOADED_AT} TIMESTAMP",
    f"{contract.CDC_DELETED} BOOLEAN",
    *ADDED_METADATA_COLUMNS,
)


# Phoenix reads a table's metadata from SYSTEM.CATALOG again for every statement and commit
# by default (UPDATE_CACHE_FREQUENCY=ALWAYS): a catalog read in HBase per loader batch and per
# analyst query. ODS tables change only through the loader (ADD COLUMN) and cdc's own
# commands, and the connections of one Query Server share its cache (they see a column the
# loader added at once), so the Query Server may keep the metadata for a minute; a client of
# another Query Server may see a new column that much later.
METADATA_CACHE_MS = 60_000


def create_table_ddl(schema: TableSchema) -> str:
    """Columns in `TableSchema.ordered_columns` (e.g. Pagila's payment, keyed (payment_date,
    payment_id), declares payment_date first), then the metadata columns."""
    columns = [
        f'"{c.ods_name}" {c.phoenix_type}' + (" NOT NULL" if c.name in schema.primary_key else "")
        for c in schema.ordered_columns
    ]
    pk = ", ".join(f'"{name.upper()}"' for name in schema.primary_key)
    body = ",\n  ".join([*columns, *METADATA_COLUMNS, f"CONSTRAINT PK PRIMARY KEY ({pk})"])
    table_options = f"UPDATE_CACHE_FREQUENCY={METADATA_CACHE_MS}"
    return f"CREATE TABLE IF NOT EXISTS {schema.ods_name} (\n  {body}\n) {table_options}"


def add_column_ddl(schema: TableSchema, column: Column) -> str:
    return f'ALTER TABLE {schema.ods_name} ADD IF NOT EXISTS "{column.ods_name}" {column.phoenix_type}'


def metadata_cache_ddl(ods_name: str) -> str:
    """Gives a table created before `METADATA_CACHE_MS` was set the same cache (a no-op for the others)."""
    return f"ALTER TABLE {ods_name} SET UPDATE_CACHE_FREQUENCY={METADATA_CACHE_MS}"


def add_metadata_ddl(schema: TableSchema) -> str:
    """The metadata columns a table created before they existed lacks (a no-op for the others)."""
    return f"ALTER TABLE {schema.ods_name} ADD IF NOT EXISTS {', '.join(ADDED_METADATA_COLUMNS)}"


def removal_sql(
    ods_table: str, key_columns: Sequence[str], where: str, delete_mode: str, marks: dict[str, str]
) -> str:
    """The rows of `ods_table` matching `where` deleted (hard) or marked deleted (soft: an
    UPSERT ... SELECT of their keys with CDC_DELETED true and `marks`, column -> SQL value,
    rows already marked left as they were). Run in autocommit: Phoenix then runs it inside
    HBase, with no row limit in the Query Server. (A source TRUNCATE, `cdc connectors recover`
    and `snapshot --replace`.)"""
    if delete_mode == "hard":
        return f"DELETE FROM {ods_table} WHERE {where}"
    columns = {**marks, contract.CDC_DELETED: "TRUE"}
    keys = ", ".join(f'"{k}"' for k in key_columns)
    deleted = contract.CDC_DELETED
    return (
        f"UPSERT INTO {ods_table} ({keys}, {', '.join(columns)}) SELECT {keys}, {', '.join(columns.values())}"
        f" FROM {ods_table} WHERE ({where}) AND ({deleted} IS NULL OR NOT {deleted})"
    )
