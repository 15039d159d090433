"""The webhook ingest: verify, normalise, publish, and answer 2xx only once the broker has
acknowledged every event of the delivery."""

import hmac
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from schemas.events import ChangeEvent
from services.config import IngestSettings
from services.connectors.dynamics_webhooks import parse_dynamics
from services.connectors.errors import PayloadError
from services.connectors.hubspot_signature import sign_v3
from services.connectors.hubspot_webhooks import parse_hubspot
from services.store.metrics import labels_of
from services.store.repository import Connection, HubSpotAccount, Store
from services.web import ApiError, install_error_handlers

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000


@dataclass
class Counters:
    received: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    dead_lettered: int = 0

    def add(self, source: str, n: int) -> None:
        self.received[source] = self.received.get(source, 0) + n


class AccountCache:
    """The HubSpot account and connections, re-read at most every few seconds."""

    def __init__(self, store: Store, ttl: float = 5.0) -> None:
        self.store = store
        self.ttl = ttl
        self._hubspot: tuple[float, HubSpotAccount | None] = (0.0, None)
        self._connections: dict[str, tuple[float, Connection | None]] = {}

    async def hubspot(self) -> HubSpotAccount | None:
        at, account = self._hubspot
        if time.monotonic() - at > self.ttl:
            account = await self.store.get_hubspot()
            self._hubspot = (time.monotonic(), account)
        return account

    async def connection(self, connection_id: str) -> Connection | None:
        at, conn = self._connections.get(connection_id, (0.0, None))
        if time.monotonic() - at > self.ttl:
            conn = await self.store.get_connection(connection_id)
            self._connections[connection_id] = (time.monotonic(), conn)
        return conn


Publish = Callable[[list[ChangeEvent]], Awaitable[None]]


def create_app(
    store: Store,
    publish: Publish,
    dead_letter: Callable[[bytes, str], Awaitable[None]],
    settings: IngestSettings | None = None,
) -> FastAPI:
    settings = settings or IngestSettings()
    app = FastAPI(title="datasync ingest", version="0.1.0")
    install_error_handlers(app)
    accounts = AccountCache(store)
    counters = Counters()
    app.state.counters = counters

    async def body_of(request: Request) -> bytes:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "payload_too_large", f"body exceeds {MAX_BODY_BYTES} bytes")
        return body

    def decode(body: bytes) -> Any:
        try:
            return json.loads(body)
        except ValueError as exc:
            raise PayloadError(f"body is not JSON: {exc}") from None

    async def refuse_bad_payload(source: str, body: bytes, exc: PayloadError) -> JSONResponse:
        # Authentic but unreadable: keep it on the dead-letter topic, never drop it silently.
        counters.dead_lettered += 1
        await dead_letter(body, f"{source}: {exc}")
        raise ApiError(400, "invalid_payload", str(exc))

    async def count_received(events: list[ChangeEvent]) -> None:
        # One UPSERT per delivery; the events are already published, so a failure to count
        # them is logged and never turns an accepted delivery into a retried one.
        counts = Counter(
            labels_of(source=e.side, object=e.object_type, via="webhook") for e in events
        )
        try:
            await store.add_counts("datasync_changes_received", counts)
        except Exception:
            log.exception("could not count %d received changes", len(events))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/hubspot")
    async def hubspot_webhook(request: Request) -> JSONResponse:
        body = await body_of(request)
        account = await accounts.hubspot()
        if account is None:
            raise ApiError(404, "no_hubspot_account", "no HubSpot account is connected")
        signature = request.headers.get("X-HubSpot-Signature-v3", "")
        timestamp = request.headers.get("X-HubSpot-Request-Timestamp", "")
        if not timestamp.isdigit():
            counters.refused += 1
            raise ApiError(401, "invalid_signature", "missing X-HubSpot-Request-Timestamp")
        if abs(time.time() * 1000 - int(timestamp)) > settings.webhook_max_age_seconds * 1000:
            counters.refused += 1
            raise ApiError(401, "stale_request", "the request timestamp is older than 5 minutes")
        uri = (
            settings.ingest_public_url.rstrip("/") + request.url.path
            if settings.ingest_public_url
            else str(request.url)
        )
        expected = sign_v3(account.app_secret, request.method, uri, body, timestamp)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            counters.refused += 1
            raise ApiError(401, "invalid_signature", "X-HubSpot-Signature-v3 does not match")
        try:
            events, ignored = parse_hubspot(decode(body), account.app_id)
        except PayloadError as exc:
            return await refuse_bad_payload("hubspot", body, exc)
        await publish(events)
        await count_received(events)
        counters.add("hubspot", len(events))
        return JSONResponse({"accepted": len(events), "ignored": ignored})

    @app.post("/webhooks/dynamics/{connection_id}")
    async def dynamics_webhook(connection_id: str, request: Request) -> JSONResponse:
        body = await body_of(request)
        conn = await accounts.connection(connection_id)
        if conn is None:
            raise ApiError(404, "unknown_connection", f"connection {connection_id} does not exist")
        key = request.query_params.get("code", "")
        if not hmac.compare_digest(key.encode(), conn.webhook_key.encode()):
            counters.refused += 1
            raise ApiError(401, "invalid_webhook_key", "the webhook key does not match")
        try:
            events, ignored = parse_dynamics(decode(body), connection_id, conn.app_user_id)
        except PayloadError as exc:
            return await refuse_bad_payload("dynamics", body, exc)
        await publish(events)
        await count_received(events)
        counters.add("dynamics365", len(events))
        return JSONResponse({"accepted": len(events), "ignored": ignored})

    return app
