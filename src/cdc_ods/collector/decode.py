"""A request body -> the list of events it carries, with caps on both sizes.

The wire format is a gzip stream of one JSON object `{"events": [...]}`. Inflation stops at
`max_decompressed` bytes, so a small body that expands to gigabytes (a gzip bomb) costs no
more than the cap.
"""

from __future__ import annotations

import zlib

import orjson

from cdc_ods.errors import CdcError

GZIP_MAGIC = b"\x1f\x8b"


class BodyError(CdcError):
    """The body as a whole is unusable; `status` is the HTTP answer (400 or 413).

    Not a `Rejected`: no record is at fault, since the body never became records. Nothing is
    dead-lettered (there is nothing to replay); the answer tells the client, which must not
    send the same body again."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def gunzip_capped(body: bytes, max_decompressed: int) -> bytes:
    if not body.startswith(GZIP_MAGIC):
        raise BodyError(400, "body is not gzip (send the JSON gzip-compressed, Content-Encoding: gzip)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, max_decompressed + 1)
    except zlib.error as exc:
        raise BodyError(400, f"body is not valid gzip: {exc}") from None
    if len(data) > max_decompressed or inflater.unconsumed_tail:
        raise BodyError(413, f"decompressed body exceeds {max_decompressed} bytes")
    if not inflater.eof:
        raise BodyError(400, "body is not valid gzip: the stream is truncated")
    if inflater.unused_data:
        raise BodyError(400, "body is not valid gzip: data after the end of the gzip stream")
    return data


def decode_events(body: bytes, max_decompressed: int) -> list[object]:
    """The `events` list of a gzip JSON body; raises `BodyError` for a bad body."""
    data = gunzip_capped(body, max_decompressed)
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, f"body is not JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise BodyError(400, 'body must be a JSON object {"events": [...]}')
    return document["events"]
