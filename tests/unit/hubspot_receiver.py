"""A real webhook receiver for HubSpot sandbox tests: uvicorn on a free loopback port."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response

from tests.helpers import serve


@dataclass
class Receiver:
    url: str = ""
    deliveries: list[list[dict[str, Any]]] = field(default_factory=list)
    hold_seconds: float = 0.0
    gate: asyncio.Event | None = None  # when set, a delivery is taken only once it opens
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def events(self) -> list[dict[str, Any]]:
        return [e for d in self.deliveries for e in d]

    async def wait_for(self, count: int, within: float = 3.0) -> list[dict[str, Any]]:
        """Every event so far, once at least `count` arrived."""
        async with asyncio.timeout(within):
            while len(self.events()) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.events()

    def clear(self) -> None:
        self.deliveries.clear()
        self.hold_seconds = 0.0


@asynccontextmanager
async def serve_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = FastAPI()

    @app.post("/webhooks/hubspot")
    async def take(request: Request) -> Response:
        events = await request.json()
        if receiver.hold_seconds:
            await asyncio.sleep(receiver.hold_seconds)
        if receiver.gate is not None:
            await receiver.gate.wait()
        receiver.deliveries.append(events)
        receiver.arrived.set()
        return Response(status_code=204)

    async with serve(app) as base_url:
        receiver.url = f"{base_url}/webhooks/hubspot"
        yield receiver
