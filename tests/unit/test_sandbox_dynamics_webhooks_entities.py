"""Webhooks for every CRM table: message filters, deliveries, cascades and change sets."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.sandbox.dynamics.entities import BUSINESS_ENTITIES
from tests.unit.dynamics_support import BASE, Receiver, create, id_of, sandbox_client

MONEY = "Money:http://schemas.microsoft.com/xrm/2011/Contracts"
OPTION = "OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts"
REFERENCE = "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts"
LOGICAL_NAMES = [
    "contact",
    "account",
    "opportunity",
    "product",
    "invoice",
    "salesorder",
    "task",
    "phonecall",
    "appointment",
    "annotation",
]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with sandbox_client() as c:
        yield c


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as r:
        yield r


async def subscribe(client: httpx.AsyncClient, url: str, *steps: tuple[str, str]) -> None:
    """Registers one webhook with a step per (message, table), as a Dataverse client does."""
    endpoint = id_of(
        await client.post(
            f"{BASE}serviceendpoints",
            json={"name": "hook", "url": url, "contract": 8, "authtype": 4, "authvalue": "k"},
        )
    )
    for message, logical in steps:
        found = await client.get(f"{BASE}sdkmessages?$filter=name eq '{message}'")
        message_id = found.json()["value"][0]["sdkmessageid"]
        filters = await client.get(
            f"{BASE}sdkmessagefilters?$filter=primaryobjecttypecode eq '{logical}' "
            f"and _sdkmessageid_value eq {message_id}"
        )
        [step_filter] = filters.json()["value"]
        response = await client.post(
            f"{BASE}sdkmessageprocessingsteps",
            json={
                "name": f"{message} of {logical}",
                "mode": 1,
                "stage": 40,
                "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint})",
                "sdkmessageid@odata.bind": f"/sdkmessages({message_id})",
                "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({step_filter['sdkmessagefilterid']})",
            },
        )
        id_of(response)


def target_attributes(body: dict[str, Any]) -> dict[str, Any]:
    [target] = [p["value"] for p in body["InputParameters"] if p["key"] == "Target"]
    return {pair["key"]: pair["value"] for pair in target["Attributes"]}


def test_every_crm_table_is_emulated() -> None:
    assert sorted(e.logical_name for e in BUSINESS_ENTITIES) == sorted(LOGICAL_NAMES)


async def test_every_crm_table_has_create_update_and_delete_message_filters(
    client: httpx.AsyncClient,
) -> None:
    rows = (await client.get(f"{BASE}sdkmessagefilters?$select=primaryobjecttypecode,name")).json()[
        "value"
    ]
    names = {row["name"] for row in rows}
    for logical in LOGICAL_NAMES:
        for message in ("Create", "Update", "Delete"):
            assert f"{message} of {logical}" in names


async def test_creating_an_account_posts_its_typed_columns(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver.url, ("Create", "account"))
    contact = await create(client, "contacts", lastname="Lee")
    account = await create(
        client,
        "accounts",
        name="Contoso",
        industrycode=7,
        revenue=1000.5,
        **{"primarycontactid@odata.bind": f"/contacts({contact})"},
    )
    delivery = await receiver.next()
    body = delivery.body
    assert (body["MessageName"], body["PrimaryEntityName"]) == ("Create", "account")
    assert body["PrimaryEntityId"] == account
    attributes = target_attributes(body)
    assert attributes["name"] == "Contoso"
    assert attributes["industrycode"] == {"__type": OPTION, "Value": 7}
    assert attributes["revenue"] == {"__type": MONEY, "Value": 1000.5}
    assert attributes["primarycontactid"]["__type"] == REFERENCE
    assert attributes["primarycontactid"]["Id"] == contact
    assert attributes["primarycontactid"]["LogicalName"] == "contact"


async def test_updating_a_task_and_a_deal_posts_their_changes(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver.url, ("Update", "task"), ("Update", "opportunity"))
    task = await create(client, "tasks", subject="Call back")
    deal = await create(client, "opportunities", name="Deal")
    await client.patch(f"{BASE}tasks({task})", json={"statuscode": 5})
    await client.patch(f"{BASE}opportunities({deal})", json={"estimatedclosedate": "2025-03-01"})
    first, second = await receiver.next(), await receiver.next()
    bodies = {b.body["PrimaryEntityName"]: b.body for b in (first, second)}
    task_columns = target_attributes(bodies["task"])
    assert task_columns["statecode"] == {"__type": OPTION, "Value": 1}
    assert task_columns["statuscode"] == {"__type": OPTION, "Value": 5}
    deal_columns = target_attributes(bodies["opportunity"])
    assert deal_columns["estimatedclosedate"] == "/Date(1740787200000)/"


async def test_a_cascade_delete_posts_a_delete_for_every_row_it_removes(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver.url, ("Delete", "contact"), ("Delete", "annotation"))
    contact = await create(client, "contacts", lastname="Lee")
    note = await create(
        client,
        "annotations",
        subject="N",
        **{"objectid_contact@odata.bind": f"/contacts({contact})"},
    )
    assert (await client.delete(f"{BASE}contacts({contact})")).status_code == 204
    deliveries = [await receiver.next(), await receiver.next()]
    deleted = {(d.body["PrimaryEntityName"], d.body["PrimaryEntityId"]) for d in deliveries}
    assert deleted == {("contact", contact), ("annotation", note)}


async def test_a_rolled_back_change_set_posts_nothing_and_a_committed_one_posts_each_write(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver.url, ("Create", "product"))
    app = client.app  # type: ignore[attr-defined]

    def batch(*names: str) -> str:
        ops = "".join(
            "--cs\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            "POST /api/data/v9.2/products HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
            f'{{"name": "{n}", "productnumber": "{n}"}}\r\n'
            for n in names
        )
        return f"--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n{ops}--cs--\r\n--b--\r\n"

    headers = {"Content-Type": "multipart/mixed; boundary=b"}
    failed = await client.post(f"{BASE}$batch", content=batch("P1", "P1"), headers=headers)
    assert failed.status_code == 412
    await app.state.sandbox.webhooks.wait_idle()
    assert receiver.attempts == 0
    done = await client.post(f"{BASE}$batch", content=batch("P2", "P3"), headers=headers)
    assert done.status_code == 200
    created = {target_attributes((await receiver.next()).body)["productnumber"] for _ in "ab"}
    assert created == {"P2", "P3"}
