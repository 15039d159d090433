"""Scenarios of the sync engine, driven through the control API and the sandboxes' APIs only."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio

from services.devstack.stack import Stack
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

USER = {"X-Sandbox-Actor": "user"}  # the sandboxes' hook for "a person edited this in the UI"


@dataclass
class Scenario:
    """One Dynamics organisation connected to the shared HubSpot account, with a contacts sync."""

    cid: str
    api: httpx.AsyncClient
    hubspot: httpx.AsyncClient
    dynamics: httpx.AsyncClient

    async def health(self) -> dict[str, Any]:
        response = await self.api.get(f"/v1/connections/{self.cid}/health")
        return dict(response.json()["objects"]["contacts"])

    async def in_dynamics(self, email: str) -> dict[str, Any] | None:
        response = await self.dynamics.get(
            "contacts",
            params={
                "$select": "contactid,firstname,jobtitle",
                "$filter": f"emailaddress1 eq '{email}'",
            },
        )
        found = response.json()["value"]
        return found[0] if found else None

    async def hubspot_contact(self, email: str) -> dict[str, Any] | None:
        response = await self.hubspot.get(
            f"/crm/v3/objects/contacts/{email}",
            params={"idProperty": "email", "properties": "email,firstname,jobtitle"},
        )
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def create_in_hubspot(self, **properties: str) -> str:
        response = await self.hubspot.post(
            "/crm/v3/objects/contacts", json={"properties": properties}, headers=USER
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


async def connect(
    stack: Stack, api: httpx.AsyncClient, settings: dict[str, Any]
) -> tuple[str, str]:
    """A new organisation and a started contacts sync with these settings: (cid, org)."""
    org = f"org{uuid4().hex[:8]}"
    async with httpx.AsyncClient() as http:
        assert (await http.put(f"{stack.dynamics_url}/_sandbox/orgs/{org}")).status_code == 204
    response = await api.post(
        "/v1/connections",
        json={
            "app": "dynamics365",
            "name": org,
            "base_url": f"{stack.dynamics_url}/{org}",
            "credentials": {"access_token": "sandbox-dynamics-token"},
        },
    )
    assert response.status_code == 201, response.text
    cid = response.json()["id"]
    assert (
        await api.put(f"/v1/connections/{cid}/syncs/contacts", json=settings)
    ).status_code == 200
    assert (await api.post(f"/v1/connections/{cid}/syncs/contacts/start")).status_code == 200

    async def syncing() -> bool:
        sync = (await api.get(f"/v1/connections/{cid}/syncs/contacts")).json()
        return sync["state"] == "syncing"

    await eventually(syncing)

    async def settled() -> bool:
        # The new, empty organisation receives every HubSpot contact that exists already.
        sync = (await api.get(f"/v1/connections/{cid}/syncs/contacts")).json()
        health = (await api.get(f"/v1/connections/{cid}/health")).json()["objects"]["contacts"]
        done = health["in_sync"] + health["excluded"] + health["failing"]
        return done >= sync["progress"]["read"]["hubspot"]

    if settings.get("direction", "two_way") != "to_hubspot":
        await eventually(settled)
    return cid, org


@pytest_asyncio.fixture
async def scenario(
    datasync_stack: Stack, hubspot_account: None, request: pytest.FixtureRequest
) -> AsyncIterator[Scenario]:
    s = datasync_stack
    settings = getattr(request, "param", {})
    admin = {"Authorization": f"Bearer {s.admin_token}"}
    async with (
        httpx.AsyncClient(base_url=s.api_url, headers=admin) as api,
        httpx.AsyncClient(
            base_url=s.hubspot_url, headers={"Authorization": "Bearer sandbox-hubspot-token"}
        ) as hubspot,
    ):
        cid, org = await connect(s, api, settings)
        async with httpx.AsyncClient(
            base_url=f"{s.dynamics_url}/{org}/api/data/v9.2/",
            headers={"Authorization": "Bearer sandbox-dynamics-token"},
        ) as dynamics:
            yield Scenario(cid, api, hubspot, dynamics)
        # Later scenarios must not see this one's writes: disconnect.
        await api.delete(f"/v1/connections/{cid}")
    s.check()


def email() -> str:
    return f"e2e-{uuid4().hex[:10]}@example.com"


async def test_deleted_record_stays_deleted_until_resynced_then_is_recreated(scenario: Scenario):
    address = email()
    await scenario.create_in_hubspot(email=address, firstname="Della")
    first = await eventually(lambda: scenario.in_dynamics(address))

    deleted = await scenario.dynamics.delete(f"contacts({first['contactid']})", headers=USER)
    assert deleted.status_code == 204
    await eventually(lambda: _has(scenario.health(), "deleted", 1))
    # Not deleted on the other side by default.
    assert await scenario.hubspot_contact(address) is not None

    response = await scenario.api.post(
        f"/v1/connections/{scenario.cid}/syncs/contacts/resync-deleted", json={"into": "app"}
    )
    assert response.status_code == 202
    assert response.json() == {"requested": 1}
    again = await eventually(lambda: scenario.in_dynamics(address))
    assert again["contactid"] != first["contactid"]
    assert again["firstname"] == "Della"
    await eventually(lambda: _has(scenario.health(), "in_sync", 1))


async def test_failing_record_is_retried_and_recovers_by_itself(
    scenario: Scenario, datasync_stack: Stack
):
    async with httpx.AsyncClient() as http:
        fault = await http.post(
            f"{datasync_stack.hubspot_url}/_sandbox/faults",
            json={
                "status": 400,
                "count": 1,
                "path_prefix": "/crm/v3/objects/contacts/batch/create",
            },
        )
        assert fault.status_code == 204
    address = email()
    created = await scenario.dynamics.post(
        "contacts", json={"emailaddress1": address, "firstname": "Fay"}, headers=USER
    )
    assert created.status_code == 204

    failing = await eventually(lambda: _has(scenario.health(), "failing", 1))
    assert failing["failing"] == 1
    # The cause was one refused request: the retry lands without anyone doing anything.
    recovered = await eventually(lambda: scenario.hubspot_contact(address))
    assert recovered["properties"]["firstname"] == "Fay"
    await eventually(lambda: _has(scenario.health(), "failing", 0, at_most=True))


async def test_audit_trail_says_which_field_changed_how_and_why(scenario: Scenario):
    address = email()
    hubspot_id = await scenario.create_in_hubspot(email=address, firstname="Al", jobtitle="Dev")
    record = await eventually(lambda: scenario.in_dynamics(address))
    edited = await scenario.dynamics.patch(
        f"contacts({record['contactid']})", json={"jobtitle": "Lead"}, headers=USER
    )
    assert edited.status_code == 204

    async def jobtitle_entry() -> dict[str, Any] | None:
        response = await scenario.api.get(
            f"/v1/connections/{scenario.cid}/audit", params={"record": hubspot_id}
        )
        entries = response.json()
        return next((e for e in entries if e["field"] == "jobtitle" and e["op"] == "update"), None)

    entry = await eventually(jobtitle_entry)
    assert (entry["old_value"], entry["new_value"], entry["target"]) == ("Dev", "Lead", "hubspot")
    assert "changed in app" in entry["reason"]
    trail = (
        await scenario.api.get(
            f"/v1/connections/{scenario.cid}/audit", params={"record": hubspot_id}
        )
    ).json()
    created = [e for e in trail if e["op"] == "create"]
    assert {e["field"] for e in created} >= {"emailaddress1", "firstname"}


async def test_turned_off_sync_writes_nothing_and_catches_up_when_turned_on(scenario: Scenario):
    address = email()
    await scenario.create_in_hubspot(email=address, firstname="Otto")
    await eventually(lambda: scenario.in_dynamics(address))
    off = await scenario.api.post(f"/v1/connections/{scenario.cid}/syncs/contacts/off")
    assert off.json()["state"] == "off"

    contact = await scenario.hubspot_contact(address)
    assert contact is not None
    patched = await scenario.hubspot.patch(
        f"/crm/v3/objects/contacts/{contact['id']}",
        json={"properties": {"jobtitle": "While off"}},
        headers=USER,
    )
    assert patched.status_code == 200
    # Two reconciler polls and a webhook's worth of time: nothing may arrive while off.
    with pytest.raises(AssertionError):
        await eventually(lambda: _jobtitle(scenario, address, "While off"), within=5)

    on = await scenario.api.post(f"/v1/connections/{scenario.cid}/syncs/contacts/on")
    assert on.json()["state"] == "syncing"
    assert await eventually(lambda: _jobtitle(scenario, address, "While off"))


@pytest.mark.parametrize("scenario", [{"direction": "to_hubspot"}], indirect=True)
async def test_one_way_into_hubspot_never_writes_into_the_app(scenario: Scenario):
    address = email()
    await scenario.create_in_hubspot(email=address, firstname="Uni")
    with pytest.raises(AssertionError):
        await eventually(lambda: scenario.in_dynamics(address), within=4)

    app_address = email()
    created = await scenario.dynamics.post(
        "contacts", json={"emailaddress1": app_address, "firstname": "Dyn"}, headers=USER
    )
    assert created.status_code == 204
    assert await eventually(lambda: scenario.hubspot_contact(app_address))


async def _has(
    health: Any, status: str, count: int, at_most: bool = False
) -> dict[str, Any] | None:
    """The health counts once `status` counts at least (or at most) `count` records."""
    counts = await health
    n = counts.get(status, 0)
    return counts if (n <= count if at_most else n >= count) else None


async def _jobtitle(scenario: Scenario, address: str, expected: str) -> bool:
    record = await scenario.in_dynamics(address)
    return record is not None and record.get("jobtitle") == expected


async def test_a_contacts_primary_company_follows_it_once_both_syncs_run(scenario: Scenario):
    company = await scenario.hubspot.post(
        "/crm/v3/objects/companies",
        json={
            "properties": {"name": f"Assoc {uuid4().hex[:6]}", "domain": f"{uuid4().hex[:8]}.io"}
        },
        headers=USER,
    )
    assert company.status_code == 201, company.text
    company_id = company.json()["id"]
    address = email()
    contact_id = await scenario.create_in_hubspot(email=address, firstname="Cora")
    put = await scenario.hubspot.put(
        f"/crm/v4/objects/contacts/{contact_id}/associations/default/companies/{company_id}",
        headers=USER,
    )
    assert put.status_code in (200, 201), put.text
    # Only contacts sync so far: the contact arrives without its company.
    contact = await eventually(lambda: scenario.in_dynamics(address))

    response = await scenario.api.put(f"/v1/connections/{scenario.cid}/syncs/companies", json={})
    assert response.status_code == 200, response.text
    started = await scenario.api.post(f"/v1/connections/{scenario.cid}/syncs/companies/start")
    assert started.status_code == 200

    async def parent_account() -> str | None:
        response = await scenario.dynamics.get(
            f"contacts({contact['contactid']})", params={"$select": "_parentcustomerid_value"}
        )
        return response.json().get("_parentcustomerid_value")

    account_id = await eventually(parent_account)
    account = await scenario.dynamics.get(f"accounts({account_id})", params={"$select": "name"})
    assert account.json()["name"] == company.json()["properties"]["name"]
