"""The HubSpot sandbox's identity endpoints, rate limits, fault injection and test control."""

import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from services.config import SandboxSettings
from services.sandbox.hubspot.app import create_app

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
AS_USER = {**AUTH, "X-Sandbox-Actor": "user"}
CONTACTS = "/crm/v3/objects/contacts"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> FastAPI:
    return create_app(SandboxSettings(sandbox_hubspot_token=TOKEN), clock=clock)


@pytest_asyncio.fixture
async def hubspot(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hubspot") as client:
        yield client
    await app.state.sandbox.webhooks.aclose()


async def seed(hubspot: httpx.AsyncClient, *emails: str) -> list[str]:
    rows = [{"email": e, "firstname": e.split("@")[0].title()} for e in emails]
    response = await hubspot.post("/_sandbox/seed", json={"contacts": rows})
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()["contacts"]
    return ids


# -- who the token belongs to ---------------------------------------------------------------


async def test_token_info_names_the_app_and_portal_the_private_app_token_belongs_to(
    hubspot: httpx.AsyncClient,
) -> None:
    response = await hubspot.post(
        "/oauth/v2/private-apps/get/access-token-info", json={"tokenKey": TOKEN}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["appId"], body["hubId"]) == (1000001, 900001)
    assert "crm.objects.contacts.write" in body["scopes"]


async def test_token_info_refuses_a_token_the_sandbox_does_not_know(
    hubspot: httpx.AsyncClient,
) -> None:
    response = await hubspot.post(
        "/oauth/v2/private-apps/get/access-token-info", json={"tokenKey": "pat-na1-nope"}
    )
    assert response.status_code == 401


async def test_account_details_give_the_portal_id(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get("/account-info/v3/details", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["portalId"] == 900001


# -- rate limits ----------------------------------------------------------------------------


async def test_every_admitted_response_carries_hubspots_rate_limit_headers_counting_down(
    hubspot: httpx.AsyncClient,
) -> None:
    first = await hubspot.get(CONTACTS, headers=AUTH)
    second = await hubspot.get(CONTACTS, headers=AUTH)
    assert first.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "99"
    assert second.headers["X-HubSpot-RateLimit-Remaining"] == "98"


async def test_exceeding_the_ten_second_budget_is_a_429_until_the_window_rolls_on(
    hubspot: httpx.AsyncClient, clock: FakeClock
) -> None:
    await hubspot.put("/_sandbox/limits", json={"ten_second_budget": 3})
    statuses = [(await hubspot.get(CONTACTS, headers=AUTH)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = await hubspot.get(CONTACTS, headers=AUTH)
    body = refused.json()
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    clock.now += 10.001
    assert (await hubspot.get(CONTACTS, headers=AUTH)).status_code == 200


async def test_search_is_limited_per_second_on_top_of_the_ten_second_budget(
    hubspot: httpx.AsyncClient, clock: FakeClock
) -> None:
    search = f"{CONTACTS}/search"
    statuses = [(await hubspot.post(search, json={}, headers=AUTH)).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert (await hubspot.get(CONTACTS, headers=AUTH)).status_code == 200
    clock.now += 1.0
    assert (await hubspot.post(search, json={}, headers=AUTH)).status_code == 200


# -- faults ---------------------------------------------------------------------------------


async def test_an_injected_429_fails_the_next_n_requests_then_the_api_answers_again(
    hubspot: httpx.AsyncClient,
) -> None:
    await hubspot.post("/_sandbox/faults", json={"status": 429, "count": 2})
    statuses = [(await hubspot.get(CONTACTS, headers=AUTH)).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]


async def test_an_injected_server_error_hits_only_requests_under_its_path_prefix(
    hubspot: httpx.AsyncClient,
) -> None:
    await hubspot.post(
        "/_sandbox/faults",
        json={"status": 503, "count": 1, "path_prefix": f"{CONTACTS}/batch"},
    )
    assert (await hubspot.get(CONTACTS, headers=AUTH)).status_code == 200
    batch = await hubspot.post(f"{CONTACTS}/batch/read", json={"inputs": []}, headers=AUTH)
    assert batch.status_code == 503
    assert batch.json()["status"] == "error"
    again = await hubspot.post(f"{CONTACTS}/batch/read", json={"inputs": []}, headers=AUTH)
    assert again.status_code == 200


async def test_an_injected_delay_hangs_the_request_before_it_fails(
    hubspot: httpx.AsyncClient,
) -> None:
    await hubspot.post("/_sandbox/faults", json={"status": 504, "delay_seconds": 0.2})
    started = time.monotonic()
    response = await hubspot.get(CONTACTS, headers=AUTH)
    assert response.status_code == 504
    assert time.monotonic() - started >= 0.2


# -- counters, seed, reset ------------------------------------------------------------------


async def test_counters_count_requests_by_route_template_and_writes_by_records(
    hubspot: httpx.AsyncClient,
) -> None:
    inputs = [{"properties": {"email": f"p{i}@example.com"}} for i in range(3)]
    created = await hubspot.post(f"{CONTACTS}/batch/create", json={"inputs": inputs}, headers=AUTH)
    first_id = created.json()["results"][0]["id"]
    await hubspot.get(f"{CONTACTS}/{first_id}", headers=AUTH)
    await hubspot.get(CONTACTS, headers={})  # refused, still counted
    await hubspot.patch(
        f"{CONTACTS}/{first_id}", json={"properties": {"firstname": "P"}}, headers=AUTH
    )
    counters = (await hubspot.get("/_sandbox/counters")).json()
    assert counters["requests"] == {
        "POST /crm/v3/objects/contacts/batch/create": 1,
        "GET /crm/v3/objects/contacts/{object_id}": 1,
        "GET /crm/v3/objects/contacts": 1,
        "PATCH /crm/v3/objects/contacts/{object_id}": 1,
    }
    assert (counters["writes"], counters["records_written"]) == (2, 4)
    assert (await hubspot.delete("/_sandbox/counters")).status_code == 204
    cleared = (await hubspot.get("/_sandbox/counters")).json()
    assert (cleared["requests"], cleared["writes"], cleared["records_written"]) == ({}, 0, 0)


async def test_a_simulated_person_is_not_counted_rate_limited_or_faulted(
    hubspot: httpx.AsyncClient,
) -> None:
    await hubspot.put("/_sandbox/limits", json={"ten_second_budget": 1})
    await hubspot.post("/_sandbox/faults", json={"status": 500, "count": 1})
    for i in range(3):
        response = await hubspot.post(
            CONTACTS, json={"properties": {"email": f"u{i}@example.com"}}, headers=AS_USER
        )
        assert response.status_code == 201
    counters = (await hubspot.get("/_sandbox/counters")).json()
    assert (counters["requests"], counters["writes"]) == ({}, 0)
    assert (await hubspot.get(CONTACTS, headers=AUTH)).status_code == 500  # fault still pending


async def test_seeding_writes_records_directly_without_counting_requests(
    hubspot: httpx.AsyncClient,
) -> None:
    ids = await seed(hubspot, "ada@example.com", "bob@example.com")
    assert len(ids) == 2
    assert all(i.isdigit() for i in ids)
    counters = (await hubspot.get("/_sandbox/counters")).json()
    assert (counters["requests"], counters["writes"]) == ({}, 0)
    read = await hubspot.get(f"{CONTACTS}/{ids[1]}", headers=AUTH)
    assert read.json()["properties"]["firstname"] == "Bob"


async def test_seeding_can_backdate_the_modification_date(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.post(
        "/_sandbox/seed",
        json={"contacts": [{"email": "old@example.com", "lastmodifieddate": "1600000000000"}]},
    )
    (record_id,) = response.json()["contacts"]
    body = (await hubspot.get(f"{CONTACTS}/{record_id}", headers=AUTH)).json()
    assert body["updatedAt"] == "2020-09-13T12:26:40Z"


async def test_seeding_a_taken_email_is_refused_and_writes_nothing(
    hubspot: httpx.AsyncClient,
) -> None:
    await seed(hubspot, "ada@example.com")
    rows = [{"email": "new@example.com"}, {"email": "ada@example.com"}]
    response = await hubspot.post("/_sandbox/seed", json={"contacts": rows})
    assert response.status_code == 409
    assert len((await hubspot.get(CONTACTS, headers=AUTH)).json()["results"]) == 1


async def test_a_hundred_thousand_contacts_are_seeded_in_one_request(
    hubspot: httpx.AsyncClient,
) -> None:
    rows = [{"email": f"person{i}@example.com", "firstname": f"P{i}"} for i in range(100_000)]
    response = await hubspot.post("/_sandbox/seed", json={"contacts": rows})
    assert response.status_code == 200
    assert len(response.json()["contacts"]) == 100_000


async def test_reset_forgets_records_counters_faults_limits_and_the_webhook_target(
    hubspot: httpx.AsyncClient,
) -> None:
    await seed(hubspot, "ada@example.com")
    await hubspot.put("/_sandbox/webhook", json={"url": "http://127.0.0.1:9/hooks"})
    await hubspot.put("/_sandbox/limits", json={"ten_second_budget": 1})
    await hubspot.get(CONTACTS, headers=AUTH)
    await hubspot.post("/_sandbox/faults", json={"status": 500, "count": 5})
    assert (await hubspot.post("/_sandbox/reset")).status_code == 204
    listed = await hubspot.get(CONTACTS, headers=AUTH)
    assert listed.status_code == 200
    assert listed.json()["results"] == []
    assert listed.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert (await hubspot.get("/_sandbox/webhook")).json() == {"url": None}
    counters = (await hubspot.get("/_sandbox/counters")).json()
    assert counters["requests"] == {"GET /crm/v3/objects/contacts": 1}


async def test_requests_refused_by_a_rate_limit_are_counted_as_throttled(
    hubspot: httpx.AsyncClient,
) -> None:
    await hubspot.put("/_sandbox/limits", json={"ten_second_budget": 2})
    statuses = [(await hubspot.get(CONTACTS, headers=AUTH)).status_code for _ in range(5)]
    assert statuses == [200, 200, 429, 429, 429]
    counters = (await hubspot.get("/_sandbox/counters")).json()
    assert (counters["requests"]["GET /crm/v3/objects/contacts"], counters["throttled"]) == (5, 3)
    await hubspot.delete("/_sandbox/counters")
    assert (await hubspot.get("/_sandbox/counters")).json()["throttled"] == 0
