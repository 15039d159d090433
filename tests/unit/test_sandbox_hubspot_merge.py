"""Merging records and restoring archived ones in the HubSpot sandbox, with their events."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from services.config import SandboxSettings
from services.sandbox.hubspot.app import create_app
from services.sandbox.hubspot.webhooks import WebhookPolicy
from tests.unit.hubspot_receiver import Receiver, serve_receiver

AUTH = {"Authorization": "Bearer sandbox-hubspot-token"}
CONTACTS = "/crm/v3/objects/contacts"


@pytest_asyncio.fixture(scope="module")
async def server() -> AsyncIterator[Receiver]:
    async with serve_receiver() as receiver:
        yield receiver


@pytest_asyncio.fixture
async def receiver(server: Receiver) -> Receiver:
    server.clear()
    return server


@pytest_asyncio.fixture
async def hubspot(receiver: Receiver) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(SandboxSettings(), webhook_policy=WebhookPolicy(batch_window_seconds=0.02))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hubspot") as client:
        yield client
    await app.state.sandbox.webhooks.aclose()


async def seed(hubspot: httpx.AsyncClient, **rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    response = await hubspot.post("/_sandbox/seed", json=rows)
    assert response.status_code == 200, response.text
    ids: dict[str, list[str]] = response.json()
    return ids


async def merge(hubspot: httpx.AsyncClient, primary: str, other: str) -> httpx.Response:
    body = {"primaryObjectId": primary, "objectIdToMerge": other}
    return await hubspot.post(f"{CONTACTS}/merge", json=body, headers=AUTH)


async def test_a_merge_keeps_the_primarys_values_and_fills_its_gaps(
    hubspot: httpx.AsyncClient,
) -> None:
    rows = [
        {"email": "ada@example.com", "firstname": "Ada"},
        {"email": "ada@work.example", "firstname": "Augusta", "jobtitle": "Analyst"},
    ]
    ada, other = (await seed(hubspot, contacts=rows))["contacts"]
    response = await merge(hubspot, ada, other)
    assert response.status_code == 200
    merged = response.json()
    assert merged["id"] == ada
    properties = merged["properties"]
    assert (properties["firstname"], properties["jobtitle"]) == ("Ada", "Analyst")
    assert properties["email"] == "ada@example.com"
    assert properties["hs_merged_object_ids"] == other
    assert properties["hs_additional_emails"] == "ada@work.example"


async def test_the_merged_away_id_and_email_resolve_to_the_surviving_record(
    hubspot: httpx.AsyncClient,
) -> None:
    rows = [{"email": "ada@example.com"}, {"email": "ada@work.example"}]
    ada, other = (await seed(hubspot, contacts=rows))["contacts"]
    await merge(hubspot, ada, other)
    read = await hubspot.get(f"{CONTACTS}/{other}", headers=AUTH)
    assert (read.status_code, read.json()["id"]) == (200, ada)
    by_email = await hubspot.get(
        f"{CONTACTS}/ada@work.example", params={"idProperty": "email"}, headers=AUTH
    )
    assert by_email.json()["id"] == ada
    listed = (await hubspot.get(CONTACTS, headers=AUTH)).json()["results"]
    assert [r["id"] for r in listed] == [ada]
    taken = await hubspot.post(
        CONTACTS, json={"properties": {"email": "ada@work.example"}}, headers=AUTH
    )
    assert taken.status_code == 409


async def test_a_merge_moves_the_merged_records_associations(
    hubspot: httpx.AsyncClient,
) -> None:
    ids = await seed(
        hubspot,
        contacts=[{"email": "ada@example.com"}, {"email": "ada@work.example"}],
        companies=[{"name": "Acme"}],
    )
    ada, other = ids["contacts"]
    (acme,) = ids["companies"]
    path = f"/crm/v4/objects/contacts/{other}/associations/default/companies/{acme}"
    await hubspot.put(path, headers=AUTH)
    await merge(hubspot, ada, other)
    listed = await hubspot.get(
        f"/crm/v4/objects/contacts/{ada}/associations/companies", headers=AUTH
    )
    (association,) = listed.json()["results"]
    assert association["toObjectId"] == int(acme)
    assert [t["typeId"] for t in association["associationTypes"]] == [1, 279]
    back = await hubspot.get(
        f"/crm/v4/objects/companies/{acme}/associations/contacts", headers=AUTH
    )
    assert [r["toObjectId"] for r in back.json()["results"]] == [int(ada)]


async def test_merging_a_missing_record_or_a_record_with_itself_is_refused(
    hubspot: httpx.AsyncClient,
) -> None:
    (ada,) = (await seed(hubspot, contacts=[{"email": "ada@example.com"}]))["contacts"]
    missing = await merge(hubspot, ada, "999999")
    assert (missing.status_code, missing.json()["category"]) == (404, "OBJECT_NOT_FOUND")
    assert (await merge(hubspot, ada, ada)).status_code == 400


async def test_a_merge_is_announced_with_hubspots_merge_fields(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    rows = [{"email": "ada@example.com"}, {"email": "ada@work.example", "phone": "1"}]
    ada, other = (await seed(hubspot, contacts=rows))["contacts"]
    await hubspot.put("/_sandbox/webhook", json={"url": receiver.url})
    await merge(hubspot, ada, other)
    (event,) = await receiver.wait_for(1)
    assert event["subscriptionType"] == "contact.merge"
    assert event["objectId"] == int(ada)
    assert event["primaryObjectId"] == int(ada)
    assert event["mergedObjectIds"] == [int(other)]
    assert event["newObjectId"] == int(ada)
    assert event["numberOfPropertiesMoved"] == 1


async def test_archived_records_are_listed_with_archived_true_and_can_be_restored(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    ada, bob = (await seed(hubspot, contacts=[{"email": "a@x.io"}, {"email": "b@x.io"}]))[
        "contacts"
    ]
    await hubspot.delete(f"{CONTACTS}/{ada}", headers=AUTH)
    archived = await hubspot.get(CONTACTS, params={"archived": "true"}, headers=AUTH)
    assert [r["id"] for r in archived.json()["results"]] == [ada]
    await hubspot.put("/_sandbox/webhook", json={"url": receiver.url})
    restored = await hubspot.post(
        "/_sandbox/restore", json={"objectType": "contacts", "ids": [ada]}
    )
    assert restored.json() == {"restored": [ada]}
    listed = (await hubspot.get(CONTACTS, headers=AUTH)).json()["results"]
    assert sorted(r["id"] for r in listed) == sorted([ada, bob])
    (event,) = await receiver.wait_for(1)
    assert (event["subscriptionType"], event["objectId"]) == ("contact.restore", int(ada))
    assert event["changeSource"] == "CRM_UI"
    assert "changeFlag" not in event


async def test_a_restore_whose_email_was_taken_meanwhile_is_refused(
    hubspot: httpx.AsyncClient,
) -> None:
    (ada,) = (await seed(hubspot, contacts=[{"email": "a@x.io"}]))["contacts"]
    await hubspot.delete(f"{CONTACTS}/{ada}", headers=AUTH)
    again = await hubspot.post(CONTACTS, json={"properties": {"email": "a@x.io"}}, headers=AUTH)
    refused = await hubspot.post("/_sandbox/restore", json={"objectType": "contacts", "ids": [ada]})
    assert refused.status_code == 409
    live = await hubspot.post(
        "/_sandbox/restore", json={"objectType": "contacts", "ids": [again.json()["id"]]}
    )
    assert live.status_code == 404
