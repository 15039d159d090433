"""The rules that decide what syncs and how, end to end: settings validation, the email rule,
filters, the conflict winner on the initial sync, the dry run, two app accounts on one HubSpot
account, and company matching. Driven only through the control API and the sandboxes' APIs.

Every test connects its own new Dynamics organisation to the shared HubSpot sandbox, so it
seeds what it needs before "save and sync" and tells its records apart by a unique id.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio

from services.devstack.stack import Stack
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

USER = {"X-Sandbox-Actor": "user"}  # the sandboxes' hook for "a person edited this in the UI"
# Every request of a test is a person's: not counted, rate limited or faulted by the sandboxes.
HUBSPOT_TOKEN = {"Authorization": "Bearer sandbox-hubspot-token", **USER}
DYNAMICS_TOKEN = {"Authorization": "Bearer sandbox-dynamics-token", **USER}


def unique() -> str:
    return uuid4().hex[:10]


@dataclass
class Org:
    """A new Dynamics organisation, connected to the shared HubSpot account."""

    name: str
    cid: str
    api: httpx.AsyncClient
    dynamics: httpx.AsyncClient  # the organisation's Web API, as datasync's connector uses it
    sandbox: httpx.AsyncClient  # the Dynamics sandbox's test control
    started: list[str] = field(default_factory=list)  # the objects whose sync was started

    def sync_path(self, obj: str, action: str = "") -> str:
        return f"/v1/connections/{self.cid}/syncs/{obj}" + (f"/{action}" if action else "")

    async def put_settings(self, obj: str, settings: dict[str, Any]) -> httpx.Response:
        return await self.api.put(self.sync_path(obj), json=settings)

    async def start(self, obj: str, settings: dict[str, Any]) -> None:
        """Save and sync, and wait until the initial sync has been worked through."""
        saved = await self.put_settings(obj, settings)
        assert saved.status_code == 200, saved.text
        started = await self.api.post(self.sync_path(obj, "start"))
        assert started.status_code == 200, started.text
        self.started.append(obj)
        await eventually(lambda: self._initial_sync_done(obj), within=30)

    async def _initial_sync_done(self, obj: str) -> bool:
        sync = (await self.api.get(self.sync_path(obj))).json()
        if sync["state"] != "syncing":
            return False
        # Every record read from HubSpot (which the new organisation receives, or matches,
        # or leaves out) has been decided.
        counts = await self.health(obj)
        done = counts["in_sync"] + counts["excluded"] + counts["failing"]
        return bool(done >= sync["progress"]["read"]["hubspot"])

    async def health(self, obj: str = "contacts") -> dict[str, Any]:
        response = await self.api.get(f"/v1/connections/{self.cid}/health")
        assert response.status_code == 200, response.text
        return dict(response.json()["objects"][obj])

    async def seed(self, entity_set: str, rows: list[dict[str, Any]]) -> list[str]:
        """Records a person made before datasync was connected (no webhook fires)."""
        response = await self.sandbox.post(
            f"/_sandbox/orgs/{self.name}/seed", json={entity_set: rows}
        )
        assert response.status_code == 200, response.text
        return list(response.json()[entity_set])

    async def writes(self) -> int:
        response = await self.sandbox.get("/_sandbox/counters", params={"org": self.name})
        return int(response.json()["writes"])

    async def create(self, entity_set: str, row: dict[str, Any]) -> None:
        response = await self.dynamics.post(entity_set, json=row, headers=USER)
        assert response.status_code == 204, response.text

    async def where(self, entity_set: str, odata_filter: str, select: str) -> list[dict[str, Any]]:
        response = await self.dynamics.get(
            entity_set, params={"$select": select, "$filter": odata_filter}
        )
        assert response.status_code == 200, response.text
        return list(response.json()["value"])

    async def contact(self, email: str) -> dict[str, Any] | None:
        found = await self.where(
            "contacts",
            f"emailaddress1 eq '{email}'",
            "contactid,emailaddress1,firstname,lastname,jobtitle",
        )
        assert len(found) <= 1, f"{len(found)} contacts hold {email} in {self.name}"
        return found[0] if found else None


@dataclass
class HubSpot:
    """The shared HubSpot account's API and test control."""

    client: httpx.AsyncClient

    async def seed(self, object_type: str, rows: list[dict[str, Any]]) -> list[str]:
        """Records that existed before the sync started (no webhook fires)."""
        response = await self.client.post("/_sandbox/seed", json={object_type: rows})
        assert response.status_code == 200, response.text
        return list(response.json()[object_type])

    async def create(self, object_type: str, **properties: str) -> str:
        response = await self.client.post(
            f"/crm/v3/objects/{object_type}", json={"properties": properties}, headers=USER
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def update(self, object_type: str, record_id: str, **properties: str) -> None:
        response = await self.client.patch(
            f"/crm/v3/objects/{object_type}/{record_id}",
            json={"properties": properties},
            headers=USER,
        )
        assert response.status_code == 200, response.text

    async def search(
        self, object_type: str, prop: str, operator: str, value: str, properties: str
    ) -> list[dict[str, Any]]:
        response = await self.client.post(
            f"/crm/v3/objects/{object_type}/search",
            json={
                "filterGroups": [
                    {"filters": [{"propertyName": prop, "operator": operator, "value": value}]}
                ],
                "properties": properties.split(","),
                "limit": 200,
            },
        )
        assert response.status_code == 200, response.text
        return list(response.json()["results"])

    async def contact(self, email: str) -> dict[str, Any] | None:
        found = await self.search(
            "contacts", "email", "EQ", email, "email,firstname,lastname,jobtitle,lifecyclestage"
        )
        return found[0] if found else None

    async def contact_ids(self) -> set[str]:
        ids: set[str] = set()
        after: str | None = None
        while True:
            params = {"limit": "100", **({"after": after} if after else {})}
            page = (await self.client.get("/crm/v3/objects/contacts", params=params)).json()
            ids |= {r["id"] for r in page["results"]}
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after:
                return ids

    async def writes(self) -> int:
        return int((await self.client.get("/_sandbox/counters")).json()["writes"])


@dataclass
class World:
    """The running stack as its users see it; `new_org` connects a fresh organisation."""

    stack: Stack
    api: httpx.AsyncClient
    hubspot: HubSpot
    sandbox: httpx.AsyncClient
    orgs: list[Org] = field(default_factory=list)

    async def new_org(self) -> Org:
        name = f"rules{unique()}"
        assert (await self.sandbox.put(f"/_sandbox/orgs/{name}")).status_code == 204
        response = await self.api.post(
            "/v1/connections",
            json={
                "app": "dynamics365",
                "name": name,
                "base_url": f"{self.stack.dynamics_url}/{name}",
                "credentials": {"access_token": "sandbox-dynamics-token"},
            },
        )
        assert response.status_code == 201, response.text
        dynamics = httpx.AsyncClient(
            base_url=f"{self.stack.dynamics_url}/{name}/api/data/v9.2/", headers=DYNAMICS_TOKEN
        )
        org = Org(name, response.json()["id"], self.api, dynamics, self.sandbox)
        self.orgs.append(org)
        return org


@pytest_asyncio.fixture
async def world(datasync_stack: Stack, hubspot_account: None) -> AsyncIterator[World]:
    s = datasync_stack
    admin = {"Authorization": f"Bearer {s.admin_token}"}
    async with (
        httpx.AsyncClient(base_url=s.api_url, headers=admin) as api,
        httpx.AsyncClient(base_url=s.hubspot_url, headers=HUBSPOT_TOKEN) as hubspot,
        httpx.AsyncClient(base_url=s.dynamics_url) as sandbox,
    ):
        w = World(s, api, HubSpot(hubspot), sandbox)
        try:
            yield w
        finally:
            # Later tests must not see this one's organisations receive their writes. Turned
            # off, not disconnected: a connection deleted while the reconciler polls it makes
            # the reconciler exit (its watermark write violates the foreign key).
            for org in w.orgs:
                for obj in org.started:
                    await api.post(org.sync_path(obj, "off"))
                await org.dynamics.aclose()
    s.check()


async def grows(
    health: Awaitable[dict[str, Any]], key: str, by: int, start: int
) -> dict[str, Any] | None:
    """The health counts once `key` has grown by at least `by` from `start`."""
    counts = await health
    return counts if counts[key] >= start + by else None


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
    world: World, obj: str, settings: dict[str, Any], path: str, code: str, named: list[str]
):
    org = await world.new_org()
    response = await org.put_settings(obj, settings)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_settings"
    assert path in error["message"]
    problem = next(p for p in error["problems"] if p["path"] == path)
    assert problem["code"] == code
    assert all(name in problem["message"] for name in named), problem
    unsaved = await world.api.get(org.sync_path(obj))
    assert unsaved.status_code == 404
    assert unsaved.json()["error"]["code"] == "unknown_sync"


