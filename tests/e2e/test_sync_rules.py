"""The rules that decide what syncs and how, end to end: settings validation, the email rule,
filters, the conflict winner on the initial sync, the dry run, two app accounts on one HubSpot
account, and company matching. Driven only through the control API and the sandboxes' APIs.

Every test connects its own new Dynamics organisation to the shared HubSpot sandbox, so it
seeds what it needs before "save and sync" and tells its records apart by a unique id.
"""

import asyncio
from functools import partial
from typing import Any
from uuid import uuid4

import pytest

from tests.e2e.support import ConnectOrg, SandboxOrg
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


def unique() -> str:
    return uuid4().hex[:10]


async def hubspot_contact_ids(org: SandboxOrg) -> set[str]:
    ids: set[str] = set()
    after: str | None = None
    while True:
        params = {"limit": "100", **({"after": after} if after else {})}
        page = (await org.hubspot.get("/crm/v3/objects/contacts", params=params)).json()
        ids |= {r["id"] for r in page["results"]}
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            return ids


# --- settings ---------------------------------------------------------------------------------

EMAIL = {"hubspot": "email", "app": "emailaddress1"}
REFUSED = {
    "two-way pair of text and date": (
        "contacts",
        {"mappings": [EMAIL, {"hubspot": "firstname", "app": "birthdate"}]},
        "mappings[1]",
        "incompatible_types",
        ["firstname", "birthdate"],
    ),
    "two-way pair of text and number": (
        "companies",
        {"mappings": [{"hubspot": "name", "app": "numberofemployees"}]},
        "mappings[0]",
        "incompatible_types",
        ["name", "numberofemployees"],
    ),
    "one-way pair into a yes/no field": (
        "contacts",
        {
            "mappings": [
                EMAIL,
                {"hubspot": "firstname", "app": "donotemail", "direction": "to_app"},
            ]
        },
        "mappings[1]",
        "one_way_into_non_text",
        ["firstname", "donotemail"],
    ),
    "filter on a field HubSpot does not have": (
        "contacts",
        {"filters": {"hubspot": [{"property": "favourite_colour", "value": "blue"}]}},
        "filters.hubspot[0]",
        "unknown_filter_field",
        ["favourite_colour"],
    ),
    "mapping of a field the app does not have": (
        "contacts",
        {"mappings": [EMAIL, {"hubspot": "firstname", "app": "nickname"}]},
        "mappings[1]",
        "unknown_field",
        ["nickname"],
    ),
}


@pytest.mark.parametrize(
    ("obj", "settings", "path", "code", "named"), list(REFUSED.values()), ids=list(REFUSED)
)
async def test_settings_that_cannot_sync_are_refused_naming_the_problem_and_nothing_is_saved(
    connect_org: ConnectOrg,
    obj: str,
    settings: dict[str, Any],
    path: str,
    code: str,
    named: list[str],
):
    org = await connect_org()
    response = await org.put_settings(obj, settings)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_settings"
    assert path in error["message"]
    problem = next(p for p in error["problems"] if p["path"] == path)
    assert problem["code"] == code
    assert all(name in problem["message"] for name in named), problem
    unsaved = await org.api.get(org.sync_path(obj))
    assert unsaved.status_code == 404
    assert unsaved.json()["error"]["code"] == "unknown_sync"


async def test_mapping_with_an_unknown_rule_is_refused_naming_the_rule_and_the_value(
    connect_org: ConnectOrg,
):
    org = await connect_org()
    response = await org.put_settings(
        "contacts",
        {"mappings": [EMAIL, {"hubspot": "firstname", "app": "firstname", "rule": "loudest"}]},
    )
    assert response.status_code == 422, response.text
    assert (await org.api.get(org.sync_path("contacts"))).status_code == 404
    error = response.json()["error"]
    assert error["code"] == "invalid_request", error
    assert "rule" in error["message"], error
    assert "loudest" in error["message"], error


