"""The routes of an object sync: its settings (checked before they are saved), a dry run,
its state (start, off, on), deleting it and recreating deleted records."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response

from schemas.api import DryRunOut, ResyncIn, ResyncOut, SyncOut
from schemas.events import Side
from schemas.settings import SyncSettings, SyncState
from services.connectors.dynamics import DynamicsConnector
from services.connectors.errors import ConnectorError
from services.connectors.hubspot import HubSpotConnector
from services.domain.dry_run import dry_run
from services.domain.mapping import effective_mappings, side_fields
from services.domain.matching import match_fields
from services.domain.rules import rule_fields
from services.domain.validation import validate_settings, with_field_types
from services.status_api.lookups import Lookups
from services.status_api.openapi import (
    SYNC_SETTINGS_EXAMPLES,
    ConnectionId,
    ObjectName,
    error_responses,
)
from services.store.repository import Store, Sync
from services.web import ApiError

SyncSettingsBody = Annotated[SyncSettings, Body(openapi_examples=SYNC_SETTINGS_EXAMPLES)]


def sync_out(sync: Sync) -> SyncOut:
    return SyncOut(
        connection_id=sync.connection_id,
        object=sync.object_type,
        state=sync.state,
        settings=sync.settings,
        progress=sync.progress,
    )


def sync_routes(
    store: Store,
    lookups: Lookups,
    *,
    read: Callable[..., Awaitable[object]],
    write: Callable[..., Awaitable[object]],
) -> APIRouter:
    """The routes, for `create_app` to include; `read` and `write` are the dependencies that
    check the token: reading a sync is open to viewers, everything else needs an admin."""
    reads = APIRouter(dependencies=[Depends(read)])
    writes = APIRouter(dependencies=[Depends(write)])

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

    @writes.put(
        "/v1/connections/{cid}/syncs/{obj}",
        response_model=SyncOut,
        summary="Create or edit an object sync's settings",
        tags=["syncs"],
        responses=error_responses(400, 401, 403, 404, 422),
    )
    async def put_sync(cid: ConnectionId, obj: ObjectName, body: SyncSettingsBody) -> SyncOut:
        """Create or edit an object sync's settings; a new sync is a `draft` until started.
        Omitted fields take the defaults: two-way, HubSpot wins, the object's default
        mappings, `only_with_email` true for contacts. Mappings between incompatible types,
        ambiguous value mappings and filters on unknown fields are refused with 422
        `invalid_settings`, which lists every problem."""
        await lookups.connection(cid)
        lookups.object(obj)
        types = await hubspot_types(obj)
        problems = validate_settings(obj, body, types, {})
        if problems:
            raise ApiError(
                422,
                "invalid_settings",
                "; ".join(f"{p.path}: {p.message}" for p in problems[:3]),
                problems=[p.as_dict() for p in problems],
            )
        return sync_out(await store.put_sync(cid, obj, with_field_types(body, types, {})))

    @writes.post(
        "/v1/connections/{cid}/syncs/{obj}/dry-run",
        response_model=DryRunOut,
        summary="Preview what save and sync would do",
        tags=["syncs"],
        responses=error_responses(401, 403, 404, 409, 422, 502),
    )
    async def dry_run_sync(cid: ConnectionId, obj: ObjectName) -> DryRunOut:
        """What "save and sync" would do with the saved settings — records matched, created
        and updated on each side, excluded and why, duplicates — without writing anything.
        Reads both sides in full. 409 `no_hubspot_account` before the HubSpot account is set;
        502 `app_unreachable` when either side cannot be read."""
        sync = await lookups.sync(cid, obj)
        conn = await lookups.connection(cid)
        account = await store.get_hubspot()
        if account is None:
            raise ApiError(409, "no_hubspot_account", "set up the HubSpot account first")
        # An admin waits for the answer: a side that cannot be reached fails within seconds.
        hubspot = HubSpotConnector(account.base_url, account.access_token, max_attempts=3)
        app_connector = DynamicsConnector(
            conn.base_url, conn.credentials["access_token"], max_attempts=3
        )
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
        return DryRunOut.model_validate(report.as_dict())

    @reads.get(
        "/v1/connections/{cid}/syncs/{obj}",
        response_model=SyncOut,
        summary="Read an object sync",
        tags=["syncs"],
        responses=error_responses(401, 404, 422),
    )
    async def get_sync(cid: ConnectionId, obj: ObjectName) -> SyncOut:
        """The sync's settings, its state (`draft`, `initial_sync`, `syncing`, `off`) and the
        initial sync's progress."""
        return sync_out(await lookups.sync(cid, obj))

    async def set_state(cid: str, obj: str, state: SyncState) -> SyncOut:
        await lookups.sync(cid, obj)
        sync = await store.set_sync_state(cid, obj, state)
        assert sync is not None
        return sync_out(sync)

    @writes.post(
        "/v1/connections/{cid}/syncs/{obj}/start",
        response_model=SyncOut,
        summary="Save and sync",
        tags=["syncs"],
        responses=error_responses(401, 403, 404, 422),
    )
    async def start_sync(cid: ConnectionId, obj: ObjectName) -> SyncOut:
        """Save and sync: start the initial sync, which matches the two databases; then every
        change flows across continuously."""
        return await set_state(cid, obj, SyncState.INITIAL_SYNC)

    @writes.post(
        "/v1/connections/{cid}/syncs/{obj}/off",
        response_model=SyncOut,
        summary="Turn a sync off",
        tags=["syncs"],
        responses=error_responses(401, 403, 404, 422),
    )
    async def turn_off(cid: ConnectionId, obj: ObjectName) -> SyncOut:
        """Stop syncing the object; its settings and links are kept."""
        return await set_state(cid, obj, SyncState.OFF)

    @writes.post(
        "/v1/connections/{cid}/syncs/{obj}/on",
        response_model=SyncOut,
        summary="Turn a sync back on",
        tags=["syncs"],
        responses=error_responses(401, 403, 404, 409, 422),
    )
    async def turn_on(cid: ConnectionId, obj: ObjectName) -> SyncOut:
        """Sync the object again; what changed meanwhile is caught up. 409 `not_started` for a
        sync that was never started (a draft)."""
        sync = await lookups.sync(cid, obj)
        if sync.state is SyncState.DRAFT:
            raise ApiError(409, "not_started", "start the sync first (POST .../start)")
        return await set_state(cid, obj, SyncState.SYNCING)

    @writes.delete(
        "/v1/connections/{cid}/syncs/{obj}",
        status_code=204,
        response_class=Response,
        summary="Delete a sync",
        tags=["syncs"],
        responses=error_responses(401, 403, 404, 422),
    )
    async def delete_sync(cid: ConnectionId, obj: ObjectName) -> Response:
        """Delete the sync with its settings and its records' links; the records themselves
        stay where they are."""
        await lookups.sync(cid, obj)
        await store.delete_sync(cid, obj)
        return Response(status_code=204)

    @writes.post(
        "/v1/connections/{cid}/syncs/{obj}/resync-deleted",
        status_code=202,
        response_model=ResyncOut,
        summary="Recreate deleted records",
        tags=["syncs"],
        responses=error_responses(400, 401, 403, 404, 422),
    )
    async def resync_deleted(cid: ConnectionId, obj: ObjectName, body: ResyncIn) -> ResyncOut:
        """Recreate, on the chosen side, the records that were deleted there."""
        await lookups.sync(cid, obj)
        return ResyncOut(requested=await store.request_resync(cid, obj, Side(body.into)))

    router = APIRouter()
    router.include_router(reads)
    router.include_router(writes)
    return router
