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
    ObjectHealth,
    ResyncIn,
    ResyncOut,
    SyncOut,
)
from schemas.events import Side
from schemas.objects import OBJECT_TYPES
from schemas.settings import SyncSettings, SyncState
from services.config import IngestSettings
from services.connectors.dynamics import ENTITIES, DynamicsConnector
from services.connectors.errors import ConnectorError
from services.connectors.hubspot import HubSpotConnector
from services.domain.dry_run import dry_run
from services.domain.mapping import effective_mappings, side_fields
from services.domain.matching import match_fields
from services.domain.rules import rule_fields
from services.domain.validation import validate_settings, with_field_types
from services.status_api.auth import TokenCheck
from services.status_api.records import record_views
from services.store.repository import Connection, HubSpotAccount, Store, Sync
from services.web import ApiError, install_error_handlers

log = logging.getLogger(__name__)


def _sync_out(sync: Sync) -> SyncOut:
    return SyncOut(
        connection_id=sync.connection_id,
        object=sync.object_type,
        state=sync.state,
        settings=sync.settings,
        progress=sync.progress,
    )


def _connection_out(conn: Connection) -> ConnectionOut:
    return ConnectionOut(
        id=conn.id,
        app=conn.app,
        name=conn.name,
        base_url=conn.base_url,
        webhook_registered=conn.app_user_id is not None,
        created_at=conn.created_at,
    )


