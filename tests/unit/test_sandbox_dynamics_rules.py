"""The rules Dataverse applies to writes: state and status, numbering, computed columns, and what
deleting a record does to the records pointing at it."""

from collections.abc import AsyncIterator

import httpx
import pytest

from services.sandbox.dynamics.entities_sales import DEFAULT_UNIT_GROUP, PRIMARY_UNIT
from tests.unit.dynamics_support import BASE, create, error_of, read, sandbox_client


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with sandbox_client() as c:
        yield c


async def patch(client: httpx.AsyncClient, path: str, **values: object) -> None:
    response = await client.patch(f"{BASE}{path}", json=values)
    assert response.status_code == 204, response.text


# --- state and status ------------------------------------------------------------------------


async def test_a_status_given_alone_moves_the_record_to_the_state_of_that_status(
    client: httpx.AsyncClient,
) -> None:
    task = await create(client, "tasks", subject="Follow up")
    await patch(client, f"tasks({task})", statuscode=5)
    body = await read(client, "tasks", task)
    assert (body["statecode"], body["statuscode"]) == (1, 5)


async def test_a_state_given_alone_gets_the_default_status_of_that_state(
    client: httpx.AsyncClient,
) -> None:
    call = await create(client, "phonecalls", subject="Call")
    assert (await read(client, "phonecalls", call))["statuscode"] == 1
    await patch(client, f"phonecalls({call})", statecode=2)
    assert (await read(client, "phonecalls", call))["statuscode"] == 3


async def test_an_opportunity_starts_open_whatever_state_the_create_gives(
    client: httpx.AsyncClient,
) -> None:
    deal = await create(client, "opportunities", name="Deal", statecode=1, statuscode=3)
    body = await read(client, "opportunities", deal)
    assert (body["statecode"], body["statuscode"]) == (0, 1)
    await patch(client, f"opportunities({deal})", statecode=2, statuscode=5)
    body = await read(client, "opportunities", deal)
    assert (body["statecode"], body["statuscode"]) == (2, 5)


async def test_records_start_in_their_first_state(client: httpx.AsyncClient) -> None:
    expected = {
        "accounts": ({"name": "A"}, (0, 1)),
        "invoices": ({"name": "I"}, (0, 1)),
        "salesorders": ({"name": "O"}, (0, 1)),
        "tasks": ({"subject": "T"}, (0, 2)),
        "appointments": ({"subject": "M"}, (0, 1)),
        "products": ({"name": "P", "productnumber": "S"}, (0, 1)),
    }
    for entity_set, (values, state) in expected.items():
        body = await read(client, entity_set, await create(client, entity_set, **values))
        assert (body["statecode"], body["statuscode"]) == state, entity_set


# --- numbering and computed columns ------------------------------------------------------------


async def test_invoices_and_orders_are_numbered_when_no_number_is_given(
    client: httpx.AsyncClient,
) -> None:
    invoice = await read(client, "invoices", await create(client, "invoices", name="I"))
    order = await read(client, "salesorders", await create(client, "salesorders", name="O"))
    assert invoice["invoicenumber"].startswith("INV-")
    assert order["ordernumber"].startswith("ORD-")
    given = await create(client, "invoices", name="I2", invoicenumber="INV-42")
    assert (await read(client, "invoices", given))["invoicenumber"] == "INV-42"


async def test_an_invoice_number_cannot_be_changed_by_an_update(client: httpx.AsyncClient) -> None:
    invoice = await create(client, "invoices", name="I", invoicenumber="INV-1")
    await patch(client, f"invoices({invoice})", invoicenumber="INV-2", name="Renamed")
    body = await read(client, "invoices", invoice)
    assert (body["invoicenumber"], body["name"]) == ("INV-1", "Renamed")


async def test_a_total_amount_is_ignored_on_create_and_kept_on_update(
    client: httpx.AsyncClient,
) -> None:
    order = await create(client, "salesorders", name="O", totalamount=250)
    assert (await read(client, "salesorders", order))["totalamount"] is None
    await patch(client, f"salesorders({order})", totalamount=250)
    assert (await read(client, "salesorders", order))["totalamount"] == 250.0


