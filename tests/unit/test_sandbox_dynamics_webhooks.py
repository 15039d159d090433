"""Webhooks registered the Dataverse way and posted as RemoteExecutionContext JSON."""

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from services.config import SandboxSettings
from services.sandbox.dynamics.app import create_app
from tests.unit.dynamics_support import Receiver

TOKEN = "test-dynamics-token"
BASE = "/demo/api/data/v9.2/"
KEY = "00000000-0000-0000-0000-000000000001"
ENTITY_TYPE = "Entity:http://schemas.microsoft.com/xrm/2011/Contracts"
REFERENCE_TYPE = "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts"


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    app = create_app(SandboxSettings(sandbox_dynamics_token=TOKEN))
    yield app
    await app.state.sandbox.aclose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://dynamics", headers=headers
    ) as c:
        yield c


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as r:
        yield r


def created_id(response: httpx.Response) -> str:
    assert response.status_code == 204, response.text
    location = response.headers["OData-EntityId"]
    return location[location.index("(") + 1 : -1]


async def message_and_filter(
    client: httpx.AsyncClient, message: str, org: str = "demo"
) -> tuple[str, str]:
    base = f"/{org}/api/data/v9.2/"
    messages = (
        await client.get(f"{base}sdkmessages?$filter=name eq '{message}'&$select=sdkmessageid")
    ).json()
    message_id = messages["value"][0]["sdkmessageid"]
    filters = await client.get(
        f"{base}sdkmessagefilters?$select=sdkmessagefilterid"
        f"&$filter=primaryobjecttypecode eq 'contact' and _sdkmessageid_value eq {message_id}"
    )
    return message_id, filters.json()["value"][0]["sdkmessagefilterid"]


async def register(
    client: httpx.AsyncClient,
    url: str,
    *messages: str,
    filtering: str | None = None,
    authtype: int = 4,
    authvalue: str = KEY,
) -> tuple[str, list[str]]:
    """Registers a webhook as a Dataverse client does: endpoint, then one step per message."""
    endpoint = await client.post(
        f"{BASE}serviceendpoints",
        json={
            "name": "datasync",
            "url": url,
            "contract": 8,
            "authtype": authtype,
            "authvalue": authvalue,
        },
    )
    endpoint_id = created_id(endpoint)
    steps = []
    for message in messages:
        message_id, filter_id = await message_and_filter(client, message)
        step = await client.post(
            f"{BASE}sdkmessageprocessingsteps",
            json={
                "name": f"datasync: {message} of contact",
                "mode": 1,
                "stage": 40,
                "rank": 1,
                "supporteddeployment": 0,
                "asyncautodelete": False,
                "filteringattributes": filtering,
                "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint_id})",
                "sdkmessageid@odata.bind": f"/sdkmessages({message_id})",
                "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({filter_id})",
            },
        )
        steps.append(created_id(step))
    return endpoint_id, steps


def attributes(entity: dict[str, Any]) -> dict[str, Any]:
    return {pair["key"]: pair["value"] for pair in entity["Attributes"]}


async def org_ids(client: httpx.AsyncClient) -> dict[str, str]:
    ids: dict[str, str] = (await client.get("/_sandbox/orgs/demo")).json()
    return ids


# --- registration --------------------------------------------------------------------------


async def test_messages_and_filters_have_fixed_ids_in_every_organisation(
    client: httpx.AsyncClient,
) -> None:
    demo = await message_and_filter(client, "Create")
    assert demo == await message_and_filter(client, "Create", org="demo2")
    assert demo != await message_and_filter(client, "Update")


async def test_service_endpoint_is_created_read_and_deleted_without_exposing_its_key(
    client: httpx.AsyncClient,
) -> None:
    endpoint_id, _ = await register(client, "https://example.com/hook")
    body = (await client.get(f"{BASE}serviceendpoints({endpoint_id})")).json()
    assert (body["contract"], body["authtype"], body["url"]) == (8, 4, "https://example.com/hook")
    assert body["isauthvalueset"] is True
    assert "authvalue" not in body
    assert (await client.delete(f"{BASE}serviceendpoints({endpoint_id})")).status_code == 204
    assert (await client.get(f"{BASE}serviceendpoints({endpoint_id})")).status_code == 404


async def test_deleting_the_endpoint_deletes_its_steps(client: httpx.AsyncClient) -> None:
    endpoint_id, steps = await register(client, "https://example.com/hook", "Create")
    await client.delete(f"{BASE}serviceendpoints({endpoint_id})")
    assert (await client.get(f"{BASE}sdkmessageprocessingsteps({steps[0]})")).status_code == 404


