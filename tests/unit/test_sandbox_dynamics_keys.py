"""Alternate keys: records addressed by emailaddress1, accountnumber, productnumber, ... and
upserted through them."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.unit.dynamics_support import BASE, create, error_of, id_of, read, sandbox_client


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with sandbox_client() as c:
        yield c


async def test_a_record_is_read_by_its_alternate_key_ignoring_case(
    client: httpx.AsyncClient,
) -> None:
    contact = await create(client, "contacts", lastname="Lee", emailaddress1="Ann.Lee@example.com")
    response = await client.get(f"{BASE}contacts(emailaddress1='ann.lee@EXAMPLE.com')")
    assert response.status_code == 200
    assert response.json()["contactid"] == contact


async def test_a_record_is_read_by_its_named_primary_key(client: httpx.AsyncClient) -> None:
    account = await create(client, "accounts", name="Contoso")
    response = await client.get(f"{BASE}accounts(accountid={account})")
    assert response.json()["accountid"] == account


async def test_a_missing_alternate_key_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}products(productnumber='NOPE')")
    assert response.status_code == 404
    assert error_of(response) == {
        "code": "0x80040217",
        "message": "A record with the specified key values does not exist in product entity",
    }


async def test_a_column_that_is_no_key_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}accounts(name='Contoso')")
    assert response.status_code == 400
    assert error_of(response)["message"].startswith(
        "The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.account'."
    )


async def test_patch_by_alternate_key_creates_the_record_with_its_key(
    client: httpx.AsyncClient,
) -> None:
    response = await client.patch(
        f"{BASE}products(productnumber='SKU-9')", json={"name": "Widget", "price": 9.5}
    )
    product = id_of(response)
    body = await read(client, "products", product)
    assert (body["productnumber"], body["name"], body["price"]) == ("SKU-9", "Widget", 9.5)


async def test_patch_by_alternate_key_updates_the_existing_record(
    client: httpx.AsyncClient,
) -> None:
    account = await create(client, "accounts", name="Contoso", accountnumber="ACC-1")
    response = await client.patch(f"{BASE}accounts(accountnumber='ACC-1')", json={"name": "New"})
    assert id_of(response) == account
    assert (await read(client, "accounts", account))["name"] == "New"
    assert len((await client.get(f"{BASE}accounts")).json()["value"]) == 1


async def test_if_match_star_turns_a_key_upsert_into_an_update_only(
    client: httpx.AsyncClient,
) -> None:
    response = await client.patch(
        f"{BASE}contacts(emailaddress1='new@example.com')",
        json={"lastname": "New"},
        headers={"If-Match": "*"},
    )
    assert response.status_code == 404
    assert "specified key values does not exist" in error_of(response)["message"]
    assert (await client.get(f"{BASE}contacts")).json()["value"] == []


async def test_if_none_match_star_turns_a_key_upsert_into_a_create_only(
    client: httpx.AsyncClient,
) -> None:
    await create(client, "contacts", lastname="Lee", emailaddress1="lee@example.com")
    response = await client.patch(
        f"{BASE}contacts(emailaddress1='lee@example.com')",
        json={"lastname": "Other"},
        headers={"If-None-Match": "*"},
    )
    assert response.status_code == 412


async def test_a_record_is_deleted_by_its_alternate_key(client: httpx.AsyncClient) -> None:
    await create(client, "invoices", name="I", invoicenumber="INV-7")
    assert (await client.delete(f"{BASE}invoices(invoicenumber='INV-7')")).status_code == 204
    assert (await client.get(f"{BASE}invoices(invoicenumber='INV-7')")).status_code == 404


async def test_a_second_record_with_the_same_key_is_a_duplicate(client: httpx.AsyncClient) -> None:
    await create(client, "contacts", lastname="Lee", emailaddress1="lee@example.com")
    response = await client.post(
        f"{BASE}contacts", json={"lastname": "Twin", "emailaddress1": "LEE@example.com"}
    )
    assert response.status_code == 412
    assert error_of(response)["code"] == "0x80060892"
    other = await create(client, "contacts", lastname="Other", emailaddress1="other@example.com")
    clash = await client.patch(
        f"{BASE}contacts({other})", json={"emailaddress1": "lee@example.com"}
    )
    assert clash.status_code == 412


async def test_records_without_a_key_value_do_not_clash(client: httpx.AsyncClient) -> None:
    await create(client, "contacts", lastname="A")
    await create(client, "contacts", lastname="B")
    assert len((await client.get(f"{BASE}contacts")).json()["value"]) == 2


async def test_a_key_value_may_quote_apostrophes_and_parentheses(client: httpx.AsyncClient) -> None:
    account = await create(client, "accounts", name="O'Brien", accountnumber="O'B (1)")
    response = await client.get(f"{BASE}accounts(accountnumber='O''B (1)')")
    assert response.json()["accountid"] == account


async def test_a_changed_key_value_addresses_the_record_under_its_new_value(
    client: httpx.AsyncClient,
) -> None:
    contact = await create(client, "contacts", lastname="Lee", emailaddress1="old@example.com")
    await client.patch(f"{BASE}contacts({contact})", json={"emailaddress1": "new@example.com"})
    assert (await client.get(f"{BASE}contacts(emailaddress1='old@example.com')")).status_code == 404
    found = await client.get(f"{BASE}contacts(emailaddress1='new@example.com')")
    assert found.json()["contactid"] == contact


async def test_seeded_rows_sharing_a_key_value_fail_the_key_until_one_is_gone(
    client: httpx.AsyncClient,
) -> None:
    seeded = await client.post(
        "/_sandbox/orgs/demo/seed",
        json={
            "products": [
                {"name": "A", "productnumber": "SKU-1"},
                {"name": "B", "productnumber": "sku-1"},
            ]
        },
    )
    first, second = seeded.json()["products"]
    failed = await client.get(f"{BASE}products(productnumber='SKU-1')")
    assert failed.status_code == 400
    assert "EntityKeyIndexStatus Failed" in error_of(failed)["message"]
    third = await client.post(f"{BASE}products", json={"name": "C", "productnumber": "SKU-1"})
    assert third.status_code == 204  # no unique index, no uniqueness
    await client.delete(f"{BASE}products({second})")
    await client.delete(f"{BASE}products({id_of(third)})")
    found = await client.get(f"{BASE}products(productnumber='SKU-1')")
    assert found.json()["productid"] == first
