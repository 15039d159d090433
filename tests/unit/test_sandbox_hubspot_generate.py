"""`/_sandbox/generate` fills the HubSpot sandbox from the shared seed-data generator."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from services.config import SandboxSettings
from services.sandbox import seeding
from services.sandbox.hubspot.app import create_app

AUTH = {"Authorization": "Bearer sandbox-hubspot-token"}
SMALL = {
    "companies": 8,
    "contacts": 40,
    "products": 4,
    "deals": 8,
    "invoices": 4,
    "sales_orders": 4,
    "activities": 24,
}


@pytest_asyncio.fixture
async def hubspot() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(SandboxSettings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hubspot") as client:
        yield client
    await app.state.sandbox.webhooks.aclose()


async def generate(hubspot: httpx.AsyncClient, counts: dict[str, int], seed: int = 0) -> Any:
    response = await hubspot.post("/_sandbox/generate", json={"counts": counts, "seed": seed})
    assert response.status_code == 200, response.text
    return response.json()


async def read(hubspot: httpx.AsyncClient, object_type: str, record_id: str, names: str) -> Any:
    response = await hubspot.get(
        f"/crm/v3/objects/{object_type}/{record_id}", params={"properties": names}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    return response.json()["properties"]


async def test_a_small_dataset_answers_counts_and_the_id_of_every_key(
    hubspot: httpx.AsyncClient,
) -> None:
    body = await generate(hubspot, SMALL)
    expected = seeding.generate_dataset("hubspot", SMALL, 0).records
    assert body["created"] == {t: len(r) for t, r in expected.items()}
    assert set(body["ids"]["contacts"]) == {r.key for r in expected["contacts"]}
    assert all(i.isdigit() for i in body["ids"]["companies"].values())
    kinds = {i.split("/")[0] for i in body["ids"]["activities"].values()}
    assert kinds <= {"tasks", "calls", "meetings", "notes"}


async def test_neutral_fields_land_in_hubspots_properties(hubspot: httpx.AsyncClient) -> None:
    body = await generate(hubspot, SMALL)
    records = {
        t: {r.key: r for r in rs}
        for t, rs in seeding.generate_dataset("hubspot", SMALL, 0).records.items()
    }
    contact = records["contacts"]["contacts-0"].fields
    props = await read(hubspot, "contacts", body["ids"]["contacts"]["contacts-0"], "email,jobtitle")
    assert props["email"] == contact["email"].strip().lower()
    assert props["jobtitle"] == contact["jobtitle"]
    deal = records["deals"]["deals-0"].fields
    props = await read(hubspot, "deals", body["ids"]["deals"]["deals-0"], "dealname,dealstage")
    assert (props["dealname"], props["dealstage"]) == (deal["name"], deal["stage"])
    order = records["sales_orders"]["sales_orders-0"].fields
    order_id = body["ids"]["sales_orders"]["sales_orders-0"]
    props = await read(hubspot, "orders", order_id, "hs_order_name,hs_currency_code")
    assert (props["hs_order_name"], props["hs_currency_code"]) == (order["name"], order["currency"])
    invoice = records["invoices"]["invoices-0"].fields
    props = await read(hubspot, "invoices", body["ids"]["invoices"]["invoices-0"], "hs_due_date")
    assert props["hs_due_date"] == invoice["duedate"]


async def test_activities_go_to_the_engagement_object_of_their_kind(
    hubspot: httpx.AsyncClient,
) -> None:
    body = await generate(hubspot, SMALL)
    records = {
        r.key: r for r in seeding.generate_dataset("hubspot", SMALL, 0).records["activities"]
    }
    titles = {"task": "hs_task_subject", "call": "hs_call_title", "meeting": "hs_meeting_title"}
    for key, compound in body["ids"]["activities"].items():
        fields = records[key].fields
        object_name, record_id = compound.split("/")
        assert (
            object_name
            == {"task": "tasks", "call": "calls", "meeting": "meetings", "note": "notes"}[
                fields["kind"]
            ]
        )
        if fields["kind"] in titles:
            title = titles[fields["kind"]]
            props = await read(hubspot, object_name, record_id, f"{title},hs_timestamp")
            assert props[title] == fields["subject"]
            assert props["hs_timestamp"] == fields["timestamp"]


async def test_refs_become_associations_with_the_primary_company_labelled(
    hubspot: httpx.AsyncClient,
) -> None:
    body = await generate(hubspot, SMALL)
    ids = body["ids"]
    company_keys = {v: k for k, v in ids["companies"].items()}
    for record in seeding.generate_dataset("hubspot", SMALL, 0).records["contacts"]:
        if not record.refs.get("companies"):
            continue
        path = f"/crm/v4/objects/contacts/{ids['contacts'][record.key]}/associations/companies"
        results = (await hubspot.get(path, headers=AUTH)).json()["results"]
        linked = {company_keys[str(r["toObjectId"])]: r for r in results}
        assert set(linked) == set(record.refs["companies"])
        primary = [
            k for k, r in linked.items() if any(t["typeId"] == 1 for t in r["associationTypes"])
        ]
        assert primary == [record.primary_company]


async def test_a_large_dataset_answers_counts_only_without_webhooks_or_requests(
    hubspot: httpx.AsyncClient,
) -> None:
    await hubspot.put("/_sandbox/webhook", json={"url": "http://127.0.0.1:9/hooks"})
    body = await generate(hubspot, {"contacts": 100_000, "companies": 20_000}, seed=3)
    assert "ids" not in body
    assert body["created"]["contacts"] > 70_000
    counters = (await hubspot.get("/_sandbox/counters")).json()
    assert (counters["requests"], counters["writes"]) == ({}, 0)
    assert counters["webhooks"]["pending"] == 0
    listed = await hubspot.get("/crm/v3/objects/companies", params={"limit": 1}, headers=AUTH)
    assert listed.json()["results"]


async def test_generating_twice_with_the_same_seed_is_refused_for_the_taken_emails(
    hubspot: httpx.AsyncClient,
) -> None:
    await generate(hubspot, {"contacts": 10})
    again = await hubspot.post("/_sandbox/generate", json={"counts": {"contacts": 10}})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "duplicate"


async def test_an_unknown_object_type_is_refused(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.post("/_sandbox/generate", json={"counts": {"widgets": 3}})
    assert response.status_code == 400