async def test_mapping_with_an_unknown_rule_is_refused_naming_the_rule_and_the_value(
    world: World,
):
    org = await world.new_org()
    response = await org.put_settings(
        "contacts",
        {"mappings": [EMAIL, {"hubspot": "firstname", "app": "firstname", "rule": "loudest"}]},
    )
    assert response.status_code == 422, response.text
    assert (await world.api.get(org.sync_path("contacts"))).status_code == 404
    error = response.json()["error"]
    assert error["code"] == "invalid_request", error
    assert "rule" in error["message"], error
    assert "loudest" in error["message"], error


async def test_valid_custom_mapping_is_saved_and_read_back_and_a_refused_edit_keeps_it(
    world: World,
):
    org = await world.new_org()
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

    read = await world.api.get(org.sync_path("contacts"))
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
    again = (await world.api.get(org.sync_path("contacts"))).json()
    assert again["settings"] == body


# --- the email rule ---------------------------------------------------------------------------


async def test_app_contacts_without_a_valid_email_never_reach_hubspot_and_count_as_excluded(
    world: World,
):
    org = await world.new_org()
    await org.start("contacts", {})
    before = await org.health()
    uid = unique()
    lastname = f"Rule{uid}"
    await org.create("contacts", {"firstname": "Nomail", "lastname": lastname})
    await org.create(
        "contacts",
        {"firstname": "Bad", "lastname": lastname, "emailaddress1": f"not-an-email-{uid}"},
    )
    valid = f"valid-{uid}@example.com"
    await org.create(
        "contacts", {"firstname": "Good", "lastname": lastname, "emailaddress1": valid}
    )

    await eventually(lambda: world.hubspot.contact(valid), within=20)
    await eventually(lambda: grows(org.health(), "excluded", 2, before["excluded"]), within=20)
    in_hubspot = await world.hubspot.search("contacts", "lastname", "EQ", lastname, "email")
    assert [c["properties"]["email"] for c in in_hubspot] == [valid]


