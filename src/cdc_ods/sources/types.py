"""How a source column travels through the pipeline: one `ColumnType` per catalog column.

Each source kind maps its catalog types (`mysql_types.py`, `postgres_types.py`); this module
holds what the maps share. A `ColumnType` says, for one column, with the Debezium options
every connector of the project sets (`base.COMMON_CONNECTOR_OPTIONS`):
- `raw`: the KSQL type of the value in Debezium's change event (the cleansing script's
  `before`/`after` struct declares it);
- `cleanse`: the expression that turns it into the cleansed contract's form (`{v}` is the value);
- `rejects`: (condition, reason) rules on `{v}` that send the record to the dead-letter topic
  instead of carrying a value the ODS would store differently;
- `phoenix`: the ODS column's Phoenix type;
- `refusal`: why the column cannot be carried exactly at all (`cdc sources check` names it and
  `cdc ksql generate` writes no script for its table).
README's "Column types" is the same information for people; `tests/unit/test_source_types.py`
checks the maps, `tests/integration/test_column_types.py` the values end to end.
"""

from __future__ import annotations

from dataclasses import dataclass

# Phoenix's DECIMAL holds at most 38 digits: a wider decimal is carried as its exact text.
PHOENIX_MAX_PRECISION = 38


@dataclass(frozen=True)
class EventSource:
    """Debezium's `source` block of a kind's change events as the cleansing script declares it
    (a KSQL STRUCT), and the expression over it that gives the contract's `__source_pos`: a
    number that grows with the source's log."""

    block: str
    position: str


@dataclass(frozen=True)
class ColumnType:
    raw: str
    phoenix: str
    cleanse: str = "{v}"
    json: bool = False
    rejects: tuple[tuple[str, str], ...] = ()
    refusal: str | None = None


def text() -> ColumnType:
    """Character data: Unicode NFC, surrounding whitespace trimmed (the cleansing rule)."""
    return ColumnType("STRING", "VARCHAR", "TRIM(CDC_NFC({v}))")


def carried(raw: str, phoenix: str) -> ColumnType:
    """A value Debezium already sends in the contract's form."""
    return ColumnType(raw, phoenix)


def exact_text() -> ColumnType:
    """A value kept as the exact text Debezium sends (VARCHAR): decimals wider than Phoenix's
    38 digits, intervals, network addresses, ranges and other types Phoenix has no peer for."""
    return ColumnType("STRING", "VARCHAR")


def decimal(precision: int | None, scale: int | None) -> ColumnType:
    """decimal.handling.mode=string: the exact decimal as text. DECIMAL(p,s) when Phoenix can
    hold it; otherwise (more than 38 digits, or PostgreSQL's unconstrained numeric, whose
    scale varies per value) the exact text."""
    if precision is None or precision > PHOENIX_MAX_PRECISION:
        return exact_text()
    return ColumnType("STRING", f"DECIMAL({precision},{scale or 0})")


def json_document() -> ColumnType:
    return ColumnType("STRING", "VARCHAR", json=True)


def refused(reason: str) -> ColumnType:
    return ColumnType("STRING", "VARCHAR", refusal=reason)


# time.precision.mode=adaptive_time_microseconds: TIME is MicroTime (signed microseconds).
# Phoenix's TIME is a time of day to the millisecond; MySQL's TIME is a duration of up to
# +-838 h and PostgreSQL's goes to 24:00:00 with microseconds: the ODS keeps the microseconds.
TIME_AS_MICROSECONDS = ColumnType("BIGINT", "BIGINT")


# Phoenix reads and writes dates and timestamps through java.util's calendar, which is Julian
# before 1582-10-15: an earlier value would be stored shifted by days (and Debezium 3.5 sends a
# PostgreSQL BC date as the same day AD). Such values are refused, with the reason.
GREGORIAN_FROM = "1583-01-01"
_GREGORIAN_FROM_DAYS = -141_349  # 1583-01-01 in days since 1970-01-01
_BEFORE_GREGORIAN = (
    f"{{name}}: before {GREGORIAN_FROM} (Phoenix's calendar is Julian before 1582: it would be"
    " stored shifted by days; Debezium sends a BC date as the same day AD)"
)


def epoch_timestamp(fraction_digits: int) -> ColumnType:
    """A timestamp without zone (MicroTimestamp above 3 fractional digits, else Timestamp:
    epoch µs or ms) as the contract's ISO timestamp."""
    micros = fraction_digits > 3
    first = _GREGORIAN_FROM_DAYS * 86_400 * (1_000_000 if micros else 1_000)
    return ColumnType(
        "BIGINT",
        "TIMESTAMP",
        "CDC_TS_MICROS({v})" if micros else "CDC_TS_MILLIS({v})",
        rejects=((f"{{v}} < {first}", _BEFORE_GREGORIAN),),
    )


# A ZonedTimestamp (ISO text in UTC) as the contract's timestamp; text that is none (PostgreSQL's
# 'infinity') is refused, never stored as NULL.
ZONED_TIMESTAMP = ColumnType(
    "STRING",
    "TIMESTAMP",
    "CDC_TS_ISO({v})",
    rejects=(
        ("{v} IS NOT NULL AND CDC_TS_ISO({v}) IS NULL", "{name}: not a timestamp the ODS can hold"),
        (f"CDC_TS_ISO({{v}}) < '{GREGORIAN_FROM}'", _BEFORE_GREGORIAN),
    ),
)
# DATE is the number of days since 1970-01-01: the contract's form is the ISO date.
DATE = ColumnType(
    "INT",
    "DATE",
    "CAST(FROM_DAYS({v}) AS STRING)",
    rejects=((f"{{v}} < {_GREGORIAN_FROM_DAYS}", _BEFORE_GREGORIAN),),
)
