"""The HubSpot sandbox's associations v4 API: default and labelled, both ways, primary company."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.config import SandboxSettings
from services.sandbox.hubspot.app import create_app

AUTH = {"Authorization": "Bearer sandbox-hubspot-token"}
V4 = "/crm/v4"


@pytest_asyncio.fixture
async def hubspot() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(SandboxSettings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hubspot") as client:
        yield client
    await app.state.sandbox.webhooks.aclose()


async def create(hubspot: httpx.AsyncClient, object_type: str, **body: Any) -> str:
    response = await hubspot.post(f"/crm/v3/objects/{object_type}", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    record_id: str = response.json()["id"]
    return record_id


async def company(hubspot: httpx.AsyncClient, name: str) -> str:
    return await create(hubspot, "companies", properties={"name": name})


async def contact(hubspot: httpx.AsyncClient, email: str, **body: Any) -> str:
    return await create(hubspot, "contacts", properties={"email": email}, **body)


async def types_of(
    hubspot: httpx.AsyncClient, from_type: str, record_id: str, to_type: str
) -> dict[int, list[tuple[int, str | None]]]:
    """to id -> [(typeId, label)] of a record's associations."""
    response = await hubspot.get(
        f"{V4}/objects/{from_type}/{record_id}/associations/{to_type}", headers=AUTH
    )
    assert response.status_code == 200, response.text
    return {
        r["toObjectId"]: [(t["typeId"], t["label"]) for t in r["associationTypes"]]
        for r in response.json()["results"]
    }


async def associate_default(
    hubspot: httpx.AsyncClient, from_type: str, from_id: str, to_type: str, to_id: str
) -> httpx.Response:
    path = f"{V4}/objects/{from_type}/{from_id}/associations/default/{to_type}/{to_id}"
    return await hubspot.put(path, headers=AUTH)


async def test_a_default_association_is_answered_in_both_directions_with_hubspots_type_ids(
    hubspot: httpx.AsyncClient,
) -> None:
    ada, acme = await contact(hubspot, "ada@example.com"), await company(hubspot, "Acme")
    response = await associate_default(hubspot, "contact", ada, "company", acme)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "COMPLETE"
    specs = {(r["from"]["id"], r["to"]["id"]): r["associationSpec"] for r in body["results"]}
    assert specs[(ada, acme)] == {
        "associationCategory": "HUBSPOT_DEFINED",
        "associationTypeId": 279,
    }
    assert specs[(acme, ada)]["associationTypeId"] == 280


async def test_a_contacts_first_company_becomes_its_primary_one_seen_from_both_sides(
    hubspot: httpx.AsyncClient,
) -> None:
    ada, acme = await contact(hubspot, "ada@example.com"), await company(hubspot, "Acme")
    other = await company(hubspot, "Other")
    await associate_default(hubspot, "contacts", ada, "companies", acme)
    await associate_default(hubspot, "contacts", ada, "companies", other)
    assert await types_of(hubspot, "contacts", ada, "companies") == {
        int(acme): [(1, "Primary"), (279, None)],
        int(other): [(279, None)],
    }
    assert await types_of(hubspot, "companies", acme, "contacts") == {
        int(ada): [(2, "Primary"), (280, None)]
    }


async def test_labelling_another_company_primary_moves_the_label(
    hubspot: httpx.AsyncClient,
) -> None:
    ada, acme = await contact(hubspot, "ada@example.com"), await company(hubspot, "Acme")
    other = await company(hubspot, "Other")
    await associate_default(hubspot, "contacts", ada, "companies", acme)
    response = await hubspot.put(
        f"{V4}/objects/contacts/{ada}/associations/companies/{other}",
        json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
        headers=AUTH,
    )
    assert response.status_code == 201
    assert response.json() == {
        "fromObjectTypeId": "0-1",
        "fromObjectId": int(ada),
        "toObjectTypeId": "0-2",
        "toObjectId": int(other),
        "labels": ["Primary"],
    }
    assert await types_of(hubspot, "contacts", ada, "companies") == {
        int(acme): [(279, None)],
        int(other): [(1, "Primary"), (279, None)],
    }


async def test_a_deals_primary_company_uses_types_5_and_6(hubspot: httpx.AsyncClient) -> None:
    deal = await create(hubspot, "deals", properties={"dealname": "Big"})
    acme = await company(hubspot, "Acme")
    await associate_default(hubspot, "deal", deal, "company", acme)
    assert await types_of(hubspot, "deals", deal, "companies") == {
        int(acme): [(5, "Primary"), (341, None)]
    }
    assert await types_of(hubspot, "companies", acme, "deals") == {
        int(deal): [(6, "Primary"), (342, None)]
    }


async def test_deleting_an_association_removes_it_from_both_records(
    hubspot: httpx.AsyncClient,
) -> None:
    ada, acme = await contact(hubspot, "ada@example.com"), await company(hubspot, "Acme")
    await associate_default(hubspot, "contacts", ada, "companies", acme)
    path = f"{V4}/objects/contacts/{ada}/associations/companies/{acme}"
    assert (await hubspot.delete(path, headers=AUTH)).status_code == 204
    assert await types_of(hubspot, "contacts", ada, "companies") == {}
    assert await types_of(hubspot, "companies", acme, "contacts") == {}


async def test_a_record_created_with_associations_is_associated_at_once(
    hubspot: httpx.AsyncClient,
) -> None:
    acme = await company(hubspot, "Acme")
    types = [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279},
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1},
    ]
    ada = await contact(
        hubspot, "ada@example.com", associations=[{"to": {"id": acme}, "types": types}]
    )
    assert await types_of(hubspot, "contacts", ada, "companies") == {
        int(acme): [(1, "Primary"), (279, None)]
    }


