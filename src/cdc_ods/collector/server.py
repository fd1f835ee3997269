"""The collector's HTTP service (aiohttp): ingest, blocklist, health and metrics routes.

    POST /v1/events      gzip JSON {"events": [...]} -> 200 {accepted, rejected, rejections,
                         blocklist_version} | 400 | 401 | 413 | 429 (+ Retry-After) | 503 (+ Retry-After)
    GET  /v1/blocklist   {"version": N, "events": [...]}, ETag = version (304 on If-None-Match) | 401 | 429
    GET  /health         200 {"status": "ok", ...}; 503 while Kafka is unreachable
    GET  /metrics        Prometheus text format

With `collector.api_keys_file`, both /v1 routes need an app's API key and keep to its rate
limit (`api_keys.Gate`); /health and /metrics stay open (probes and Prometheus). With
`collector.tls_cert_file`/`tls_key_file` the listener speaks HTTPS only.

aiohttp's own request decompression is switched off: the body is inflated by
`decode.gunzip_capped`, which enforces the decompressed-size cap.
"""

from __future__ import annotations

import logging
import ssl

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cdc_ods.collector import metrics
from cdc_ods.collector.api_keys import Gate
from cdc_ods.collector.blocklist import Blocklist
from cdc_ods.collector.ingest import Answer, Ingest, ServiceSink
from cdc_ods.collector.settings import EVENTS_TOPIC
from cdc_ods.collector.sink import KafkaSink
from cdc_ods.config import CollectorConfig
from cdc_ods.errors import ConfigError
from cdc_ods.runtime import Stop

log = logging.getLogger("cdc_ods.collector")


def _json(answer: Answer) -> web.Response:
    return web.Response(
        body=orjson.dumps(answer.body),
        status=answer.status,
        headers=answer.headers,
        content_type="application/json",
    )


class CollectorServer:
    """The service on `host:port` (port 0: any free port, see `port` once started)."""

    def __init__(
        self,
        settings: CollectorConfig,
        bootstrap: str,
        host: str,
        port: int | None = None,
        sink: ServiceSink | None = None,
    ) -> None:
        """`sink`: where accepted events and dead letters go (default: Kafka at `bootstrap`)."""
        self.settings = settings
        self.bootstrap = bootstrap
        self.host = host
        self.port = settings.port if port is None else port
        self.blocklist = Blocklist(settings.blocklist_file)
        self.gate = Gate(settings.api_keys_file)
        self._sink: ServiceSink | None = sink
        self._ingest: Ingest | None = None
        self._runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_kb * 1024)
        app.add_routes(
            [
                web.post("/v1/events", self._post_events),
                web.get("/v1/blocklist", self._get_blocklist),
                web.get("/health", self._health),
                web.get("/metrics", self._metrics),
            ]
        )
        return app

    async def start(self) -> None:
        if self._sink is None:
            self._sink = KafkaSink(self.bootstrap, self.settings.kafka_timeout_ms)
        self._ingest = Ingest(self.settings, self._sink, self.blocklist)
        self._runner = web.AppRunner(self._app(), auto_decompress=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._tls())
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]
        log.info(
            "collector on %s://%s:%d -> %s at %s",
            "https" if self.settings.tls_cert_file else "http",
            self.host,
            self.port,
            EVENTS_TOPIC,
            self.bootstrap,
        )

    def _tls(self) -> ssl.SSLContext | None:
        cert, key = self.settings.tls_cert_file, self.settings.tls_key_file
        if cert is None or key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"collector.tls_cert_file {cert} / tls_key_file {key}: {exc}") from None
        return context

    async def stop(self) -> None:
        """Stop accepting, let requests under way finish, then flush the producer."""
        if self._runner is not None:
            await self._runner.cleanup()
        if self._sink is not None:
            self._sink.close()

    async def _post_events(self, request: web.Request) -> web.Response:
        assert self._ingest is not None
        refused = self.gate.refusal(request.headers)
        if refused is not None:
            return _json(refused)
        length = request.content_length
        if length is not None and length > self._ingest.max_body:
            return _json(self._ingest.too_large())
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _json(self._ingest.too_large())
        return _json(await self._ingest.handle(body))

    async def _get_blocklist(self, request: web.Request) -> web.Response:
        refused = self.gate.refusal(request.headers)
        if refused is not None:
            return _json(refused)
        current = self.blocklist.current()
        metrics.BLOCKLIST_VERSION.set(current.version)
        etag = f'"{current.version}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=current.to_json(), content_type="application/json", headers={"ETag": etag})

    async def _health(self, _request: web.Request) -> web.Response:
        up = self._sink is not None and self._sink.up
        body = {
            "status": "ok" if up else "kafka unavailable",
            "kafka": "up" if up else "down",
            "topic": EVENTS_TOPIC,
            "blocklist_version": self.blocklist.current().version,
        }
        status = 200 if up else 503
        return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")

    async def _metrics(self, _request: web.Request) -> web.Response:
        metrics.BLOCKLIST_VERSION.set(self.blocklist.current().version)
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def serve_until_stopped(server: CollectorServer, stop: Stop) -> None:
    """Run `server` until `stop` is set (SIGTERM / SIGINT), then stop it cleanly."""
    await server.start()
    try:
        await stop.wait_async()
    finally:
        await server.stop()
