"""Lookups: written through navigation properties with @odata.bind, read as `_x_value`."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.unit.dynamics_support import (
    ANNOTATIONS,
    BASE,
    LOGICAL,
    NAVIGATION,
    ORG_URL,
    create,
    error_of,
    read,
    sandbox_client,
)

MISSING = "00000000-0000-0000-0000-00000000abcd"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with sandbox_client() as c:
        yield c


@pytest.fixture
async def account(client: httpx.AsyncClient) -> str:
    return await create(client, "accounts", name="Contoso")


@pytest.fixture
async def contact(client: httpx.AsyncClient) -> str:
    return await create(client, "contacts", lastname="Lee", emailaddress1="lee@example.com")


@pytest.mark.parametrize(
    ("entity_set", "values", "navigation", "target_set", "column"),
    [
        ("contacts", {"lastname": "L"}, "parentcustomerid_account", "accounts", "parentcustomerid"),
        ("contacts", {"lastname": "L"}, "parentcustomerid_contact", "contacts", "parentcustomerid"),
        ("accounts", {"name": "A"}, "primarycontactid", "contacts", "primarycontactid"),
        ("accounts", {"name": "A"}, "parentaccountid", "accounts", "parentaccountid"),
        ("opportunities", {"name": "D"}, "customerid_account", "accounts", "customerid"),
        ("opportunities", {"name": "D"}, "customerid_contact", "contacts", "customerid"),
        ("opportunities", {"name": "D"}, "parentaccountid", "accounts", "parentaccountid"),
        ("opportunities", {"name": "D"}, "parentcontactid", "contacts", "parentcontactid"),
        ("invoices", {"name": "I"}, "customerid_contact", "contacts", "customerid"),
        ("invoices", {"name": "I"}, "customerid_account", "accounts", "customerid"),
        ("salesorders", {"name": "O"}, "customerid_contact", "contacts", "customerid"),
        (
            "tasks",
            {"subject": "T"},
            "regardingobjectid_contact_task",
            "contacts",
            "regardingobjectid",
        ),
        ("tasks", {"subject": "T"}, "regardingobjectid_account", "accounts", "regardingobjectid"),
        (
            "phonecalls",
            {"subject": "C"},
            "regardingobjectid_account_phonecall",
            "accounts",
            "regardingobjectid",
        ),
        (
            "appointments",
            {"subject": "M"},
            "regardingobjectid_contact_appointment",
            "contacts",
            "regardingobjectid",
        ),
        ("annotations", {"subject": "N"}, "objectid_contact", "contacts", "objectid"),
        ("annotations", {"subject": "N"}, "objectid_account", "accounts", "objectid"),
    ],
)
async def test_each_lookup_is_bound_and_read_back_with_its_annotations(
    client: httpx.AsyncClient,
    account: str,
    contact: str,
    entity_set: str,
    values: dict[str, str],
    navigation: str,
    target_set: str,
    column: str,
) -> None:
    target = account if target_set == "accounts" else contact
    record_id = await create(
        client, entity_set, **values, **{f"{navigation}@odata.bind": f"/{target_set}({target})"}
    )
    body = await read(client, entity_set, record_id, annotated=True)
    value = f"_{column}_value"
    assert body[value] == target
    assert body[f"{value}@{LOGICAL}"] == target_set.removesuffix("s")
    assert body[f"{value}@{NAVIGATION}"] == navigation
    plain = await read(client, entity_set, record_id)
    assert f"{value}@{LOGICAL}" not in plain


async def test_a_bind_may_be_relative_absolute_or_by_alternate_key(
    client: httpx.AsyncClient, account: str, contact: str
) -> None:
    for reference in (
        f"accounts({account})",
        f"{ORG_URL}accounts({account})",
    ):
        deal = await create(
            client, "opportunities", name="D", **{"parentaccountid@odata.bind": reference}
        )
        assert (await read(client, "opportunities", deal))["_parentaccountid_value"] == account
    by_key = await create(
        client,
        "opportunities",
        name="D",
        **{"parentcontactid@odata.bind": "/contacts(emailaddress1='LEE@example.com')"},
    )
    assert (await read(client, "opportunities", by_key))["_parentcontactid_value"] == contact


async def test_binding_to_a_missing_record_is_the_target_does_not_exist_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"{BASE}contacts",
        json={"lastname": "L", "parentcustomerid_account@odata.bind": f"/accounts({MISSING})"},
    )
    assert response.status_code == 404
    assert error_of(response) == {
        "code": "0x80040217",
        "message": f"account With Id = {MISSING} Does Not Exist",
    }
    assert (await client.get(f"{BASE}contacts")).json()["value"] == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"parentcustomerid_account@odata.bind": "/contacts(%s)"}, "refers to 'accounts'"),
        ({"parentcustomerid_account@odata.bind": "not a reference"}, "Invalid bind value"),
        ({"parentcustomerid_lead@odata.bind": "/leads(%s)"}, "undeclared property"),
    ],
)
async def test_a_bad_bind_is_a_payload_error(
    client: httpx.AsyncClient, contact: str, body: dict[str, str], fragment: str
) -> None:
    payload = {k: v.replace("%s", contact) for k, v in body.items()}
    response = await client.post(f"{BASE}contacts", json={"lastname": "L", **payload})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "0x80048d19"
    assert fragment in error["message"]


async def test_a_lookup_column_cannot_be_written_directly(
    client: httpx.AsyncClient, account: str
) -> None:
    response = await client.post(
        f"{BASE}opportunities", json={"name": "D", "_parentaccountid_value": account}
    )
    assert response.status_code == 400
    assert "Navigation properties" in error_of(response)["message"]


@pytest.mark.parametrize(
    "body", [{"parentcustomerid_account@odata.bind": None}, {"parentcustomerid_account": None}]
)
async def test_patching_the_navigation_property_to_null_disassociates(
    client: httpx.AsyncClient, account: str, body: dict[str, None]
) -> None:
    contact = await create(
        client,
        "contacts",
        lastname="L",
        **{"parentcustomerid_account@odata.bind": f"/accounts({account})"},
    )
    response = await client.patch(f"{BASE}contacts({contact})", json=body)
    assert response.status_code == 204
    after = await read(client, "contacts", contact, annotated=True)
    assert after["_parentcustomerid_value"] is None
    assert f"_parentcustomerid_value@{LOGICAL}" not in after


async def test_a_reference_is_set_with_put_ref_and_removed_with_delete_ref(
    client: httpx.AsyncClient, account: str
) -> None:
    deal = await create(client, "opportunities", name="D")
    ref = f"{BASE}opportunities({deal})/customerid_account/$ref"
    put = await client.put(ref, json={"@odata.id": f"{ORG_URL}accounts({account})"})
    assert put.status_code == 204
    assert (await read(client, "opportunities", deal))["_customerid_value"] == account
    deleted = await client.delete(ref)
    assert deleted.status_code == 204
    assert (await read(client, "opportunities", deal))["_customerid_value"] is None


async def test_delete_ref_of_the_other_target_leaves_the_lookup_alone(
    client: httpx.AsyncClient, contact: str
) -> None:
    deal = await create(
        client,
        "opportunities",
        name="D",
        **{"customerid_contact@odata.bind": f"/contacts({contact})"},
    )
    response = await client.delete(f"{BASE}opportunities({deal})/customerid_account/$ref")
    assert response.status_code == 204
    assert (await read(client, "opportunities", deal))["_customerid_value"] == contact


async def test_queries_filter_on_lookup_values(
    client: httpx.AsyncClient, account: str, contact: str
) -> None:
    await create(
        client,
        "tasks",
        subject="A",
        **{"regardingobjectid_account_task@odata.bind": f"/accounts({account})"},
    )
    await create(
        client,
        "tasks",
        subject="C",
        **{"regardingobjectid_contact_task@odata.bind": f"/contacts({contact})"},
    )
    page = await client.get(
        f"{BASE}tasks?$select=subject&$filter=_regardingobjectid_value eq {account}",
        headers=ANNOTATIONS,
    )
    assert [row["subject"] for row in page.json()["value"]] == ["A"]


async def test_one_column_is_read_set_and_cleared_through_its_own_url(
    client: httpx.AsyncClient, contact: str
) -> None:
    url = f"{BASE}contacts({contact})/lastname"
    assert (await client.get(url)).json()["value"] == "Lee"
    assert (await client.put(url, json={"value": "Ng"})).status_code == 204
    assert (await read(client, "contacts", contact))["lastname"] == "Ng"
    assert (await client.delete(f"{BASE}contacts({contact})/jobtitle")).status_code == 204
    assert (await client.get(f"{BASE}contacts({contact})/jobtitle")).status_code == 204