async def test_contact_without_email_syncs_when_the_email_rule_is_off(world: World):
    org = await world.new_org()
    await org.start("contacts", {"only_with_email": False})
    lastname = f"Nomail{unique()}"
    await org.create("contacts", {"firstname": "Noa", "lastname": lastname})

    async def in_hubspot() -> list[dict[str, Any]]:
        return await world.hubspot.search(
            "contacts", "lastname", "EQ", lastname, "email,firstname,lastname"
        )

    found = await eventually(in_hubspot, within=20)
    assert len(found) == 1
    assert found[0]["properties"]["firstname"] == "Noa"
    assert not found[0]["properties"].get("email")


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
    world: World, prop: str, values: tuple[str, str]
):
    passes, fails = values
    org = await world.new_org()
    await org.start("contacts", {"filters": {"hubspot": [{"property": prop, "value": passes}]}})
    before = await org.health()
    uid = unique()
    left_out, kept = f"out-{uid}@example.com", f"kept-{uid}@example.com"
    await world.hubspot.create("contacts", email=left_out, firstname="Lee", **{prop: fails})
    kept_id = await world.hubspot.create("contacts", email=kept, firstname="Cus", **{prop: passes})

    assert (await eventually(lambda: org.contact(kept), within=20))["firstname"] == "Cus"
    await eventually(lambda: grows(org.health(), "excluded", 1, before["excluded"]), within=20)
    assert await org.contact(left_out) is None

    # It no longer passes the filter, but it synced once: it keeps syncing.
    await world.hubspot.update("contacts", kept_id, **{prop: fails})
    await world.hubspot.update("contacts", kept_id, firstname="Cusanna")

    async def renamed() -> bool:
        record = await org.contact(kept)
        return record is not None and record["firstname"] == "Cusanna"

    assert await eventually(renamed, within=20)
    assert await org.contact(left_out) is None


