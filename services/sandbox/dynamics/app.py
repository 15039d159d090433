"""The Dynamics 365 sandbox application: the emulated Web API plus its test control."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.config import SandboxSettings
from services.sandbox.dynamics import api, control
from services.sandbox.dynamics.state import Sandbox


def create_app(settings: SandboxSettings | None = None) -> FastAPI:
    """The sandbox; its state is `app.state.sandbox` (close it with `await sandbox.aclose()`
    where no ASGI lifespan runs, as under `httpx.ASGITransport`)."""
    sandbox = Sandbox(settings or SandboxSettings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await sandbox.aclose()

    app = FastAPI(
        title="datasync Dynamics 365 sandbox",
        description="Emulated Dataverse Web API v9.2, one base URL per organisation.",
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox

    @app.get("/healthz", tags=["sandbox control"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(control.router)
    app.include_router(api.router)
    return app
