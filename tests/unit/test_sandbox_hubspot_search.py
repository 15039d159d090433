"""The HubSpot sandbox's CRM search filters, sorts and pages as HubSpot documents it."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from services.config import SandboxSettings
from services.sandbox.hubspot.app import create_app

AUTH = {"Authorization": "Bearer sandbox-hubspot-token"}
SEARCH = "/crm/v3/objects/contacts/search"

PEOPLE = [
    {"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace", "score": "10"},
    {"email": "bob@acme.io", "firstname": "Bob", "lastname": "Smith", "score": "9"},
    {"email": "cleo@acme.io", "firstname": "Cleo", "score": "100"},
    {"email": "dan@example.com", "firstname": "Dan", "lastname": "Smith"},
]


@pytest.fixture
def app() -> FastAPI:
    return create_app(SandboxSettings())


@pytest_asyncio.fixture
async def hubspot(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hubspot") as client:
        app.state.sandbox.limiter.search_per_second = 1000  # these tests are about filtering
        yield client
    await app.state.sandbox.webhooks.aclose()


@pytest_asyncio.fixture
async def people(hubspot: httpx.AsyncClient) -> dict[str, str]:
    """email -> id of the four people above ("score" is a custom number property)."""
    score = {"name": "score", "label": "Score", "type": "number", "fieldType": "number"}
    created = await hubspot.post(
        "/crm/v3/properties/contacts",
        json={**score, "groupName": "contactinformation"},
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    response = await hubspot.post("/_sandbox/seed", json={"contacts": PEOPLE})
    return dict(zip((p["email"] for p in PEOPLE), response.json()["contacts"], strict=True))


def where(*groups: list[tuple[str, str, Any]], **body: Any) -> dict[str, Any]:
    filters = [
        {"filters": [{"propertyName": p, "operator": o, **_operand(v)} for p, o, v in group]}
        for group in groups
    ]
    return {"filterGroups": filters, **body}


def _operand(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {"values": value}
    if isinstance(value, tuple):
        return {"value": value[0], "highValue": value[1]}
    return {} if value is None else {"value": value}


async def emails(hubspot: httpx.AsyncClient, body: dict[str, Any]) -> list[str]:
    body = {"properties": ["email"], **body}
    response = await hubspot.post(SEARCH, json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    return [r["properties"]["email"] for r in response.json()["results"]]


async def test_eq_on_email_ignores_case(hubspot: httpx.AsyncClient, people: dict[str, str]) -> None:
    assert await emails(hubspot, where([("email", "EQ", "ADA@Example.com")])) == ["ada@example.com"]


async def test_filters_of_a_group_are_anded_and_groups_are_ored(
    hubspot: httpx.AsyncClient, people: dict[str, str]
) -> None:
    body = where(
        [("lastname", "EQ", "smith"), ("email", "CONTAINS_TOKEN", "*@acme.io")],
        [("firstname", "EQ", "Ada")],
    )
    assert await emails(hubspot, body) == ["ada@example.com", "bob@acme.io"]


async def test_numbers_compare_as_numbers_not_text(
    hubspot: httpx.AsyncClient, people: dict[str, str]
) -> None:
    assert await emails(hubspot, where([("score", "GT", "9")])) == [
        "ada@example.com",
        "cleo@acme.io",
    ]
    assert await emails(hubspot, where([("score", "LTE", 10)])) == [
        "ada@example.com",
        "bob@acme.io",
    ]
    assert await emails(hubspot, where([("score", "BETWEEN", ("9", "10"))])) == [
        "ada@example.com",
        "bob@acme.io",
    ]


async def test_neq_also_matches_records_without_the_property(
    hubspot: httpx.AsyncClient, people: dict[str, str]
) -> None:
    assert await emails(hubspot, where([("lastname", "NEQ", "Smith")])) == [
        "ada@example.com",
        "cleo@acme.io",
    ]


async def test_has_property_and_not_has_property(
    hubspot: httpx.AsyncClient, people: dict[str, str]
) -> None:
    assert await emails(hubspot, where([("score", "NOT_HAS_PROPERTY", None)])) == [
        "dan@example.com"
    ]
    assert len(await emails(hubspot, where([("score", "HAS_PROPERTY", None)]))) == 3


async def test_in_matches_any_listed_value_and_contains_token_matches_words(
    hubspot: httpx.AsyncClient, people: dict[str, str]
) -> None:
    assert await emails(hubspot, where([("firstname", "IN", ["ada", "dan"])])) == [
        "ada@example.com",
        "dan@example.com",
    ]
    assert await emails(hubspot, where([("email", "CONTAINS_TOKEN", "cleo@acme.io")])) == [
        "cleo@acme.io"
    ]
    assert len(await emails(hubspot, where([("email", "NOT_CONTAINS_TOKEN", "*@acme.io")]))) == 2


async def test_dates_compare_as_instants_given_as_epoch_millis_or_iso(
    hubspot: httpx.AsyncClient,
) -> None:
    rows = [
        {"email": "old@example.com", "lastmodifieddate": "1600000000000"},
        {"email": "new@example.com", "lastmodifieddate": "1700000000000"},
    ]
    await hubspot.post("/_sandbox/seed", json={"contacts": rows})
    by_millis = where([("lastmodifieddate", "GTE", "1650000000000")])
    by_iso = where([("lastmodifieddate", "GTE", "2022-04-15T05:20:00Z")])
    before = where([("hs_lastmodifieddate", "LT", "2022-04-15T05:20:00.000Z")])
    assert await emails(hubspot, by_millis) == ["new@example.com"]
    assert await emails(hubspot, by_iso) == ["new@example.com"]
    assert await emails(hubspot, before) == ["old@example.com"]


async def test_a_sort_orders_by_value_and_puts_records_without_one_last(
    hubspot: httpx.AsyncClient, people: dict[str, str]
) -> None:
    descending = {"sorts": [{"propertyName": "score", "direction": "DESCENDING"}]}
    assert await emails(hubspot, descending) == [
        "cleo@acme.io",
        "ada@example.com",
        "bob@acme.io",
        "dan@example.com",
    ]
    by_date = {"sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]}
    assert await emails(hubspot, by_date) == list(people)


async def test_search_pages_by_offset_and_reports_the_total(
    hubspot: httpx.AsyncClient, people: dict[str, str]
) -> None:
    first = (await hubspot.post(SEARCH, json={"limit": 3}, headers=AUTH)).json()
    assert first["total"] == 4
    assert len(first["results"]) == 3
    after = first["paging"]["next"]["after"]
    second = (await hubspot.post(SEARCH, json={"limit": 3, "after": after}, headers=AUTH)).json()
    assert [r["id"] for r in second["results"]] == [people["dan@example.com"]]
    assert "paging" not in second


async def test_search_cannot_page_beyond_ten_thousand_results(hubspot: httpx.AsyncClient) -> None:
    rows = [{"email": f"p{i}@example.com"} for i in range(10_050)]
    await hubspot.post("/_sandbox/seed", json={"contacts": rows})
    last = await hubspot.post(SEARCH, json={"limit": 200, "after": "9800"}, headers=AUTH)
    assert last.json()["total"] == 10_050
    assert len(last.json()["results"]) == 200
    assert "paging" not in last.json()
    beyond = await hubspot.post(SEARCH, json={"limit": 10, "after": "10000"}, headers=AUTH)
    assert beyond.status_code == 400


@pytest.mark.parametrize("limit", [0, 201])
async def test_a_limit_outside_one_to_two_hundred_is_refused(
    hubspot: httpx.AsyncClient, limit: int
) -> None:
    response = await hubspot.post(SEARCH, json={"limit": limit}, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


async def test_results_carry_the_default_properties_unless_others_are_asked_for(
    hubspot: httpx.AsyncClient, people: dict[str, str]
) -> None:
    plain = (await hubspot.post(SEARCH, json={"limit": 1}, headers=AUTH)).json()["results"][0]
    assert set(plain["properties"]) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    asked = await hubspot.post(SEARCH, json={"limit": 1, "properties": ["score"]}, headers=AUTH)
    assert asked.json()["results"][0]["properties"]["score"] == "10"


async def test_archived_records_are_not_found_by_search(
    hubspot: httpx.AsyncClient, people: dict[str, str]
) -> None:
    await hubspot.delete(f"/crm/v3/objects/contacts/{people['ada@example.com']}", headers=AUTH)
    assert "ada@example.com" not in await emails(hubspot, {})


async def test_a_free_text_query_matches_word_prefixes(
    hubspot: httpx.AsyncClient, people: dict[str, str]
) -> None:
    assert await emails(hubspot, {"query": "lovel"}) == ["ada@example.com"]
