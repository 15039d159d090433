"""Every CRM entity set of the Dynamics sandbox, with Dataverse's column types and errors."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.unit.dynamics_support import (
    ANNOTATIONS,
    BASE,
    FORMATTED,
    create,
    error_of,
    read,
    sandbox_client,
)

MINIMAL: dict[str, tuple[str, dict[str, Any]]] = {
    "contacts": ("contactid", {"lastname": "Lee"}),
    "accounts": ("accountid", {"name": "Contoso"}),
    "opportunities": ("opportunityid", {"name": "Renewal"}),
    "products": ("productid", {"name": "Widget", "productnumber": "SKU-1"}),
    "invoices": ("invoiceid", {"name": "March invoice"}),
    "salesorders": ("salesorderid", {"name": "Hardware order"}),
    "tasks": ("activityid", {"subject": "Send proposal"}),
    "phonecalls": ("activityid", {"subject": "Discovery call"}),
    "appointments": ("activityid", {"subject": "Demo"}),
    "annotations": ("annotationid", {"subject": "Call notes"}),
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with sandbox_client() as c:
        yield c


@pytest.mark.parametrize("entity_set", list(MINIMAL))
async def test_every_entity_set_creates_reads_updates_and_deletes_its_records(
    client: httpx.AsyncClient, entity_set: str
) -> None:
    primary_id, values = MINIMAL[entity_set]
    record_id = await create(client, entity_set, **values)
    body = await read(client, entity_set, record_id)
    assert body[primary_id] == record_id
    assert all(body[name] == value for name, value in values.items())
    column = next(iter(values))
    patched = await client.patch(f"{BASE}{entity_set}({record_id})", json={column: "Changed"})
    assert patched.status_code == 204
    assert (await read(client, entity_set, record_id))[column] == "Changed"
    assert (await client.delete(f"{BASE}{entity_set}({record_id})")).status_code == 204
    missing = await client.get(f"{BASE}{entity_set}({record_id})")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "0x80040217"


@pytest.mark.parametrize("entity_set", list(MINIMAL))
async def test_an_unknown_attribute_is_refused_on_every_entity_set(
    client: httpx.AsyncClient, entity_set: str
) -> None:
    response = await client.post(f"{BASE}{entity_set}", json={"nickname": "x"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "0x80048d19"
    assert "The property 'nickname' does not exist on type" in error["message"]


@pytest.mark.parametrize(
    ("entity_set", "values", "edm_type"),
    [
        ("accounts", {"industrycode": "Consulting"}, "Edm.Int32"),
        ("accounts", {"numberofemployees": 12.5}, "Edm.Int32"),
        ("accounts", {"revenue": "1000"}, "Edm.Decimal"),
        ("opportunities", {"estimatedclosedate": "2025-03-01T10:00:00Z"}, "Edm.Date"),
        ("appointments", {"isalldayevent": "yes"}, "Edm.Boolean"),
        ("tasks", {"scheduledend": "next tuesday"}, "Edm.DateTimeOffset"),
        ("contacts", {"firstname": 7}, "Edm.String"),
    ],
)
async def test_a_value_of_the_wrong_type_is_refused_with_the_literal_error(
    client: httpx.AsyncClient, entity_set: str, values: dict[str, Any], edm_type: str
) -> None:
    response = await client.post(f"{BASE}{entity_set}", json=values)
    assert response.status_code == 400
    message = error_of(response)["message"]
    assert f"to the expected type '{edm_type}'" in message


async def test_an_option_outside_the_choices_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{BASE}accounts", json={"name": "A", "industrycode": 99})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "0x8004431a"
    assert "The value 99 of 'industrycode'" in error["message"]


@pytest.mark.parametrize(
    ("entity_set", "values"),
    [
        ("accounts", {"numberofemployees": -1}),
        ("opportunities", {"closeprobability": 101}),
        ("products", {"name": "P", "productnumber": "S", "price": -5}),
    ],
)
async def test_a_number_outside_the_column_range_is_refused(
    client: httpx.AsyncClient, entity_set: str, values: dict[str, Any]
) -> None:
    response = await client.post(f"{BASE}{entity_set}", json=values)
    assert response.status_code == 400
    assert "is outside the valid range" in error_of(response)["message"]


async def test_text_longer_than_the_column_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{BASE}tasks", json={"subject": "x" * 201})
    assert response.status_code == 400
    assert error_of(response)["code"] == "0x80044331"


async def test_money_is_kept_to_two_decimals(client: httpx.AsyncClient) -> None:
    record_id = await create(client, "opportunities", name="Deal", estimatedvalue=1234.5678)
    assert (await read(client, "opportunities", record_id))["estimatedvalue"] == 1234.57


async def test_date_only_columns_take_and_give_a_plain_date(client: httpx.AsyncClient) -> None:
    record_id = await create(client, "invoices", name="I", duedate="2025-03-01")
    assert (await read(client, "invoices", record_id))["duedate"] == "2025-03-01"
    found = await client.get(f"{BASE}invoices?$filter=duedate ge 2025-03-01&$select=name")
    assert [row["name"] for row in found.json()["value"]] == ["I"]
    earlier = await client.get(f"{BASE}invoices?$filter=duedate lt 2025-03-01")
    assert earlier.json()["value"] == []


async def test_date_time_columns_are_utc(client: httpx.AsyncClient) -> None:
    record_id = await create(client, "tasks", subject="T", scheduledend="2025-01-02T11:30:00+02:00")
    assert (await read(client, "tasks", record_id))["scheduledend"] == "2025-01-02T09:30:00Z"


async def test_formatted_values_come_only_when_asked_for(client: httpx.AsyncClient) -> None:
    record_id = await create(
        client,
        "accounts",
        name="Contoso",
        industrycode=7,
        numberofemployees=1500,
        revenue=1234567.5,
    )
    plain = await read(client, "accounts", record_id)
    assert not any(FORMATTED in key for key in plain)
    body = await read(client, "accounts", record_id, annotated=True)
    assert body[f"industrycode@{FORMATTED}"] == "Consulting"
    assert body[f"numberofemployees@{FORMATTED}"] == "1,500"
    assert body[f"revenue@{FORMATTED}"] == "$1,234,567.50"
    assert body[f"statecode@{FORMATTED}"] == "Active"
    only = await client.get(
        f"{BASE}accounts({record_id})?$select=industrycode",
        headers={"Prefer": f'odata.include-annotations="{FORMATTED}"'},
    )
    assert only.json()[f"industrycode@{FORMATTED}"] == "Consulting"


async def test_yes_no_and_date_values_are_formatted_with_their_labels(
    client: httpx.AsyncClient,
) -> None:
    call = await create(client, "phonecalls", subject="C", directioncode=False)
    body = await read(client, "phonecalls", call, annotated=True)
    assert body[f"directioncode@{FORMATTED}"] == "Incoming"
    deal = await create(client, "opportunities", name="D", estimatedclosedate="2025-03-09")
    body = await read(client, "opportunities", deal, annotated=True)
    assert body[f"estimatedclosedate@{FORMATTED}"] == "3/9/2025"


async def test_activities_are_keyed_by_activityid_and_name_their_type(
    client: httpx.AsyncClient,
) -> None:
    for entity_set, logical in (("tasks", "task"), ("phonecalls", "phonecall")):
        record_id = await create(client, entity_set, subject="S")
        body = await read(client, entity_set, record_id)
        assert body["activityid"] == record_id
        assert body["activitytypecode"] == logical
        assert body["prioritycode"] == 1


async def test_currencies_are_reference_data_that_cannot_be_written(
    client: httpx.AsyncClient,
) -> None:
    found = await client.get(
        f"{BASE}transactioncurrencies?$filter=isocurrencycode eq 'EUR'"
        "&$select=currencyname,currencysymbol"
    )
    [euro] = found.json()["value"]
    assert euro["currencyname"] == "Euro"
    invoice = await create(
        client,
        "invoices",
        name="I",
        **{
            "transactioncurrencyid@odata.bind": f"/transactioncurrencies({euro['transactioncurrencyid']})"
        },
    )
    assert (await read(client, "invoices", invoice))["_transactioncurrencyid_value"] == euro[
        "transactioncurrencyid"
    ]
    refused = await client.post(f"{BASE}transactioncurrencies", json={"currencyname": "X"})
    assert refused.status_code == 405


async def test_annotations_can_be_asked_for_on_a_query_too(client: httpx.AsyncClient) -> None:
    await create(client, "accounts", name="Contoso", industrycode=1)
    page = await client.get(f"{BASE}accounts?$select=industrycode", headers=ANNOTATIONS)
    assert page.json()["value"][0][f"industrycode@{FORMATTED}"] == "Accounting"
