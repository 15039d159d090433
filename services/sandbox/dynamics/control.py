"""Test control under `/_sandbox/`: reset, organisations, seeding, limits, faults, counters.

Never part of the emulated API and not authenticated; tests and `make run` drive it.
"""

from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, model_validator

from services.sandbox.dynamics.catalog import CATALOG
from services.sandbox.dynamics.errors import ODataError
from services.sandbox.dynamics.generate import load
from services.sandbox.dynamics.state import ORG_NAME, Fault, Limits, Sandbox
from services.sandbox.dynamics.store import Org

router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])


class LimitsBody(BaseModel):
    requests_per_window: int = Field(gt=0, description="Requests allowed per org per window")
    window_seconds: float = Field(gt=0, description="Length of the sliding window")


class FaultBody(BaseModel):
    status: int | None = Field(
        None,
        description="429, a 5xx, or 400 (a refused record, as for an invalid argument); "
        "omit to only delay requests",
    )
    count: int = Field(1, ge=1, description="How many matching requests it applies to")
    org: str | None = Field(None, description="Only requests to this organisation")
    path_prefix: str | None = Field(
        None,
        description="Only requests whose resource path (e.g. 'contacts') or, when it starts "
        "with '/', whose full URL path starts with this",
    )
    delay_seconds: float = Field(0.0, ge=0, description="Wait this long before answering")
    retry_after: int = Field(1, ge=0, description="Retry-After seconds of an injected 429")

    @model_validator(mode="after")
    def check_status(self) -> Self:
        if (
            self.status is not None
            and self.status not in (400, 429)
            and not 500 <= self.status <= 599
        ):
            raise ValueError("status must be 400, 429 or a 5xx")
        if self.status is None and not self.delay_seconds:
            raise ValueError("give a status, a delay, or both")
        return self


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def _org(request: Request, name: str) -> Org:
    org = _sandbox(request).orgs.get(name)
    if org is None:
        raise HTTPException(404, f"unknown organisation '{name}'")
    return org


@router.post("/reset", status_code=204)
async def reset(request: Request) -> Response:
    """Every organisation back to empty (demo and demo2 exist); counters, faults, budgets
    and webhook registrations cleared."""
    _sandbox(request).reset()
    return Response(status_code=204)


@router.put("/orgs/{name}", status_code=204)
async def create_org(name: str, request: Request) -> Response:
    if not ORG_NAME.match(name):
        raise HTTPException(422, "an organisation name is lower-case letters, digits and '-'")
    _sandbox(request).add_org(name)
    return Response(status_code=204)


@router.get("/orgs/{name}")
async def describe_org(name: str, request: Request) -> dict[str, str]:
    """The organisation's fixed ids: OrganizationId, BusinessUnitId, and the two users."""
    identity = _org(request, name).identity
    return {
        "name": identity.name,
        "organization_id": identity.organization_id,
        "business_unit_id": identity.business_unit_id,
        "application_user_id": identity.application_user_id,
        "human_user_id": identity.human_user_id,
    }


@router.post("/orgs/{name}/seed", response_model=None)
async def seed(
    name: str,
    request: Request,
    body: Annotated[dict[str, list[dict[str, Any]]], Body()],
    actor: Annotated[Literal["user", "app"], Query()] = "user",
) -> dict[str, list[str]] | Response:
    """Creates records directly, e.g. `{"contacts": [{"emailaddress1": ...}]}`: no webhook
    fires and no request is counted. Records are made by the human user unless `actor=app`."""
    org = _org(request, name)
    user = org.identity.human_user_id if actor == "user" else org.identity.application_user_id
    unknown = [key for key in body if key not in CATALOG or not CATALOG[key].business]
    if unknown:
        raise HTTPException(422, f"not an emulated CRM entity set: {unknown[0]}")
    try:
        return {key: org.seed(CATALOG[key], records, user) for key, records in body.items()}
    except ODataError as error:
        return error.response()


class GenerateBody(BaseModel):
    counts: dict[str, int] = Field(
        description="Entities per datasync object type (contacts, companies, deals, products, "
        "invoices, sales_orders, activities); the app side holds about three quarters of each"
    )
    seed: int = Field(0, description="The same seed gives the same world on both sandboxes")


@router.post("/orgs/{name}/generate", response_model=None)
async def generate(
    name: str,
    body: GenerateBody,
    request: Request,
    actor: Annotated[Literal["user", "app"], Query()] = "user",
) -> dict[str, object] | Response:
    """Loads the app side of the shared seed dataset (`services.sandbox.seeding`): 200
    `{"created": {object type: n}}`, plus `"ids"` (seed key -> record id) for at most 1,000
    records. No webhook fires and no request is counted; all or nothing."""
    org = _org(request, name)
    user = org.identity.human_user_id if actor == "user" else org.identity.application_user_id
    try:
        loaded = load(org, body.counts, body.seed, user)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    except ODataError as error:
        return error.response()
    result: dict[str, object] = {"created": loaded.created}
    if loaded.ids:
        result["ids"] = loaded.ids
    return result


@router.put("/limits", status_code=204)
async def set_limits(body: LimitsBody, request: Request) -> Response:
    _sandbox(request).limits = Limits(body.requests_per_window, body.window_seconds)
    return Response(status_code=204)


@router.post("/faults", status_code=204)
async def add_fault(body: FaultBody, request: Request) -> Response:
    """The next `count` matching requests fail with `status` (429 carries Retry-After)."""
    fault = Fault(
        body.status, body.count, body.org, body.path_prefix, body.delay_seconds, body.retry_after
    )
    _sandbox(request).faults.append(fault)
    return Response(status_code=204)


@router.delete("/faults", status_code=204)
async def clear_faults(request: Request) -> Response:
    _sandbox(request).faults.clear()
    return Response(status_code=204)


@router.get("/counters")
async def counters(request: Request, org: str | None = None) -> dict[str, object]:
    """Requests by method and entity set, writes, webhook deliveries; all orgs without `org`."""
    if org is not None:
        _org(request, org)
    return _sandbox(request).counters_view(org)


@router.delete("/counters", status_code=204)
async def reset_counters(request: Request) -> Response:
    _sandbox(request).reset_counters()
    return Response(status_code=204)
