"""Helpers shared by the test suites."""

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import uvicorn

from services.store.repository import Connection

T = TypeVar("T")


class _Server(uvicorn.Server):
    """uvicorn that says when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app over real HTTP on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", ws="none", http="h11")
    server = _Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    await asyncio.wait_for(server.listening.wait(), 10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def eventually(probe: Callable[[], Awaitable[T | None]], within: float = 30.0) -> T:
    """The first truthy result of `probe`, polled until `within` seconds have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await probe()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.2)


def app_connection(
    cid: str,
    name: str | None = None,
    base_url: str = "http://127.0.0.1:1/org",
    access_token: str = "t",
) -> Connection:
    """A Dynamics 365 connection as the store keeps it, for tests that write it directly."""
    return Connection(
        id=cid,
        app="dynamics365",
        name=name or cid,
        base_url=base_url,
        credentials={"access_token": access_token},
        webhook_key="k",
        app_user_id="u",
        created_at=datetime.now(UTC),
    )
