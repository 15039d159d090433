"""A property-based fuzz run of the control API from its own OpenAPI schema (schemathesis): every
operation, as an admin and as a viewer, gets the schema's examples, its coverage cases (edges,
missing and wrong-typed fields) and random requests; none may get a 5xx, and every answer must be
one the schema declares, in the shape it declares.

The API serves over real HTTP from a thread with its own event loop and its own embedded
PostgreSQL: schemathesis calls it synchronously, and a database whose output pipe is drained by
the session's (then idle) event loop could stall on a long fuzz run. The HubSpot and Dynamics
sandboxes serve beside it, seeded with the demo's contacts, so that a connection, syncs and a
HubSpot account exist for the fuzzer to reach the code behind the 404s, dry runs included.

No operation is left out. Those that call HubSpot or the app (`PUT /v1/hubspot`,
`POST /v1/connections`, the dry run) are fuzzed too, but no request leaves the machine: a
`base_url` the fuzzer makes up is re-aimed, keeping its path, at a sandbox or at a loopback port
nothing listens on (see `_aim`), where it must get a 4xx or a 502 within the connectors' few
attempts.

Not checked: `unsupported_method` (Starlette's 405 names only the methods of the first route on
a path in its `Allow` header) and `negative_data_rejection` (pydantic's lax mode takes a number as a
unix time where the schema says date-time).
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import HttpUrl, TypeAdapter, ValidationError
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from schemas.settings import SyncSettings, SyncState
from services.config import DatabaseSettings
from services.devstack.database import EmbeddedPostgres
from services.devstack.demo import dynamics_contacts, hubspot_contacts
from services.devstack.supervisor import discard_output, free_ports
from services.sandbox.dynamics.app import create_app as dynamics_app
from services.sandbox.hubspot.app import create_app as hubspot_app
from services.status_api.app import create_app
from services.store.migrate import migrate
from services.store.repository import HubSpotAccount, Store
from services.tokens import create_token
from tests.helpers import app_connection, serve

pytestmark = pytest.mark.integration

CID = "fuzz-conn"  # a connection with syncs, which the fuzzer's ids are often swapped for
EXAMPLES = 30  # random requests per operation and role, besides the examples and coverage cases
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
]
_URL = TypeAdapter(HttpUrl)


@dataclass(frozen=True)
class Served:
    api: str
    hubspot: str
    dynamics: str
    nowhere: str  # a loopback address nothing listens on
    admin: dict[str, str]
    viewer: dict[str, str]


class _ApiThread(threading.Thread):
    """The API, its database and the sandboxes, on an event loop of their own."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(name="fuzzed-api", daemon=True)
        self.data_dir = data_dir
        self.ready = threading.Event()
        self.served: Served | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.error = exc
        finally:
            self.ready.set()

    def stop(self) -> None:
        if self._loop is not None and self._done is not None:
            self._loop.call_soon_threadsafe(self._done.set)
        self.join(timeout=30)

    async def _main(self) -> None:
        self._loop, self._done = asyncio.get_running_loop(), asyncio.Event()
        async with AsyncExitStack() as stack:
            database = DatabaseSettings()
            if "database_url" in database.model_fields_set:
                dsn = database.database_url
            else:
                (port,) = free_ports(1)
                dsn = await stack.enter_async_context(
                    EmbeddedPostgres(self.data_dir, port, durable=False, output=discard_output)
                )
            await migrate(dsn)
            store = await Store.connect(dsn)
            stack.push_async_callback(store.close)
            hubspot = await stack.enter_async_context(serve(hubspot_app()))
            dynamics = await stack.enter_async_context(serve(dynamics_app()))
            await _seed(store, hubspot, dynamics)
            _, admin = await create_token(store, "admin", "fuzz-admin")
            _, viewer = await create_token(store, "viewer", "fuzz-viewer")
            api = await stack.enter_async_context(serve(create_app(store, None)))
            (closed,) = free_ports(1)
            self.served = Served(
                api=api,
                hubspot=hubspot,
                dynamics=dynamics,
                nowhere=f"http://127.0.0.1:{closed}",
                admin={"Authorization": f"Bearer {admin}"},
                viewer={"Authorization": f"Bearer {viewer}"},
            )
            self.ready.set()
            await self._done.wait()


