"""Inputs that once reached the store or an app's client and answered 500: each is now a 4xx
with the contract's error body (found by the fuzz run in test_status_api_fuzz.py and by probing
around what it found)."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from schemas.settings import SyncSettings
from services.devstack.supervisor import free_ports
from services.status_api.app import create_app
from services.store.migrate import migrate
from services.store.repository import HubSpotAccount, Store
from tests.helpers import app_connection

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-secret"}
CID = "c-inputs"


@pytest_asyncio.fixture(scope="module")
async def nowhere() -> str:
    (port,) = free_ports(1)
    return f"http://127.0.0.1:{port}"


@pytest_asyncio.fixture(scope="module")
async def api(database_url: str, nowhere: str) -> AsyncIterator[httpx.AsyncClient]:
    await migrate(database_url)
    store = await Store.connect(database_url)
    await store.create_connection(app_connection(CID, name="inputs", base_url=f"{nowhere}/org"))
    await store.put_sync(CID, "contacts", SyncSettings())
    app = create_app(store, "admin-secret")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", headers=ADMIN
    ) as client:
        yield client
    await store.close()


def _refused(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.mark.parametrize(
    "path",
    [
        "/v1/connections/a%00b",
        "/v1/connections/a%00b/health",
        f"/v1/connections/{CID}/audit?record=a%00b",
        f"/v1/connections/{CID}/records?cursor=%00",
    ],
)
async def test_a_nul_character_in_the_path_or_query_gets_422(api: httpx.AsyncClient, path: str):
    error = _refused(await api.get(path))
    assert error["code"] == "invalid_request"
    assert "NUL" in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        '{"filters": {"hubspot": [{"property": "email", "op": "eq", "value": "a\\u0000b"}]}}',
        '{"filters": {"hubspot": [{"property": "email", "op": "eq", "value": "\\ud800"}]}}',
        '{"mappings": [{"hubspot": "firstname", "app": "firstname", "value_map": {"\\u0000": "x"}}]}',
    ],
)
async def test_text_the_store_cannot_hold_in_a_body_gets_422_naming_where(
    api: httpx.AsyncClient, body: str
):
    response = await api.put(
        f"/v1/connections/{CID}/syncs/contacts",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    error = _refused(response)
    assert error["code"] == "invalid_request"
    assert error["message"].startswith("body.")


async def test_the_token_check_comes_before_the_text_check(api: httpx.AsyncClient):
    response = await api.get("/v1/connections/a%00b", headers={"Authorization": ""})
    assert _refused(response, 401)["code"] == "unauthorized"


@pytest.mark.parametrize(
    "query",
    ["since=0001-01-01T00:00:00%2B14:00", "until=9999-12-31T23:59:59-14:00"],
)
async def test_a_time_that_leaves_the_calendar_in_utc_gets_422(api: httpx.AsyncClient, query: str):
    error = _refused(await api.get(f"/v1/connections/{CID}/records?{query}"))
    assert error["code"] == "invalid_range"


async def test_the_calendars_own_edges_without_an_offset_are_fine(api: httpx.AsyncClient):
    response = await api.get(
        f"/v1/connections/{CID}/records",
        params={"since": "0001-01-01T00:00:00", "until": "9999-12-31T23:59:59"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize("token", ["caf\u00e9", "two words", "line\nbreak"])
async def test_an_access_token_no_header_can_carry_gets_422(
    api: httpx.AsyncClient, nowhere: str, token: str
):
    hubspot = await api.put(
        "/v1/hubspot", json={"base_url": nowhere, "access_token": token, "app_secret": "s"}
    )
    assert _refused(hubspot)["code"] == "invalid_request"
    connection = await api.post(
        "/v1/connections",
        json={
            "app": "dynamics365",
            "name": "n",
            "base_url": nowhere,
            "credentials": {"access_token": token},
        },
    )
    assert _refused(connection)["code"] == "invalid_request"


async def test_an_unreachable_hubspot_account_is_refused_with_422(
    api: httpx.AsyncClient, nowhere: str
):
    response = await api.put(
        "/v1/hubspot", json={"base_url": nowhere, "access_token": "t", "app_secret": "s"}
    )
    assert _refused(response)["code"] == "hubspot_unreachable"


async def test_a_dry_run_against_unreachable_sides_answers_502(
    api: httpx.AsyncClient, database_url: str, nowhere: str
):
    store = await Store.connect(database_url)
    await store.put_hubspot(HubSpotAccount(nowhere, "t", "s", None, None))
    try:
        response = await api.post(f"/v1/connections/{CID}/syncs/contacts/dry-run")
    finally:
        # The account is the database's one: leave none for the other modules' tests.
        await store.pool.execute("DELETE FROM hubspot_account")
        await store.close()
    assert _refused(response, 502)["code"] == "app_unreachable"


async def test_a_body_that_is_not_utf8_gets_400_with_the_error_body(api: httpx.AsyncClient):
    response = await api.put(
        "/v1/hubspot", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert _refused(response, 400)["code"] == "http_error"


async def test_a_method_a_path_does_not_take_says_which_it_does(api: httpx.AsyncClient):
    response = await api.patch(f"/v1/connections/{CID}")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    # Starlette names the methods of the first route on the path.
    assert "GET" in response.headers["allow"]
