"""The control API's contract: tokens, error bodies and settings, against a real PostgreSQL."""

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from services.status_api.app import create_app
from services.store.migrate import migrate
from services.store.repository import Store

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-secret"}


@pytest_asyncio.fixture(scope="module")
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    await migrate(database_url)
    store = await Store.connect(database_url)
    app = create_app(store, "admin-secret")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        yield client
    await store.close()


async def test_requests_without_a_token_get_401_with_the_error_body(api: httpx.AsyncClient):
    response = await api.get("/v1/connections")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_a_wrong_token_gets_401(api: httpx.AsyncClient):
    response = await api.get("/v1/connections", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


async def test_an_unknown_connection_gets_404_with_the_error_body(api: httpx.AsyncClient):
    response = await api.get("/v1/connections/nope/health", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_connection"


async def test_a_malformed_connection_body_gets_422_naming_the_field(api: httpx.AsyncClient):
    response = await api.post(
        "/v1/connections", headers=ADMIN, json={"app": "salesforce", "name": "x"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert "app" in error["message"]


async def test_an_unreachable_app_is_refused_with_422_not_500(api: httpx.AsyncClient):
    response = await api.post(
        "/v1/connections",
        headers=ADMIN,
        json={
            "app": "dynamics365",
            "name": "nowhere",
            "base_url": "http://127.0.0.1:9/org",
            "credentials": {"access_token": "t"},
        },
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "app_unreachable"


async def test_the_dashboard_page_is_served(api: httpx.AsyncClient):
    response = await api.get("/dashboard")
    assert response.status_code == 200
    assert "datasync" in response.text
