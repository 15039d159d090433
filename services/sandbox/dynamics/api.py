"""The emulated Dataverse Web API: `/{org}/api/data/v9.2/...` for every organisation.

Each request is, in order: resolved to its organisation (unknown -> 404), counted, checked for
the bearer token (401 with Dataverse's empty body and `WWW-Authenticate` challenge), given any
injected fault, checked against the service protection budget (429), then served. Writes are
made by the token's application user, or by the human user when the request carries the
test-control header `X-Sandbox-Actor: user`. A `$batch` is one request for the counters, the
faults and the budget; the operations inside it are served by the same handlers.
"""

import asyncio
import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.sandbox.dynamics import batch
from services.sandbox.dynamics.errors import ODataError
from services.sandbox.dynamics.handlers import Invocation, commit, dispatch
from services.sandbox.dynamics.state import Sandbox

router = APIRouter()
_VERSION = re.compile(r"^v9\.[0-2]$")
_NAME = re.compile(r"^[$A-Za-z_][\w.]*")


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


async def _serve(
    sandbox: Sandbox, request: Request, org_name: str, version: str, resource: str
) -> Response:
    org = sandbox.orgs.get(org_name)
    if org is None or not _VERSION.match(version):
        raise ODataError(404, "", f"There is no organization at '/{org_name}/api/data/{version}/'.")
    match = _NAME.match(resource)
    name = match.group() if match else resource.split("/")[0]
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
        if fault.status == 400:
            raise ODataError(400, "0x80040203", "Invalid argument.")
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
    invocation = Invocation(
        sandbox=sandbox,
        org=org,
        method=request.method,
        resource=resource,
        query=request.url.query,
        headers=request.headers,
        body=await request.body(),
        base=f"{request.base_url}{org.name}/api/data/{version}/",
    )
    if name == "$batch":
        return batch.execute(invocation)
    response = dispatch(invocation)
    commit(sandbox, org, invocation.changes, invocation.writes)
    return response
