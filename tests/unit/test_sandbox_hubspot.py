"""The HubSpot sandbox speaks HubSpot's CRM v3 API: records, batches and their errors."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from services.config import SandboxSettings
from services.sandbox.hubspot.app import create_app

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONTACTS = "/crm/v3/objects/contacts"


@pytest.fixture
def app() -> FastAPI:
    return create_app(SandboxSettings(sandbox_hubspot_token=TOKEN))


@pytest_asyncio.fixture
async def hubspot(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hubspot") as client:
        yield client
    await app.state.sandbox.webhooks.aclose()


async def create(hubspot: httpx.AsyncClient, **properties: Any) -> dict[str, Any]:
    response = await hubspot.post(CONTACTS, json={"properties": properties}, headers=AUTH)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def seed(hubspot: httpx.AsyncClient, *emails: str) -> list[str]:
    rows = [{"email": e, "firstname": e.split("@")[0].title()} for e in emails]
    response = await hubspot.post("/_sandbox/seed", json={"contacts": rows})
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()["contacts"]
    return ids


# -- authentication and errors --------------------------------------------------------------


async def test_health_check_answers_ok_without_a_token(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
async def test_a_request_without_the_sandbox_token_gets_hubspots_401_body(
    hubspot: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await hubspot.get(CONTACTS, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found")
    assert len(body["correlationId"]) == 36


async def test_an_unknown_object_type_is_hubspots_400(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get("/crm/v3/objects/widgets", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["message"] == "Unable to infer object type from: widgets"


async def test_a_malformed_body_is_a_validation_error_in_hubspots_shape(
    hubspot: httpx.AsyncClient,
) -> None:
    response = await hubspot.post(f"{CONTACTS}/batch/read", json={"nope": 1}, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


# -- single records -------------------------------------------------------------------------


async def test_creating_a_contact_answers_201_with_increasing_numeric_ids_and_system_properties(
    hubspot: httpx.AsyncClient,
) -> None:
    first = await create(hubspot, email="ada@example.com", firstname="Ada")
    second = await create(hubspot, email="bob@example.com")
    assert int(second["id"]) > int(first["id"])
    assert first["archived"] is False
    properties = first["properties"]
    assert properties["hs_object_id"] == first["id"]
    assert properties["createdate"] == first["createdAt"]
    assert properties["lastmodifieddate"] == properties["hs_lastmodifieddate"] == first["updatedAt"]
    assert properties["firstname"] == "Ada"


async def test_a_second_contact_with_the_same_email_is_a_409_naming_the_existing_id(
    hubspot: httpx.AsyncClient,
) -> None:
    existing = await create(hubspot, email="ada@example.com")
    response = await hubspot.post(
        CONTACTS, json={"properties": {"email": "ADA@example.com"}}, headers=AUTH
    )
    assert response.status_code == 409
    body = response.json()
    assert body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {existing['id']}"


async def test_emails_are_stored_lowercase_and_an_invalid_one_is_refused_per_property(
    hubspot: httpx.AsyncClient,
) -> None:
    created = await create(hubspot, email=" Ada@Example.COM ")
    assert created["properties"]["email"] == "ada@example.com"
    response = await hubspot.post(CONTACTS, json={"properties": {"email": "ada@"}}, headers=AUTH)
    assert response.status_code == 400
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: ")
    assert '"error":"INVALID_EMAIL"' in body["message"]


async def test_reading_without_properties_returns_hubspots_default_contact_properties(
    hubspot: httpx.AsyncClient,
) -> None:
    created = await create(hubspot, email="ada@example.com", firstname="Ada", phone="123")
    response = await hubspot.get(f"{CONTACTS}/{created['id']}", headers=AUTH)
    assert response.status_code == 200
    assert set(response.json()["properties"]) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    assert response.json()["properties"]["lastname"] is None


async def test_reading_by_email_returns_the_requested_properties_with_nulls_for_unset_ones(
    hubspot: httpx.AsyncClient,
) -> None:
    created = await create(hubspot, email="ada@example.com", firstname="Ada")
    response = await hubspot.get(
        f"{CONTACTS}/ADA@example.com",
        params={"idProperty": "email", "properties": "firstname,phone"},
        headers=AUTH,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == created["id"]
    assert body["properties"]["firstname"] == "Ada"
    assert body["properties"]["phone"] is None
    assert "email" not in body["properties"]


async def test_reading_a_missing_contact_is_a_404_object_not_found(
    hubspot: httpx.AsyncClient,
) -> None:
    response = await hubspot.get(f"{CONTACTS}/424242", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["category"] == "OBJECT_NOT_FOUND"


async def test_patching_changes_the_given_properties_and_moves_the_modification_date(
    hubspot: httpx.AsyncClient,
) -> None:
    created = await create(hubspot, email="ada@example.com", firstname="Ada", lastname="L")
    await asyncio.sleep(0.005)
    response = await hubspot.patch(
        f"{CONTACTS}/{created['id']}",
        json={"properties": {"firstname": "Augusta", "lastname": ""}},
        headers=AUTH,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["properties"]["firstname"] == "Augusta"
    assert "lastname" not in body["properties"]
    assert body["updatedAt"] > created["updatedAt"]
    assert body["properties"]["lastmodifieddate"] == body["updatedAt"]
    assert body["createdAt"] == created["createdAt"]


async def test_patching_onto_another_contacts_email_is_a_409(hubspot: httpx.AsyncClient) -> None:
    ada = await create(hubspot, email="ada@example.com")
    bob = await create(hubspot, email="bob@example.com")
    response = await hubspot.patch(
        f"{CONTACTS}/{bob['id']}", json={"properties": {"email": "ada@example.com"}}, headers=AUTH
    )
    assert response.status_code == 409
    assert response.json()["message"].endswith(f"Existing ID: {ada['id']}")


async def test_deleting_archives_a_contact_which_then_only_reads_with_archived_true(
    hubspot: httpx.AsyncClient,
) -> None:
    created = await create(hubspot, email="ada@example.com")
    assert (await hubspot.delete(f"{CONTACTS}/{created['id']}", headers=AUTH)).status_code == 204
    assert (await hubspot.get(f"{CONTACTS}/{created['id']}", headers=AUTH)).status_code == 404
    archived = await hubspot.get(
        f"{CONTACTS}/{created['id']}", params={"archived": "true"}, headers=AUTH
    )
    assert archived.status_code == 200
    assert archived.json()["archived"] is True
    assert "archivedAt" in archived.json()
    recreated = await create(hubspot, email="ada@example.com")  # the email is free again
    assert recreated["id"] != created["id"]


async def test_listing_pages_with_an_after_cursor_and_link_until_the_last_page(
    hubspot: httpx.AsyncClient,
) -> None:
    ids = await seed(hubspot, *(f"p{i}@example.com" for i in range(25)))
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params = {"limit": "10", **({"after": after} if after else {})}
        body = (await hubspot.get(CONTACTS, params=params, headers=AUTH)).json()
        seen += [r["id"] for r in body["results"]]
        pages += 1
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
        assert f"after={after}" in body["paging"]["next"]["link"]
    assert (seen, pages) == (ids, 3)


async def test_listing_more_than_100_per_page_is_refused(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get(CONTACTS, params={"limit": "101"}, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


async def test_every_object_of_the_table_is_served_by_the_same_routes(
    hubspot: httpx.AsyncClient,
) -> None:
    company = await hubspot.post(
        "/crm/v3/objects/companies", json={"properties": {"name": "Acme"}}, headers=AUTH
    )
    task = await hubspot.post(
        "/crm/v3/objects/tasks", json={"properties": {"hs_task_subject": "Call"}}, headers=AUTH
    )
    assert company.status_code == task.status_code == 201
    assert "hs_lastmodifieddate" in company.json()["properties"]
    assert "hs_createdate" in task.json()["properties"]
    read = await hubspot.get(f"/crm/v3/objects/companies/{company.json()['id']}", headers=AUTH)
    assert read.json()["properties"]["name"] == "Acme"


# -- batches --------------------------------------------------------------------------------


async def test_batch_read_returns_what_exists_and_a_207_naming_the_missing_ids(
    hubspot: httpx.AsyncClient,
) -> None:
    (ada,) = await seed(hubspot, "ada@example.com")
    response = await hubspot.post(
        f"{CONTACTS}/batch/read",
        json={"inputs": [{"id": ada}, {"id": "999999"}], "properties": ["email"]},
        headers=AUTH,
    )
    assert response.status_code == 207
    body = response.json()
    assert body["status"] == "COMPLETE"
    assert [r["id"] for r in body["results"]] == [ada]
    assert body["numErrors"] == 1
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body["errors"][0]["message"].startswith("Could not get some CONTACT objects")
    assert body["errors"][0]["context"] == {"ids": ["999999"]}
    assert {"startedAt", "completedAt"} <= set(body)


async def test_batch_read_by_email_answers_200_when_all_are_found(
    hubspot: httpx.AsyncClient,
) -> None:
    ids = await seed(hubspot, "ada@example.com", "bob@example.com")
    response = await hubspot.post(
        f"{CONTACTS}/batch/read",
        json={
            "idProperty": "email",
            "inputs": [{"id": "bob@example.com"}, {"id": "ada@example.com"}],
            "properties": ["firstname"],
        },
        headers=AUTH,
    )
    assert response.status_code == 200
    assert sorted(r["id"] for r in response.json()["results"]) == sorted(ids)
    assert "errors" not in response.json()


async def test_batch_create_answers_201_complete_with_every_record(
    hubspot: httpx.AsyncClient,
) -> None:
    inputs = [{"properties": {"email": f"p{i}@example.com"}} for i in range(3)]
    response = await hubspot.post(f"{CONTACTS}/batch/create", json={"inputs": inputs}, headers=AUTH)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "COMPLETE"
    assert sorted(r["properties"]["email"] for r in body["results"]) == [
        "p0@example.com",
        "p1@example.com",
        "p2@example.com",
    ]


@pytest.mark.parametrize("action", ["read", "create", "update", "upsert", "archive"])
async def test_a_batch_of_more_than_100_inputs_is_a_400_validation_error(
    hubspot: httpx.AsyncClient, action: str
) -> None:
    inputs = [{"id": str(i), "idProperty": "email", "properties": {}} for i in range(101)]
    response = await hubspot.post(
        f"{CONTACTS}/batch/{action}", json={"inputs": inputs}, headers=AUTH
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["category"]) == ("error", "VALIDATION_ERROR")


async def test_a_batch_create_with_a_taken_email_fails_whole_with_409_and_writes_nothing(
    hubspot: httpx.AsyncClient,
) -> None:
    (ada,) = await seed(hubspot, "ada@example.com")
    inputs = [
        {"properties": {"email": "new@example.com"}},
        {"properties": {"email": "ada@example.com"}},
    ]
    response = await hubspot.post(f"{CONTACTS}/batch/create", json={"inputs": inputs}, headers=AUTH)
    assert response.status_code == 409
    assert response.json()["message"] == f"Contact already exists. Existing ID: {ada}"
    listed = (await hubspot.get(CONTACTS, headers=AUTH)).json()["results"]
    assert [r["id"] for r in listed] == [ada]


async def test_a_batch_create_with_trace_ids_writes_the_valid_inputs_and_reports_each_failure(
    hubspot: httpx.AsyncClient,
) -> None:
    await seed(hubspot, "ada@example.com")
    inputs = [
        {"properties": {"email": "new@example.com"}, "objectWriteTraceId": "t1"},
        {"properties": {"email": "ada@example.com"}, "objectWriteTraceId": "t2"},
        {"properties": {"email": "broken"}, "objectWriteTraceId": "t3"},
    ]
    response = await hubspot.post(f"{CONTACTS}/batch/create", json={"inputs": inputs}, headers=AUTH)
    assert response.status_code == 207
    body = response.json()
    assert [r["properties"]["email"] for r in body["results"]] == ["new@example.com"]
    assert body["numErrors"] == 2
    by_trace = {e["context"]["objectWriteTraceId"][0]: e["category"] for e in body["errors"]}
    assert by_trace == {"t2": "CONFLICT", "t3": "VALIDATION_ERROR"}


async def test_a_batch_update_writes_the_found_records_and_a_207_names_the_missing(
    hubspot: httpx.AsyncClient,
) -> None:
    ada, bob = await seed(hubspot, "ada@example.com", "bob@example.com")
    inputs = [
        {"id": ada, "properties": {"firstname": "Augusta"}},
        {"id": "bob@example.com", "idProperty": "email", "properties": {"firstname": "Robert"}},
        {"id": "777777", "properties": {"firstname": "Nobody"}},
    ]
    response = await hubspot.post(f"{CONTACTS}/batch/update", json={"inputs": inputs}, headers=AUTH)
    assert response.status_code == 207
    body = response.json()
    assert {r["id"]: r["properties"]["firstname"] for r in body["results"]} == {
        ada: "Augusta",
        bob: "Robert",
    }
    assert body["errors"][0]["context"] == {"ids": ["777777"]}


async def test_a_batch_update_naming_one_record_twice_is_refused(
    hubspot: httpx.AsyncClient,
) -> None:
    (ada,) = await seed(hubspot, "ada@example.com")
    inputs = [{"id": ada, "properties": {"firstname": "A"}}, {"id": ada, "properties": {}}]
    response = await hubspot.post(f"{CONTACTS}/batch/update", json={"inputs": inputs}, headers=AUTH)
    assert response.status_code == 400
    assert "Duplicate IDs" in response.json()["message"]


async def test_a_batch_upsert_by_email_updates_or_creates_and_says_which_is_new(
    hubspot: httpx.AsyncClient,
) -> None:
    (ada,) = await seed(hubspot, "ada@example.com")
    inputs = [
        {"id": "ada@example.com", "idProperty": "email", "properties": {"lastname": "Lovelace"}},
        {"id": "New@Example.com", "idProperty": "email", "properties": {"firstname": "Nia"}},
    ]
    response = await hubspot.post(f"{CONTACTS}/batch/upsert", json={"inputs": inputs}, headers=AUTH)
    assert response.status_code == 200
    results = {r["properties"]["email"]: r for r in response.json()["results"]}
    assert results["ada@example.com"]["id"] == ada
    assert results["ada@example.com"]["new"] is False
    assert results["ada@example.com"]["properties"]["lastname"] == "Lovelace"
    assert results["new@example.com"]["new"] is True


async def test_a_batch_upsert_needs_a_unique_id_property(hubspot: httpx.AsyncClient) -> None:
    inputs = [{"id": "1", "properties": {"firstname": "X"}}]
    response = await hubspot.post(f"{CONTACTS}/batch/upsert", json={"inputs": inputs}, headers=AUTH)
    assert response.status_code == 400


async def test_a_batch_archive_answers_204_and_ignores_unknown_ids(
    hubspot: httpx.AsyncClient,
) -> None:
    ada, bob = await seed(hubspot, "ada@example.com", "bob@example.com")
    inputs = [{"id": ada}, {"id": "999999"}]
    response = await hubspot.post(
        f"{CONTACTS}/batch/archive", json={"inputs": inputs}, headers=AUTH
    )
    assert response.status_code == 204
    listed = (await hubspot.get(CONTACTS, headers=AUTH)).json()["results"]
    assert [r["id"] for r in listed] == [bob]
