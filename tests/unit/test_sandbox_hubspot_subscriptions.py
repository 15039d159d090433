"""The HubSpot sandbox's webhooks API v3: settings, subscriptions, and what they deliver."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.config import SandboxSettings
from services.sandbox.hubspot.app import create_app
from services.sandbox.hubspot.webhooks import WebhookPolicy
from tests.unit.hubspot_receiver import Receiver, serve_receiver

AUTH = {"Authorization": "Bearer sandbox-hubspot-token"}
KEY = {"hapikey": "dev-key"}
HOOKS = "/webhooks/v3/1000001"
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
async def hubspot() -> AsyncIterator[httpx.AsyncClient]:
    settings = SandboxSettings(sandbox_hubspot_developer_key="dev-key")
    app = create_app(settings, webhook_policy=WebhookPolicy(batch_window_seconds=0.02))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hubspot") as client:
        yield client
    await app.state.sandbox.webhooks.aclose()


async def configure(hubspot: httpx.AsyncClient, url: str, concurrency: int = 10) -> None:
    body = {"targetUrl": url, "throttling": {"maxConcurrentRequests": concurrency}}
    response = await hubspot.put(f"{HOOKS}/settings", params=KEY, json=body)
    assert response.status_code == 200, response.text


async def subscribe(hubspot: httpx.AsyncClient, event_type: str, **extra: Any) -> dict[str, Any]:
    body = {"eventType": event_type, "active": True, **extra}
    response = await hubspot.post(f"{HOOKS}/subscriptions", params=KEY, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create(hubspot: httpx.AsyncClient, object_type: str, **properties: Any) -> str:
    response = await hubspot.post(
        f"/crm/v3/objects/{object_type}", json={"properties": properties}, headers=AUTH
    )
    assert response.status_code == 201, response.text
    record_id: str = response.json()["id"]
    return record_id


async def quiet(receiver: Receiver, hubspot: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every event delivered once the sandbox has nothing left to deliver."""
    async with asyncio.timeout(10):
        pending = True
        while pending:
            await asyncio.sleep(0.02)
            pending = (await hubspot.get("/_sandbox/counters")).json()["webhooks"]["pending"]
    return receiver.events()


# -- the API -----------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"hapikey": "wrong"}])
async def test_the_webhooks_api_wants_the_developer_api_key(
    hubspot: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await hubspot.get(f"{HOOKS}/subscriptions", params=params, headers=AUTH)
    assert response.status_code == 401
    body = response.json()
    assert (body["status"], body["category"]) == ("error", "INVALID_AUTHENTICATION")
    assert "correlationId" in body


async def test_another_apps_id_is_not_found(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get("/webhooks/v3/42/subscriptions", params=KEY)
    assert response.status_code == 404


async def test_settings_are_read_back_and_throttling_below_five_is_refused(
    hubspot: httpx.AsyncClient,
) -> None:
    assert (await hubspot.get(f"{HOOKS}/settings", params=KEY)).status_code == 404
    await configure(hubspot, "https://example.com/hooks", concurrency=7)
    settings = (await hubspot.get(f"{HOOKS}/settings", params=KEY)).json()
    assert settings["targetUrl"] == "https://example.com/hooks"
    assert settings["throttling"]["maxConcurrentRequests"] == 7
    assert {"createdAt", "updatedAt"} <= set(settings)
    body = {"targetUrl": "https://example.com/hooks", "throttling": {"maxConcurrentRequests": 4}}
    refused = await hubspot.put(f"{HOOKS}/settings", params=KEY, json=body)
    assert refused.status_code == 400
    assert (await hubspot.delete(f"{HOOKS}/settings", params=KEY)).status_code == 204
    assert (await hubspot.get(f"{HOOKS}/settings", params=KEY)).status_code == 404


async def test_subscriptions_are_created_listed_patched_and_deleted(
    hubspot: httpx.AsyncClient,
) -> None:
    created = await subscribe(hubspot, "contact.propertyChange", propertyName="firstname")
    assert created["eventType"] == "contact.propertyChange"
    assert (created["propertyName"], created["active"]) == ("firstname", True)
    path = f"{HOOKS}/subscriptions/{created['id']}"
    patched = await hubspot.patch(path, params=KEY, json={"active": False})
    assert patched.json()["active"] is False
    listed = (await hubspot.get(f"{HOOKS}/subscriptions", params=KEY)).json()["results"]
    assert [s["id"] for s in listed] == [created["id"]]
    assert (await hubspot.delete(path, params=KEY)).status_code == 204
    assert (await hubspot.get(path, params=KEY)).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"eventType": "contact.exploded"}, 400),
        ({"eventType": "contact.propertyChange"}, 400),
        ({"eventType": "contact.propertyChange", "propertyName": "shoe_size"}, 400),
        ({"eventType": "object.creation"}, 400),
        ({"eventType": "contact.propertyChange", "propertyName": "email"}, 409),
    ],
)
async def test_a_subscription_hubspot_would_not_take_is_refused(
    hubspot: httpx.AsyncClient, body: dict[str, Any], status: int
) -> None:
    await subscribe(hubspot, "contact.propertyChange", propertyName="email")
    response = await hubspot.post(f"{HOOKS}/subscriptions", params=KEY, json=body)
    assert response.status_code == status


