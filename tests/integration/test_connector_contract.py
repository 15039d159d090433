"""One contract suite, run against both connectors, each talking to its sandbox over HTTP."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio

from schemas.commands import WriteOp
from services.connectors.base import Association, Connector, WriteRequest
from services.connectors.dynamics import DynamicsConnector
from services.connectors.hubspot import HubSpotConnector
from services.sandbox.dynamics.app import create_app as dynamics_app
from services.sandbox.hubspot.app import create_app as hubspot_app
from tests.helpers import serve

pytestmark = pytest.mark.integration


@dataclass
class App:
    """A connector, its sandbox, and the names it gives to the fields the tests use."""

    name: str
    connector: Connector
    sandbox: str  # base URL of the sandbox's /_sandbox control
    fields: dict[str, str]  # neutral name → this app's field name
    bad_record: dict[str, Any]  # properties the app refuses
    fault_scope: dict[str, str]

    def props(self, **neutral: Any) -> dict[str, Any]:
        return {self.fields[k]: v for k, v in neutral.items()}

    async def fail_next(self, status: int, count: int) -> None:
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{self.sandbox}/_sandbox/faults",
                json={"status": status, "count": count, **self.fault_scope},
            )
            response.raise_for_status()


@pytest_asyncio.fixture(scope="module")
async def hubspot() -> AsyncIterator[App]:
    async with serve(hubspot_app()) as url:
        connector = HubSpotConnector(url, "sandbox-hubspot-token")
        yield App(
            "hubspot",
            connector,
            url,
            {
                "email": "email",
                "first": "firstname",
                "company": "name",
                "subject": "subject",
                "body": "body",
            },
            {"email": "not-an-email"},
            {},
        )
        await connector.aclose()


@pytest_asyncio.fixture(scope="module")
async def dynamics() -> AsyncIterator[App]:
    async with serve(dynamics_app()) as url:
        connector = DynamicsConnector(f"{url}/demo", "sandbox-dynamics-token")
        yield App(
            "dynamics",
            connector,
            url,
            {
                "email": "emailaddress1",
                "first": "firstname",
                "company": "name",
                "subject": "subject",
                "body": "description",
            },
            {"nosuchattribute": "x"},
            {"org": "demo"},
        )
        await connector.aclose()


@pytest.fixture(params=["hubspot", "dynamics"])
def app(request: pytest.FixtureRequest) -> App:
    return request.getfixturevalue(request.param)


def unique_email() -> str:
    return f"c-{uuid4().hex[:12]}@example.com"


async def create(app: App, object_type: str, *records: dict[str, Any]) -> list[str]:
    writes = [WriteRequest(f"r{i}", WriteOp.CREATE, None, p) for i, p in enumerate(records)]
    results = await app.connector.write_batch(object_type, writes)
    assert all(r.ok for r in results), [r.error for r in results]
    by_ref = {r.ref: r.record_id for r in results}
    return [str(by_ref[w.ref]) for w in writes]


async def test_created_records_are_read_back_by_id(app: App):
    email = unique_email()
    [record_id] = await create(app, "contacts", app.props(email=email, first="Ann"))
    found = await app.connector.read_batch(
        "contacts", [record_id, "00000000-0000-0000-0000-000000000000"], [app.fields["first"]]
    )
    assert list(found) == [record_id]
    assert found[record_id].properties[app.fields["first"]] == "Ann"


async def test_an_update_changes_only_the_given_field(app: App):
    [record_id] = await create(app, "contacts", app.props(email=unique_email(), first="Bo"))
    update = WriteRequest("u", WriteOp.UPDATE, record_id, app.props(first="Bob"))
    [result] = await app.connector.write_batch("contacts", [update])
    assert result.ok
    found = await app.connector.read_batch(
        "contacts", [record_id], [app.fields["first"], app.fields["email"]]
    )
    assert found[record_id].properties[app.fields["first"]] == "Bob"
    assert found[record_id].properties[app.fields["email"]]


async def test_records_changed_since_a_watermark_are_listed(app: App):
    since = datetime.now(UTC) - timedelta(seconds=2)
    [record_id] = await create(app, "contacts", app.props(email=unique_email(), first="Cy"))
    listed = [
        r.id
        async for page in app.connector.list_records("contacts", [app.fields["first"]], since)
        for r in page
    ]
    assert record_id in listed


async def test_every_record_is_listed_across_pages(app: App):
    emails = [unique_email() for _ in range(120)]
    ids = await create(app, "contacts", *(app.props(email=e) for e in emails))
    listed = {
        r.id
        async for page in app.connector.list_records("contacts", [app.fields["email"]])
        for r in page
    }
    assert set(ids) <= listed


async def test_records_are_found_by_match_key_whatever_the_case(app: App):
    email = unique_email()
    [record_id] = await create(app, "contacts", app.props(email=email))
    found = await app.connector.find_by_match_key(
        "contacts", app.fields["email"], [email.upper(), unique_email()], []
    )
    assert [r.id for r in found] == [record_id]


async def test_a_bad_record_fails_alone_and_its_neighbours_land(app: App):
    good = [app.props(email=unique_email()) for _ in range(3)]
    bad = {**app.props(email=unique_email()), **app.bad_record}
    writes = [WriteRequest(f"w{i}", WriteOp.CREATE, None, p) for i, p in enumerate([*good, bad])]
    results = {r.ref: r for r in await app.connector.write_batch("contacts", writes)}
    assert [results[f"w{i}"].ok for i in range(4)] == [True, True, True, False]
    error = results["w3"].error
    assert error is not None
    assert error.category.value == "validation"
    assert error.fix


async def test_an_update_of_a_missing_record_fails_as_not_found(app: App):
    missing = "987654321" if app.name == "hubspot" else "11111111-2222-3333-4444-555555555555"
    [result] = await app.connector.write_batch(
        "contacts", [WriteRequest("m", WriteOp.UPDATE, missing, app.props(first="X"))]
    )
    assert result.error is not None
    assert result.error.category.value == "not_found"


async def test_rate_limited_requests_are_retried_until_they_pass(app: App):
    await app.fail_next(429, 2)
    [record_id] = await create(app, "contacts", app.props(email=unique_email(), first="Rate"))
    assert await app.connector.read_batch("contacts", [record_id], [])


async def test_server_errors_are_retried_until_they_pass(app: App):
    await app.fail_next(503, 1)
    [record_id] = await create(app, "contacts", app.props(email=unique_email()))
    assert record_id


async def test_a_deleted_record_is_gone(app: App):
    [record_id] = await create(app, "contacts", app.props(email=unique_email()))
    [result] = await app.connector.write_batch(
        "contacts", [WriteRequest("d", WriteOp.DELETE, record_id, {})]
    )
    assert result.ok
    assert await app.connector.read_batch("contacts", [record_id], []) == {}


async def test_a_contacts_primary_company_is_written_and_read_back(app: App):
    [company] = await create(app, "companies", app.props(company=f"Acme {uuid4().hex[:6]}"))
    [contact] = await create(app, "contacts", app.props(email=unique_email()))
    [result] = await app.connector.write_associations(
        "contacts", "companies", [Association(contact, company, primary=True)]
    )
    assert result.ok, result.error
    found = await app.connector.read_associations("contacts", [contact], "companies")
    assert found[contact] == [Association(contact, company, primary=True)]


async def test_activities_keep_their_kind_and_unified_fields(app: App):
    call = WriteRequest(
        "a", WriteOp.CREATE, None, app.props(subject="Intro call", body="Went well"), kind="call"
    )
    [result] = await app.connector.write_batch("activities", [call])
    assert result.ok, result.error
    assert result.record_id is not None
    assert result.record_id.split("/")[0] in ("calls", "phonecalls")
    found = await app.connector.read_batch(
        "activities", [result.record_id], [app.fields["subject"], app.fields["body"]]
    )
    assert found[result.record_id].properties[app.fields["body"]] == "Went well"


# The smallest valid record of each object, by app (activities as a task).
MINIMAL: dict[str, dict[str, dict[str, Any]]] = {
    "hubspot": {
        "contacts": {"email": "{unique}@example.com"},
        "companies": {"name": "Co {unique}", "domain": "{unique}.example.com"},
        "deals": {"dealname": "Deal {unique}", "amount": "1200"},
        "products": {"name": "Product {unique}", "hs_sku": "SKU-{unique}", "price": "10"},
        "invoices": {"hs_currency": "USD"},
        "sales_orders": {"hs_order_name": "Order {unique}"},
        "activities": {"subject": "Task {unique}", "hs_timestamp": "2026-01-05T10:00:00Z"},
    },
    "dynamics": {
        "contacts": {"emailaddress1": "{unique}@example.com", "lastname": "L"},
        "companies": {"name": "Co {unique}", "websiteurl": "https://{unique}.example.com"},
        "deals": {"name": "Deal {unique}", "estimatedvalue": 1200},
        "products": {"name": "Product {unique}", "productnumber": "SKU-{unique}"},
        "invoices": {"name": "Invoice {unique}"},
        "sales_orders": {"name": "Order {unique}"},
        "activities": {"subject": "Task {unique}"},
    },
}


@pytest.mark.parametrize(
    "object_type",
    ["contacts", "companies", "deals", "products", "invoices", "sales_orders", "activities"],
)
async def test_every_object_is_created_read_listed_and_deleted(app: App, object_type: str):
    unique = uuid4().hex[:10]
    props = {
        k: v.format(unique=unique) if isinstance(v, str) else v
        for k, v in MINIMAL[app.name][object_type].items()
    }
    kind = "task" if object_type == "activities" else None
    [created] = await app.connector.write_batch(
        object_type, [WriteRequest("c", WriteOp.CREATE, None, props, kind)]
    )
    assert created.ok, created.error
    assert created.record_id is not None
    name_field = next(iter(props))
    found = await app.connector.read_batch(object_type, [created.record_id], [name_field])
    assert found[created.record_id].properties[name_field] == props[name_field]
    listed = {
        r.id async for page in app.connector.list_records(object_type, [name_field]) for r in page
    }
    assert created.record_id in listed
    [deleted] = await app.connector.write_batch(
        object_type, [WriteRequest("d", WriteOp.DELETE, created.record_id, {})]
    )
    assert deleted.ok, deleted.error
    assert await app.connector.read_batch(object_type, [created.record_id], [name_field]) == {}
