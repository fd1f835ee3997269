"""Inspecting and replaying the dead-letter topic.

Replay sends a dead letter's original bytes back to the partition it came from, marked with
the header `cdc.replay=1`, so the stage that rejected it gets it again. What was replayed is
recorded in a compacted topic (`ods.dlq.replayed`) keyed by the dead letter's own position
(`<dlq partition>:<dlq offset>`): replaying twice sends nothing the second time. A record that
fails again is dead-lettered anew by that stage (a new DLQ record, with the new reason).

The ledger entry is written after the replayed records are acknowledged: a crash in between
may replay a record twice, never lose one. That is safe because a replayed record is a full
row state that the loader applies only when it is not older than the ODS row (`cdc.replay`).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import orjson

from cdc_ods.contract import MAX_RECORD_BYTES
from cdc_ods.dlq import DLQ_TOPIC, DeadLetter
from cdc_ods.errors import CdcError
from cdc_ods.kafka import AckedProducer, ensure_topic, topic_partitions
from cdc_ods.ods.replay_guard import REPLAY_HEADER
from cdc_ods.operations.topics import read_all

# a replayed record goes back to its topic whole (up to contract.MAX_RECORD_BYTES)
REPLAY_PRODUCER = {"enable.idempotence": True, "linger.ms": 20, "message.max.bytes": MAX_RECORD_BYTES}
_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


class BadFilter(CdcError):
    """A filter option of `cdc dlq` that cannot be understood."""


def parse_since(text: str, now: dt.datetime | None = None) -> int:
    """Epoch millis of `--since`: a duration back from now (`30m`, `2h`, `7d`) or an ISO-8601
    time (UTC unless it names an offset)."""
    now = now or dt.datetime.now(dt.UTC)
    relative = _RELATIVE.match(text.strip())
    if relative:
        return int((now.timestamp() - int(relative.group(1)) * _UNIT_S[relative.group(2)]) * 1000)
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadFilter(
            f"--since {text!r}: expected a duration like 30m, 2h, 7d or an ISO-8601 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Entry:
    """One dead letter and where it sits in the DLQ."""

    dlq_partition: int
    dlq_offset: int
    letter: DeadLetter

    @property
    def ledger_key(self) -> str:
        return f"{self.dlq_partition}:{self.dlq_offset}"

    def as_dict(self) -> dict[str, object]:
        letter = self.letter
        return {
            "dlq": {"partition": self.dlq_partition, "offset": self.dlq_offset},
            "stage": letter.stage,
            "reason": letter.reason,
            "source": {"topic": letter.topic, "partition": letter.partition, "offset": letter.offset},
            "key": _readable(letter.key),
            "value": _readable(letter.value),
            "failed_at": dt.datetime.fromtimestamp(letter.failed_at_ms / 1000, dt.UTC).isoformat(),
        }


def _readable(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"0x{raw.hex()}"


@dataclass(frozen=True)
class Selection:
    """Which dead letters a command works on (every given condition must hold)."""

    stage: str | None = None
    reason: str | None = None  # case-insensitive substring
    since_ms: int | None = None
    topic: str | None = None  # the topic the record was rejected from

    def matches(self, entry: Entry) -> bool:
        letter = entry.letter
        return (
            (self.stage is None or letter.stage == self.stage)
            and (self.topic is None or letter.topic == self.topic)
            and (self.reason is None or self.reason.lower() in letter.reason.lower())
            and (self.since_ms is None or letter.failed_at_ms >= self.since_ms)
        )


@dataclass
class Listing:
    entries: list[Entry]
    unreadable: int  # DLQ records that are not dead letters of this project's format

    def groups(self) -> list[tuple[tuple[str, str], list[Entry]]]:
        """(stage, reason) -> its entries in DLQ order, largest group first."""
        grouped: dict[tuple[str, str], list[Entry]] = {}
        for entry in self.entries:
            grouped.setdefault((entry.letter.stage, entry.letter.reason), []).append(entry)
        return sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))


def read_dead_letters(bootstrap: str, selection: Selection, topic: str = DLQ_TOPIC) -> Listing:
    entries: list[Entry] = []
    unreadable = 0
    for msg in read_all(bootstrap, topic):
        try:
            letter = DeadLetter.from_json(msg.value() or b"")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            unreadable += 1
            continue
        entry = Entry(msg.partition(), msg.offset(), letter)
        if selection.matches(entry):
            entries.append(entry)
    return Listing(entries, unreadable)


class Ledger:
    """The compacted topic of replayed dead letters: key `<dlq partition>:<dlq offset>`."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic

    def replayed(self) -> set[str]:
        return {msg.key().decode() for msg in read_all(self.bootstrap, self.topic) if msg.key()}

    def record(self, producer: AckedProducer, entries: list[Entry]) -> None:
        """The entries as replayed, through the replay's own producer."""
        ensure_topic(self.bootstrap, self.topic, config={"cleanup.policy": "compact"})
        now_ms = int(time.time() * 1000)
        for entry in entries:
            value = orjson.dumps(
                {"replayed_at_ms": now_ms, "topic": entry.letter.topic, "partition": entry.letter.partition}
            )
            producer.produce(self.topic, value, key=entry.ledger_key.encode())
        producer.flush()


@dataclass
class ReplayReport:
    selected: int = 0
    already_replayed: int = 0
    replayed: int = 0
    dry_run: bool = False
    by_topic: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "selected": self.selected,
            "already_replayed": self.already_replayed,
            "replayed": self.replayed,
            "dry_run": self.dry_run,
            "by_topic": dict(sorted(self.by_topic.items())),
        }


def replay(bootstrap: str, entries: list[Entry], ledger: Ledger, dry_run: bool = False) -> ReplayReport:
    """Send the entries not replayed before back to their source partitions, then record them."""
    done = ledger.replayed()
    report = ReplayReport(selected=len(entries), dry_run=dry_run)
    todo = [e for e in entries if e.ledger_key not in done]
    report.already_replayed = len(entries) - len(todo)
    for entry in todo:
        report.by_topic[entry.letter.topic] += 1
    if dry_run or not todo:
        return report
    existing = topic_partitions(bootstrap)
    for topic in {e.letter.topic for e in todo}:
        if not existing.get(topic):
            raise CdcError(f"cannot replay into {topic}: the topic does not exist")
    producer = AckedProducer(bootstrap, "replay", **REPLAY_PRODUCER)
    for entry in todo:
        letter = entry.letter
        headers = {
            REPLAY_HEADER: b"1",
            "cdc.dlq.position": entry.ledger_key.encode(),
            "cdc.dlq.reason": letter.reason[:500].encode(),
        }
        # the partition it came from: behind the key's earlier changes, not beside them
        target = letter.partition if letter.partition in existing[letter.topic] else None
        producer.produce(letter.topic, letter.value, key=letter.key, headers=headers, partition=target)
    producer.flush()
    ledger.record(producer, todo)
    report.replayed = len(todo)
    return report
