"""Test control under `/_sandbox/`: never part of the emulated API, no token needed.

- `POST /_sandbox/reset`: forget records, counters, faults, rate-limit windows and budgets, the
  webhook target and undelivered events (ids keep growing, so a stale id never names a new record).
- `POST /_sandbox/seed` `{"contacts": [{...properties}], ...}` → `{"contacts": ["id", ...]}`:
  records written directly, no webhook, no request counted. `createdate` and the last-modified
  properties may be given to backdate a record.
- `GET|PUT /_sandbox/webhook` `{"url": ...}`: where deliveries go (null: nowhere), and every
  event goes while the app has no subscriptions of its own (webhooks API v3).
- `POST /_sandbox/restore` `{"objectType", "ids"}`: a person restores archived records.
- `POST /_sandbox/generate` `{"counts", "seed"}`: the shared seed-data generator's records
  (see `generate`).
- `PUT /_sandbox/limits` `{"ten_second_budget", "search_per_second", "daily_budget"}`.
- `POST /_sandbox/faults` `{"status", "count", "path_prefix"?, "delay_seconds"?}`: the next `count`
  matching API requests hang `delay_seconds`, then fail with `status` (without a status they
  proceed after the delay); `DELETE /_sandbox/faults` drops pending faults.
- `GET|DELETE /_sandbox/counters`: requests per "METHOD /route/template" (the object type filled
  in, e.g. "POST /crm/v3/objects/contacts/batch/create"), successful writes and the records they
  touched, requests refused by a rate limit (`throttled`), and webhook delivery figures (events
  delivered, abandoned and pending; failed POSTs).
Requests made with `X-Sandbox-Actor: user` stand for a person in HubSpot's UI: they are not
counted, rate limited or faulted.
"""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.sandbox.hubspot.limits import Fault
from services.sandbox.hubspot.objects import resolve_object
from services.sandbox.hubspot.operations import Writer
from services.sandbox.hubspot.state import USER, sandbox_of
from services.sandbox.hubspot.store import DuplicateValue, InvalidProperties, parse_datetime_ms

router = APIRouter(prefix="/_sandbox")


class WebhookTarget(BaseModel):
    url: str | None = None


class RestoreRequest(BaseModel):
    objectType: str
    ids: list[str]


class Limits(BaseModel):
    ten_second_budget: int | None = Field(None, ge=1)
    search_per_second: int | None = Field(None, ge=1)
    daily_budget: int | None = Field(None, ge=1)


class FaultSpec(BaseModel):
    status: int | None = Field(None, ge=400, le=599)
    count: int = Field(1, ge=1)
    path_prefix: str | None = None
    delay_seconds: float = Field(0.0, ge=0.0)


