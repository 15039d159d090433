"""The status and control API (`/v1`): accounts, connections, sync settings and state, health."""

import logging
import secrets
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse

from schemas.api import (
    AuditOut,
    ConnectionIn,
    ConnectionOut,
    HealthOut,
    HubSpotAccountIn,
    HubSpotAccountOut,
    MeOut,
    ObjectHealth,
)
from services.config import IngestSettings, KafkaSettings
from services.connectors.dynamics import ENTITIES, DynamicsConnector
from services.connectors.errors import ConnectorError
from services.connectors.hubspot import HubSpotConnector
from services.status_api.auth import Role, TokenCheck
from services.status_api.inputs import refuse_unstorable_text
from services.status_api.lookups import Lookups
from services.status_api.metrics import ConsumerLag, lag_of_object, metrics_router
from services.status_api.openapi import ConnectionId, error_responses
from services.status_api.records import audit_out, record_views
from services.status_api.syncs import sync_routes
from services.store.repository import Connection, HubSpotAccount, Store
from services.web import ApiError, install_error_handlers

log = logging.getLogger(__name__)


def _connection_out(conn: Connection) -> ConnectionOut:
    return ConnectionOut(
        id=conn.id,
        app=conn.app,
        name=conn.name,
        base_url=conn.base_url,
        webhook_registered=conn.app_user_id is not None,
        created_at=conn.created_at,
    )


DESCRIPTION = """\
Connect apps, choose what syncs and how, start and stop syncs, and follow their health.

Every route needs a bearer token (`Authorization: Bearer <token>`): the deployment's
`DATASYNC_ADMIN_TOKEN`, or one made with `datasync token create --role admin|viewer`. A viewer
may only read; a change with a viewer's token gets 403. Errors answer
`{"error": {"code", "message"}}` with 401, 403, 404, 409, 422 or 502.
"""

HEALTH_LAG_WAIT = 1.0  # seconds a health call waits for the broker before answering without lag