@pytest.mark.parametrize(
    "association",
    [
        {"to": {"id": "999999"}, "types": [{"associationTypeId": 279}]},
        {"to": {"id": "1"}, "types": [{"associationTypeId": 341}]},
        {
            "to": {"id": "1"},
            "types": [{"associationCategory": "USER_DEFINED", "associationTypeId": 279}],
        },
    ],
)
async def test_a_create_with_a_bad_association_is_a_400_that_writes_nothing(
    hubspot: httpx.AsyncClient, association: dict[str, Any]
) -> None:
    await company(hubspot, "Acme")
    body = {"properties": {"email": "ada@example.com"}, "associations": [association]}
    response = await hubspot.post("/crm/v3/objects/contacts", json=body, headers=AUTH)
    assert response.status_code == 400
    listed = await hubspot.get("/crm/v3/objects/contacts", headers=AUTH)
    assert listed.json()["results"] == []


async def test_batch_create_read_and_archive_work_on_many_pairs(
    hubspot: httpx.AsyncClient,
) -> None:
    ada, bob = await contact(hubspot, "ada@example.com"), await contact(hubspot, "bob@example.com")
    deal = await create(hubspot, "deals", properties={"dealname": "Big"})
    inputs = [
        {
            "from": {"id": deal},
            "to": {"id": who},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}],
        }
        for who in (ada, bob)
    ]
    created = await hubspot.post(
        f"{V4}/associations/deals/contacts/batch/create", json={"inputs": inputs}, headers=AUTH
    )
    assert created.status_code == 201
    assert [r["toObjectId"] for r in created.json()["results"]] == [int(ada), int(bob)]
    read = await hubspot.post(
        f"{V4}/associations/contacts/deals/batch/read", json={"inputs": [{"id": ada}]}, headers=AUTH
    )
    assert read.status_code == 200
    (result,) = read.json()["results"]
    assert result["from"] == {"id": ada}
    assert result["to"] == [
        {
            "toObjectId": int(deal),
            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 4, "label": None}],
        }
    ]
    archive = [{"from": {"id": deal}, "to": [{"id": ada}]}]
    gone = await hubspot.post(
        f"{V4}/associations/deals/contacts/batch/archive", json={"inputs": archive}, headers=AUTH
    )
    assert gone.status_code == 204
    assert list(await types_of(hubspot, "deals", deal, "contacts")) == [int(bob)]


async def test_batch_read_reports_records_without_associations_as_hubspot_does(
    hubspot: httpx.AsyncClient,
) -> None:
    ada = await contact(hubspot, "ada@example.com")
    read = await hubspot.post(
        f"{V4}/associations/contacts/companies/batch/read",
        json={"inputs": [{"id": ada}]},
        headers=AUTH,
    )
    assert read.status_code == 207
    (error,) = read.json()["errors"]
    assert error["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert error["context"] == {"fromObjectId": [ada]}


async def test_batch_associate_default_and_the_missing_records_it_names(
    hubspot: httpx.AsyncClient,
) -> None:
    ada, acme = await contact(hubspot, "ada@example.com"), await company(hubspot, "Acme")
    inputs = [
        {"from": {"id": ada}, "to": {"id": acme}},
        {"from": {"id": ada}, "to": {"id": "424242"}},
    ]
    response = await hubspot.post(
        f"{V4}/associations/contacts/companies/batch/associate/default",
        json={"inputs": inputs},
        headers=AUTH,
    )
    assert response.status_code == 207
    assert len(response.json()["results"]) == 2  # both directions of the one that worked
    assert response.json()["numErrors"] == 1
    assert int(acme) in await types_of(hubspot, "contacts", ada, "companies")


async def test_labels_between_two_objects_list_the_unlabeled_and_primary_types(
    hubspot: httpx.AsyncClient,
) -> None:
    response = await hubspot.get(f"{V4}/associations/contacts/companies/labels", headers=AUTH)
    assert response.json()["results"] == [
        {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
        {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None},
    ]
    notes = await hubspot.get(f"{V4}/associations/notes/deals/labels", headers=AUTH)
    assert notes.json()["results"] == [
        {"category": "HUBSPOT_DEFINED", "typeId": 214, "label": None}
    ]


async def test_objects_hubspot_does_not_associate_are_refused(hubspot: httpx.AsyncClient) -> None:
    response = await hubspot.get(f"{V4}/associations/products/contacts/labels", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


async def test_a_long_association_list_pages_with_an_after_cursor(
    hubspot: httpx.AsyncClient,
) -> None:
    acme = await company(hubspot, "Acme")
    people = [await contact(hubspot, f"p{i}@example.com") for i in range(3)]
    for person in people:
        await associate_default(hubspot, "companies", acme, "contacts", person)
    path = f"{V4}/objects/companies/{acme}/associations/contacts"
    first = (await hubspot.get(path, params={"limit": 2}, headers=AUTH)).json()
    assert [r["toObjectId"] for r in first["results"]] == [int(p) for p in people[:2]]
    after = first["paging"]["next"]["after"]
    rest = (await hubspot.get(path, params={"limit": 2, "after": after}, headers=AUTH)).json()
    assert [r["toObjectId"] for r in rest["results"]] == [int(people[2])]
    assert "paging" not in rest


async def test_association_writes_are_counted_like_other_requests(
    hubspot: httpx.AsyncClient,
) -> None:
    ada, acme = await contact(hubspot, "ada@example.com"), await company(hubspot, "Acme")
    await hubspot.delete("/_sandbox/counters")
    await associate_default(hubspot, "contacts", ada, "companies", acme)
    requests = (await hubspot.get("/_sandbox/counters")).json()["requests"]
    template = (
        "PUT /crm/v4/objects/contacts/{object_id}/associations/default/companies/{to_object_id}"
    )
    assert requests == {template: 1}
