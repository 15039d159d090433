"""A HubSpot merge repoints the links of the merged records, end to end.

HubSpot's `POST /crm/v3/objects/contacts/merge` folds `objectIdToMerge` into
`primaryObjectId` and announces it with a `contact.merge` webhook (`primaryObjectId`,
`mergedObjectIds`, `newObjectId`). What datasync does with the links of the two records
(`Store.repoint_merged`):

- the surviving record keeps its own pair, so its Dynamics record stays the one it syncs with;
- the pair of the merged-away record is closed (status `merged`, no longer `in_sync`); its
  Dynamics record is left as it is, never deleted and never duplicated;
- where the surviving record never paired (it was left out of the sync), it takes over the
  merged-away record's pair instead, so the merge creates nothing in Dynamics either.

Driven only through the control API and the sandboxes' APIs; each test connects a new Dynamics
organisation to the shared HubSpot sandbox.
"""

import asyncio
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
CONTACT_FIELDS = "contactid,emailaddress1,firstname,lastname,jobtitle,telephone1"


def email(label: str) -> str:
    return f"merge-{label}-{uuid4().hex[:10]}@example.com"


@dataclass
class Org:
    """A new Dynamics organisation with a running contacts sync (default settings)."""

    stack: Stack
    name: str
    cid: str
    api: httpx.AsyncClient
    hubspot: httpx.AsyncClient
    dynamics: httpx.AsyncClient

    async def health(self) -> dict[str, Any]:
        response = await self.api.get(f"/v1/connections/{self.cid}/health")
        assert response.status_code == 200, response.text
        return dict(response.json()["objects"]["contacts"])

    async def create_in_hubspot(self, **properties: str) -> str:
        response = await self.hubspot.post(
            "/crm/v3/objects/contacts", json={"properties": properties}, headers=USER
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def update_in_hubspot(self, record_id: str, **properties: str) -> None:
        response = await self.hubspot.patch(
            f"/crm/v3/objects/contacts/{record_id}", json={"properties": properties}, headers=USER
        )
        assert response.status_code == 200, response.text

    async def merge_in_hubspot(self, primary: str, merged: str) -> dict[str, Any]:
        response = await self.hubspot.post(
            "/crm/v3/objects/contacts/merge",
            json={"primaryObjectId": primary, "objectIdToMerge": merged},
            headers=USER,
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def hubspot_contact(self, record_id: str) -> dict[str, str | None]:
        response = await self.hubspot.get(
            f"/crm/v3/objects/contacts/{record_id}",
            params={"properties": "email,firstname,lastname,jobtitle,hs_additional_emails"},
        )
        assert response.status_code == 200, response.text
        return dict(response.json()["properties"])

    async def hubspot_ids_with_email(self, *addresses: str) -> list[str]:
        response = await self.hubspot.post(
            "/crm/v3/objects/contacts/search",
            json={
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "IN", "values": addresses}]}
                ],
                "properties": ["email"],
                "limit": 100,
            },
        )
        assert response.status_code == 200, response.text
        return sorted(r["id"] for r in response.json()["results"])

    async def dynamics_contact(self, contact_id: str) -> dict[str, Any]:
        response = await self.dynamics.get(
            f"contacts({contact_id})", params={"$select": CONTACT_FIELDS}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def dynamics_with_email(self, address: str) -> list[dict[str, Any]]:
        response = await self.dynamics.get(
            "contacts",
            params={"$select": CONTACT_FIELDS, "$filter": f"emailaddress1 eq '{address}'"},
        )
        assert response.status_code == 200, response.text
        return list(response.json()["value"])

    async def the_dynamics_contact(self, address: str) -> dict[str, Any] | None:
        """The one Dynamics contact with this email, once there is one; two fail the test."""
        found = await self.dynamics_with_email(address)
        assert len(found) <= 1, f"{len(found)} Dynamics contacts hold {address}"
        return found[0] if found else None

    async def dynamics_count(self) -> int:
        response = await self.dynamics.get("contacts/$count")
        assert response.status_code == 200, response.text
        return int(response.text)

    async def update_in_dynamics(self, contact_id: str, **columns: str) -> None:
        response = await self.dynamics.patch(f"contacts({contact_id})", json=columns, headers=USER)
        assert response.status_code == 204, response.text

    async def writes(self) -> tuple[int, int]:
        """Writes datasync made into HubSpot and into this organisation so far."""
        async with httpx.AsyncClient() as http:
            hs = (await http.get(f"{self.stack.hubspot_url}/_sandbox/counters")).json()
            dyn = (
                await http.get(
                    f"{self.stack.dynamics_url}/_sandbox/counters",
                    params={"org": self.name},
                )
            ).json()
        return int(hs["writes"]), int(dyn["writes"])

    async def settle(self, within: float = 120) -> None:
        """Wait until datasync has stopped writing (webhooks and reconciler polls included),
        so that a write that should not happen would have happened by now."""
        before = await self.writes()
        quiet = 0

        async def quiet_for_a_while() -> bool:
            nonlocal before, quiet
            await asyncio.sleep(2)
            now = await self.writes()
            quiet = quiet + 1 if now == before else 0
            before = now
            return quiet >= 3

        await eventually(quiet_for_a_while, within=within)


async def _connect(stack: Stack, api: httpx.AsyncClient) -> tuple[str, str]:
    """A new organisation and a started contacts sync, its initial sync worked through."""
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
    sync = f"/v1/connections/{cid}/syncs/contacts"
    assert (await api.put(sync, json={})).status_code == 200
    assert (await api.post(f"{sync}/start")).status_code == 200

    async def initial_sync_done() -> bool:
        state = (await api.get(sync)).json()
        if state["state"] != "syncing":
            return False
        # Every HubSpot contact that exists already is decided: copied, matched or left out.
        counts = (await api.get(f"/v1/connections/{cid}/health")).json()["objects"]["contacts"]
        done = counts["in_sync"] + counts["excluded"] + counts["failing"]
        return bool(done >= state["progress"]["read"]["hubspot"])

    await eventually(initial_sync_done, within=60)
    return cid, org


@pytest_asyncio.fixture
async def org(datasync_stack: Stack, hubspot_account: None) -> AsyncIterator[Org]:
    s = datasync_stack
    admin = {"Authorization": f"Bearer {s.admin_token}"}
    async with (
        httpx.AsyncClient(base_url=s.api_url, headers=admin) as api,
        httpx.AsyncClient(
            base_url=s.hubspot_url, headers={"Authorization": "Bearer sandbox-hubspot-token"}
        ) as hubspot,
    ):
        cid, name = await _connect(s, api)
        async with httpx.AsyncClient(
            base_url=f"{s.dynamics_url}/{name}/api/data/v9.2/",
            headers={"Authorization": "Bearer sandbox-dynamics-token"},
        ) as dynamics:
            yield Org(s, name, cid, api, hubspot, dynamics)
        # Later tests must not see this one's writes: disconnect.
        await api.delete(f"/v1/connections/{cid}")
    s.check()


async def _in_sync(org: Org, expected: int) -> dict[str, Any] | None:
    counts = await org.health()
    return counts if counts["in_sync"] == expected else None


async def test_a_merge_keeps_the_primarys_pair_and_closes_the_merged_records_pair(org: Org):
    baseline = (await org.health())["in_sync"]
    a_email, b_email = email("a"), email("b")
    a = await org.create_in_hubspot(email=a_email, firstname="Ada", lastname="Primary")
    b = await org.create_in_hubspot(
        email=b_email, firstname="Bea", lastname="Merged", jobtitle="Engineer", phone="555-0100"
    )
    a_dyn = await eventually(lambda: org.the_dynamics_contact(a_email))
    b_dyn = await eventually(lambda: org.the_dynamics_contact(b_email))
    await eventually(lambda: _in_sync(org, baseline + 2))
    await org.settle()
    dynamics_before = await org.dynamics_count()

    merged = await org.merge_in_hubspot(primary=a, merged=b)
    assert merged["id"] == a
    # HubSpot kept the primary's values and filled its gaps from the merged record.
    assert merged["properties"]["firstname"] == "Ada"
    assert merged["properties"]["jobtitle"] == "Engineer"

    # The primary's pair stays: what the merge filled in reaches the primary's Dynamics record.
    async def merge_reached_dynamics() -> dict[str, Any] | None:
        record = await org.dynamics_contact(a_dyn["contactid"])
        return record if record.get("jobtitle") == "Engineer" else None

    after_merge = await eventually(merge_reached_dynamics)
    assert (after_merge["firstname"], after_merge["emailaddress1"]) == ("Ada", a_email)
    assert after_merge["telephone1"] == "555-0100"
    # The merged-away record's pair is closed: one pair fewer in sync, nothing failing and
    # nothing counted as deleted (a merge is not a deletion).
    counts = await eventually(lambda: _in_sync(org, baseline + 1))
    assert counts["failing"] == 0
    assert counts["deleted"] == 0

    # A later change of the merged HubSpot record reaches the primary's Dynamics record only.
    await org.update_in_hubspot(a, jobtitle="Lead", lastname="Merged-Primary")

    async def change_reached_dynamics() -> dict[str, Any] | None:
        record = await org.dynamics_contact(a_dyn["contactid"])
        return record if record.get("jobtitle") == "Lead" else None

    assert (await eventually(change_reached_dynamics))["lastname"] == "Merged-Primary"

    # A change in Dynamics on the surviving pair's record reaches the merged HubSpot record.
    await org.update_in_dynamics(a_dyn["contactid"], firstname="Adele")

    async def change_reached_hubspot() -> dict[str, str | None] | None:
        record = await org.hubspot_contact(a)
        return record if record.get("firstname") == "Adele" else None

    merged_record = await eventually(change_reached_hubspot)
    assert merged_record["jobtitle"] == "Lead"
    assert merged_record["email"] == a_email

    await org.settle()
    # The merged-away record's Dynamics contact is kept as it was: nothing of the merged record
    # was written into it, it was not deleted.
    untouched = await org.dynamics_contact(b_dyn["contactid"])
    assert {k: untouched[k] for k in ("emailaddress1", "firstname", "lastname", "jobtitle")} == {
        "emailaddress1": b_email,
        "firstname": "Bea",
        "lastname": "Merged",
        "jobtitle": "Engineer",
    }
    # No duplicate anywhere: Dynamics holds the same contacts as before the merge, one per
    # email, and HubSpot did not get the merged-away record back.
    assert await org.dynamics_count() == dynamics_before
    assert [c["contactid"] for c in await org.dynamics_with_email(a_email)] == [a_dyn["contactid"]]
    assert [c["contactid"] for c in await org.dynamics_with_email(b_email)] == [b_dyn["contactid"]]
    assert await org.hubspot_ids_with_email(a_email, b_email) == [a]
    counts = await org.health()
    assert (counts["in_sync"], counts["failing"]) == (baseline + 1, 0)


async def test_a_primary_that_never_synced_takes_over_the_merged_records_pair(org: Org):
    baseline = (await org.health())["in_sync"]
    b_email = email("b")
    # No email: the contacts sync leaves the primary out.
    a = await org.create_in_hubspot(firstname="Nomail", lastname="Primary")
    b = await org.create_in_hubspot(email=b_email, firstname="Bea", lastname="Merged")
    b_dyn = await eventually(lambda: org.the_dynamics_contact(b_email))

    async def primary_left_out() -> dict[str, Any] | None:
        counts = await org.health()
        return counts if counts["excluded"] >= 1 and counts["in_sync"] == baseline + 1 else None

    excluded_before = (await eventually(primary_left_out))["excluded"]
    await org.settle()
    dynamics_before = await org.dynamics_count()

    merged = await org.merge_in_hubspot(primary=a, merged=b)
    assert merged["properties"]["email"] == b_email  # the gap filled from the merged record

    # The merged record's Dynamics contact now syncs with the primary: the primary's own values
    # win over the merged record's, as HubSpot kept them.
    async def primary_reached_dynamics() -> dict[str, Any] | None:
        record = await org.dynamics_contact(b_dyn["contactid"])
        return record if record.get("firstname") == "Nomail" else None

    assert (await eventually(primary_reached_dynamics))["lastname"] == "Primary"
    await org.update_in_hubspot(a, jobtitle="Survivor")

    async def change_reached_dynamics() -> bool:
        record = await org.dynamics_contact(b_dyn["contactid"])
        return record.get("jobtitle") == "Survivor"

    await eventually(change_reached_dynamics)
    await org.update_in_dynamics(b_dyn["contactid"], lastname="From-Dynamics")

    async def change_reached_hubspot() -> bool:
        return (await org.hubspot_contact(a)).get("lastname") == "From-Dynamics"

    await eventually(change_reached_hubspot)

    await org.settle()
    assert await org.dynamics_count() == dynamics_before
    assert [c["contactid"] for c in await org.dynamics_with_email(b_email)] == [b_dyn["contactid"]]
    assert await org.hubspot_ids_with_email(b_email) == [a]
    # The pair is the same one, now the primary's: still one in sync, and the primary is no
    # longer left out.
    counts = await org.health()
    assert (counts["in_sync"], counts["failing"]) == (baseline + 1, 0)
    assert counts["excluded"] == excluded_before - 1


async def test_a_change_made_right_after_the_merge_does_not_hide_the_merge(org: Org):
    baseline = (await org.health())["in_sync"]
    a_email, b_email = email("a"), email("b")
    a = await org.create_in_hubspot(email=a_email, firstname="Ada", lastname="Primary")
    b = await org.create_in_hubspot(email=b_email, firstname="Bea", lastname="Merged")
    a_dyn = await eventually(lambda: org.the_dynamics_contact(a_email))
    b_dyn = await eventually(lambda: org.the_dynamics_contact(b_email))
    await eventually(lambda: _in_sync(org, baseline + 2))
    await org.settle()
    dynamics_before = await org.dynamics_count()

    await org.merge_in_hubspot(primary=a, merged=b)
    # In the same webhook delivery as the merge, most likely.
    await org.update_in_hubspot(a, jobtitle="Right after")

    async def change_reached_dynamics() -> bool:
        record = await org.dynamics_contact(a_dyn["contactid"])
        return record.get("jobtitle") == "Right after"

    await eventually(change_reached_dynamics)
    await org.settle()
    untouched = await org.dynamics_contact(b_dyn["contactid"])
    assert (untouched["firstname"], untouched["emailaddress1"]) == ("Bea", b_email)
    assert await org.dynamics_count() == dynamics_before
    assert await org.hubspot_ids_with_email(a_email, b_email) == [a]
    counts = await org.health()
    assert (counts["in_sync"], counts["failing"]) == (baseline + 1, 0)