async def test_step_is_readable_with_its_lookups(client: httpx.AsyncClient) -> None:
    endpoint_id, steps = await register(client, "https://example.com/hook", "Update")
    step = (await client.get(f"{BASE}sdkmessageprocessingsteps({steps[0]})")).json()
    message_id, filter_id = await message_and_filter(client, "Update")
    assert (step["mode"], step["stage"], step["statecode"]) == (1, 40, 0)
    assert step["_eventhandler_value"] == endpoint_id
    assert (step["_sdkmessageid_value"], step["_sdkmessagefilterid_value"]) == (
        message_id,
        filter_id,
    )


async def test_invalid_registrations_are_refused(client: httpx.AsyncClient) -> None:
    no_url = await client.post(
        f"{BASE}serviceendpoints",
        json={"name": "x", "contract": 8, "authtype": 4, "authvalue": "k"},
    )
    assert no_url.status_code == 400
    endpoint_id, _ = await register(client, "https://example.com/hook")
    message_id, filter_id = await message_and_filter(client, "Create")
    async_pre_operation = await client.post(
        f"{BASE}sdkmessageprocessingsteps",
        json={
            "name": "x",
            "mode": 1,
            "stage": 20,
            "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint_id})",
            "sdkmessageid@odata.bind": f"/sdkmessages({message_id})",
            "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({filter_id})",
        },
    )
    assert async_pre_operation.status_code == 400
    missing_endpoint = await client.post(
        f"{BASE}sdkmessageprocessingsteps",
        json={
            "name": "x",
            "mode": 1,
            "stage": 40,
            "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({KEY})",
            "sdkmessageid@odata.bind": f"/sdkmessages({message_id})",
        },
    )
    assert missing_endpoint.status_code == 404


# --- delivery ------------------------------------------------------------------------------