async def test_dry_run_reads_the_property_a_filter_names(world: World):
    uid = unique()
    await world.hubspot.seed(
        "contacts",
        [
            {"email": f"customer-{uid}@example.com", "lifecyclestage": "customer"},
            {"email": f"lead-{uid}@example.com", "lifecyclestage": "lead"},
        ],
    )
    org = await world.new_org()
    filters = [
        {"property": "email", "op": "contains", "value": uid},  # only this test's contacts
        {"property": "lifecyclestage", "op": "eq", "value": "customer"},
    ]
    saved = await org.put_settings("contacts", {"filters": {"hubspot": filters}})
    assert saved.status_code == 200, saved.text
    report = (await world.api.post(org.sync_path("contacts", "dry-run"))).json()
    assert report["created"]["app"] == 1, report
    assert (
        report["excluded"]["hubspot"].get(
            "left out by the HubSpot filter: lifecyclestage must be 'customer'"
        )
        == 1
    ), report


# --- the initial sync -------------------------------------------------------------------------


async def test_initial_sync_merges_a_pair_keeping_the_winners_values_and_filling_blanks(
    world: World,
):
    uid = unique()
    address = f"both-{uid}@example.com"
    [hubspot_id] = await world.hubspot.seed(
        "contacts", [{"email": address, "firstname": "Hubert", "jobtitle": "Engineer"}]
    )
    org = await world.new_org()
    [app_id] = await org.seed(
        "contacts", [{"emailaddress1": address, "firstname": "Apollo", "lastname": f"L{uid}"}]
    )
    await org.start("contacts", {"conflict_winner": "app"})

    async def merged() -> dict[str, Any] | None:
        contact = await world.hubspot.contact(address)
        return contact if contact and contact["properties"]["firstname"] == "Apollo" else None

    in_hubspot = await eventually(merged, within=20)
    assert in_hubspot["id"] == hubspot_id
    # The app won the conflicting firstname; each side's value filled the other's blank.
    assert in_hubspot["properties"]["lastname"] == f"L{uid}"
    assert in_hubspot["properties"]["jobtitle"] == "Engineer"

    async def filled() -> dict[str, Any] | None:
        contact = await org.contact(address)
        return contact if contact and contact["jobtitle"] == "Engineer" else None

    in_app = await eventually(filled, within=20)
    assert (in_app["contactid"], in_app["firstname"]) == (app_id, "Apollo")
    # Matched, not copied: one record on each side.
    assert len(await world.hubspot.search("contacts", "email", "EQ", address, "email")) == 1
    assert len(await org.where("contacts", f"emailaddress1 eq '{address}'", "contactid")) == 1


