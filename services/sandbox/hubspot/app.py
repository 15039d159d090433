"""The HubSpot sandbox app: HubSpot's API paths, `/_sandbox/` test control, `/healthz`.

Every emulated-API request passes one gate, in this order: counted (per route template),
faulted if a test injected a fault, authenticated (`Authorization: Bearer <token>`, else
HubSpot's 401), rate limited (else HubSpot's 429); admitted responses carry HubSpot's
rate-limit headers. The webhooks API (`/webhooks/v3/{appId}/...`) is a developer-account API:
it authenticates with the developer API key in `hapikey` instead and spends no account budget.

Served: CRM objects v3 (`api`, `batch`, search, merge), properties v3 (`properties_api`),
associations v4 (`associations_api`), webhooks v3 settings and subscriptions (`webhooks_api`),
account and token information (`account`); test control under `/_sandbox/` (`control`,
`generate`).
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.routing import Match

from services.config import SandboxSettings
from services.sandbox.hubspot import (
    account,
    api,
    associations_api,
    batch,
    control,
    errors,
    generate,
    properties_api,
    webhooks_api,
)
from services.sandbox.hubspot.limits import TEN_SECONDLY, Fault
from services.sandbox.hubspot.state import INTEGRATION, Sandbox, actor_of, sandbox_of
from services.sandbox.hubspot.webhooks import WebhookPolicy

_NOT_EMULATED = ("/_sandbox", "/healthz")
# Matched here, before routing, so that even refused requests are counted by route template.
_ROUTERS = (
    account.router,
    batch.router,
    api.router,
    properties_api.router,
    associations_api.router,
    webhooks_api.router,
)
_EMULATED_ROUTES = tuple(route for router in _ROUTERS for route in router.routes)
_TYPE_PARAMS = ("object_type", "to_object_type", "from_object_type")
Handler = Callable[[Request], Awaitable[Response]]


def create_app(
    settings: SandboxSettings | None = None,
    *,
    webhook_policy: WebhookPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """`webhook_policy` and `clock` let tests compress retries and move rate-limit time."""
    sandbox = Sandbox(settings or SandboxSettings(), webhook_policy, clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await sandbox.webhooks.aclose()

    app = FastAPI(
        title="HubSpot sandbox",
        description="Emulated HubSpot CRM API for datasync's tests and embedded stack",
        lifespan=lifespan,
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = sandbox
    errors.install_handlers(app)
    app.include_router(control.router)
    app.include_router(generate.router)
    for router in _ROUTERS:
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.middleware("http")(_gate)
    return app


async def _gate(request: Request, call_next: Handler) -> Response:
    path = request.url.path
    if path.startswith(_NOT_EMULATED):
        return await call_next(request)
    sandbox = sandbox_of(request)
    from_integration = actor_of(request) is INTEGRATION
    route, is_search = _route_key(request)
    if from_integration:
        sandbox.counters.requests[route] += 1
        fault = sandbox.faults.take(path)
        if fault is not None:
            if fault.delay_seconds:
                await asyncio.sleep(fault.delay_seconds)
            if fault.status is not None:
                return _fault_response(sandbox, fault)
    if path == account.TOKEN_INFO_PATH:
        return await call_next(request)  # the token travels in the body
    if path.startswith(webhooks_api.PREFIX):
        # The developer account's API key, not the app's token: no account rate limits.
        if request.query_params.get("hapikey") != sandbox.settings.sandbox_hubspot_developer_key:
            return JSONResponse(errors.developer_key_invalid().body, status_code=401)
        return await call_next(request)
    token = _bearer(request)
    if token != sandbox.settings.sandbox_hubspot_token:
        return JSONResponse(errors.unauthorized().body, status_code=401)
    if not from_integration:
        return await call_next(request)
    decision = sandbox.limiter.admit(token, is_search)
    if not decision.allowed:
        sandbox.counters.throttled += 1
        body = errors.rate_limited(decision.policy or TEN_SECONDLY)
        return JSONResponse(body, status_code=429, headers=decision.headers)
    response = await call_next(request)
    response.headers.update(decision.headers)
    return response


def _bearer(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def _route_key(request: Request) -> tuple[str, bool]:
    """("METHOD /template with the object type filled in", is it a search)."""
    method = request.method
    for route in _EMULATED_ROUTES:
        match, child = route.matches(request.scope)
        if match is Match.FULL:
            template: str = getattr(route, "path", request.url.path)
            params = child.get("path_params", {})
            for name in _TYPE_PARAMS:
                if params.get(name):
                    template = template.replace("{" + name + "}", params[name])
            return f"{method} {template}", method == "POST" and template.endswith("/search")
    return f"{method} {request.url.path}", False


def _fault_response(sandbox: Sandbox, fault: Fault) -> JSONResponse:
    status = fault.status or 500
    if status == 429:
        body = errors.rate_limited(TEN_SECONDLY)
        return JSONResponse(body, status_code=429, headers=sandbox.limiter.exhausted())
    if status == 401:
        return JSONResponse(errors.unauthorized().body, status_code=401)
    return JSONResponse(errors.server_error(status), status_code=status)
