"""A real webhook receiver for HubSpot sandbox tests: uvicorn on a free loopback port."""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response


@dataclass
class Receiver:
    url: str = ""
    deliveries: list[list[dict[str, Any]]] = field(default_factory=list)
    hold_seconds: float = 0.0
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


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


@asynccontextmanager
async def serve_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = FastAPI()

    @app.post("/webhooks/hubspot")
    async def take(request: Request) -> Response:
        events = await request.json()
        if receiver.hold_seconds:
            await asyncio.sleep(receiver.hold_seconds)
        receiver.deliveries.append(events)
        receiver.arrived.set()
        return Response(status_code=204)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", http="h11")
    server = _Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    await asyncio.wait_for(server.listening.wait(), 5)
    receiver.url = f"http://127.0.0.1:{port}/webhooks/hubspot"
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
        sock.close()
