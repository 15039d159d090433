"""What the Dynamics sandbox tests share: an in-process client, record helpers, and a webhook
receiver on a real loopback port."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from services.config import SandboxSettings
from services.sandbox.dynamics.app import create_app

TOKEN = "test-dynamics-token"
BASE = "/demo/api/data/v9.2/"
ORG_URL = f"http://dynamics{BASE}"
ANNOTATIONS = {"Prefer": 'odata.include-annotations="*"'}
FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOGICAL = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"


@asynccontextmanager
async def sandbox_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh sandbox, authenticated, over ASGI; the app is `client.app`."""
    app = create_app(SandboxSettings(sandbox_dynamics_token=TOKEN))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://dynamics", headers=headers
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
    finally:
        await app.state.sandbox.aclose()


def id_of(response: httpx.Response) -> str:
    assert response.status_code == 204, response.text
    location = response.headers["OData-EntityId"]
    return location[location.rindex("(") + 1 : -1]


async def create(client: httpx.AsyncClient, entity_set: str, **values: Any) -> str:
    return id_of(await client.post(f"{BASE}{entity_set}", json=values))


async def read(
    client: httpx.AsyncClient, entity_set: str, record_id: str, annotated: bool = False
) -> dict[str, Any]:
    response = await client.get(
        f"{BASE}{entity_set}({record_id})", headers=ANNOTATIONS if annotated else None
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_of(response: httpx.Response) -> dict[str, str]:
    error: dict[str, str] = response.json()["error"]
    return error


@dataclass
class Received:
    target: str
    headers: dict[str, str]
    raw: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    @property
    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed


@dataclass
class Receiver:
    """A webhook target on a free loopback port; answers 500 to its first `failures` posts."""

    failures: int = 0
    delay: float = 0.0
    gate: asyncio.Event | None = None  # when set, a post is answered only once it opens
    attempts: int = 0
    received: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def __aenter__(self) -> "Receiver":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/webhooks/dynamics/c1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            while line := await reader.readline():
                target = line.decode().split(" ")[1]
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                self.attempts += 1
                await asyncio.sleep(self.delay)
                if self.gate is not None:
                    await self.gate.wait()
                status = 500 if self.failures > 0 else 200
                self.failures -= 1
                if status == 200:
                    self.received.put_nowait(Received(target, headers, raw))
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def next(self) -> Received:
        return await asyncio.wait_for(self.received.get(), 3)