async def test_valid_custom_mapping_is_saved_and_read_back_and_a_refused_edit_keeps_it(
    connect_org: ConnectOrg,
):
    org = await connect_org()
    settings = {
        "conflict_winner": "app",
        "mappings": [
            EMAIL,
            {"hubspot": "firstname", "app": "firstname"},
            {"hubspot": "company", "app": "description", "rule": "prefer_app_unless_blank"},
            {"hubspot": "lifecyclestage", "app": "jobtitle", "direction": "to_app"},
        ],
        "only_with_email": False,
        "filters": {"app": [{"property": "lastname", "op": "has_value"}]},
    }
    saved = await org.put_settings("contacts", settings)
    assert saved.status_code == 200, saved.text

    read = await org.api.get(org.sync_path("contacts"))
    assert read.status_code == 200
    sync = read.json()
    assert sync["state"] == "draft"
    body = sync["settings"]
    assert (body["conflict_winner"], body["only_with_email"]) == ("app", False)
    assert [
        (m["hubspot"], m["app"], m["rule"], m["direction"], m["enabled"]) for m in body["mappings"]
    ] == [
        ("email", "emailaddress1", "default", None, True),
        ("firstname", "firstname", "default", None, True),
        ("company", "description", "prefer_app_unless_blank", None, True),
        ("lifecyclestage", "jobtitle", "default", "to_app", True),
    ]
    assert body["filters"]["app"] == [{"property": "lastname", "op": "has_value", "value": None}]

    refused = await org.put_settings(
        "contacts", {"mappings": [EMAIL, {"hubspot": "firstname", "app": "birthdate"}]}
    )
    assert refused.status_code == 422
    again = (await org.api.get(org.sync_path("contacts"))).json()
    assert again["settings"] == body


# --- the email rule ---------------------------------------------------------------------------


async def test_app_contacts_without_a_valid_email_never_reach_hubspot_and_count_as_excluded(
    connect_org: ConnectOrg,
):
    org = await connect_org()
    await org.start("contacts", {})
    before = await org.health()
    uid = unique()
    lastname = f"Rule{uid}"
    await org.create_in_dynamics("contacts", {"firstname": "Nomail", "lastname": lastname})
    await org.create_in_dynamics(
        "contacts",
        {"firstname": "Bad", "lastname": lastname, "emailaddress1": f"not-an-email-{uid}"},
    )
    valid = f"valid-{uid}@example.com"
    await org.create_in_dynamics(
        "contacts", {"firstname": "Good", "lastname": lastname, "emailaddress1": valid}
    )

    await eventually(lambda: org.hubspot_contact(valid), within=20)
    await eventually(
        lambda: org.health_when("excluded", at_least=before["excluded"] + 2), within=20
    )
    in_hubspot = await org.search_hubspot("contacts", "lastname", "EQ", lastname, "email")
    assert [c["email"] for c in in_hubspot] == [valid]


async def test_contact_without_email_syncs_when_the_email_rule_is_off(connect_org: ConnectOrg):
    org = await connect_org()
    await org.start("contacts", {"only_with_email": False})
    lastname = f"Nomail{unique()}"
    await org.create_in_dynamics("contacts", {"firstname": "Noa", "lastname": lastname})

    async def in_hubspot() -> list[dict[str, Any]]:
        return await org.search_hubspot(
            "contacts", "lastname", "EQ", lastname, "email", "firstname", "lastname"
        )

    found = await eventually(in_hubspot, within=20)
    assert len(found) == 1
    assert found[0]["firstname"] == "Noa"
    assert not found[0].get("email")


# --- filters ----------------------------------------------------------------------------------


FILTERED = {
    "unmapped lifecyclestage": pytest.param(
        "lifecyclestage",
        ("customer", "lead"),
    ),
    "mapped jobtitle": pytest.param("jobtitle", ("Buyer", "Browser")),
}


@pytest.mark.parametrize(("prop", "values"), list(FILTERED.values()), ids=list(FILTERED))
async def test_filter_limits_which_records_start_syncing_but_a_synced_record_keeps_syncing(
    connect_org: ConnectOrg, prop: str, values: tuple[str, str]
):
    passes, fails = values
    org = await connect_org()
    await org.start("contacts", {"filters": {"hubspot": [{"property": prop, "value": passes}]}})
    before = await org.health()
    uid = unique()
    left_out, kept = f"out-{uid}@example.com", f"kept-{uid}@example.com"
    await org.create_in_hubspot("contacts", email=left_out, firstname="Lee", **{prop: fails})
    kept_id = await org.create_in_hubspot("contacts", email=kept, firstname="Cus", **{prop: passes})

    assert (await eventually(lambda: org.dynamics_contact(kept), within=20))["firstname"] == "Cus"
    await eventually(
        lambda: org.health_when("excluded", at_least=before["excluded"] + 1), within=20
    )
    assert await org.dynamics_contact(left_out) is None

    # It no longer passes the filter, but it synced once: it keeps syncing.
    await org.update_in_hubspot("contacts", kept_id, **{prop: fails})
    await org.update_in_hubspot("contacts", kept_id, firstname="Cusanna")

    async def renamed() -> bool:
        record = await org.dynamics_contact(kept)
        return record is not None and record["firstname"] == "Cusanna"

    assert await eventually(renamed, within=20)
    assert await org.dynamics_contact(left_out) is None


