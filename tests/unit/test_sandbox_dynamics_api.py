"""The Dynamics sandbox speaks the Dataverse Web API: records, queries, paging, errors, limits."""

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from services.config import SandboxSettings
from services.sandbox.dynamics.app import create_app

TOKEN = "test-dynamics-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE = "/demo/api/data/v9.2/"
ORG_URL = f"http://dynamics{BASE}"


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    app = create_app(SandboxSettings(sandbox_dynamics_token=TOKEN))
    yield app
    await app.state.sandbox.aclose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://dynamics", headers=AUTH
    ) as c:
        yield c


async def create_contact(client: httpx.AsyncClient, org: str = "demo", **values: object) -> str:
    response = await client.post(f"/{org}/api/data/v9.2/contacts", json=values)
    assert response.status_code == 204, response.text
    entity_id = response.headers["OData-EntityId"]
    return entity_id[entity_id.index("(") + 1 : -1]


async def seed(
    client: httpx.AsyncClient, *records: Mapping[str, object], org: str = "demo"
) -> list[str]:
    response = await client.post(f"/_sandbox/orgs/{org}/seed", json={"contacts": list(records)})
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()["contacts"]
    return ids


# --- organisations and authentication ------------------------------------------------------


async def test_health_check_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Authorization": ""})
    assert response.json() == {"status": "ok"}


async def test_request_without_the_bearer_token_gets_dataverse_401(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"{BASE}contacts", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.content == b""
    assert response.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")


async def test_unknown_organisation_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope/api/data/v9.2/contacts")
    assert response.status_code == 404
    assert "error" in response.json()


async def test_each_organisation_has_its_own_records(client: httpx.AsyncClient) -> None:
    await create_contact(client, org="demo", lastname="InDemo")
    await create_contact(client, org="demo2", lastname="InDemo2")
    demo = (await client.get(f"{BASE}contacts?$select=lastname")).json()["value"]
    demo2 = (await client.get("/demo2/api/data/v9.2/contacts?$select=lastname")).json()["value"]
    assert [c["lastname"] for c in demo] == ["InDemo"]
    assert [c["lastname"] for c in demo2] == ["InDemo2"]


async def test_control_api_creates_an_organisation(client: httpx.AsyncClient) -> None:
    assert (await client.put("/_sandbox/orgs/contoso")).status_code == 204
    response = await client.get("/contoso/api/data/v9.2/contacts")
    assert response.status_code == 200
    assert response.json()["value"] == []


async def test_who_am_i_names_the_application_user_of_the_organisation(
    client: httpx.AsyncClient,
) -> None:
    body = (await client.get(f"{BASE}WhoAmI")).json()
    ids = (await client.get("/_sandbox/orgs/demo")).json()
    assert body == {
        "@odata.context": f"{ORG_URL}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
        "BusinessUnitId": ids["business_unit_id"],
        "UserId": ids["application_user_id"],
        "OrganizationId": ids["organization_id"],
    }
    other = (await client.get("/demo2/api/data/v9.2/WhoAmI()")).json()
    assert other["UserId"] != body["UserId"]


# --- create, retrieve, update, delete --------------------------------------------------------


async def test_create_answers_204_with_the_new_record_uri(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{BASE}contacts", json={"firstname": "Ann", "lastname": "Lee"})
    assert response.status_code == 204
    assert response.headers["OData-EntityId"].startswith(f"{ORG_URL}contacts(")
    assert response.headers["OData-Version"] == "4.0"


async def test_create_with_return_representation_answers_201_with_the_record(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"{BASE}contacts?$select=fullname,emailaddress1",
        json={"firstname": "Ann", "lastname": "Lee", "emailaddress1": "ann@x.com"},
        headers={"Prefer": "return=representation"},
    )
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "return=representation"
    body = response.json()
    assert body["@odata.context"] == f"{ORG_URL}$metadata#contacts(fullname,emailaddress1)/$entity"
    assert body["@odata.etag"].startswith('W/"')
    assert (body["fullname"], body["emailaddress1"]) == ("Ann Lee", "ann@x.com")
    assert set(body) == {"@odata.context", "@odata.etag", "fullname", "emailaddress1", "contactid"}


async def test_retrieve_returns_every_column_with_system_values(client: httpx.AsyncClient) -> None:
    contact_id = await create_contact(client, firstname="Ann", lastname="Lee")
    body = (await client.get(f"{BASE}contacts({contact_id})")).json()
    app_user = (await client.get(f"{BASE}WhoAmI")).json()["UserId"]
    assert body["@odata.context"] == f"{ORG_URL}$metadata#contacts/$entity"
    assert body["contactid"] == contact_id
    assert body["fullname"] == "Ann Lee"
    assert body["statecode"] == 0
    assert body["_createdby_value"] == body["_modifiedby_value"] == app_user
    assert body["createdon"].endswith("Z")
    assert body["jobtitle"] is None
    assert body["@odata.etag"] == f'W/"{body["versionnumber"]}"'


async def test_retrieve_with_select_returns_only_those_columns_and_the_key(
    client: httpx.AsyncClient,
) -> None:
    contact_id = await create_contact(client, firstname="Ann", jobtitle="CEO")
    body = (await client.get(f"{BASE}contacts({contact_id})?$select=jobtitle")).json()
    assert set(body) == {"@odata.context", "@odata.etag", "jobtitle", "contactid"}


async def test_retrieving_a_missing_record_gives_the_does_not_exist_error(
    client: httpx.AsyncClient,
) -> None:
    missing = "00000000-0000-0000-0000-000000000001"
    response = await client.get(f"{BASE}contacts({missing})")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "0x80040217", "message": f"contact With Id = {missing} Does Not Exist"}
    }


