"""Webhooks API v3: an app's webhook settings and subscriptions, under `/webhooks/v3/{appId}`.

Authenticated with the developer account's API key in the `hapikey` query parameter (the app's
gate checks it), as HubSpot's reference and its clients' `developer_hapikey` scheme have it.
Paths and bodies as the reference documents them: settings GET/PUT/DELETE; subscriptions list,
create, read, PATCH `{active}`, DELETE, and `batch/update` of `{id, active}` inputs.
"""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.sandbox.hubspot import errors
from services.sandbox.hubspot.objects import resolve_object
from services.sandbox.hubspot.state import APP_ID, Sandbox, sandbox_of
from services.sandbox.hubspot.subscriptions import EVENT_TYPES, MIN_CONCURRENCY, Subscriptions
from services.sandbox.hubspot.timestamps import iso

PREFIX = "/webhooks/v3"
router = APIRouter(prefix=PREFIX + "/{app_id}")


class Throttling(BaseModel):
    maxConcurrentRequests: int
    period: str = "SECONDLY"


class SettingsChange(BaseModel):
    targetUrl: str
    throttling: Throttling


class SubscriptionCreate(BaseModel):
    eventType: str
    propertyName: str | None = None
    objectTypeId: str | None = None
    active: bool = False


class SubscriptionPatch(BaseModel):
    active: bool | None = None


class BatchUpdateInput(BaseModel):
    id: int
    active: bool


class BatchUpdate(BaseModel):
    inputs: list[BatchUpdateInput] = Field(default_factory=list)


def _subscriptions(app_id: int, request: Request) -> tuple[Sandbox, Subscriptions]:
    if app_id != APP_ID:
        raise errors.not_found(f"App {app_id} was not found for this developer account")
    sandbox = sandbox_of(request)
    return sandbox, sandbox.webhooks.subscriptions


def _settings(subscriptions: Subscriptions, now: int) -> dict[str, Any]:
    created = subscriptions.settings_created_ms or now
    return {
        "targetUrl": subscriptions.target_url,
        "throttling": {
            "maxConcurrentRequests": subscriptions.max_concurrent_requests or 10,
            "period": "SECONDLY",
        },
        "createdAt": iso(created),
        "updatedAt": iso(subscriptions.settings_updated_ms or created),
    }


@router.get("/settings")
async def get_settings(app_id: int, request: Request) -> dict[str, Any]:
    sandbox, subscriptions = _subscriptions(app_id, request)
    if subscriptions.target_url is None:
        raise errors.not_found(f"No webhook settings found for app {app_id}")
    return _settings(subscriptions, sandbox.now_ms())


@router.put("/settings")
async def put_settings(app_id: int, body: SettingsChange, request: Request) -> dict[str, Any]:
    sandbox, subscriptions = _subscriptions(app_id, request)
    if not body.targetUrl.startswith(("http://", "https://")):
        raise errors.validation(f"targetUrl must be an http(s) URL, got {body.targetUrl!r}")
    if body.throttling.maxConcurrentRequests < MIN_CONCURRENCY:
        raise errors.validation(
            f"throttling.maxConcurrentRequests must be at least {MIN_CONCURRENCY}"
        )
    now = sandbox.now_ms()
    subscriptions.target_url = body.targetUrl
    subscriptions.max_concurrent_requests = body.throttling.maxConcurrentRequests
    subscriptions.settings_created_ms = subscriptions.settings_created_ms or now
    subscriptions.settings_updated_ms = now
    return _settings(subscriptions, now)


@router.delete("/settings", status_code=204)
async def clear_settings(app_id: int, request: Request) -> Response:
    _, subscriptions = _subscriptions(app_id, request)
    subscriptions.target_url = None
    subscriptions.everything = False
    subscriptions.max_concurrent_requests = None
    subscriptions.settings_created_ms = subscriptions.settings_updated_ms = None
    return Response(status_code=204)


@router.get("/subscriptions")
async def list_subscriptions(app_id: int, request: Request) -> dict[str, Any]:
    _, subscriptions = _subscriptions(app_id, request)
    return {"results": [s.to_json() for s in subscriptions.by_id.values()]}


@router.post("/subscriptions", status_code=201)
async def create_subscription(
    app_id: int, body: SubscriptionCreate, request: Request
) -> dict[str, Any]:
    sandbox, subscriptions = _subscriptions(app_id, request)
    event_type = body.eventType
    if event_type not in EVENT_TYPES:
        raise errors.validation(f"Unknown eventType {event_type!r}")
    prefix, _, kind = event_type.partition(".")
    object_type_id = body.objectTypeId
    if prefix == "object":
        definition = resolve_object(object_type_id or "")
        if definition is None:
            raise errors.validation(f"{event_type} needs a known objectTypeId")
        object_type_id = definition.type_id
    else:
        definition = resolve_object(prefix)
        object_type_id = None
    name = body.propertyName if kind == "propertyChange" else None
    if kind == "propertyChange":
        if name is None:
            raise errors.validation(f"{event_type} subscriptions need a propertyName")
        if definition is not None and sandbox.portal.properties[definition.name].get(name) is None:
            raise errors.validation(f'Property "{name}" does not exist')
    if subscriptions.find(event_type, object_type_id, name) is not None:
        raise errors.conflict_of(
            f"A subscription for {event_type}" + (f" on {name}" if name else "") + " already exists"
        )
    subscription = subscriptions.add(
        event_type, object_type_id, name, body.active, sandbox.now_ms()
    )
    return subscription.to_json()


@router.post("/subscriptions/batch/update")
async def batch_update_subscriptions(
    app_id: int, body: BatchUpdate, request: Request
) -> JSONResponse:
    sandbox, subscriptions = _subscriptions(app_id, request)
    started = sandbox.now_ms()
    results = []
    missing = []
    for item in body.inputs:
        subscription = subscriptions.by_id.get(item.id)
        if subscription is None:
            missing.append(str(item.id))
            continue
        subscription.active = item.active
        subscription.updated_ms = sandbox.now_ms()
        results.append(subscription.to_json())
    payload: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if missing:
        payload["numErrors"] = 1
        payload["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Some subscriptions were not found",
                "context": {"ids": missing},
            }
        ]
    payload["startedAt"] = iso(started)
    payload["completedAt"] = iso(sandbox.now_ms())
    return JSONResponse(payload, status_code=207 if missing else 200)


@router.get("/subscriptions/{subscription_id}")
async def get_subscription(app_id: int, subscription_id: int, request: Request) -> dict[str, Any]:
    _, subscriptions = _subscriptions(app_id, request)
    subscription = subscriptions.by_id.get(subscription_id)
    if subscription is None:
        raise errors.not_found(f"Subscription {subscription_id} not found")
    return subscription.to_json()


@router.patch("/subscriptions/{subscription_id}")
async def patch_subscription(
    app_id: int, subscription_id: int, body: SubscriptionPatch, request: Request
) -> dict[str, Any]:
    sandbox, subscriptions = _subscriptions(app_id, request)
    subscription = subscriptions.by_id.get(subscription_id)
    if subscription is None:
        raise errors.not_found(f"Subscription {subscription_id} not found")
    if body.active is not None:
        subscription.active = body.active
        subscription.updated_ms = sandbox.now_ms()
    return subscription.to_json()


@router.delete("/subscriptions/{subscription_id}", status_code=204)
async def delete_subscription(app_id: int, subscription_id: int, request: Request) -> Response:
    _, subscriptions = _subscriptions(app_id, request)
    if subscriptions.by_id.pop(subscription_id, None) is None:
        raise errors.not_found(f"Subscription {subscription_id} not found")
    return Response(status_code=204)
