"""The HubSpot sandbox notifies like HubSpot's webhooks v3: batched, signed, attributed, retried.

A real receiver (a small FastAPI app under uvicorn on a free loopback port) takes the deliveries,
so signatures are checked against the exact URL and bytes that went over the wire.
"""

import asyncio
import base64
import hashlib
import hmac
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response

from services.config import SandboxSettings
from services.connectors.hubspot_signature import sign_v3, verify_v3
from services.sandbox.hubspot.app import create_app
from services.sandbox.hubspot.webhooks import WebhookPolicy
from tests.helpers import serve

SECRET = "test-app-secret"
AUTH = {"Authorization": "Bearer sandbox-hubspot-token"}
AS_USER = {**AUTH, "X-Sandbox-Actor": "user"}
CONTACTS = "/crm/v3/objects/contacts"
FAST_RETRIES = WebhookPolicy(
    batch_window_seconds=0.05, first_retry_seconds=0.05, max_retry_seconds=0.2, max_attempts=4
)


@dataclass
class Delivery:
    url: str
    headers: dict[str, str]
    body: bytes
    events: list[dict[str, Any]]


@dataclass
class Receiver:
    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    fail_next: int = 0  # answer 500 to this many deliveries first
    hold_seconds: float = 0.0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self.arrived.set()

    def events(self) -> list[dict[str, Any]]:
        return [e for d in self.deliveries for e in d.events]

    async def wait_for(self, count: int, within: float = 3.0) -> list[dict[str, Any]]:
        """Every event so far, once at least `count` arrived."""
        async with asyncio.timeout(within):
            while len(self.events()) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.events()


@pytest_asyncio.fixture(scope="module")
async def server() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = FastAPI()

    @app.post("/webhooks/hubspot")
    async def take(request: Request) -> Response:
        body = await request.body()
        if receiver.hold_seconds:
            await asyncio.sleep(receiver.hold_seconds)
        if receiver.fail_next > 0:
            receiver.fail_next -= 1
            receiver.take(Delivery(str(request.url), dict(request.headers), body, []))
            return Response(status_code=500)
        events = (await request.json()) if body else []
        receiver.take(Delivery(str(request.url), dict(request.headers), body, events))
        return Response(status_code=204)

    async with serve(app) as base_url:
        receiver.url = f"{base_url}/webhooks/hubspot"
        yield receiver


@pytest_asyncio.fixture
async def receiver(server: Receiver) -> Receiver:
    server.deliveries.clear()
    server.fail_next = 0
    server.hold_seconds = 0.0
    return server


@pytest_asyncio.fixture
async def hubspot(receiver: Receiver) -> AsyncIterator[httpx.AsyncClient]:
    settings = SandboxSettings(sandbox_hubspot_app_secret=SECRET)
    app = create_app(settings, webhook_policy=FAST_RETRIES)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hubspot") as client:
        await client.put("/_sandbox/webhook", json={"url": receiver.url})
        yield client
    await app.state.sandbox.webhooks.aclose()


async def create(hubspot: httpx.AsyncClient, headers: dict[str, str] = AUTH, **props: Any) -> str:
    response = await hubspot.post(CONTACTS, json={"properties": props}, headers=headers)
    assert response.status_code == 201, response.text
    record_id: str = response.json()["id"]
    return record_id


async def settled(hubspot: httpx.AsyncClient) -> dict[str, int]:
    """The webhook counters once nothing is pending any more."""
    async with asyncio.timeout(3):
        while True:
            webhooks: dict[str, int] = (await hubspot.get("/_sandbox/counters")).json()["webhooks"]
            if not webhooks["pending"]:
                webhooks.pop("most_in_flight")
                return webhooks
            await asyncio.sleep(0.02)


# -- the signature --------------------------------------------------------------------------


def test_the_v3_signature_is_base64_hmac_sha256_over_method_uri_body_and_timestamp() -> None:
    body = b'[{"eventId":1}]'
    expected = base64.b64encode(
        hmac.new(
            b"secret",
            b"POSThttps://example.com/hooks?x=1" + body + b"1700000000000",
            hashlib.sha256,
        ).digest()
    ).decode()
    assert sign_v3("secret", "POST", "https://example.com/hooks?x=1", body, "1700000000000") == (
        expected
    )
    # The same value as `openssl dgst -sha256 -hmac secret -binary | base64` of that string.
    assert expected == "TyI3oGUSoDEmBiD3sV2+aKJfq+d/hjqB1kDw/Rk4n/E="


def test_the_documented_percent_escapes_are_decoded_before_signing() -> None:
    plain = sign_v3("s", "POST", "https://example.com/a:b@c", b"", "1")
    assert sign_v3("s", "POST", "https://example.com/a%3Ab%40c", b"", "1") == plain


def test_verification_rejects_tampering_and_requests_older_than_five_minutes() -> None:
    now = 1_700_000_000_000
    uri, body = "http://127.0.0.1/webhooks/hubspot", b"[]"
    fresh = str(now - 1000)
    signature = sign_v3(SECRET, "POST", uri, body, fresh)
    assert verify_v3(SECRET, "POST", uri, body, fresh, signature, now)
    assert not verify_v3(SECRET, "POST", uri, b"[{}]", fresh, signature, now)
    assert not verify_v3("other", "POST", uri, body, fresh, signature, now)
    stale = str(now - 301_000)
    assert not verify_v3(
        SECRET, "POST", uri, body, stale, sign_v3(SECRET, "POST", uri, body, stale), now
    )
    assert not verify_v3(SECRET, "POST", uri, body, None, signature, now)