async def test_dry_run_counts_what_the_initial_sync_would_do_and_writes_nothing(world: World):
    uid = unique()
    both, hubspot_only, app_only = (f"{k}-{uid}@example.com" for k in ("both", "hs", "app"))
    await world.hubspot.seed(
        "contacts",
        [{"email": both, "firstname": "Ann"}, {"email": hubspot_only, "firstname": "Hal"}],
    )
    org = await world.new_org()
    await org.seed(
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
    hubspot_before = (await world.hubspot.contact_ids(), await world.hubspot.writes())
    app_writes_before = await org.writes()

    response = await world.api.post(org.sync_path("contacts", "dry-run"))
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
    assert await org.writes() == app_writes_before
    assert (await world.hubspot.contact_ids(), await world.hubspot.writes()) == hubspot_before
    assert await world.hubspot.contact(app_only) is None
    assert await org.contact(hubspot_only) is None
    assert (await org.contact(both) or {}).get("firstname") == "Anne"
    assert (await world.api.get(org.sync_path("contacts"))).json()["state"] == "draft"


# --- several app accounts ---------------------------------------------------------------------


async def test_two_app_accounts_sync_through_hubspot_each_with_its_own_link(world: World):
    first, second = await world.new_org(), await world.new_org()
    await asyncio.gather(first.start("contacts", {}), second.start("contacts", {}))
    before = {org.cid: (await org.health())["in_sync"] for org in (first, second)}
    address = f"hub-{unique()}@example.com"

    await first.create("contacts", {"emailaddress1": address, "firstname": "Spoke"})
    in_hubspot = await eventually(lambda: world.hubspot.contact(address), within=20)
    in_second = await eventually(lambda: second.contact(address), within=20)
    assert in_second["firstname"] == "Spoke"

    edited = await second.dynamics.patch(
        f"contacts({in_second['contactid']})", json={"jobtitle": "Wheel"}, headers=USER
    )
    assert edited.status_code == 204

    async def jobtitle_in_hubspot() -> bool:
        contact = await world.hubspot.contact(address)
        return contact is not None and contact["properties"].get("jobtitle") == "Wheel"

    async def jobtitle_in_first() -> bool:
        contact = await first.contact(address)
        return contact is not None and contact.get("jobtitle") == "Wheel"

    assert await eventually(jobtitle_in_hubspot, within=20)
    assert await eventually(jobtitle_in_first, within=20)

    for org in (first, second):
        await eventually(lambda o=org: grows(o.health(), "in_sync", 1, before[o.cid]), within=15)
    await asyncio.sleep(3)  # a reconciler poll or two: nothing doubles
    for org in (first, second):
        assert (await org.health())["in_sync"] == before[org.cid] + 1, org.name
        assert len(await org.where("contacts", f"emailaddress1 eq '{address}'", "contactid")) == 1
        trail = await world.api.get(
            f"/v1/connections/{org.cid}/audit", params={"record": in_hubspot["id"]}
        )
        created_into = {e["target"] for e in trail.json() if e["op"] == "create"}
        assert created_into == ({"hubspot"} if org is first else {"app"}), org.name


# --- companies --------------------------------------------------------------------------------


async def test_companies_matching_by_name_or_by_domain_are_merged_not_duplicated(world: World):
    uid = unique()
    acme, beta = f"acme{uid}.example.com", f"beta{uid}.example.com"
    hubspot_ids = await world.hubspot.seed(
        "companies",
        [{"name": f"Acme {uid}", "domain": acme}, {"name": f"Beta {uid}", "domain": beta}],
    )
    org = await world.new_org()
    app_ids = await org.seed(
        "accounts",
        [
            {"name": f"Acme {uid}", "websiteurl": f"https://other{uid}.example.com"},
            {"name": f"Bolt {uid}", "websiteurl": f"https://www.{beta}/"},
        ],
    )
    await org.start("companies", {})

    async def accounts() -> list[dict[str, Any]]:
        return await org.where("accounts", f"contains(name, '{uid}')", "accountid,name,websiteurl")

    async def merged() -> list[dict[str, Any]] | None:
        # HubSpot wins: the pair matched by name takes the company's domain, the pair matched
        # by domain its name (the website already names the same domain, so it stays).
        found = await accounts()
        sites = {a["name"]: a["websiteurl"] for a in found}
        wanted = {f"Acme {uid}": f"https://{acme}", f"Beta {uid}": f"https://www.{beta}/"}
        return found if sites == wanted else None

    found = await eventually(merged, within=20)
    assert sorted(a["accountid"] for a in found) == sorted(app_ids)
    companies = await world.hubspot.search(
        "companies", "name", "CONTAINS_TOKEN", uid, "name,domain"
    )
    assert sorted(c["id"] for c in companies) == sorted(hubspot_ids)
    assert sorted(c["properties"]["domain"] for c in companies) == [acme, beta]
    counts = await org.health("companies")
    assert counts["failing"] == 0