async def test_a_batch_update_switches_subscriptions_and_names_unknown_ones(
    hubspot: httpx.AsyncClient,
) -> None:
    created = await subscribe(hubspot, "contact.creation", active=False)
    inputs = [{"id": int(created["id"]), "active": True}, {"id": 1, "active": True}]
    response = await hubspot.post(
        f"{HOOKS}/subscriptions/batch/update", params=KEY, json={"inputs": inputs}
    )
    assert response.status_code == 207
    assert [s["active"] for s in response.json()["results"]] == [True]
    assert response.json()["errors"][0]["context"] == {"ids": ["1"]}


# -- what gets delivered -----------------------------------------------------------------------


async def test_nothing_is_delivered_without_subscriptions_once_the_api_sets_the_target(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    await configure(hubspot, receiver.url)
    await create(hubspot, "contacts", email="ada@example.com")
    assert await quiet(receiver, hubspot) == []


async def test_only_active_subscriptions_deliver_under_their_own_ids(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    await configure(hubspot, receiver.url)
    creation = await subscribe(hubspot, "contact.creation")
    await subscribe(hubspot, "contact.deletion", active=False)
    record_id = await create(hubspot, "contacts", email="ada@example.com")
    await hubspot.delete(f"{CONTACTS}/{record_id}", headers=AUTH)
    (event,) = await quiet(receiver, hubspot)
    assert event["subscriptionType"] == "contact.creation"
    assert event["subscriptionId"] == int(creation["id"])


async def test_property_changes_are_delivered_only_for_the_subscribed_property(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    await configure(hubspot, receiver.url)
    await subscribe(hubspot, "contact.propertyChange", propertyName="firstname")
    record_id = await create(hubspot, "contacts", email="ada@example.com")
    await hubspot.patch(
        f"{CONTACTS}/{record_id}",
        json={"properties": {"firstname": "Ada", "lastname": "Lovelace"}},
        headers=AUTH,
    )
    (event,) = await quiet(receiver, hubspot)
    assert (event["propertyName"], event["propertyValue"]) == ("firstname", "Ada")


async def test_generic_object_subscriptions_carry_the_object_type_id(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    await configure(hubspot, receiver.url)
    await subscribe(hubspot, "object.creation", objectTypeId="0-27")
    task = await create(hubspot, "tasks", hs_task_subject="Call back")
    await create(hubspot, "notes", hs_note_body="Not subscribed")
    (event,) = await quiet(receiver, hubspot)
    assert (event["subscriptionType"], event["objectTypeId"]) == ("object.creation", "0-27")
    assert event["objectId"] == int(task)


async def test_association_changes_are_delivered_for_both_records(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    await configure(hubspot, receiver.url)
    await subscribe(hubspot, "contact.associationChange")
    await subscribe(hubspot, "object.associationChange", objectTypeId="0-2")
    ada = await create(hubspot, "contacts", email="ada@example.com")
    acme = await create(hubspot, "companies", name="Acme")
    path = f"/crm/v4/objects/contacts/{ada}/associations/default/companies/{acme}"
    await hubspot.put(path, headers=AUTH)
    await hubspot.delete(
        f"/crm/v4/objects/contacts/{ada}/associations/companies/{acme}", headers=AUTH
    )
    events = await receiver.wait_for(4)
    added = {e["subscriptionType"]: e for e in events if not e["associationRemoved"]}
    contact_side = added["contact.associationChange"]
    assert contact_side["associationType"] == "CONTACT_TO_COMPANY"
    assert (contact_side["fromObjectId"], contact_side["toObjectId"]) == (int(ada), int(acme))
    assert contact_side["isPrimaryAssociation"] is True
    assert "associationTypeId" not in contact_side
    company_side = added["object.associationChange"]
    assert company_side["associationType"] == "COMPANY_TO_CONTACT"
    assert (company_side["fromObjectTypeId"], company_side["associationTypeId"]) == ("0-2", 280)
    assert sum(e["associationRemoved"] for e in events) == 2


async def test_deliveries_in_flight_never_exceed_max_concurrent_requests(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    await configure(hubspot, receiver.url, concurrency=5)
    await subscribe(hubspot, "contact.creation")
    receiver.hold_seconds = 0.2
    for batch in range(8):
        inputs = [{"properties": {"email": f"p{batch}-{i}@example.com"}} for i in range(100)]
        await hubspot.post(f"{CONTACTS}/batch/create", json={"inputs": inputs}, headers=AUTH)
    await receiver.wait_for(800, within=5)
    webhooks = (await hubspot.get("/_sandbox/counters")).json()["webhooks"]
    assert webhooks["most_in_flight"] == 5
    assert max(len(d) for d in receiver.deliveries) == 100


async def test_the_sandbox_shortcut_delivers_everything_until_the_app_subscribes(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    await hubspot.put("/_sandbox/webhook", json={"url": receiver.url})
    await create(hubspot, "contacts", email="ada@example.com")
    await receiver.wait_for(1)
    await subscribe(hubspot, "company.creation")
    await create(hubspot, "contacts", email="bob@example.com")
    await create(hubspot, "companies", name="Acme")
    events = await quiet(receiver, hubspot)
    assert [e["subscriptionType"] for e in events] == ["contact.creation", "company.creation"]
