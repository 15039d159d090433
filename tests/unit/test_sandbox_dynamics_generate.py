"""Loading the shared seed dataset into an organisation: `POST /_sandbox/orgs/{org}/generate`."""

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.sandbox.dynamics.reference import currency_id
from services.sandbox.seeding import generate_dataset
from tests.unit.dynamics_support import BASE, Receiver, read, sandbox_client

COUNTS = {
    "companies": 20,
    "contacts": 100,
    "products": 60,
    "deals": 40,
    "invoices": 20,
    "sales_orders": 20,
    "activities": 80,
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with sandbox_client() as c:
        yield c


async def generate(
    client: httpx.AsyncClient, counts: dict[str, int], seed: int = 0, org: str = "demo"
) -> dict[str, Any]:
    response = await client.post(
        f"/_sandbox/orgs/{org}/generate", json={"counts": counts, "seed": seed}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def count(client: httpx.AsyncClient, entity_set: str) -> int:
    return int((await client.get(f"{BASE}{entity_set}/$count")).text)


async def test_every_record_of_the_app_side_is_created(client: httpx.AsyncClient) -> None:
    dataset = generate_dataset("app", COUNTS, seed=3)
    body = await generate(client, COUNTS, seed=3)
    assert body["created"] == {t: len(records) for t, records in dataset.records.items()}
    assert await count(client, "accounts") == len(dataset.records["companies"])
    assert await count(client, "opportunities") == len(dataset.records["deals"])
    assert await count(client, "salesorders") == len(dataset.records["sales_orders"])
    activities = sum(
        [await count(client, s) for s in ("tasks", "phonecalls", "appointments", "annotations")]
    )
    assert activities == len(dataset.records["activities"])


async def test_fields_and_associations_land_in_their_dataverse_columns(
    client: httpx.AsyncClient,
) -> None:
    dataset = generate_dataset("app", COUNTS, seed=0)
    ids = (await generate(client, COUNTS))["ids"]
    contact = next(r for r in dataset.records["contacts"] if r.primary_company)
    row = await read(client, "contacts", ids[contact.key])
    assert row["emailaddress1"] == contact.fields["email"]
    assert row["address1_city"] == contact.fields["city"]
    assert row["_parentcustomerid_value"] == ids[contact.primary_company]
    company = dataset.records["companies"][0]
    account = await read(client, "accounts", ids[company.key])
    assert account["websiteurl"] == f"https://{company.fields['domain']}"
    won = next(r for r in dataset.records["deals"] if r.fields["stage"] == "closedwon")
    deal = await read(client, "opportunities", ids[won.key])
    assert (deal["statecode"], deal["statuscode"]) == (1, 3)
    assert deal["estimatedvalue"] == won.fields["amount"]
    invoice = dataset.records["invoices"][0]
    stored = await read(client, "invoices", ids[invoice.key])
    assert stored["invoicenumber"] == invoice.fields["number"]
    assert stored["totalamount"] == invoice.fields["amount"]
    assert stored["_transactioncurrencyid_value"] == currency_id(invoice.fields["currency"])
    assert stored["_customerid_value"] == ids[invoice.refs["contacts"][0]]


async def test_activities_land_in_the_table_of_their_kind(client: httpx.AsyncClient) -> None:
    dataset = generate_dataset("app", COUNTS, seed=0)
    ids = (await generate(client, COUNTS))["ids"]
    tables = {
        "task": "tasks",
        "call": "phonecalls",
        "meeting": "appointments",
        "note": "annotations",
    }
    for kind, entity_set in tables.items():
        record = next(r for r in dataset.records["activities"] if r.fields["kind"] == kind)
        row = await read(client, entity_set, ids[record.key])
        assert row["subject"] == record.fields["subject"]
        column = "_objectid_value" if kind == "note" else "_regardingobjectid_value"
        assert row[column] == ids[record.refs["contacts"][0]]


async def test_a_product_without_a_sku_gets_a_product_number_of_its_own(
    client: httpx.AsyncClient,
) -> None:
    dataset = generate_dataset("app", COUNTS, seed=0)
    ids = (await generate(client, COUNTS))["ids"]
    bare = next(r for r in dataset.records["products"] if r.fields["sku"] is None)
    row = await read(client, "products", ids[bare.key])
    assert row["productnumber"] == f"DYN-{bare.key}"


async def test_seeded_duplicates_leave_the_email_key_failed(client: httpx.AsyncClient) -> None:
    await generate(client, {"contacts": 100})
    response = await client.get(f"{BASE}contacts(emailaddress1='nobody@example.com')")
    assert response.status_code == 400
    assert "EntityKeyIndexStatus Failed" in response.json()["error"]["message"]


async def test_generating_fires_no_webhook_and_counts_no_request(
    client: httpx.AsyncClient,
) -> None:
    sandbox = client.app.state.sandbox  # type: ignore[attr-defined]
    async with Receiver() as receiver:
        await client.post(
            f"{BASE}serviceendpoints",
            json={"name": "h", "url": receiver.url, "contract": 8, "authtype": 4, "authvalue": "k"},
        )
        await client.delete("/_sandbox/counters")
        await generate(client, {"contacts": 40, "companies": 8})
        await sandbox.webhooks.wait_idle()
        assert receiver.attempts == 0
    counters = (await client.get("/_sandbox/counters?org=demo")).json()
    assert (counters["requests"], counters["writes"]) == ({}, 0)


async def test_the_key_to_id_map_is_left_out_past_a_thousand_records(
    client: httpx.AsyncClient,
) -> None:
    body = await generate(client, {"contacts": 2000})
    assert body["created"]["contacts"] > 1000
    assert "ids" not in body


async def test_an_unknown_object_type_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/_sandbox/orgs/demo/generate", json={"counts": {"leads": 5}, "seed": 0}
    )
    assert response.status_code == 422
    assert await count(client, "contacts") == 0


async def test_a_hundred_thousand_contacts_and_twenty_thousand_companies_take_seconds(
    client: httpx.AsyncClient,
) -> None:
    started = time.perf_counter()
    body = await generate(client, {"contacts": 100_000, "companies": 20_000})
    assert time.perf_counter() - started < 10
    org = client.app.state.sandbox.orgs["demo"]  # type: ignore[attr-defined]
    assert len(org.table("contacts").rows) == body["created"]["contacts"] > 70_000
    assert len(org.table("accounts").rows) == body["created"]["companies"] > 14_000
    assert await count(client, "contacts") == 5000  # $count stops at 5,000, as Dataverse's does


async def test_the_explicit_seed_endpoint_takes_every_entity_set(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/_sandbox/orgs/demo/seed",
        json={
            "accounts": [{"accountid": "11111111-1111-1111-1111-111111111111", "name": "A"}],
            "opportunities": [
                {
                    "name": "Won deal",
                    "statecode": 1,
                    "statuscode": 3,
                    "customerid_account@odata.bind": "/accounts(11111111-1111-1111-1111-111111111111)",
                }
            ],
        },
    )
    assert response.status_code == 200, response.text
    [deal] = response.json()["opportunities"]
    row = await read(client, "opportunities", deal)
    assert (row["statecode"], row["_customerid_value"]) == (
        1,
        "11111111-1111-1111-1111-111111111111",
    )
