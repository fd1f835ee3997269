"""cdc_telemetry: the apps' client library for behaviour events (standard library only).

Product teams may vendor this folder as is: it imports nothing from cdc_ods and needs no
third-party package. Typical use:

    from cdc_telemetry import ClientConfig, DeviceInfo, HttpChannel, TelemetryClient

    client = TelemetryClient(ClientConfig(
        queue_dir=app_data / "telemetry",
        device=DeviceInfo(platform="ios", country="DE", app_version="5.2.0", os="iOS 17.4",
                          device="iPhone15,2"),
        channels=[HttpChannel("https://collector.example")],
        hash_key=secret_from_app_config,
    ))
    client.identify("u-123", external=True)   # external users' uid is sent as a keyed hash
    client.track("click_timeline", {"position": 3})
    client.close()                             # seals the open batch; the queue survives

What happens to an event: opt-out and the blocklist may drop it (before it gets a sequence
number, so neither makes a gap); it gets the session's next `seq`; personal fields of
external users are replaced by HMAC-SHA256 hex digests; it joins the open batch, which is
sealed by count, size or age, gzip-compressed and written to an on-disk queue per channel;
one uploader per queue directory (an flock) sends the queue oldest first, retrying with
exponential backoff and jitter. A full queue drops its oldest batches and counts them.
"""

from cdc_telemetry.channels import Channel, Delivery, HttpChannel, MemoryChannel
from cdc_telemetry.client import ClientConfig, TelemetryClient
from cdc_telemetry.schema import PLATFORMS, DeviceInfo

__all__ = [
    "PLATFORMS",
    "Channel",
    "ClientConfig",
    "Delivery",
    "DeviceInfo",
    "HttpChannel",
    "MemoryChannel",
    "TelemetryClient",
]