async def test_a_product_needs_its_product_number(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{BASE}products", json={"name": "No SKU"})
    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "Attribute 'productnumber' cannot be NULL for entity 'product'."
    )


async def test_a_product_without_units_gets_the_default_unit_group(
    client: httpx.AsyncClient,
) -> None:
    body = await read(
        client, "products", await create(client, "products", name="P", productnumber="S")
    )
    assert body["_defaultuomscheduleid_value"] == DEFAULT_UNIT_GROUP
    assert body["_defaultuomid_value"] == PRIMARY_UNIT


async def test_an_appointment_duration_follows_its_start_and_end(client: httpx.AsyncClient) -> None:
    meeting = await create(
        client,
        "appointments",
        subject="Demo",
        scheduledstart="2025-01-01T10:00:00Z",
        scheduledend="2025-01-01T11:30:00Z",
    )
    assert (await read(client, "appointments", meeting))["scheduleddurationminutes"] == 90
    await patch(client, f"appointments({meeting})", scheduledend="2025-01-01T10:15:00Z")
    assert (await read(client, "appointments", meeting))["scheduleddurationminutes"] == 15


async def test_a_contact_full_name_is_built_from_its_names(client: httpx.AsyncClient) -> None:
    contact = await create(client, "contacts", firstname="Ann", lastname="Lee")
    assert (await read(client, "contacts", contact))["fullname"] == "Ann Lee"


# --- delete behaviours -------------------------------------------------------------------------


async def test_deleting_an_account_deletes_its_contacts_deals_activities_and_notes(
    client: httpx.AsyncClient,
) -> None:
    account = await create(client, "accounts", name="Contoso")
    ref = f"/accounts({account})"
    contact = await create(
        client, "contacts", lastname="Lee", **{"parentcustomerid_account@odata.bind": ref}
    )
    deal = await create(client, "opportunities", name="D", **{"customerid_account@odata.bind": ref})
    task = await create(
        client,
        "tasks",
        subject="T",
        **{"regardingobjectid_opportunity_task@odata.bind": f"/opportunities({deal})"},
    )
    note = await create(
        client,
        "annotations",
        subject="N",
        **{"objectid_contact@odata.bind": f"/contacts({contact})"},
    )
    assert (await client.delete(f"{BASE}accounts({account})")).status_code == 204
    for entity_set, record_id in (
        ("contacts", contact),
        ("opportunities", deal),
        ("tasks", task),
        ("annotations", note),
    ):
        assert (await client.get(f"{BASE}{entity_set}({record_id})")).status_code == 404


async def test_deleting_an_account_clears_the_lookups_that_only_link_to_it(
    client: httpx.AsyncClient,
) -> None:
    account = await create(client, "accounts", name="Contoso")
    deal = await create(
        client, "opportunities", name="D", **{"parentaccountid@odata.bind": f"/accounts({account})"}
    )
    before = await read(client, "opportunities", deal)
    assert (await client.delete(f"{BASE}accounts({account})")).status_code == 204
    after = await read(client, "opportunities", deal)
    assert after["_parentaccountid_value"] is None
    assert after["versionnumber"] > before["versionnumber"]


async def test_a_customer_with_invoices_cannot_be_deleted_and_nothing_is_deleted(
    client: httpx.AsyncClient,
) -> None:
    account = await create(client, "accounts", name="Contoso")
    ref = f"/accounts({account})"
    contact = await create(
        client, "contacts", lastname="Lee", **{"parentcustomerid_account@odata.bind": ref}
    )
    await create(
        client, "invoices", name="I", **{"customerid_contact@odata.bind": f"/contacts({contact})"}
    )
    response = await client.delete(f"{BASE}accounts({account})")
    assert response.status_code == 400
    assert "Restrict" in error_of(response)["message"]
    assert (await client.get(f"{BASE}contacts({contact})")).status_code == 200
    assert (await client.get(f"{BASE}accounts({account})")).status_code == 200
    counters = (await client.get("/_sandbox/counters?org=demo")).json()
    assert counters["records_written"] == 3