# -- deliveries -----------------------------------------------------------------------------


async def test_a_creation_is_delivered_as_a_json_array_signed_with_signature_v3(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    record_id = await create(hubspot, email="ada@example.com")
    (event,) = await receiver.wait_for(1)
    delivery = receiver.deliveries[0]
    headers = delivery.headers
    assert headers["x-hubspot-signature-version"] == "v3"
    assert verify_v3(
        SECRET,
        "POST",
        delivery.url,
        delivery.body,
        headers["x-hubspot-request-timestamp"],
        headers["x-hubspot-signature-v3"],
        int(time.time() * 1000),
    )
    assert event["subscriptionType"] == "contact.creation"
    assert event["objectId"] == int(record_id)
    assert (event["portalId"], event["appId"]) == (900001, 1000001)
    assert event["attemptNumber"] == 0
    assert event["changeFlag"] == "CREATED"
    assert isinstance(event["eventId"], int)
    assert isinstance(event["subscriptionId"], int)
    assert abs(event["occurredAt"] - time.time() * 1000) < 5000


async def test_each_changed_property_is_its_own_property_change_event(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    record_id = await create(hubspot, email="ada@example.com", firstname="Ada", lastname="L")
    await receiver.wait_for(1)
    await hubspot.patch(
        f"{CONTACTS}/{record_id}",
        json={"properties": {"firstname": "Augusta", "lastname": "L", "phone": "123"}},
        headers=AUTH,
    )
    events = (await receiver.wait_for(3))[1:]
    assert {e["subscriptionType"] for e in events} == {"contact.propertyChange"}
    assert sorted((e["propertyName"], e["propertyValue"]) for e in events) == [
        ("firstname", "Augusta"),
        ("phone", "123"),
    ]
    assert all(e["objectId"] == int(record_id) for e in events)


async def test_changes_through_the_token_are_the_integrations_and_user_edits_are_crm_ui(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    await create(hubspot, email="app@example.com")
    await create(hubspot, headers=AS_USER, email="person@example.com")
    by_source = {e["changeSource"]: e["sourceId"] for e in await receiver.wait_for(2)}
    assert by_source == {"INTEGRATION": "1000001", "CRM_UI": "userId:1"}


async def test_archiving_is_delivered_as_a_contact_deletion(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    record_id = await create(hubspot, email="ada@example.com")
    await hubspot.delete(f"{CONTACTS}/{record_id}", headers=AUTH)
    deletion = (await receiver.wait_for(2))[1]
    assert (deletion["subscriptionType"], deletion["objectId"]) == (
        "contact.deletion",
        int(record_id),
    )
    assert deletion["changeFlag"] == "DELETED"


async def test_events_are_batched_into_requests_of_at_most_one_hundred(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    inputs = [{"properties": {"email": f"p{i}@example.com"}} for i in range(100)]
    created = await hubspot.post(f"{CONTACTS}/batch/create", json={"inputs": inputs}, headers=AUTH)
    updates = [
        {"id": r["id"], "properties": {"firstname": "P"}} for r in created.json()["results"][:30]
    ]
    await hubspot.post(f"{CONTACTS}/batch/update", json={"inputs": updates}, headers=AUTH)
    events = await receiver.wait_for(130)
    sizes = sorted(len(d.events) for d in receiver.deliveries)
    assert sizes == [30, 100]
    assert len({e["eventId"] for e in events}) == 130


async def test_a_failing_target_gets_retries_with_a_growing_attempt_number(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.fail_next = 2
    await create(hubspot, email="ada@example.com")
    (event,) = await receiver.wait_for(1)
    assert event["attemptNumber"] == 2
    assert len(receiver.deliveries) == 3
    assert await settled(hubspot) == {
        "delivered": 1,
        "failed_attempts": 2,
        "abandoned": 0,
        "pending": 0,
    }


async def test_an_unreachable_target_is_given_up_after_the_last_attempt(
    hubspot: httpx.AsyncClient,
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}/webhooks/hubspot"
    await hubspot.put("/_sandbox/webhook", json={"url": dead_url})
    await create(hubspot, email="ada@example.com")
    assert await settled(hubspot) == {
        "delivered": 0,
        "failed_attempts": 4,
        "abandoned": 1,
        "pending": 0,
    }


async def test_the_api_answers_before_a_slow_target_has_taken_the_delivery(
    hubspot: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.gate = asyncio.Event()
    # The target takes nothing until the gate opens: the create answers all the same.
    await create(hubspot, email="ada@example.com")
    assert (await hubspot.get("/_sandbox/counters")).json()["webhooks"]["pending"] == 1
    assert receiver.deliveries == []
    receiver.gate.set()
    await receiver.wait_for(1)


@pytest.mark.parametrize("via", ["seed", "no target"])
async def test_seeding_and_a_missing_target_deliver_nothing(
    hubspot: httpx.AsyncClient, receiver: Receiver, via: str
) -> None:
    if via == "seed":
        await hubspot.post("/_sandbox/seed", json={"contacts": [{"email": "ada@example.com"}]})
    else:
        await hubspot.put("/_sandbox/webhook", json={"url": None})
        await create(hubspot, email="ada@example.com")
    await asyncio.sleep(0.2)
    assert receiver.deliveries == []
    assert (await hubspot.get("/_sandbox/counters")).json()["webhooks"]["pending"] == 0
