"""The HubSpot sandbox's properties API, and writes checked against property types."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.config import SandboxSettings
from services.sandbox.hubspot.app import create_app

AUTH = {"Authorization": "Bearer sandbox-hubspot-token"}
PROPERTIES = "/crm/v3/properties"

IMPORTANT = {
    "contacts": "email firstname lastname phone jobtitle lifecyclestage city company",
    "companies": "name domain phone city industry numberofemployees",
    "deals": "dealname amount dealstage closedate pipeline",
    "products": "name hs_sku price description",
    "invoices": "hs_number hs_amount_billed hs_currency hs_due_date hs_invoice_status",
    "orders": "hs_order_name hs_total_price hs_currency_code hs_pipeline_stage",
    "tasks": "hs_task_subject hs_task_body hs_task_status hs_timestamp",
    "calls": "hs_call_title hs_call_body hs_call_duration hs_timestamp",
    "meetings": "hs_meeting_title hs_meeting_body hs_meeting_start_time hs_meeting_end_time",
    "notes": "hs_note_body hs_timestamp",
}


@pytest_asyncio.fixture
async def hubspot() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(SandboxSettings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hubspot") as client:
        yield client
    await app.state.sandbox.webhooks.aclose()


async def write(hubspot: httpx.AsyncClient, object_type: str, **properties: Any) -> httpx.Response:
    path = f"/crm/v3/objects/{object_type}"
    return await hubspot.post(path, json={"properties": properties}, headers=AUTH)


def problems(response: httpx.Response) -> list[dict[str, Any]]:
    """The per-property problems HubSpot embeds as JSON in its VALIDATION_ERROR message."""
    body = response.json()
    assert (response.status_code, body["category"]) == (400, "VALIDATION_ERROR")
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix)
    found: list[dict[str, Any]] = json.loads(body["message"].removeprefix(prefix))
    return found


async def custom(hubspot: httpx.AsyncClient, object_type: str, **spec: Any) -> httpx.Response:
    body = {"groupName": "custom", "label": spec.get("name", "x").title(), **spec}
    return await hubspot.post(f"{PROPERTIES}/{object_type}", json=body, headers=AUTH)


# -- reading definitions ------------------------------------------------------------------------


@pytest.mark.parametrize(("object_type", "names"), IMPORTANT.items())
async def test_each_object_lists_its_important_default_properties(
    hubspot: httpx.AsyncClient, object_type: str, names: str
) -> None:
    response = await hubspot.get(f"{PROPERTIES}/{object_type}", headers=AUTH)
    assert response.status_code == 200
    listed = {p["name"]: p for p in response.json()["results"]}
    assert set(names.split()) <= set(listed)
    for prop in listed.values():
        assert prop["type"] in {"string", "number", "date", "datetime", "enumeration", "bool"}
        assert {"label", "fieldType", "groupName", "options", "description"} <= set(prop)
        assert prop["hubspotDefined"] is True


async def test_an_enumeration_carries_its_options_with_label_value_order_and_hidden(
    hubspot: httpx.AsyncClient,
) -> None:
    response = await hubspot.get(f"{PROPERTIES}/contacts/lifecyclestage", headers=AUTH)
    prop = response.json()
    assert (prop["type"], prop["fieldType"]) == ("enumeration", "radio")
    assert prop["options"][0] == {
        "label": "Subscriber",
        "value": "subscriber",
        "displayOrder": 0,
        "hidden": False,
    }
    assert "customer" in [o["value"] for o in prop["options"]]
    assert prop["modificationMetadata"]["readOnlyValue"] is False


async def test_types_match_hubspots_for_dates_numbers_and_system_stamps(
    hubspot: httpx.AsyncClient,
) -> None:
    async def kind(object_type: str, name: str) -> tuple[str, str, bool]:
        prop = (await hubspot.get(f"{PROPERTIES}/{object_type}/{name}", headers=AUTH)).json()
        return prop["type"], prop["fieldType"], prop["modificationMetadata"]["readOnlyValue"]

    assert await kind("deals", "closedate") == ("datetime", "date", False)
    assert await kind("invoices", "hs_due_date") == ("date", "date", False)
    assert await kind("companies", "numberofemployees") == ("number", "number", False)
    assert await kind("contacts", "phone") == ("string", "phonenumber", False)
    assert await kind("contacts", "hs_object_id") == ("number", "number", True)


async def test_an_unknown_property_name_is_a_404_in_hubspots_shape(
    hubspot: httpx.AsyncClient,
) -> None:
    response = await hubspot.get(f"{PROPERTIES}/contacts/shoe_size", headers=AUTH)
    assert response.status_code == 404
    body = response.json()
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert {"status", "message", "correlationId"} <= set(body)


# -- custom properties --------------------------------------------------------------------------


async def test_a_custom_property_is_created_once_and_a_second_create_is_a_409(
    hubspot: httpx.AsyncClient,
) -> None:
    spec = {"name": "shoe_size", "type": "number", "fieldType": "number"}
    created = await custom(hubspot, "contacts", **spec)
    assert created.status_code == 201
    assert (created.json()["hubspotDefined"], created.json()["type"]) == (False, "number")
    again = await custom(hubspot, "contacts", **spec)
    assert again.status_code == 409
    assert again.json()["category"] == "OBJECT_ALREADY_EXISTS"
    listed = (await hubspot.get(f"{PROPERTIES}/contacts", headers=AUTH)).json()["results"]
    assert "shoe_size" in [p["name"] for p in listed]


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "tier", "type": "enumeration", "fieldType": "select", "options": []},
        {"name": "tier", "type": "text", "fieldType": "text"},
        {"name": "tier", "type": "string", "fieldType": "radio"},
        {"name": "Tier", "type": "string", "fieldType": "text"},
    ],
)
async def test_an_ill_formed_property_definition_is_refused(
    hubspot: httpx.AsyncClient, spec: dict[str, Any]
) -> None:
    response = await custom(hubspot, "companies", **spec)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


async def test_a_custom_enumeration_accepts_only_its_options_and_checkboxes_take_several(
    hubspot: httpx.AsyncClient,
) -> None:
    options = [{"label": "Gold", "value": "gold"}, {"label": "Silver", "value": "silver"}]
    await custom(
        hubspot, "companies", name="tier", type="enumeration", fieldType="select", options=options
    )
    await custom(
        hubspot,
        "companies",
        name="perks",
        type="enumeration",
        fieldType="checkbox",
        options=options,
    )
    ok = await write(hubspot, "companies", name="Acme", tier="gold", perks="gold;silver")
    assert ok.status_code == 201
    (problem,) = problems(await write(hubspot, "companies", tier="platinum"))
    assert (problem["error"], problem["name"]) == ("INVALID_OPTION", "tier")
    assert problem["message"] == "platinum was not one of the allowed options: [gold, silver]"


async def test_a_bool_property_takes_true_or_false_only(hubspot: httpx.AsyncClient) -> None:
    await custom(hubspot, "contacts", name="vip", type="bool", fieldType="booleancheckbox")
    created = await write(hubspot, "contacts", email="a@example.com", vip=True)
    assert created.json()["properties"]["vip"] == "true"
    (problem,) = problems(await write(hubspot, "contacts", email="b@example.com", vip="yes"))
    assert problem["error"] == "INVALID_OPTION"


async def test_a_unique_custom_property_refuses_a_taken_value_and_serves_upserts(
    hubspot: httpx.AsyncClient,
) -> None:
    await custom(
        hubspot, "companies", name="erp_id", type="string", fieldType="text", hasUniqueValue=True
    )
    first = await write(hubspot, "companies", name="Acme", erp_id="E-1")
    assert (await write(hubspot, "companies", name="Other", erp_id="E-1")).status_code == 409
    inputs = [
        {"id": "E-1", "idProperty": "erp_id", "properties": {"name": "Acme Inc"}},
        {"id": "E-2", "idProperty": "erp_id", "properties": {"name": "Beta"}},
    ]
    upsert = await hubspot.post(
        "/crm/v3/objects/companies/batch/upsert", json={"inputs": inputs}, headers=AUTH
    )
    assert upsert.status_code == 200
    results = {r["properties"]["erp_id"]: r for r in upsert.json()["results"]}
    assert results["E-1"]["id"] == first.json()["id"]
    assert results["E-2"]["new"] is True


async def test_an_archived_custom_property_can_no_longer_be_written(
    hubspot: httpx.AsyncClient,
) -> None:
    await custom(hubspot, "deals", name="region", type="string", fieldType="text")
    assert (await hubspot.delete(f"{PROPERTIES}/deals/region", headers=AUTH)).status_code == 204
    (problem,) = problems(await write(hubspot, "deals", region="EMEA"))
    assert problem["error"] == "PROPERTY_DOESNT_EXIST"
    archived = await hubspot.get(f"{PROPERTIES}/deals", params={"archived": "true"}, headers=AUTH)
    assert [p["name"] for p in archived.json()["results"]] == ["region"]
    refused = await hubspot.delete(f"{PROPERTIES}/deals/dealname", headers=AUTH)
    assert refused.status_code == 400


# -- values checked by type ---------------------------------------------------------------------


async def test_writing_a_property_that_does_not_exist_is_property_doesnt_exist(
    hubspot: httpx.AsyncClient,
) -> None:
    (problem,) = problems(await write(hubspot, "contacts", email="a@example.com", shoe=42))
    assert problem == {
        "isValid": False,
        "message": 'Property "shoe" does not exist',
        "error": "PROPERTY_DOESNT_EXIST",
        "name": "shoe",
        "localizedErrorMessage": 'Property "shoe" does not exist',
    }


@pytest.mark.parametrize(
    ("object_type", "properties", "error"),
    [
        ("deals", {"amount": "twelve"}, "INVALID_INTEGER"),
        ("deals", {"dealstage": "won"}, "INVALID_OPTION"),
        ("contacts", {"lifecyclestage": "Customer"}, "INVALID_OPTION"),
        ("companies", {"industry": "Software"}, "INVALID_OPTION"),
        ("invoices", {"hs_due_date": "1579179660000"}, "INVALID_DATE"),
        ("invoices", {"hs_due_date": "soon"}, "INVALID_DATE"),
        ("tasks", {"hs_timestamp": "yesterday"}, "INVALID_DATE"),
        ("contacts", {"hs_object_id": "7"}, "READ_ONLY_VALUE"),
        ("contacts", {"email": "not-an-email"}, "INVALID_EMAIL"),
    ],
)
async def test_a_value_that_does_not_fit_its_property_type_is_refused(
    hubspot: httpx.AsyncClient, object_type: str, properties: dict[str, str], error: str
) -> None:
    (problem,) = problems(await write(hubspot, object_type, **properties))
    assert problem["error"] == error
    assert problem["name"] == next(iter(properties))


async def test_a_date_not_at_midnight_says_so_like_hubspot(hubspot: httpx.AsyncClient) -> None:
    (problem,) = problems(await write(hubspot, "invoices", hs_due_date="1579179660000"))
    assert problem["message"] == "1579179660000 is at 13:1:0.0 UTC, not midnight!"


async def test_valid_values_are_stored_in_hubspots_forms(hubspot: httpx.AsyncClient) -> None:
    invoice = await write(
        hubspot,
        "invoices",
        hs_due_date="1579132800000",
        hs_invoice_date="2024-05-01",
        hs_amount_billed="12.50",
        hs_invoice_status="paid",
    )
    assert invoice.status_code == 201, invoice.text
    props = invoice.json()["properties"]
    assert (props["hs_due_date"], props["hs_invoice_date"]) == ("2020-01-16", "2024-05-01")
    assert props["hs_amount_billed"] == "12.50"
    deal = await write(
        hubspot,
        "deals",
        dealname="D",
        amount=1000,
        closedate="1700000000000",
        dealstage="closedwon",
        pipeline="default",
    )
    assert deal.json()["properties"]["closedate"] == "2023-11-14T22:13:20Z"
    assert deal.json()["properties"]["amount"] == "1000"


async def test_every_bad_property_of_a_write_is_reported_at_once(
    hubspot: httpx.AsyncClient,
) -> None:
    found = problems(await write(hubspot, "deals", amount="x", dealstage="y", nope="z"))
    assert sorted(p["error"] for p in found) == [
        "INVALID_INTEGER",
        "INVALID_OPTION",
        "PROPERTY_DOESNT_EXIST",
    ]


async def test_a_batch_update_with_a_bad_value_fails_whole_as_hubspot_does(
    hubspot: httpx.AsyncClient,
) -> None:
    deal = (await write(hubspot, "deals", dealname="D")).json()
    inputs = [{"id": deal["id"], "properties": {"dealstage": "nowhere"}}]
    response = await hubspot.post(
        "/crm/v3/objects/deals/batch/update", json={"inputs": inputs}, headers=AUTH
    )
    assert problems(response)[0]["error"] == "INVALID_OPTION"