def create_app(
    store: Store,
    admin_token: str | None,
    ingest: IngestSettings | None = None,
    kafka: KafkaSettings | None = None,
) -> FastAPI:
    """The API over `store`; `admin_token` is an admin's token besides those in the store."""
    ingest = ingest or IngestSettings()
    lag = ConsumerLag(kafka or KafkaSettings())
    app = FastAPI(title="datasync status and control API", version="0.1.0", description=DESCRIPTION)
    install_error_handlers(app)
    tokens = TokenCheck(admin_token, store)

    # The token first, so that a request without one gets 401 whatever else it carries.
    async def reader(role: Annotated[Role, Depends(tokens.reader)], request: Request) -> Role:
        await refuse_unstorable_text(request)
        return role

    async def admin(role: Annotated[Role, Depends(tokens.admin)], request: Request) -> Role:
        await refuse_unstorable_text(request)
        return role

    Read = Annotated[Role, Depends(reader)]
    Write = Annotated[Role, Depends(admin)]

    lookups = Lookups(store)
    app.include_router(record_views(store, lookups, read=reader, write=admin))
    app.include_router(sync_routes(store, lookups, read=reader, write=admin))
    app.include_router(metrics_router(store, read=reader, lag=lag))

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        """The web dashboard; it reads the API with the token the user enters."""
        page = resources.files("services.status_api").joinpath("static/dashboard.html")
        return HTMLResponse(page.read_text())

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/v1/me",
        response_model=MeOut,
        summary="The token's role",
        tags=["tokens"],
        responses=error_responses(401),
    )
    async def me(role: Read) -> MeOut:
        """What the bearer token may do (the dashboard shows admins their actions)."""
        return MeOut(role=role)

    @app.put(
        "/v1/hubspot",
        response_model=HubSpotAccountOut,
        summary="Set the HubSpot account",
        tags=["HubSpot account"],
        responses=error_responses(400, 401, 403, 422),
    )
    async def put_hubspot(body: HubSpotAccountIn, _: Write) -> HubSpotAccountOut:
        """The HubSpot account the apps sync with. Its API is asked for the account's details
        first: an account it refuses, or cannot be reached at, gets 422 `hubspot_unreachable`."""
        # An admin waits for the answer: try once, and say what is wrong.
        connector = HubSpotConnector(str(body.base_url), body.access_token, max_attempts=1)
        try:
            info = await connector.account_info()
            token = await connector.token_info()
        except ConnectorError as exc:
            raise ApiError(
                422, "hubspot_unreachable", f"HubSpot refused the account: {exc.resolution.message}"
            ) from None
        finally:
            await connector.aclose()
        account = HubSpotAccount(
            base_url=str(body.base_url).rstrip("/"),
            access_token=body.access_token,
            app_secret=body.app_secret,
            portal_id=str(info.get("portalId")) if info.get("portalId") is not None else None,
            app_id=str(token.get("appId")) if token.get("appId") is not None else None,
        )
        await store.put_hubspot(account)
        return HubSpotAccountOut(
            base_url=account.base_url, portal_id=account.portal_id, app_id=account.app_id
        )

    @app.get(
        "/v1/hubspot",
        response_model=HubSpotAccountOut,
        summary="Read the HubSpot account",
        tags=["HubSpot account"],
        responses=error_responses(401, 404),
    )
    async def get_hubspot(_: Read) -> HubSpotAccountOut:
        """The HubSpot account's address and ids (never its token); 404 before one is set."""
        account = await store.get_hubspot()
        if account is None:
            raise ApiError(404, "no_hubspot_account", "no HubSpot account is set up")
        return HubSpotAccountOut(
            base_url=account.base_url, portal_id=account.portal_id, app_id=account.app_id
        )

    @app.post(
        "/v1/connections",
        status_code=201,
        response_model=ConnectionOut,
        summary="Connect an app account",
        tags=["connections"],
        responses=error_responses(400, 401, 403, 422),
    )
    async def create_connection(body: ConnectionIn, _: Write) -> ConnectionOut:
        """Connect an account of an app (Dynamics 365: the organisation URL) and register
        datasync's webhook in it. More than one account of an app may be connected. An account
        the app refuses, or that cannot be reached, gets 422 `app_unreachable`."""
        cid = secrets.token_hex(6)
        key = secrets.token_urlsafe(24)
        base_url = str(body.base_url).rstrip("/")
        connector = DynamicsConnector(base_url, body.credentials.access_token, max_attempts=1)
        public = ingest.ingest_public_url or f"http://127.0.0.1:{ingest.ingest_port}"
        try:
            who = await connector.who_am_i()
            await connector.register_webhook(
                f"datasync {cid}",
                f"{public.rstrip('/')}/webhooks/dynamics/{cid}",
                key,
                sorted({logical for logical, _ in ENTITIES.values()}),
            )
        except ConnectorError as exc:
            raise ApiError(
                422, "app_unreachable", f"the app refused the connection: {exc.resolution.message}"
            ) from None
        finally:
            await connector.aclose()
        conn = Connection(
            id=cid,
            app=body.app,
            name=body.name,
            base_url=base_url,
            credentials=body.credentials.model_dump(),
            webhook_key=key,
            app_user_id=str(who.get("UserId")),
            created_at=datetime.now(UTC),
        )
        await store.create_connection(conn)
        return _connection_out(conn)

    @app.get(
        "/v1/connections",
        response_model=list[ConnectionOut],
        summary="List the connections",
        tags=["connections"],
        responses=error_responses(401),
    )
    async def list_connections(_: Read) -> list[ConnectionOut]:
        """Every connected app account, oldest first."""
        return [_connection_out(c) for c in await store.list_connections()]

    @app.get(
        "/v1/connections/{cid}",
        response_model=ConnectionOut,
        summary="Read a connection",
        tags=["connections"],
        responses=error_responses(401, 404, 422),
    )
    async def get_connection(cid: ConnectionId, _: Read) -> ConnectionOut:
        """One connection (never its credentials)."""
        return _connection_out(await lookups.connection(cid))

    @app.delete(
        "/v1/connections/{cid}",
        status_code=204,
        response_class=Response,
        summary="Disconnect an app account",
        tags=["connections"],
        responses=error_responses(401, 403, 404, 422),
    )
    async def delete_connection(cid: ConnectionId, _: Write) -> Response:
        """Remove the connection with its syncs and their records' links. Nothing is deleted in
        HubSpot or in the app."""
        await lookups.connection(cid)
        await store.delete_connection(cid)
        return Response(status_code=204)

    @app.get(
        "/v1/connections/{cid}/audit",
        response_model=list[AuditOut],
        summary="The audit trail",
        tags=["records"],
        responses=error_responses(401, 404, 422),
    )
    async def audit(
        cid: ConnectionId,
        _: Read,
        object: str | None = None,
        record: str | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[AuditOut]:
        """Every change datasync applied, newest first: record, field, old and new value, and
        the rule that decided it."""
        await lookups.connection(cid)
        if object is not None:
            lookups.object(object)
        return [audit_out(r) for r in await store.audit_trail(cid, object, record, limit)]

    @app.get(
        "/v1/connections/{cid}/health",
        response_model=HealthOut,
        summary="A connection's health",
        tags=["records"],
        responses=error_responses(401, 404, 422),
    )
    async def health(cid: ConnectionId, _: Read) -> HealthOut:
        """Per object: the sync's state, its records in sync, failing, excluded, pending and
        deleted, those waiting for an associated record, the initial sync's progress and when
        the last change synced, and how many of the object's messages each consumer group has
        yet to process."""
        await lookups.connection(cid)
        lags = await lag.read(wait=HEALTH_LAG_WAIT)
        counts = await store.status_counts(cid)
        last = await store.last_synced(cid)
        waiting = await store.waiting_counts(cid)
        objects: dict[str, ObjectHealth] = {}
        for sync in await store.list_syncs():
            if sync.connection_id != cid:
                continue
            c: dict[str, Any] = counts.get(sync.object_type, {})
            objects[sync.object_type] = ObjectHealth(
                state=sync.state,
                in_sync=c.get("in_sync", 0),
                failing=c.get("failing", 0),
                excluded=c.get("excluded", 0),
                pending=c.get("pending", 0),
                deleted=c.get("deleted", 0),
                merged=c.get("merged", 0),
                waiting_for_association=waiting.get(sync.object_type, 0),
                initial_sync=sync.progress,
                last_change_synced_at=last.get(sync.object_type),
                consumer_lag=None if lags is None else lag_of_object(lags, sync.object_type),
            )
        return HealthOut(connection_id=cid, objects=objects)

    return app
