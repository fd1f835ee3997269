"""The telemetry client library against its in-memory channel: schema, sequence numbers,
batching, hashing, opt-out, the blocklist, several channels."""

from __future__ import annotations

import gzip
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import pytest

from cdc_telemetry import ClientConfig, DeviceInfo, MemoryChannel, TelemetryClient
from cdc_telemetry.blocklist import BlocklistVersion
from cdc_telemetry.privacy import keyed_hash

DEVICE = DeviceInfo(platform="android", country="DE", app_version="5.2.0", os="Android 14", device="Pixel 8")
KEY = b"app-secret"


def make_client(tmp_path: Path, *channels: MemoryChannel, **overrides: object) -> TelemetryClient:
    config = ClientConfig(
        queue_dir=tmp_path / "q", device=DEVICE, channels=channels or [MemoryChannel()], hash_key=KEY
    )
    return TelemetryClient(replace(config, **overrides))


def test_events_follow_the_common_schema_with_a_per_session_sequence(tmp_path: Path) -> None:
    channel = MemoryChannel()
    client = make_client(tmp_path, channel)
    client.identify("u-1", external=False)
    client.track("click_timeline", {"position": 3})
    client.track("back")
    client.start_session()
    client.track("change_category", {"category": "drama"})
    assert client.flush(10)
    client.close()
    events = channel.events
    assert [e["event"] for e in events] == ["click_timeline", "back", "change_category"]
    assert [e["seq"] for e in events] == [1, 2, 1]
    assert events[0]["sid"] == events[1]["sid"] != events[2]["sid"]
    assert events[0] == {
        "ts": events[0]["ts"],
        "uid": "u-1",
        "sid": events[0]["sid"],
        "seq": 1,
        "event": "click_timeline",
        "platform": "android",
        "country": "DE",
        "app_version": "5.2.0",
        "os": "Android 14",
        "device": "Pixel 8",
        "props": {"position": 3},
    }
    assert "props" not in events[1]


def test_external_users_personal_fields_are_keyed_hashes(tmp_path: Path) -> None:
    channel = MemoryChannel()
    client = make_client(tmp_path, channel)
    client.identify("u-2", external=True)
    client.track("sign_up", {"email": "a@example.org", "plan": "free"})
    client.flush(10)
    client.close()
    (event,) = channel.events
    assert event["uid"] == keyed_hash(KEY, "u-2") != "u-2"
    assert len(event["uid"]) == 64
    assert event["props"] == {"email": keyed_hash(KEY, "a@example.org"), "plan": "free"}


def test_external_user_without_a_key_is_refused(tmp_path: Path) -> None:
    client = make_client(tmp_path, hash_key=None)
    with pytest.raises(ValueError, match="hash_key"):
        client.identify("u-3", external=True)
    client.close()


def test_opt_out_sends_nothing_and_forgets_the_queue(tmp_path: Path) -> None:
    channel = MemoryChannel()
    channel.online = False
    client = make_client(tmp_path, channel)
    client.identify("u-4", external=False)
    client.track("click_timeline")
    client.flush(0)  # sealed into the disk queue, not sent (offline)
    client.opt_out()
    assert client.track("click_timeline") is False
    channel.online = True
    assert client.flush(5)
    client.close()
    assert channel.events == []
    # remembered across restarts
    again = make_client(tmp_path, channel)
    again.identify("u-4", external=False)
    assert again.opted_out and again.track("back") is False
    again.opt_in()
    assert again.track("back") is True
    again.flush(5)
    again.close()
    assert [e["event"] for e in channel.events] == ["back"]


def test_blocklist_drops_events_before_numbering_them(tmp_path: Path) -> None:
    channel = MemoryChannel()
    channel.blocklist = BlocklistVersion(3, frozenset({"click_banner"}))
    client = make_client(tmp_path, channel)
    client.identify("u-5", external=False)
    client._refresh_blocklist()  # the flusher does this at start and every blocklist_refresh_s
    assert client.blocklist.version == 3
    assert client.track("click_banner") is False
    assert client.track("back") is True
    client.flush(5)
    client.close()
    assert [(e["event"], e["seq"]) for e in channel.events] == [("back", 1)]
    assert client.blocked_events == 1
    cached = json.loads((tmp_path / "q" / "blocklist.json").read_text())
    assert cached == {"version": 3, "events": ["click_banner"]}


def test_batches_are_sealed_by_count(tmp_path: Path) -> None:
    channel = MemoryChannel()
    client = make_client(tmp_path, channel, max_batch_events=10, max_batch_age_s=60.0)
    client.identify("u-6", external=False)
    for _ in range(25):
        client.track("click_timeline")
    assert client.flush(10)
    client.close()
    assert channel.requests == 3  # 10 + 10 + 5 (the last sealed by flush)
    assert [e["seq"] for e in channel.events] == list(range(1, 26))


def test_batches_are_sealed_by_age(tmp_path: Path) -> None:
    channel = MemoryChannel()
    client = make_client(tmp_path, channel, max_batch_age_s=0.2)
    client.identify("u-7", external=False)
    client.track("back")
    deadline = time.monotonic() + 5
    while not channel.events and time.monotonic() < deadline:
        time.sleep(0.05)
    client.close()
    assert len(channel.events) == 1


def test_every_channel_gets_every_event(tmp_path: Path) -> None:
    a, b = MemoryChannel("a"), MemoryChannel("b")
    b.online = False
    client = make_client(tmp_path, a, b)
    client.identify("u-8", external=False)
    for _ in range(5):
        client.track("click_transaction")
    client.flush(0)
    deadline_ok = client.flush(1)
    assert not deadline_ok  # b is offline: its queue holds the batch
    assert len(a.events) == 5 and b.events == []
    b.online = True
    assert client.flush(10)
    client.close()
    assert a.events == b.events


def test_a_batch_too_big_for_one_body_is_split(tmp_path: Path) -> None:
    channel = MemoryChannel()
    client = make_client(tmp_path, channel, max_body_bytes=2000, max_batch_age_s=60.0)
    client.identify("u-9", external=False)
    for i in range(200):
        client.track("click_timeline", {"noise": random.Random(i).randbytes(40).hex()})
    assert client.flush(10)
    client.close()
    assert channel.requests > 1
    assert [e["seq"] for e in channel.events] == list(range(1, 201))


def test_rejects_bad_event_names_and_a_missing_identity(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    with pytest.raises(RuntimeError, match="identify"):
        client.track("back")
    client.identify("u", external=False)
    with pytest.raises(ValueError, match="snake case"):
        client.track("Click Timeline")
    client.close()


def test_device_info_is_checked() -> None:
    with pytest.raises(ValueError, match="platform"):
        DeviceInfo(platform="tv", country="DE", app_version="1", os="x", device="y")
    with pytest.raises(ValueError, match="country"):
        DeviceInfo(platform="web", country="de", app_version="1", os="x", device="y")


def test_wire_body_is_gzip_json_events(tmp_path: Path) -> None:
    from cdc_telemetry.batcher import encode, seal

    (batch,) = seal([encode({"a": 1}), encode({"b": "ü"})], 10_000)
    assert batch.count == 2
    assert json.loads(gzip.decompress(batch.body)) == {"events": [{"a": 1}, {"b": "ü"}]}
