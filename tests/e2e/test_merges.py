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
from typing import Any

import pytest

from tests.e2e.support import CONTACT_COLUMNS, CONTACT_PROPERTIES, SandboxOrg, unique_email
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


def email(label: str) -> str:
    return unique_email(f"merge-{label}")


async def merge_in_hubspot(org: SandboxOrg, primary: str, merged: str) -> dict[str, Any]:
    response = await org.hubspot.post(
        "/crm/v3/objects/contacts/merge",
        json={"primaryObjectId": primary, "objectIdToMerge": merged},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def in_hubspot(org: SandboxOrg, record_id: str) -> dict[str, Any]:
    return await org.hubspot_record("contacts", record_id, *CONTACT_PROPERTIES)


async def in_dynamics(org: SandboxOrg, contact_id: str) -> dict[str, Any]:
    return await org.dynamics_record("contacts", contact_id, *CONTACT_COLUMNS)


async def hubspot_ids_with_email(org: SandboxOrg, *addresses: str) -> list[str]:
    response = await org.hubspot.post(
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


async def dynamics_with_email(org: SandboxOrg, address: str) -> list[dict[str, Any]]:
    return await org.search_dynamics("contacts", f"emailaddress1 eq '{address}'", *CONTACT_COLUMNS)


async def dynamics_count(org: SandboxOrg) -> int:
    response = await org.dynamics.get("contacts/$count")
    assert response.status_code == 200, response.text
    return int(response.text)


async def settle(org: SandboxOrg, within: float = 120) -> None:
    """Wait until datasync has stopped writing (webhooks and reconciler polls included),
    so that a write that should not happen would have happened by now."""
    before = await org.writes()
    quiet = 0

    async def quiet_for_a_while() -> bool:
        nonlocal before, quiet
        await asyncio.sleep(2)
        now = await org.writes()
        quiet = quiet + 1 if now == before else 0
        before = now
        return quiet >= 3

    await eventually(quiet_for_a_while, within=within)


async def in_sync(org: SandboxOrg, expected: int) -> dict[str, Any] | None:
    return await org.health_when("in_sync", at_least=expected, at_most=expected)


async def test_a_merge_keeps_the_primarys_pair_and_closes_the_merged_records_pair(org: SandboxOrg):
    baseline = (await org.health())["in_sync"]
    a_email, b_email = email("a"), email("b")
    a = await org.create_in_hubspot("contacts", email=a_email, firstname="Ada", lastname="Primary")
    b = await org.create_in_hubspot(
        "contacts",
        email=b_email,
        firstname="Bea",
        lastname="Merged",
        jobtitle="Engineer",
        phone="555-0100",
    )
    a_dyn = await eventually(lambda: org.dynamics_contact(a_email))
    b_dyn = await eventually(lambda: org.dynamics_contact(b_email))
    await eventually(lambda: in_sync(org, baseline + 2))
    await settle(org)
    dynamics_before = await dynamics_count(org)

    merged = await merge_in_hubspot(org, primary=a, merged=b)
    assert merged["id"] == a
    # HubSpot kept the primary's values and filled its gaps from the merged record.
    assert merged["properties"]["firstname"] == "Ada"
    assert merged["properties"]["jobtitle"] == "Engineer"

    # The primary's pair stays: what the merge filled in reaches the primary's Dynamics record.
    async def merge_reached_dynamics() -> dict[str, Any] | None:
        record = await in_dynamics(org, a_dyn["contactid"])
        return record if record.get("jobtitle") == "Engineer" else None

    after_merge = await eventually(merge_reached_dynamics)
    assert (after_merge["firstname"], after_merge["emailaddress1"]) == ("Ada", a_email)
    assert after_merge["telephone1"] == "555-0100"
    # The merged-away record's pair is closed: one pair fewer in sync, nothing failing and
    # nothing counted as deleted (a merge is not a deletion).
    counts = await eventually(lambda: in_sync(org, baseline + 1))
    assert counts["failing"] == 0
    assert counts["deleted"] == 0

    # A later change of the merged HubSpot record reaches the primary's Dynamics record only.
    await org.update_in_hubspot("contacts", a, jobtitle="Lead", lastname="Merged-Primary")

    async def change_reached_dynamics() -> dict[str, Any] | None:
        record = await in_dynamics(org, a_dyn["contactid"])
        return record if record.get("jobtitle") == "Lead" else None

    assert (await eventually(change_reached_dynamics))["lastname"] == "Merged-Primary"

    # A change in Dynamics on the surviving pair's record reaches the merged HubSpot record.
    await org.update_in_dynamics("contacts", a_dyn["contactid"], {"firstname": "Adele"})

    async def change_reached_hubspot() -> dict[str, str | None] | None:
        record = await in_hubspot(org, a)
        return record if record.get("firstname") == "Adele" else None

    merged_record = await eventually(change_reached_hubspot)
    assert merged_record["jobtitle"] == "Lead"
    assert merged_record["email"] == a_email

    await settle(org)
    # The merged-away record's Dynamics contact is kept as it was: nothing of the merged record
    # was written into it, it was not deleted.
    untouched = await in_dynamics(org, b_dyn["contactid"])
    assert {k: untouched[k] for k in ("emailaddress1", "firstname", "lastname", "jobtitle")} == {
        "emailaddress1": b_email,
        "firstname": "Bea",
        "lastname": "Merged",
        "jobtitle": "Engineer",
    }
    # No duplicate anywhere: Dynamics holds the same contacts as before the merge, one per
    # email, and HubSpot did not get the merged-away record back.
    assert await dynamics_count(org) == dynamics_before
    assert [c["contactid"] for c in await dynamics_with_email(org, a_email)] == [a_dyn["contactid"]]
    assert [c["contactid"] for c in await dynamics_with_email(org, b_email)] == [b_dyn["contactid"]]
    assert await hubspot_ids_with_email(org, a_email, b_email) == [a]
    counts = await org.health()
    assert (counts["in_sync"], counts["failing"]) == (baseline + 1, 0)


async def test_a_primary_that_never_synced_takes_over_the_merged_records_pair(org: SandboxOrg):
    baseline = (await org.health())["in_sync"]
    b_email = email("b")
    # No email: the contacts sync leaves the primary out.
    a = await org.create_in_hubspot("contacts", firstname="Nomail", lastname="Primary")
    b = await org.create_in_hubspot("contacts", email=b_email, firstname="Bea", lastname="Merged")
    b_dyn = await eventually(lambda: org.dynamics_contact(b_email))

    async def primary_left_out() -> dict[str, Any] | None:
        counts = await org.health()
        return counts if counts["excluded"] >= 1 and counts["in_sync"] == baseline + 1 else None

    excluded_before = (await eventually(primary_left_out))["excluded"]
    await settle(org)
    dynamics_before = await dynamics_count(org)

    merged = await merge_in_hubspot(org, primary=a, merged=b)
    assert merged["properties"]["email"] == b_email  # the gap filled from the merged record

    # The merged record's Dynamics contact now syncs with the primary: the primary's own values
    # win over the merged record's, as HubSpot kept them.
    async def primary_reached_dynamics() -> dict[str, Any] | None:
        record = await in_dynamics(org, b_dyn["contactid"])
        return record if record.get("firstname") == "Nomail" else None

    assert (await eventually(primary_reached_dynamics))["lastname"] == "Primary"
    await org.update_in_hubspot("contacts", a, jobtitle="Survivor")

    async def change_reached_dynamics() -> bool:
        record = await in_dynamics(org, b_dyn["contactid"])
        return record.get("jobtitle") == "Survivor"

    await eventually(change_reached_dynamics)
    await org.update_in_dynamics("contacts", b_dyn["contactid"], {"lastname": "From-Dynamics"})

    async def change_reached_hubspot() -> bool:
        return (await in_hubspot(org, a)).get("lastname") == "From-Dynamics"

    await eventually(change_reached_hubspot)

    await settle(org)
    assert await dynamics_count(org) == dynamics_before
    assert [c["contactid"] for c in await dynamics_with_email(org, b_email)] == [b_dyn["contactid"]]
    assert await hubspot_ids_with_email(org, b_email) == [a]
    # The pair is the same one, now the primary's: still one in sync, and the primary is no
    # longer left out.
    counts = await org.health()
    assert (counts["in_sync"], counts["failing"]) == (baseline + 1, 0)
    assert counts["excluded"] == excluded_before - 1


async def test_a_change_made_right_after_the_merge_does_not_hide_the_merge(org: SandboxOrg):
    baseline = (await org.health())["in_sync"]
    a_email, b_email = email("a"), email("b")
    a = await org.create_in_hubspot("contacts", email=a_email, firstname="Ada", lastname="Primary")
    b = await org.create_in_hubspot("contacts", email=b_email, firstname="Bea", lastname="Merged")
    a_dyn = await eventually(lambda: org.dynamics_contact(a_email))
    b_dyn = await eventually(lambda: org.dynamics_contact(b_email))
    await eventually(lambda: in_sync(org, baseline + 2))
    await settle(org)
    dynamics_before = await dynamics_count(org)

    await merge_in_hubspot(org, primary=a, merged=b)
    # In the same webhook delivery as the merge, most likely.
    await org.update_in_hubspot("contacts", a, jobtitle="Right after")

    async def change_reached_dynamics() -> bool:
        record = await in_dynamics(org, a_dyn["contactid"])
        return record.get("jobtitle") == "Right after"

    await eventually(change_reached_dynamics)
    await settle(org)
    untouched = await in_dynamics(org, b_dyn["contactid"])
    assert (untouched["firstname"], untouched["emailaddress1"]) == ("Bea", b_email)
    assert await dynamics_count(org) == dynamics_before
    assert await hubspot_ids_with_email(org, a_email, b_email) == [a]
    counts = await org.health()
    assert (counts["in_sync"], counts["failing"]) == (baseline + 1, 0)