async def _seed(store: Store, hubspot: str, dynamics: str) -> None:
    """The HubSpot account, a connection with a running and a draft sync, and the demo's
    contacts on both sides, for the dry runs to match and decide on."""
    async with httpx.AsyncClient() as http:
        for url, body in (
            (f"{hubspot}/_sandbox/seed", {"contacts": hubspot_contacts()}),
            (f"{dynamics}/_sandbox/orgs/demo/seed", {"contacts": dynamics_contacts()}),
        ):
            (await http.post(url, json=body)).raise_for_status()
        # Hundreds of dry runs would spend HubSpot's 100 requests per 10 s and then wait out
        # its windows past the request timeout: the fuzz is about answers, not rate limits.
        limits = {"ten_second_budget": 1_000_000, "search_per_second": 1_000_000}
        (await http.put(f"{hubspot}/_sandbox/limits", json=limits)).raise_for_status()
    await store.put_hubspot(
        HubSpotAccount(
            base_url=hubspot,
            access_token="sandbox-hubspot-token",
            app_secret="sandbox-hubspot-app-secret",
            portal_id=None,
            app_id=None,
        )
    )
    await store.create_connection(
        app_connection(
            CID, name="fuzz", base_url=f"{dynamics}/demo", access_token="sandbox-dynamics-token"
        )
    )
    for obj, state in (("contacts", SyncState.SYNCING), ("companies", SyncState.DRAFT)):
        await store.put_sync(CID, obj, SyncSettings())
        await store.set_sync_state(CID, obj, state)


@pytest.fixture(scope="module")
def served(scratch_dir: Path) -> Iterator[Served]:
    thread = _ApiThread(scratch_dir / "fuzz-database")
    thread.start()
    thread.ready.wait(timeout=120)
    try:
        if thread.served is None:
            raise RuntimeError("the fuzzed API did not start") from thread.error
        yield thread.served
    finally:
        thread.stop()


# Loaded at import, for pytest to collect one test per operation; the served `/openapi.json` is
# the same document (`test_the_served_schema_is_the_one_fuzzed`). Building it needs no store.
OPENAPI = create_app(cast(Store, None), None).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
schema.config.generation.update(
    max_examples=EXAMPLES,
    # The token is the test's to send: a generated one would only ever be refused.
    with_security_parameters=False,
)


def _aim(case: Any, served: Served) -> None:
    """Swap some made-up ids for the seeded connection's, so that the fuzzer gets past the 404
    too (never for a DELETE, so that the seeded connection and syncs stay); and re-aim every URL the API would call out to at a sandbox or at a closed port, keeping
    its path. Decided by the case's own values, so that Hypothesis replays the same requests."""
    params = case.path_parameters or {}
    cid = params.get("cid")
    if (
        isinstance(cid, str)
        and case.method != "DELETE"
        and zlib.crc32(cid.encode("utf-8", "replace")) % 3
    ):
        params["cid"] = CID
    body = case.body
    if not (isinstance(body, dict) and isinstance(body.get("base_url"), str)):
        return
    try:
        url = _URL.validate_python(body["base_url"])
    except ValidationError:
        return  # refused with 422 before anything is called
    sandbox = served.hubspot if case.path == "/v1/hubspot" else served.dynamics
    target = urlsplit(sandbox if zlib.crc32(str(url).encode()) % 2 else served.nowhere)
    body["base_url"] = urlunsplit(
        (target.scheme, target.netloc, url.path or "", url.query or "", "")
    )


SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)


@schema.parametrize()
@SETTINGS
def test_no_request_of_an_admin_gets_a_server_error_or_an_undeclared_answer(
    case: Any, served: Served
) -> None:
    _aim(case, served)
    case.call_and_validate(base_url=served.api, headers=served.admin, checks=CHECKS, timeout=30)


@schema.parametrize()
@SETTINGS
def test_no_request_of_a_viewer_gets_a_server_error_or_an_undeclared_answer(
    case: Any, served: Served
) -> None:
    _aim(case, served)
    case.call_and_validate(base_url=served.api, headers=served.viewer, checks=CHECKS, timeout=30)


def test_the_served_schema_is_the_one_fuzzed(served: Served) -> None:
    assert httpx.get(f"{served.api}/openapi.json").json() == OPENAPI