async def test_dry_run_reads_the_property_a_filter_names(connect_org: ConnectOrg):
    uid = unique()
    org = await connect_org()
    await org.seed_hubspot(
        "contacts",
        [
            {"email": f"customer-{uid}@example.com", "lifecyclestage": "customer"},
            {"email": f"lead-{uid}@example.com", "lifecyclestage": "lead"},
        ],
    )
    filters = [
        {"property": "email", "op": "contains", "value": uid},  # only this test's contacts
        {"property": "lifecyclestage", "op": "eq", "value": "customer"},
    ]
    saved = await org.put_settings("contacts", {"filters": {"hubspot": filters}})
    assert saved.status_code == 200, saved.text
    report = (await org.api.post(org.sync_path("contacts", "dry-run"))).json()
    assert report["created"]["app"] == 1, report
    assert (
        report["excluded"]["hubspot"].get(
            "left out by the HubSpot filter: lifecyclestage must be 'customer'"
        )
        == 1
    ), report


# --- the initial sync -------------------------------------------------------------------------


async def test_initial_sync_merges_a_pair_keeping_the_winners_values_and_filling_blanks(
    connect_org: ConnectOrg,
):
    uid = unique()
    address = f"both-{uid}@example.com"
    org = await connect_org()
    [hubspot_id] = await org.seed_hubspot(
        "contacts", [{"email": address, "firstname": "Hubert", "jobtitle": "Engineer"}]
    )
    [app_id] = await org.seed_dynamics(
        "contacts", [{"emailaddress1": address, "firstname": "Apollo", "lastname": f"L{uid}"}]
    )
    await org.start("contacts", {"conflict_winner": "app"})

    async def merged() -> dict[str, Any] | None:
        contact = await org.hubspot_contact(address)
        return contact if contact and contact["firstname"] == "Apollo" else None

    in_hubspot = await eventually(merged, within=20)
    assert in_hubspot["id"] == hubspot_id
    # The app won the conflicting firstname; each side's value filled the other's blank.
    assert in_hubspot["lastname"] == f"L{uid}"
    assert in_hubspot["jobtitle"] == "Engineer"

    async def filled() -> dict[str, Any] | None:
        contact = await org.dynamics_contact(address)
        return contact if contact and contact["jobtitle"] == "Engineer" else None

    in_app = await eventually(filled, within=20)
    assert (in_app["contactid"], in_app["firstname"]) == (app_id, "Apollo")
    # Matched, not copied: one record on each side.
    assert len(await org.search_hubspot("contacts", "email", "EQ", address, "email")) == 1
    assert (
        len(await org.search_dynamics("contacts", f"emailaddress1 eq '{address}'", "contactid"))
        == 1
    )


async def test_dry_run_counts_what_the_initial_sync_would_do_and_writes_nothing(
    connect_org: ConnectOrg,
):
    uid = unique()
    both, hubspot_only, app_only = (f"{k}-{uid}@example.com" for k in ("both", "hs", "app"))
    org = await connect_org()
    await org.seed_hubspot(
        "contacts",
        [{"email": both, "firstname": "Ann"}, {"email": hubspot_only, "firstname": "Hal"}],
    )
    await org.seed_dynamics(
        "contacts",
        [
            {"emailaddress1": both, "firstname": "Anne"},
            {"emailaddress1": app_only, "firstname": "Apu"},
            {"firstname": "Nomail", "lastname": uid},
            {"emailaddress1": f"not-an-email-{uid}", "lastname": uid},
        ],
    )
    # Only this test's HubSpot contacts: the shared account holds other tests' contacts too.
    only_ours = {"hubspot": [{"property": "email", "op": "contains", "value": uid}]}
    saved = await org.put_settings("contacts", {"filters": only_ours})
    assert saved.status_code == 200, saved.text
    contacts_before, writes_before = await hubspot_contact_ids(org), await org.writes()

    response = await org.api.post(org.sync_path("contacts", "dry-run"))
    assert response.status_code == 200, response.text
    report = response.json()

    assert report["object_type"] == "contacts"
    assert report["matched"] == 1
    assert report["created"] == {"hubspot": 1, "app": 1}
    # HubSpot wins by default: the matched app contact's firstname would be updated.
    assert report["updated"] == {"hubspot": 0, "app": 1}
    assert report["updated_fields"]["app"] == {"firstname": 1}
    assert sum(report["excluded"]["app"].values()) == 2
    assert all("email" in reason for reason in report["excluded"]["app"])
    assert report["duplicates"] == {"hubspot": 0, "app": 0}

    # Nothing was written on either side, and the sync has not started.
    await asyncio.sleep(1)
    assert await org.writes() == writes_before
    assert await hubspot_contact_ids(org) == contacts_before
    assert await org.hubspot_contact(app_only) is None
    assert await org.dynamics_contact(hubspot_only) is None
    assert (await org.dynamics_contact(both) or {}).get("firstname") == "Anne"
    assert (await org.api.get(org.sync_path("contacts"))).json()["state"] == "draft"


