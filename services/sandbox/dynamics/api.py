"""The emulated Dataverse Web API: `/{org}/api/data/v9.2/...` for every organisation.

Each request is, in order: resolved to its organisation (unknown -> 404), counted, checked for
the bearer token (401 with Dataverse's empty body and `WWW-Authenticate` challenge), given any
injected fault, checked against the service protection budget (429), then served. Writes are
made by the token's application user, or by the human user when the request carries the
test-control header `X-Sandbox-Actor: user`.
"""

import asyncio
import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from services.sandbox.dynamics.errors import JSON_MEDIA_TYPE, ODATA_HEADERS, ODataError
from services.sandbox.dynamics.listing import count_rows, list_rows
from services.sandbox.dynamics.query import (
    Prefer,
    context_url,
    parse_prefer,
    parse_select,
    serialize,
)
from services.sandbox.dynamics.schema import EntityDef, parse_guid
from services.sandbox.dynamics.state import Sandbox
from services.sandbox.dynamics.store import CATALOG, Change, Org

router = APIRouter()
ACTOR_HEADER = "x-sandbox-actor"
_VERSION = re.compile(r"^v9\.[0-2]$")
_RESOURCE = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)(?:\((?P<key>[^)]*)\))?(?P<rest>/.*)?$")


@router.api_route(
    "/{org_name}/api/data/{version}/{resource:path}",
    methods=["GET", "POST", "PATCH", "DELETE", "PUT"],
    include_in_schema=False,
)
async def web_api(org_name: str, version: str, resource: str, request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    try:
        return await _serve(sandbox, request, org_name, version, resource)
    except ODataError as error:
        return error.response()


class _Call:
    """One Web API request, resolved."""

    def __init__(self, sandbox: Sandbox, request: Request, org: Org, version: str) -> None:
        self.sandbox, self.request, self.org = sandbox, request, org
        self.base = f"{request.base_url}{org.name}/api/data/{version}/"
        self.prefer = parse_prefer(request.headers.getlist("prefer"))
        self.params = dict(request.query_params)
        human = request.headers.get(ACTOR_HEADER, "").lower() == "user"
        identity = org.identity
        self.user_id = identity.human_user_id if human else identity.application_user_id


async def _serve(
    sandbox: Sandbox, request: Request, org_name: str, version: str, resource: str
) -> Response:
    org = sandbox.orgs.get(org_name)
    if org is None or not _VERSION.match(version):
        raise ODataError(404, "", f"There is no organization at '/{org_name}/api/data/{version}/'.")
    match = _RESOURCE.match(resource)
    name = match.group("name") if match else resource.split("/")[0]
    sandbox.counters_of(org_name).requests[f"{request.method} {name}"] += 1
    token = request.headers.get("authorization", "")
    scheme, _, value = token.partition(" ")
    if scheme.lower() != "bearer" or value.strip() != sandbox.settings.sandbox_dynamics_token:
        raise ODataError.unauthorized(f"{request.base_url}{org_name}/")
    fault = sandbox.take_fault(org_name, request.url.path, resource)
    if fault is not None:
        if fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        if fault.status == 429:
            limits = sandbox.limits
            raise ODataError.throttled(
                limits.requests_per_window, int(limits.window_seconds), fault.retry_after
            )
        if fault.status is not None:
            raise ODataError.server_error(fault.status)
    retry_after = sandbox.admit(org_name)
    if retry_after is not None:
        limits = sandbox.limits
        raise ODataError.throttled(
            limits.requests_per_window, int(limits.window_seconds), retry_after
        )
    if match is None:
        raise ODataError.segment_not_found(resource)
    call = _Call(sandbox, request, org, version)
    if name in ("WhoAmI", "Microsoft.Dynamics.CRM.WhoAmI"):
        if request.method != "GET":
            raise ODataError.method_not_allowed(request.method, name)
        return _who_am_i(call)
    entity = CATALOG.get(name)
    if entity is None:
        raise ODataError.segment_not_found(name)
    key, rest = match.group("key"), match.group("rest")
    if key is None:
        return await _collection(call, entity, rest)
    if rest:
        raise ODataError.query(f"The path '{resource}' is not emulated by the Dynamics sandbox.")
    return await _record(call, entity, _record_id(key))


def _record_id(key: str) -> str:
    try:
        return parse_guid(key)
    except ValueError:
        if "=" in key:
            raise ODataError.query(
                "Alternate keys are not emulated by the Dynamics sandbox."
            ) from None
        raise ODataError.query("Bad Request - Error in query syntax.") from None


def _json(body: dict[str, Any], status: int = 200, applied: list[str] | None = None) -> Response:
    headers = dict(ODATA_HEADERS)
    if applied:
        headers["Preference-Applied"] = ",".join(applied)
    return JSONResponse(body, status, headers=headers, media_type=JSON_MEDIA_TYPE)


def _no_content(call: _Call, entity: EntityDef, record_id: str) -> Response:
    headers = {**ODATA_HEADERS, "OData-EntityId": f"{call.base}{entity.entity_set}({record_id})"}
    return Response(status_code=204, headers=headers)


def _annotations_applied(prefer: Prefer) -> list[str]:
    if not prefer.annotations:
        return []
    return [f'odata.include-annotations="{",".join(prefer.annotations)}"']


def _who_am_i(call: _Call) -> Response:
    identity = call.org.identity
    return _json(
        {
            "@odata.context": f"{call.base}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": identity.business_unit_id,
            "UserId": call.user_id,
            "OrganizationId": identity.organization_id,
        }
    )


async def _body(call: _Call, entity: EntityDef) -> dict[str, Any]:
    raw = await call.request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ODataError.payload(entity.entity_set, "Invalid JSON payload.") from None
    if not isinstance(body, dict):
        raise ODataError.payload(entity.entity_set, "The payload must be a JSON object.")
    return body


def _written(call: _Call, change: Change) -> None:
    """Counts a successful write and hands it to the webhook dispatcher."""
    if change.entity.business:
        counters = call.sandbox.counters_of(call.org.name)
        counters.writes += 1
        counters.records_written += 1
    call.sandbox.webhooks.notify(call.org, change)


def _representation(call: _Call, entity: EntityDef, record_id: str, status: int) -> Response:
    select = parse_select(call.params.get("$select"), entity)
    row = call.org.require(entity, record_id)
    body = {
        "@odata.context": context_url(call.base, entity.entity_set, select, "/$entity"),
        **serialize(row, entity, select, call.prefer),
    }
    applied = ["return=representation", *_annotations_applied(call.prefer)]
    return _json(body, status, applied)


async def _collection(call: _Call, entity: EntityDef, rest: str | None) -> Response:
    method, table = call.request.method, call.org.table(entity.entity_set)
    if rest == "/$count" and method == "GET":
        return PlainTextResponse(str(count_rows(table, call.params)), headers=ODATA_HEADERS)
    if rest:
        raise ODataError.query(f"The path '{rest}' is not emulated by the Dynamics sandbox.")
    if method == "GET":
        raw_query = call.request.url.query
        page = list_rows(table, call.params, call.prefer, call.base, raw_query, call.org.version)
        return _json(page.body, 200, page.applied + _annotations_applied(call.prefer))
    if method == "POST":
        change = call.org.create(entity, await _body(call, entity), call.user_id)
        _written(call, change)
        if call.prefer.representation:
            return _representation(call, entity, change.record_id, 201)
        return _no_content(call, entity, change.record_id)
    raise ODataError.method_not_allowed(method, entity.entity_set)


async def _record(call: _Call, entity: EntityDef, record_id: str) -> Response:
    method, org, headers = call.request.method, call.org, call.request.headers
    if entity.read_only and method != "GET":
        raise ODataError.method_not_allowed(method, f"{entity.entity_set}({record_id})")
    existing = org.get(entity, record_id)
    etag = f'W/"{existing["versionnumber"]}"' if existing else None
    if_match, if_none_match = headers.get("if-match"), headers.get("if-none-match")
    if method == "GET":
        if existing is None:
            raise ODataError.not_found(entity.logical_name, record_id)
        if if_none_match == etag and not call.prefer.annotations:
            return Response(status_code=304, headers=ODATA_HEADERS)
        return _representation(call, entity, record_id, 200)
    if method == "PATCH":
        body = await _body(call, entity)
        if existing is None:
            if if_match:  # If-Match: * (or an etag) prevents the create an upsert would do
                raise ODataError.not_found(entity.logical_name, record_id)
            change = org.create(entity, {**body, entity.primary_id: record_id}, call.user_id)
        else:
            if if_none_match == "*":  # prevents the update an upsert would do
                raise ODataError.duplicate()
            if if_match not in (None, "*", etag):
                raise ODataError.version_mismatch()
            change = org.update(entity, record_id, body, call.user_id)
        _written(call, change)
        if call.prefer.representation:
            return _representation(call, entity, record_id, 200)
        return _no_content(call, entity, record_id)
    if method == "DELETE":
        if existing is None:
            raise ODataError.not_found(entity.logical_name, record_id)
        if if_match not in (None, "*", etag):
            raise ODataError.version_mismatch()
        _written(call, org.delete(entity, record_id, call.user_id))
        return Response(status_code=204, headers=ODATA_HEADERS)
    raise ODataError.method_not_allowed(method, f"{entity.entity_set}({record_id})")