def create_app(
    store: Store, admin_token: str | None, ingest: IngestSettings | None = None
) -> FastAPI:
    ingest = ingest or IngestSettings()
    app = FastAPI(title="datasync status and control API", version="0.1.0")
    install_error_handlers(app)
    tokens = TokenCheck(admin_token)

    def viewer(request: Request) -> None:
        tokens.role_of(request)

    def admin(request: Request) -> None:
        tokens.require_admin(request)

    Read = Annotated[None, Depends(viewer)]
    Write = Annotated[None, Depends(admin)]

    async def connection_or_404(cid: str) -> Connection:
        conn = await store.get_connection(cid)
        if conn is None:
            raise ApiError(404, "unknown_connection", f"connection {cid} does not exist")
        return conn

    def object_or_404(obj: str) -> str:
        if obj not in OBJECT_TYPES:
            raise ApiError(
                404, "unknown_object", f"unknown object {obj!r}; one of {', '.join(OBJECT_TYPES)}"
            )
        return obj

    async def sync_or_404(cid: str, obj: str) -> Sync:
        await connection_or_404(cid)
        sync = await store.get_sync(cid, object_or_404(obj))
        if sync is None:
            raise ApiError(404, "unknown_sync", f"connection {cid} has no {obj} sync")
        return sync

    app.include_router(
        record_views(
            store,
            read=viewer,
            connection_or_404=connection_or_404,
            object_or_404=object_or_404,
            sync_or_404=sync_or_404,
        )
    )

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        """The web dashboard; it reads the API with the token the user enters."""
        page = resources.files("services.status_api").joinpath("static/dashboard.html")
        return HTMLResponse(page.read_text())

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.put("/v1/hubspot", response_model=HubSpotAccountOut)
    async def put_hubspot(body: HubSpotAccountIn, _: Write) -> HubSpotAccountOut:
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

    @app.get("/v1/hubspot", response_model=HubSpotAccountOut)
    async def get_hubspot(_: Read) -> HubSpotAccountOut:
        account = await store.get_hubspot()
        if account is None:
            raise ApiError(404, "no_hubspot_account", "no HubSpot account is set up")
        return HubSpotAccountOut(
            base_url=account.base_url, portal_id=account.portal_id, app_id=account.app_id
        )

    @app.post("/v1/connections", status_code=201, response_model=ConnectionOut)
    async def create_connection(body: ConnectionIn, _: Write) -> ConnectionOut:
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

    @app.get("/v1/connections", response_model=list[ConnectionOut])
    async def list_connections(_: Read) -> list[ConnectionOut]:
        return [_connection_out(c) for c in await store.list_connections()]

    @app.get("/v1/connections/{cid}", response_model=ConnectionOut)
    async def get_connection(cid: str, _: Read) -> ConnectionOut:
        return _connection_out(await connection_or_404(cid))

    @app.delete("/v1/connections/{cid}", status_code=204)
    async def delete_connection(cid: str, _: Write) -> Response:
        await connection_or_404(cid)
        await store.delete_connection(cid)
        return Response(status_code=204)

    async def hubspot_types(obj: str) -> dict[str, str]:
        """HubSpot's property types of the object, for checking custom mappings."""
        account = await store.get_hubspot()
        if account is None:
            return {}
        connector = HubSpotConnector(account.base_url, account.access_token, max_attempts=2)
        try:
            return await connector.property_types(obj)
        except ConnectorError as exc:
            raise ApiError(
                422, "hubspot_unreachable", f"could not read HubSpot's properties: {exc}"
            ) from None
        finally:
            await connector.aclose()

    @app.put("/v1/connections/{cid}/syncs/{obj}", response_model=SyncOut)
    async def put_sync(cid: str, obj: str, body: SyncSettings, _: Write) -> SyncOut:
        """Create or edit an object sync's settings. Mappings between incompatible types,
        ambiguous value mappings and filters on unknown fields are refused with 422."""
        await connection_or_404(cid)
        object_or_404(obj)
        types = await hubspot_types(obj)
        problems = validate_settings(obj, body, types, {})
        if problems:
            raise ApiError(
                422,
                "invalid_settings",
                "; ".join(f"{p.path}: {p.message}" for p in problems[:3]),
                problems=[p.as_dict() for p in problems],
            )
        return _sync_out(await store.put_sync(cid, obj, with_field_types(body, types, {})))

    @app.post("/v1/connections/{cid}/syncs/{obj}/dry-run")
    async def dry_run_sync(cid: str, obj: str, _: Write) -> dict[str, Any]:
        """What "save and sync" would do with the saved settings — records matched, created
        and updated on each side, excluded and why, duplicates — without writing anything.
        Reads both sides in full."""
        sync = await sync_or_404(cid, obj)
        conn = await connection_or_404(cid)
        account = await store.get_hubspot()
        if account is None:
            raise ApiError(409, "no_hubspot_account", "set up the HubSpot account first")
        hubspot = HubSpotConnector(account.base_url, account.access_token)
        app_connector = DynamicsConnector(conn.base_url, conn.credentials["access_token"])
        mappings = effective_mappings(obj, sync.settings)
        try:
            records = {}
            for side, connector in ((Side.HUBSPOT, hubspot), (Side.APP, app_connector)):
                fields = sorted(
                    {
                        *side_fields(mappings, side),
                        *match_fields(obj, side),
                        *rule_fields(obj, sync.settings, side),
                    }
                )
                records[side] = [
                    (r.id, r.properties)
                    async for page in connector.list_records(obj, fields)
                    for r in page
                ]
        except ConnectorError as exc:
            raise ApiError(502, "app_unreachable", f"reading the records failed: {exc}") from None
        finally:
            await hubspot.aclose()
            await app_connector.aclose()
        report = dry_run(obj, sync.settings, records[Side.HUBSPOT], records[Side.APP])
        return report.as_dict()

    @app.get("/v1/connections/{cid}/syncs/{obj}", response_model=SyncOut)
    async def get_sync(cid: str, obj: str, _: Read) -> SyncOut:
        return _sync_out(await sync_or_404(cid, obj))

    async def set_state(cid: str, obj: str, state: SyncState) -> SyncOut:
        await sync_or_404(cid, obj)
        sync = await store.set_sync_state(cid, obj, state)
        assert sync is not None
        return _sync_out(sync)

    @app.post("/v1/connections/{cid}/syncs/{obj}/start", response_model=SyncOut)
    async def start_sync(cid: str, obj: str, _: Write) -> SyncOut:
        """Save and sync: start the initial sync, which matches the two databases."""
        return await set_state(cid, obj, SyncState.INITIAL_SYNC)

    @app.post("/v1/connections/{cid}/syncs/{obj}/off", response_model=SyncOut)
    async def turn_off(cid: str, obj: str, _: Write) -> SyncOut:
        return await set_state(cid, obj, SyncState.OFF)

    @app.post("/v1/connections/{cid}/syncs/{obj}/on", response_model=SyncOut)
    async def turn_on(cid: str, obj: str, _: Write) -> SyncOut:
        sync = await sync_or_404(cid, obj)
        if sync.state is SyncState.DRAFT:
            raise ApiError(409, "not_started", "start the sync first (POST .../start)")
        return await set_state(cid, obj, SyncState.SYNCING)

    @app.delete("/v1/connections/{cid}/syncs/{obj}", status_code=204)
    async def delete_sync(cid: str, obj: str, _: Write) -> Response:
        await sync_or_404(cid, obj)
        await store.delete_sync(cid, obj)
        return Response(status_code=204)

    @app.post(
        "/v1/connections/{cid}/syncs/{obj}/resync-deleted",
        status_code=202,
        response_model=ResyncOut,
    )
    async def resync_deleted(cid: str, obj: str, body: ResyncIn, _: Write) -> ResyncOut:
        """Recreate, on the chosen side, the records that were deleted there."""
        await sync_or_404(cid, obj)
        return ResyncOut(requested=await store.request_resync(cid, obj, Side(body.into)))

    @app.get("/v1/connections/{cid}/audit", response_model=list[AuditOut])
    async def audit(
        cid: str,
        _: Read,
        object: str | None = None,
        record: str | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[AuditOut]:
        """Every change datasync applied, newest first: record, field, old and new value, and
        the rule that decided it."""
        await connection_or_404(cid)
        if object is not None:
            object_or_404(object)
        rows = await store.audit_trail(cid, object, record, limit)
        return [
            AuditOut(
                at=r["at"],
                object=r["object_type"],
                hubspot_id=r["hubspot_id"],
                app_id=r["app_id"],
                target=r["target"],
                op=r["op"],
                field=r["field"],
                old_value=r["old_value"],
                new_value=r["new_value"],
                reason=r["reason"],
            )
            for r in rows
        ]

    @app.get("/v1/connections/{cid}/health", response_model=HealthOut)
    async def health(cid: str, _: Read) -> HealthOut:
        await connection_or_404(cid)
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
                waiting_for_association=waiting.get(sync.object_type, 0),
                initial_sync=sync.progress,
                last_change_synced_at=last.get(sync.object_type),
            )
        return HealthOut(connection_id=cid, objects=objects)

    return app