async def test_create_posts_the_remote_execution_context_with_the_webhook_key(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    _, steps = await register(client, receiver.url, "Create")
    contact_id = created_id(
        await client.post(f"{BASE}contacts", json={"firstname": "Ann", "lastname": "Lee"})
    )
    delivery = await receiver.next()
    ids = await org_ids(client)
    assert urlsplit(delivery.target).path == "/webhooks/dynamics/c1"
    assert delivery.query == {"code": [KEY]}
    assert delivery.headers["x-ms-dynamics-request-name"] == "Create"
    assert delivery.headers["x-ms-dynamics-entity-name"] == "contact"
    assert delivery.headers["x-ms-dynamics-organization"] == "demo"
    assert b"Entity:http:\\/\\/schemas.microsoft.com\\/xrm\\/2011\\/Contracts" in delivery.raw
    body = delivery.body
    assert delivery.headers["x-ms-correlation-request-id"] == body["CorrelationId"]
    assert (body["MessageName"], body["PrimaryEntityName"], body["PrimaryEntityId"]) == (
        "Create",
        "contact",
        contact_id,
    )
    assert body["UserId"] == body["InitiatingUserId"] == ids["application_user_id"]
    assert (body["OrganizationId"], body["OrganizationName"]) == (ids["organization_id"], "demo")
    assert body["BusinessUnitId"] == ids["business_unit_id"]
    assert (body["Stage"], body["Mode"], body["Depth"]) == (40, 1, 1)
    assert re.fullmatch(r"/Date\(\d+\+0000\)/", body["OperationCreatedOn"])
    assert body["OwningExtension"]["Id"] == steps[0]
    assert body["OutputParameters"] == [{"key": "id", "value": contact_id}]
    target = body["InputParameters"][0]
    assert target["key"] == "Target"
    assert (target["value"]["__type"], target["value"]["LogicalName"], target["value"]["Id"]) == (
        ENTITY_TYPE,
        "contact",
        contact_id,
    )
    values = attributes(target["value"])
    assert (values["firstname"], values["fullname"], values["contactid"]) == (
        "Ann",
        "Ann Lee",
        contact_id,
    )
    assert values["statecode"] == {
        "__type": "OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts",
        "Value": 0,
    }
    assert re.fullmatch(r"/Date\(\d+\)/", values["createdon"])
    assert values["createdby"]["Id"] == ids["application_user_id"]
    image = body["PostEntityImages"][0]
    assert image["key"] == "AsynchronousStepPrimaryName"
    assert attributes(image["value"]) == {"fullname": "Ann Lee", "contactid": contact_id}
    assert body["ParentContext"]["Stage"] == 30


async def test_update_by_a_person_in_the_ui_names_the_human_user(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    contact_id = created_id(
        await client.post(f"{BASE}contacts", json={"firstname": "Jim", "lastname": "Glynn"})
    )
    await register(client, receiver.url, "Update")
    await client.patch(
        f"{BASE}contacts({contact_id})",
        json={"firstname": "James"},
        headers={"X-Sandbox-Actor": "user"},
    )
    body = (await receiver.next()).body
    human = (await org_ids(client))["human_user_id"]
    assert body["MessageName"] == "Update"
    assert body["UserId"] == body["InitiatingUserId"] == human
    values = attributes(body["InputParameters"][0]["value"])
    assert (values["firstname"], values["fullname"], values["contactid"]) == (
        "James",
        "James Glynn",
        contact_id,
    )
    assert values["modifiedby"]["__type"] == REFERENCE_TYPE
    assert values["modifiedby"]["Id"] == human
    assert "lastname" not in values


async def test_update_by_the_application_names_the_application_user(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    contact_id = created_id(await client.post(f"{BASE}contacts", json={"firstname": "Jim"}))
    await register(client, receiver.url, "Update")
    await client.patch(f"{BASE}contacts({contact_id})", json={"firstname": "James"})
    body = (await receiver.next()).body
    assert body["UserId"] == (await client.get(f"{BASE}WhoAmI")).json()["UserId"]


async def test_delete_posts_an_entity_reference_as_the_target(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    contact_id = created_id(await client.post(f"{BASE}contacts", json={"firstname": "Ann"}))
    await register(client, receiver.url, "Delete")
    await client.delete(f"{BASE}contacts({contact_id})")
    body = (await receiver.next()).body
    assert body["MessageName"] == "Delete"
    assert body["InputParameters"][0]["value"] == {
        "__type": REFERENCE_TYPE,
        "Id": contact_id,
        "KeyAttributes": [],
        "LogicalName": "contact",
        "Name": None,
        "RowVersion": None,
    }
    assert body["PostEntityImages"] == []


async def test_only_registered_messages_are_posted(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register(client, receiver.url, "Delete")
    contact_id = created_id(await client.post(f"{BASE}contacts", json={"firstname": "Ann"}))
    await client.patch(f"{BASE}contacts({contact_id})", json={"firstname": "Anna"})
    await client.delete(f"{BASE}contacts({contact_id})")
    assert (await receiver.next()).body["MessageName"] == "Delete"
    assert receiver.attempts == 1


async def test_filtering_attributes_limit_update_deliveries(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    contact_id = created_id(await client.post(f"{BASE}contacts", json={"firstname": "Ann"}))
    await register(client, receiver.url, "Update", filtering="emailaddress1,telephone1")
    await client.patch(f"{BASE}contacts({contact_id})", json={"firstname": "Anna"})
    await client.patch(f"{BASE}contacts({contact_id})", json={"emailaddress1": "anna@x.com"})
    values = attributes((await receiver.next()).body["InputParameters"][0]["value"])
    assert values["emailaddress1"] == "anna@x.com"
    assert receiver.attempts == 1


async def test_registered_images_carry_the_record_before_and_after(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    contact_id = created_id(
        await client.post(f"{BASE}contacts", json={"firstname": "Ann", "jobtitle": "CEO"})
    )
    _, steps = await register(client, receiver.url, "Update")
    image = await client.post(
        f"{BASE}sdkmessageprocessingstepimages",
        json={
            "name": "images",
            "entityalias": "Image",
            "imagetype": 2,
            "messagepropertyname": "Target",
            "attributes": "firstname,jobtitle",
            "sdkmessageprocessingstepid@odata.bind": f"/sdkmessageprocessingsteps({steps[0]})",
        },
    )
    assert image.status_code == 204
    await client.patch(f"{BASE}contacts({contact_id})", json={"firstname": "Anna"})
    body = (await receiver.next()).body
    assert body["PreEntityImages"] == [
        {"key": "Image", "value": body["PreEntityImages"][0]["value"]},
    ]
    assert attributes(body["PreEntityImages"][0]["value"]) == {
        "firstname": "Ann",
        "jobtitle": "CEO",
    }
    post = {image["key"]: attributes(image["value"]) for image in body["PostEntityImages"]}
    assert post["Image"] == {"firstname": "Anna", "jobtitle": "CEO"}


async def test_http_header_authentication_sends_the_registered_headers(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    settings = '<settings><setting name="X-Datasync-Key" value="s3cret" /></settings>'
    await register(client, receiver.url, "Create", authtype=5, authvalue=settings)
    await client.post(f"{BASE}contacts", json={"firstname": "Ann"})
    delivery = await receiver.next()
    assert delivery.headers["x-datasync-key"] == "s3cret"
    assert delivery.query == {}


async def test_failing_target_is_retried_until_it_accepts(client: httpx.AsyncClient) -> None:
    async with Receiver(failures=2) as failing:
        await register(client, failing.url, "Create")
        await client.post(f"{BASE}contacts", json={"firstname": "Ann"})
        assert (await failing.next()).body["MessageName"] == "Create"
        await asyncio.sleep(0.01)
        assert failing.attempts == 3
        hooks = (await client.get("/_sandbox/counters?org=demo")).json()["webhooks"]
        assert hooks == {"delivered": 1, "failed_attempts": 2, "pending": 0, "abandoned": 0}


async def test_target_that_never_accepts_is_abandoned_after_the_retries(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    app.state.sandbox.webhooks.retry_delays = (0.01, 0.01)
    async with Receiver(failures=10) as failing:
        await register(client, failing.url, "Create")
        await client.post(f"{BASE}contacts", json={"firstname": "Ann"})
        await asyncio.wait_for(app.state.sandbox.webhooks.wait_idle(), 3)
        assert failing.attempts == 3
        hooks = (await client.get("/_sandbox/counters?org=demo")).json()["webhooks"]
        assert hooks == {"delivered": 0, "failed_attempts": 3, "pending": 0, "abandoned": 1}


async def test_the_api_answers_before_the_webhook_is_delivered(client: httpx.AsyncClient) -> None:
    async with Receiver(gate=asyncio.Event()) as slow:
        await register(client, slow.url, "Create")
        # The target answers nothing until the gate opens: the create answers all the same.
        response = await client.post(f"{BASE}contacts", json={"firstname": "Ann"})
        assert response.status_code == 204
        assert (await client.get("/_sandbox/counters?org=demo")).json()["webhooks"]["pending"] == 1
        assert slow.received.empty()
        assert slow.gate is not None
        slow.gate.set()
        await slow.next()


async def test_changes_of_one_record_arrive_in_order(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register(client, receiver.url, "Create", "Update", "Delete")
    contact_id = created_id(await client.post(f"{BASE}contacts", json={"firstname": "A"}))
    for name in ("B", "C"):
        await client.patch(f"{BASE}contacts({contact_id})", json={"firstname": name})
    await client.delete(f"{BASE}contacts({contact_id})")
    messages = [(await receiver.next()).body["MessageName"] for _ in range(4)]
    assert messages == ["Create", "Update", "Update", "Delete"]


async def test_seeding_fires_no_webhook(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register(client, receiver.url, "Create")
    await client.post("/_sandbox/orgs/demo/seed", json={"contacts": [{"firstname": "Ann"}]})
    await asyncio.wait_for(app.state.sandbox.webhooks.wait_idle(), 3)
    assert receiver.attempts == 0


async def test_reset_forgets_webhook_registrations(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register(client, receiver.url, "Create")
    await client.post("/_sandbox/reset")
    assert (await client.get(f"{BASE}serviceendpoints")).json()["value"] == []
    assert (await client.get(f"{BASE}sdkmessageprocessingsteps")).json()["value"] == []
    await client.post(f"{BASE}contacts", json={"firstname": "Ann"})
    await asyncio.wait_for(app.state.sandbox.webhooks.wait_idle(), 3)
    assert receiver.attempts == 0


async def test_plain_key_with_the_http_header_auth_type_is_refused(
    client: httpx.AsyncClient,
) -> None:
    # authtype 5 is HttpHeader (ServiceEndpoint reference); a single key is WebhookKey, 4.
    response = await client.post(
        f"{BASE}serviceendpoints",
        json={
            "name": "x",
            "url": "https://example.com/h",
            "contract": 8,
            "authtype": 5,
            "authvalue": KEY,
        },
    )
    assert response.status_code == 400
    assert "authtype 4 (WebhookKey)" in response.json()["error"]["message"]


async def test_http_query_string_authentication_adds_the_registered_pairs(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    settings = '<settings><setting name="tenant" value="t1" /><setting name="sig" value="abc" /></settings>'
    await register(client, receiver.url, "Create", authtype=6, authvalue=settings)
    await client.post(f"{BASE}contacts", json={"firstname": "Ann"})
    assert (await receiver.next()).query == {"tenant": ["t1"], "sig": ["abc"]}