# --- several app accounts ---------------------------------------------------------------------


async def test_two_app_accounts_sync_through_hubspot_each_with_its_own_link(
    connect_org: ConnectOrg,
):
    first, second = await connect_org(), await connect_org()
    await asyncio.gather(first.start("contacts", {}), second.start("contacts", {}))
    before = {org.cid: (await org.health())["in_sync"] for org in (first, second)}
    address = f"hub-{unique()}@example.com"

    await first.create_in_dynamics("contacts", {"emailaddress1": address, "firstname": "Spoke"})
    in_hubspot = await eventually(lambda: first.hubspot_contact(address), within=20)
    in_second = await eventually(lambda: second.dynamics_contact(address), within=20)
    assert in_second["firstname"] == "Spoke"

    await second.update_in_dynamics("contacts", in_second["contactid"], {"jobtitle": "Wheel"})

    async def jobtitle_in_hubspot() -> bool:
        contact = await first.hubspot_contact(address)
        return contact is not None and contact.get("jobtitle") == "Wheel"

    async def jobtitle_in_first() -> bool:
        contact = await first.dynamics_contact(address)
        return contact is not None and contact.get("jobtitle") == "Wheel"

    assert await eventually(jobtitle_in_hubspot, within=20)
    assert await eventually(jobtitle_in_first, within=20)

    for org in (first, second):
        in_sync = partial(org.health_when, "in_sync", at_least=before[org.cid] + 1)
        await eventually(in_sync, within=15)
    await asyncio.sleep(3)  # a reconciler poll or two: nothing doubles
    for org in (first, second):
        assert (await org.health())["in_sync"] == before[org.cid] + 1, org.name
        assert (
            len(await org.search_dynamics("contacts", f"emailaddress1 eq '{address}'", "contactid"))
            == 1
        )
        trail = await org.audit(record=in_hubspot["id"])
        created_into = {e["target"] for e in trail if e["op"] == "create"}
        assert created_into == ({"hubspot"} if org is first else {"app"}), org.name


# --- companies --------------------------------------------------------------------------------


async def test_companies_matching_by_name_or_by_domain_are_merged_not_duplicated(
    connect_org: ConnectOrg,
):
    uid = unique()
    acme, beta = f"acme{uid}.example.com", f"beta{uid}.example.com"
    org = await connect_org()
    hubspot_ids = await org.seed_hubspot(
        "companies",
        [{"name": f"Acme {uid}", "domain": acme}, {"name": f"Beta {uid}", "domain": beta}],
    )
    app_ids = await org.seed_dynamics(
        "accounts",
        [
            {"name": f"Acme {uid}", "websiteurl": f"https://other{uid}.example.com"},
            {"name": f"Bolt {uid}", "websiteurl": f"https://www.{beta}/"},
        ],
    )
    await org.start("companies", {})

    async def accounts() -> list[dict[str, Any]]:
        return await org.search_dynamics(
            "accounts", f"contains(name, '{uid}')", "accountid", "name", "websiteurl"
        )

    async def merged() -> list[dict[str, Any]] | None:
        # HubSpot wins: the pair matched by name takes the company's domain, the pair matched
        # by domain its name (the website already names the same domain, so it stays).
        found = await accounts()
        sites = {a["name"]: a["websiteurl"] for a in found}
        wanted = {f"Acme {uid}": f"https://{acme}", f"Beta {uid}": f"https://www.{beta}/"}
        return found if sites == wanted else None

    found = await eventually(merged, within=20)
    assert sorted(a["accountid"] for a in found) == sorted(app_ids)
    companies = await org.search_hubspot(
        "companies", "name", "CONTAINS_TOKEN", uid, "name", "domain"
    )
    assert sorted(c["id"] for c in companies) == sorted(hubspot_ids)
    assert sorted(c["domain"] for c in companies) == [acme, beta]
    counts = await org.health("companies")
    assert counts["failing"] == 0