def _refusal(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@router.post("/reset", status_code=204)
async def reset(request: Request) -> Response:
    sandbox_of(request).reset()
    return Response(status_code=204)


@router.post("/seed", response_model=None)
async def seed(request: Request) -> dict[str, list[str]] | JSONResponse:
    """Validates everything first, so a refused seed writes nothing."""
    try:
        payload = await request.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return _refusal(400, "invalid_seed", "expected {object type: [records]}")
    portal = sandbox_of(request).portal
    now = sandbox_of(request).now_ms()
    plans = []
    for object_type, rows in payload.items():
        definition = resolve_object(object_type)
        if definition is None or not isinstance(rows, list):
            return _refusal(
                400, "invalid_seed", f"unknown object type or not a list: {object_type}"
            )
        store = portal.store(definition)
        unique = definition.unique_property
        seen: set[str] = set()
        prepared = []
        for row in rows:
            if not isinstance(row, dict):
                return _refusal(400, "invalid_seed", f"{object_type}: records must be objects")
            properties = dict(row)
            properties.pop("hs_object_id", None)
            modified = [properties.pop(n, None) for n in definition.modified_properties]
            stamp = next((m for m in modified if m), None)
            updated_ms = parse_datetime_ms(str(stamp)) if stamp else None
            try:
                values = store.normalize(properties)
                store.check_unique(values)
            except InvalidProperties as invalid:
                return _refusal(400, "invalid_seed", f"{object_type}: {invalid.problems}")
            except DuplicateValue as duplicate:
                message = f"{object_type}: already exists as {duplicate.existing_id}"
                return _refusal(409, "duplicate", message)
            value = values.get(unique) if unique else None
            if value:
                if value in seen:
                    return _refusal(409, "duplicate", f"{object_type}: {value} given twice")
                seen.add(value)
            prepared.append((values, updated_ms))
        plans.append((definition.name, store, prepared))
    return {
        name: [str(store.create(values, now, updated_ms).id) for values, updated_ms in prepared]
        for name, store, prepared in plans
    }


@router.get("/webhook")
async def webhook_target(request: Request) -> dict[str, Any]:
    return {"url": sandbox_of(request).webhooks.target_url}


@router.put("/webhook", status_code=204)
async def set_webhook_target(body: WebhookTarget, request: Request) -> Response:
    """A shortcut for tests and the demo: the target, and every event while the app has no
    subscriptions of its own (`subscriptions.Subscriptions`)."""
    sandbox_of(request).webhooks.subscriptions.use_shortcut(body.url)
    return Response(status_code=204)


@router.post("/restore", response_model=None)
async def restore(body: RestoreRequest, request: Request) -> dict[str, list[str]] | JSONResponse:
    """A person restores archived records from HubSpot's recycling bin (HubSpot's API has no
    restore): they come back with their ids and associations, and `*.restore` events go out
    attributed to CRM_UI. 404 names ids that are not archived; 409 a unique value (an email)
    that a live record took meanwhile. All or nothing."""
    sandbox = sandbox_of(request)
    definition = resolve_object(body.objectType)
    if definition is None:
        return _refusal(400, "invalid_restore", f"unknown object type {body.objectType}")
    store = sandbox.portal.store(definition)
    records = [store.get(i, archived=True) for i in body.ids]
    missing = [i for i, r in zip(body.ids, records, strict=True) if r is None]
    if missing:
        return _refusal(404, "not_archived", f"not archived: {missing}")
    found = [r for r in records if r is not None]
    for record in found:
        holder = store.taken(record)
        if holder is not None:
            return _refusal(409, "duplicate", f"{record.id}: a unique value is held by {holder}")
    writer = Writer(sandbox, definition, USER)
    for record in found:
        store.restore(record, sandbox.now_ms())
        writer.note(record, "restore", ())
    writer.finish()
    return {"restored": [str(r.id) for r in found]}


@router.get("/limits")
async def limits(request: Request) -> dict[str, int]:
    limiter = sandbox_of(request).limiter
    return {
        "ten_second_budget": limiter.ten_second_budget,
        "search_per_second": limiter.search_per_second,
        "daily_budget": limiter.daily_budget,
    }


@router.put("/limits", status_code=204)
async def set_limits(body: Limits, request: Request) -> Response:
    limiter = sandbox_of(request).limiter
    if body.ten_second_budget is not None:
        limiter.ten_second_budget = body.ten_second_budget
    if body.search_per_second is not None:
        limiter.search_per_second = body.search_per_second
    if body.daily_budget is not None:
        limiter.daily_budget = body.daily_budget
    return Response(status_code=204)


@router.post("/faults", status_code=204)
async def add_fault(body: FaultSpec, request: Request) -> Response:
    fault = Fault(body.status, body.count, body.path_prefix, body.delay_seconds)
    sandbox_of(request).faults.add(fault)
    return Response(status_code=204)


@router.delete("/faults", status_code=204)
async def clear_faults(request: Request) -> Response:
    sandbox_of(request).faults.clear()
    return Response(status_code=204)


@router.get("/counters")
async def counters(request: Request) -> dict[str, Any]:
    sandbox = sandbox_of(request)
    hooks = sandbox.webhooks
    return {
        "requests": dict(sandbox.counters.requests),
        "writes": sandbox.counters.writes,
        "records_written": sandbox.counters.records_written,
        "throttled": sandbox.counters.throttled,
        "webhooks": {
            "delivered": hooks.delivered,
            "failed_attempts": hooks.failed_attempts,
            "abandoned": hooks.abandoned,
            "pending": hooks.pending,
            "most_in_flight": hooks.most_in_flight,
        },
    }


@router.delete("/counters", status_code=204)
async def reset_counters(request: Request) -> Response:
    sandbox = sandbox_of(request)
    sandbox.counters.reset()
    sandbox.webhooks.reset_counters()
    return Response(status_code=204)
