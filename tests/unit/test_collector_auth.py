"""Who may send events: API keys, rate limits and HTTPS on the real collector service (its Kafka
a recording stand-in), and the telemetry client sending its key."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import REGISTRY
from stage_fakes import RunningCollector

from cdc_ods.collector.api_keys import ApiKey, TokenBuckets, key_hash, parse_keys
from cdc_ods.collector.key_file import add_key, read_keys, remove_keys
from cdc_ods.collector.settings import CollectorConfig
from cdc_telemetry.channels import HttpChannel, Outcome

NOW_MS = int(dt.datetime.now(dt.UTC).timestamp() * 1000)


def batch() -> bytes:
    event = {
        "ts": NOW_MS - 1000, "uid": "u-1", "sid": "s-1", "seq": 1, "event": "click_timeline",
        "platform": "ios", "country": "DE", "app_version": "5.2.0", "os": "iOS 17.4", "device": "iPhone15,2",
    }  # fmt: skip
    return gzip.compress(orjson.dumps({"events": [event]}))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    return tmp_path / "api-keys.json"


@pytest.fixture
def collector(keys_file: Path) -> Iterator[RunningCollector]:
    add_key(keys_file, "bootstrap", 1000, 1000)  # the file must exist and parse when the service starts
    running = RunningCollector(CollectorConfig(api_keys_file=keys_file))
    yield running
    running.stop()


def test_without_a_valid_key_a_request_gets_401_and_is_counted(collector: RunningCollector) -> None:
    missing = counter("cdc_collector_unauthorized_total", reason="missing")
    unknown = counter("cdc_collector_unauthorized_total", reason="unknown")
    answer = collector.post(batch())
    assert answer.status_code == 401 and answer.json()["error"] == "an API key is required"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert collector.post(batch(), bearer("cdc_not-a-key")).status_code == 401
    assert collector.client.get("/v1/blocklist").status_code == 401
    assert collector.sink.records == []
    assert counter("cdc_collector_unauthorized_total", reason="missing") == missing + 2
    assert counter("cdc_collector_unauthorized_total", reason="unknown") == unknown + 1
    assert collector.client.get("/health").status_code == 200  # probes need no key


def test_a_key_added_or_removed_counts_without_a_restart(
    collector: RunningCollector, keys_file: Path
) -> None:
    old, _ = add_key(keys_file, "ios", 100, 100)
    assert collector.post(batch(), bearer(old)).status_code == 200
    new, _ = add_key(keys_file, "ios", 100, 100)  # rotation: both valid at once
    assert collector.post(batch(), {"X-Api-Key": new}).status_code == 200
    assert collector.post(batch(), bearer(old)).status_code == 200
    assert remove_keys(keys_file, "ios", key_hash(old)[:12]) == 1
    assert collector.post(batch(), bearer(old)).status_code == 401
    assert collector.post(batch(), bearer(new)).status_code == 200
    assert len(collector.sink.records) == 1  # the last accepted batch's event
    assert all(key.app in ("bootstrap", "ios") for key in read_keys(keys_file).values())
    assert keys_file.stat().st_mode & 0o777 == 0o600 and new not in keys_file.read_text()


def test_an_invalid_edit_keeps_the_last_good_keys(collector: RunningCollector, keys_file: Path) -> None:
    key, _ = add_key(keys_file, "web", 100, 100)
    assert collector.post(batch(), bearer(key)).status_code == 200  # the collector has read it
    keys_file.write_text('{"keys": [{"app": "web", "sha256": "short"}]}')
    assert collector.post(batch(), bearer(key)).status_code == 200


def test_over_its_rate_a_key_gets_429_with_retry_after(collector: RunningCollector, keys_file: Path) -> None:
    key, _ = add_key(keys_file, "android", 0.5, 2)
    limited = counter("cdc_collector_rate_limited_total", app="android")
    statuses = [collector.post(batch(), bearer(key)).status_code for _ in range(2)]
    over = collector.post(batch(), bearer(key))
    assert statuses == [200, 200] and over.status_code == 429
    assert int(over.headers["Retry-After"]) in (1, 2) and "android" in over.json()["error"]
    assert counter("cdc_collector_rate_limited_total", app="android") == limited + 1


def test_token_buckets_refill_at_their_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(clock=lambda: now[0])
    key = ApiKey("ios", "0" * 64, per_s=2.0, burst=3)
    assert [buckets.take(key) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take(key) == pytest.approx(0.5)
    now[0] += 0.5
    assert buckets.take(key) == 0.0 and buckets.take(key) == pytest.approx(0.5)
    now[0] += 100  # never more than the burst
    assert [buckets.take(key) for _ in range(4)][-1] > 0


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"[]", "expected"),
        (b'{"keys": [{"sha256": "' + b"a" * 64 + b'"}]}', "keys[0]: needs an app name"),
        (b'{"keys": [{"app": "ios", "sha256": "ABC"}]}', "keys[0]: sha256 must be 64 lower-case hex"),
        (b'{"keys": [{"app": "ios", "sha256": "' + b"a" * 64 + b'", "per_s": 0}]}', "per_s must be a number"),
        (b'{"keys": [{"app": "ios", "sha256": "' + b"a" * 64 + b'", "burst": 0.5}]}', "burst must be"),
    ],
)
def test_a_bad_keys_file_names_the_entry(raw: bytes, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_keys(raw, "keys.json")


def test_the_telemetry_client_sends_its_key_and_keeps_batches_a_collector_refuses(
    collector: RunningCollector, keys_file: Path
) -> None:
    key, _ = add_key(keys_file, "ios", 100, 100)
    assert HttpChannel(collector.url, api_key=key).send(batch()).outcome is Outcome.DELIVERED
    refused = HttpChannel(collector.url, api_key="cdc_revoked").send(batch())
    assert refused.outcome is Outcome.RETRY and "401" in refused.detail  # kept queued, not dropped
    assert "cdc_revoked" not in repr(HttpChannel(collector.url, api_key="cdc_revoked"))
    assert HttpChannel(collector.url, api_key=key).fetch_blocklist() is not None


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "collector.pem", directory / "collector.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_with_a_certificate_the_collector_speaks_https_only(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    trusted = ssl.create_default_context(cafile=str(cert))
    running = RunningCollector(CollectorConfig(tls_cert_file=cert, tls_key_file=key), verify=trusted)
    try:
        assert running.url.startswith("https://")
        assert running.post(batch()).status_code == 200 and len(running.sink.records) == 1
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the same port gets no answer
            httpx.post(running.url.replace("https", "http") + "/v1/events", content=batch(), timeout=5)
        with pytest.raises(httpx.HTTPError):  # nor a client that does not trust the certificate
            httpx.get(running.url + "/health", timeout=5)
    finally:
        running.stop()


def test_a_certificate_without_its_key_is_a_config_error() -> None:
    with pytest.raises(ValueError, match=r"tls_cert_file and collector\.tls_key_file go together"):
        CollectorConfig.model_validate({"tls_cert_file": "c.pem"})