async def test_unknown_entity_set_is_a_resource_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}ontacts")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "0x8006088a",
        "message": "Resource not found for the segment 'ontacts'.",
    }


async def test_unknown_property_in_a_create_is_a_payload_error(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{BASE}contacts", json={"nickname": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "0x80048d19"
    assert "The property 'nickname' does not exist" in response.json()["error"]["message"]


async def test_wrong_value_type_and_too_long_text_are_refused(client: httpx.AsyncClient) -> None:
    wrong = await client.post(f"{BASE}contacts", json={"firstname": 12})
    assert "Cannot convert the literal '12' to the expected type 'Edm.String'" in wrong.text
    long = await client.post(f"{BASE}contacts", json={"firstname": "x" * 51})
    assert long.json()["error"]["code"] == "0x80044331"


async def test_read_only_columns_in_a_create_are_ignored(client: httpx.AsyncClient) -> None:
    contact_id = await create_contact(client, firstname="Ann", fullname="Someone Else")
    assert (await client.get(f"{BASE}contacts({contact_id})")).json()["fullname"] == "Ann"


async def test_create_with_an_existing_id_is_a_duplicate(client: httpx.AsyncClient) -> None:
    contact_id = await create_contact(client, firstname="Ann")
    response = await client.post(f"{BASE}contacts", json={"contactid": contact_id})
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "0x80040237"


async def test_parent_customer_is_bound_and_read_as_a_lookup_value(
    client: httpx.AsyncClient,
) -> None:
    parent = await create_contact(client, lastname="Parent")
    child = await create_contact(
        client, lastname="Child", **{"parentcustomerid_contact@odata.bind": f"/contacts({parent})"}
    )
    body = (
        await client.get(
            f"{BASE}contacts({child})?$select=_parentcustomerid_value",
            headers={"Prefer": 'odata.include-annotations="*"'},
        )
    ).json()
    assert body["_parentcustomerid_value"] == parent
    assert body["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "contact"
    direct = await client.post(f"{BASE}contacts", json={"_parentcustomerid_value": parent})
    assert direct.status_code == 400


async def test_update_changes_the_record_and_its_etag(client: httpx.AsyncClient) -> None:
    contact_id = await create_contact(client, firstname="Jim", lastname="Glynn")
    before = (await client.get(f"{BASE}contacts({contact_id})")).json()
    response = await client.patch(f"{BASE}contacts({contact_id})", json={"firstname": "James"})
    assert response.status_code == 204
    assert response.headers["OData-EntityId"] == f"{ORG_URL}contacts({contact_id})"
    after = (await client.get(f"{BASE}contacts({contact_id})")).json()
    assert after["fullname"] == "James Glynn"
    assert after["@odata.etag"] != before["@odata.etag"]


async def test_update_with_return_representation_answers_200(client: httpx.AsyncClient) -> None:
    contact_id = await create_contact(client, firstname="Jim")
    response = await client.patch(
        f"{BASE}contacts({contact_id})?$select=firstname",
        json={"firstname": "James"},
        headers={"Prefer": "return=representation"},
    )
    assert response.status_code == 200
    assert response.json()["firstname"] == "James"


async def test_patch_to_a_missing_id_creates_it(client: httpx.AsyncClient) -> None:
    new_id = "3c6e4b5f-86f6-e411-80dd-00155d2a68cb"
    response = await client.patch(f"{BASE}contacts({new_id})", json={"lastname": "Upserted"})
    assert response.status_code == 204
    assert (await client.get(f"{BASE}contacts({new_id})")).json()["lastname"] == "Upserted"


async def test_if_match_star_prevents_the_create_of_an_upsert(client: httpx.AsyncClient) -> None:
    missing = "3c6e4b5f-86f6-e411-80dd-00155d2a68cb"
    response = await client.patch(
        f"{BASE}contacts({missing})", json={"lastname": "x"}, headers={"If-Match": "*"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"contact With Id = {missing} Does Not Exist"
    assert (await client.get(f"{BASE}contacts({missing})")).status_code == 404


async def test_if_none_match_star_prevents_the_update_of_an_upsert(
    client: httpx.AsyncClient,
) -> None:
    contact_id = await create_contact(client, lastname="Kept")
    response = await client.patch(
        f"{BASE}contacts({contact_id})",
        json={"lastname": "Changed"},
        headers={"If-None-Match": "*"},
    )
    assert response.status_code == 412
    assert (
        response.json()["error"]["message"] == "A record with matching key values already exists."
    )
    assert (await client.get(f"{BASE}contacts({contact_id})")).json()["lastname"] == "Kept"


async def test_if_none_match_null_is_the_usual_header_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    contact_id = await create_contact(client, lastname="Kept")
    response = await client.patch(
        f"{BASE}contacts({contact_id})",
        json={"lastname": "Changed"},
        headers={"If-None-Match": "null"},
    )
    assert response.status_code == 204


async def test_stale_etag_is_a_concurrency_error(client: httpx.AsyncClient) -> None:
    contact_id = await create_contact(client, lastname="One")
    etag = (await client.get(f"{BASE}contacts({contact_id})")).json()["@odata.etag"]
    await client.patch(f"{BASE}contacts({contact_id})", json={"lastname": "Two"})
    response = await client.patch(
        f"{BASE}contacts({contact_id})", json={"lastname": "Three"}, headers={"If-Match": etag}
    )
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "0x80060882"


async def test_unchanged_record_with_if_none_match_etag_is_not_modified(
    client: httpx.AsyncClient,
) -> None:
    contact_id = await create_contact(client, lastname="One")
    etag = (await client.get(f"{BASE}contacts({contact_id})")).json()["@odata.etag"]
    response = await client.get(f"{BASE}contacts({contact_id})", headers={"If-None-Match": etag})
    assert response.status_code == 304


async def test_delete_removes_the_record(client: httpx.AsyncClient) -> None:
    contact_id = await create_contact(client, lastname="Gone")
    assert (await client.delete(f"{BASE}contacts({contact_id})")).status_code == 204
    assert (await client.get(f"{BASE}contacts({contact_id})")).status_code == 404
    assert (await client.delete(f"{BASE}contacts({contact_id})")).status_code == 404


async def test_human_actor_header_attributes_the_change_to_the_human_user(
    client: httpx.AsyncClient,
) -> None:
    contact_id = await create_contact(client, lastname="Lee")
    await client.patch(
        f"{BASE}contacts({contact_id})",
        json={"lastname": "Li"},
        headers={"X-Sandbox-Actor": "user"},
    )
    ids = (await client.get("/_sandbox/orgs/demo")).json()
    body = (await client.get(f"{BASE}contacts({contact_id})")).json()
    assert body["_modifiedby_value"] == ids["human_user_id"]
    assert body["_createdby_value"] == ids["application_user_id"]


# --- queries ----------------------------------------------------------------------------------


async def test_query_filters_selects_and_orders(client: httpx.AsyncClient) -> None:
    await seed(
        client,
        {"firstname": "Cy", "lastname": "Ray", "emailaddress1": "cy@corp.com"},
        {"firstname": "Ann", "lastname": "Lee", "emailaddress1": "ann@corp.com"},
        {"firstname": "Bob", "lastname": "Lee", "emailaddress1": "bob@other.com"},
    )
    response = await client.get(
        f"{BASE}contacts?$select=firstname&$filter=endswith(emailaddress1,'@corp.com')&$orderby=firstname desc"
    )
    body = response.json()
    assert body["@odata.context"] == f"{ORG_URL}$metadata#contacts(firstname)"
    assert [c["firstname"] for c in body["value"]] == ["Cy", "Ann"]


async def test_order_by_several_columns(client: httpx.AsyncClient) -> None:
    await seed(
        client,
        {"firstname": "Bob", "lastname": "Lee"},
        {"firstname": "Ann", "lastname": "Lee"},
        {"firstname": "Cy", "lastname": "Adams"},
        {"firstname": "Dee", "lastname": None},
    )
    body = (
        await client.get(f"{BASE}contacts?$select=firstname&$orderby=lastname asc,firstname desc")
    ).json()
    assert [c["firstname"] for c in body["value"]] == ["Dee", "Cy", "Bob", "Ann"]


async def test_top_limits_the_rows(client: httpx.AsyncClient) -> None:
    await seed(client, *({"lastname": f"L{i}"} for i in range(5)))
    body = (await client.get(f"{BASE}contacts?$top=2")).json()
    assert len(body["value"]) == 2
    assert "@odata.nextLink" not in body


async def test_count_is_returned_with_the_page(client: httpx.AsyncClient) -> None:
    await seed(client, *({"lastname": f"L{i}"} for i in range(3)))
    body = (await client.get(f"{BASE}contacts?$count=true&$top=1")).json()
    assert body["@odata.count"] == 3
    assert (await client.get(f"{BASE}contacts/$count")).text == "3"


async def test_bad_filter_and_unknown_select_are_query_errors(client: httpx.AsyncClient) -> None:
    bad = await client.get(f"{BASE}contacts?$filter=lastname eq")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "0x80060888"
    unknown = await client.get(f"{BASE}contacts?$select=nickname")
    assert unknown.json()["error"]["message"] == (
        "Could not find a property named 'nickname' on type 'Microsoft.Dynamics.CRM.contact'."
    )
    skip = await client.get(f"{BASE}contacts?$skip=5")
    assert skip.status_code == 400


async def test_max_page_size_pages_with_next_links_until_the_last_row(
    client: httpx.AsyncClient,
) -> None:
    ids = await seed(client, *({"lastname": f"L{i}"} for i in range(7)))
    prefer = {"Prefer": "odata.maxpagesize=3"}
    url: str | None = f"{BASE}contacts?$select=lastname"
    seen: list[str] = []
    pages = 0
    while url:
        response = await client.get(url, headers=prefer)
        assert response.headers["Preference-Applied"] == "odata.maxpagesize=3"
        body = response.json()
        seen += [c["contactid"] for c in body["value"]]
        url = body.get("@odata.nextLink")
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(ids)


async def test_next_link_repeats_the_query_with_a_dataverse_paging_cookie(
    client: httpx.AsyncClient,
) -> None:
    await seed(client, *({"lastname": f"L{i}"} for i in range(3)))
    body = (
        await client.get(
            f"{BASE}contacts?$select=lastname", headers={"Prefer": "odata.maxpagesize=2"}
        )
    ).json()
    link = urlsplit(body["@odata.nextLink"])
    query = parse_qs(link.query)
    assert link.path == f"{BASE}contacts"
    assert query["$select"] == ["lastname"]
    token = query["$skiptoken"][0]
    assert token.startswith(
        '<cookie pagenumber="2" pagingcookie="%3ccookie%20page%3d%221%22%3e%3ccontactid'
    )
    assert token.endswith('istracking="False" />')


async def test_rows_created_between_pages_do_not_shift_the_pages(client: httpx.AsyncClient) -> None:
    await seed(client, *({"lastname": f"L{i}"} for i in range(4)))
    prefer = {"Prefer": "odata.maxpagesize=2"}
    first = (await client.get(f"{BASE}contacts?$orderby=lastname", headers=prefer)).json()
    await seed(client, {"lastname": "A-before-everything"})
    second = (await client.get(first["@odata.nextLink"], headers=prefer)).json()
    assert [c["lastname"] for c in first["value"] + second["value"]] == ["L0", "L1", "L2", "L3"]


async def test_top_is_ignored_when_a_max_page_size_is_given(client: httpx.AsyncClient) -> None:
    await seed(client, *({"lastname": f"L{i}"} for i in range(4)))
    body = (
        await client.get(f"{BASE}contacts?$top=1", headers={"Prefer": "odata.maxpagesize=3"})
    ).json()
    assert len(body["value"]) == 3


async def test_a_hundred_thousand_seeded_contacts_are_all_paged_through(
    client: httpx.AsyncClient,
) -> None:
    records = [
        {"emailaddress1": f"user{i}@example.com", "firstname": f"F{i}"} for i in range(100_000)
    ]
    ids = await seed(client, *records)
    url: str | None = f"{BASE}contacts?$select=emailaddress1"
    total = 0
    while url:
        body = (await client.get(url, headers={"Prefer": "odata.maxpagesize=5000"})).json()
        total += len(body["value"])
        url = body.get("@odata.nextLink")
    assert len(ids) == total == 100_000
    counters = (await client.get("/_sandbox/counters?org=demo")).json()
    assert counters["writes"] == 0


# --- change tracking --------------------------------------------------------------------------


async def test_change_tracking_returns_changes_and_deletions_since_the_delta_link(
    client: httpx.AsyncClient,
) -> None:
    kept, changed, deleted = await seed(
        client, {"lastname": "Kept"}, {"lastname": "Old"}, {"lastname": "Gone"}
    )
    first = await client.get(
        f"{BASE}contacts?$select=lastname", headers={"Prefer": "odata.track-changes"}
    )
    assert first.headers["Preference-Applied"] == "odata.track-changes"
    assert len(first.json()["value"]) == 3
    delta_link = first.json()["@odata.deltaLink"]
    assert "$deltatoken=" in delta_link
    await client.patch(f"{BASE}contacts({changed})", json={"lastname": "New"})
    await client.delete(f"{BASE}contacts({deleted})")
    created = await create_contact(client, lastname="Fresh")
    delta = (await client.get(delta_link)).json()
    assert delta["@odata.context"] == f"{ORG_URL}$metadata#contacts(lastname)/$delta"
    values = delta["value"]
    assert [v.get("lastname") for v in values if "lastname" in v] == ["New", "Fresh"]
    assert {
        "@odata.context": f"{ORG_URL}$metadata#contacts/$deletedEntity",
        "id": deleted,
        "reason": "deleted",
    } in values
    assert kept not in [v.get("contactid") for v in values]
    assert created in [v.get("contactid") for v in values]
    assert (await client.get(delta["@odata.deltaLink"])).json()["value"] == []


async def test_change_tracking_refuses_filter(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"{BASE}contacts?$filter=lastname eq 'x'", headers={"Prefer": "odata.track-changes"}
    )
    assert response.status_code == 400
    assert "isn't supported when Change Tracking is enabled" in response.json()["error"]["message"]


# --- service protection, faults and counters ----------------------------------------------------


async def test_requests_over_the_budget_get_429_with_retry_after(client: httpx.AsyncClient) -> None:
    assert (
        await client.put("/_sandbox/limits", json={"requests_per_window": 3, "window_seconds": 60})
    ).status_code == 204
    for _ in range(3):
        assert (await client.get(f"{BASE}WhoAmI")).status_code == 200
    response = await client.get(f"{BASE}WhoAmI")
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.json()["error"] == {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 3 over time window of 60 seconds.",
    }
    assert (await client.get("/demo2/api/data/v9.2/WhoAmI")).status_code == 200


async def test_budget_frees_up_as_the_window_slides(client: httpx.AsyncClient) -> None:
    await client.put("/_sandbox/limits", json={"requests_per_window": 1, "window_seconds": 0.05})
    assert (await client.get(f"{BASE}WhoAmI")).status_code == 200
    assert (await client.get(f"{BASE}WhoAmI")).status_code == 429
    await asyncio.sleep(0.06)
    assert (await client.get(f"{BASE}WhoAmI")).status_code == 200


async def test_injected_faults_fail_the_next_matching_requests(client: httpx.AsyncClient) -> None:
    await client.post(
        "/_sandbox/faults",
        json={"status": 503, "count": 2, "org": "demo", "path_prefix": "contacts"},
    )
    assert (await client.get(f"{BASE}WhoAmI")).status_code == 200
    assert (await client.get("/demo2/api/data/v9.2/contacts")).status_code == 200
    assert (await client.get(f"{BASE}contacts")).status_code == 503
    assert (await client.post(f"{BASE}contacts", json={})).status_code == 503
    assert (await client.get(f"{BASE}contacts")).status_code == 200


async def test_injected_429_carries_retry_after(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/faults", json={"status": 429, "retry_after": 7})
    response = await client.get(f"{BASE}contacts")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"]["code"] == "0x80072322"


async def test_fault_with_only_a_delay_slows_the_request_down(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/faults", json={"delay_seconds": 0.1})
    started = time.perf_counter()
    assert (await client.get(f"{BASE}WhoAmI")).status_code == 200
    assert time.perf_counter() - started >= 0.1


async def test_fault_status_must_be_429_or_5xx(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_sandbox/faults", json={"status": 404})).status_code == 422


async def test_counters_count_requests_by_method_and_entity_set_and_writes(
    client: httpx.AsyncClient,
) -> None:
    contact_id = await create_contact(client, lastname="A")
    await client.patch(f"{BASE}contacts({contact_id})", json={"lastname": "B"})
    await client.get(f"{BASE}contacts")
    await client.get(f"{BASE}contacts", headers={"Authorization": "Bearer wrong"})
    await client.delete(f"{BASE}contacts({contact_id})")
    counters = (await client.get("/_sandbox/counters?org=demo")).json()
    assert counters["requests"] == {
        "POST contacts": 1,
        "PATCH contacts": 1,
        "GET contacts": 2,
        "DELETE contacts": 1,
    }
    assert (counters["writes"], counters["records_written"]) == (3, 3)
    assert counters["webhooks"] == {
        "delivered": 0,
        "failed_attempts": 0,
        "pending": 0,
        "abandoned": 0,
    }
    assert (await client.delete("/_sandbox/counters")).status_code == 204
    assert (await client.get("/_sandbox/counters?org=demo")).json()["requests"] == {}


async def test_reset_empties_every_organisation_and_forgets_limits_and_orgs(
    client: httpx.AsyncClient,
) -> None:
    await create_contact(client, lastname="A")
    await client.put("/_sandbox/orgs/extra")
    await client.put("/_sandbox/limits", json={"requests_per_window": 1, "window_seconds": 60})
    assert (await client.post("/_sandbox/reset")).status_code == 204
    assert (await client.get(f"{BASE}contacts")).json()["value"] == []
    assert (await client.get(f"{BASE}contacts")).status_code == 200
    assert (await client.get("/extra/api/data/v9.2/contacts")).status_code == 404


async def test_seed_is_all_or_nothing_and_can_set_ids_and_dates(client: httpx.AsyncClient) -> None:
    given = "49b0be2e-d01c-ed11-b83e-000d3a572421"
    ids = await seed(
        client, {"contactid": given, "lastname": "Old", "modifiedon": "2020-01-02T03:04:05Z"}
    )
    assert ids == [given]
    body = (await client.get(f"{BASE}contacts({given})")).json()
    assert body["modifiedon"] == "2020-01-02T03:04:05Z"
    bad = await client.post(
        "/_sandbox/orgs/demo/seed", json={"contacts": [{"lastname": "ok"}, {"nickname": "x"}]}
    )
    assert bad.status_code == 400
    assert len((await client.get(f"{BASE}contacts")).json()["value"]) == 1
