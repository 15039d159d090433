"""The HubSpot sandbox's daily budget and the shape of every error it answers with."""

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from services.config import SandboxSettings
from services.sandbox.hubspot.app import create_app

AUTH = {"Authorization": "Bearer sandbox-hubspot-token"}
CONTACTS = "/crm/v3/objects/contacts"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def hubspot() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(SandboxSettings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hubspot") as client:
        yield client
    await app.state.sandbox.webhooks.aclose()


async def test_responses_report_the_private_apps_daily_budget_counting_down(
    hubspot: httpx.AsyncClient,
) -> None:
    first = await hubspot.get(CONTACTS, headers=AUTH)
    second = await hubspot.get(CONTACTS, headers=AUTH)
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "250000"
    assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "249999"
    assert second.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "249998"
    usage = await hubspot.get("/account-info/v3/api-usage/daily/private-apps", headers=AUTH)
    (result,) = usage.json()["results"]
    assert (result["usageLimit"], result["currentUsage"]) == (250000, 3)
    assert result["name"] == "private-apps-api-calls-daily"


async def test_a_spent_daily_budget_is_a_429_daily_until_the_next_utc_day() -> None:
    app = create_app(SandboxSettings())
    wall = FakeClock(1_700_000_000.0)
    app.state.sandbox.limiter.wall_clock = wall
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hubspot") as hubspot:
        await hubspot.put("/_sandbox/limits", json={"daily_budget": 2})
        statuses = [(await hubspot.get(CONTACTS, headers=AUTH)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        refused = await hubspot.get(CONTACTS, headers=AUTH)
        assert refused.json()["policyName"] == "DAILY"
        assert refused.json()["message"] == "You have reached your daily limit."
        assert refused.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
        wall.now += 86_400
        assert (await hubspot.get(CONTACTS, headers=AUTH)).status_code == 200


async def test_the_ten_second_and_search_limits_still_apply_beneath_the_daily_one(
    hubspot: httpx.AsyncClient,
) -> None:
    search = f"{CONTACTS}/search"
    statuses = [(await hubspot.post(search, json={}, headers=AUTH)).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "category"),
    [
        ("GET", CONTACTS, None, {}, 401, "INVALID_AUTHENTICATION"),
        ("GET", "/crm/v3/objects/widgets", None, AUTH, 400, "VALIDATION_ERROR"),
        ("GET", f"{CONTACTS}?limit=500", None, AUTH, 400, "VALIDATION_ERROR"),
        ("POST", CONTACTS, {"properties": {"nope": "1"}}, AUTH, 400, "VALIDATION_ERROR"),
        ("GET", f"{CONTACTS}/999999", None, AUTH, 404, "OBJECT_NOT_FOUND"),
        ("GET", "/crm/v3/nothing/here", None, AUTH, 404, "OBJECT_NOT_FOUND"),
        ("POST", CONTACTS, {"properties": {"email": "taken@example.com"}}, AUTH, 409, "CONFLICT"),
        ("GET", "/crm/v3/properties/contacts/nope", None, AUTH, 404, "OBJECT_NOT_FOUND"),
    ],
)
async def test_every_error_has_status_message_correlation_id_and_category(
    hubspot: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, object] | None,
    headers: dict[str, str],
    status: int,
    category: str,
) -> None:
    await hubspot.post(CONTACTS, json={"properties": {"email": "taken@example.com"}}, headers=AUTH)
    response = await hubspot.request(method, path, json=body, headers=headers)
    assert response.status_code == status
    answer = response.json()
    assert answer["status"] == "error"
    assert answer["category"] == category
    assert answer["message"]
    assert len(answer["correlationId"]) == 36
