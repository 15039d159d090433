"""Changes made on both sides of a synced pair between two looks, and deletes that propagate
when the sync is set to, driven through the control API and the sandboxes' APIs only."""

from typing import Any

import pytest

from tests.e2e.support import SandboxOrg, unique_email
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def _synced_pair(org: SandboxOrg, **properties: str) -> tuple[str, str]:
    """A contact created in HubSpot and synced into the app: (hubspot id, app id)."""
    address = unique_email()
    hubspot_id = await org.create_in_hubspot("contacts", email=address, **properties)
    record = await eventually(lambda: org.dynamics_contact(address))
    return hubspot_id, str(record["contactid"])


async def _edit_both_while_off(
    org: SandboxOrg, hubspot_id: str, app_id: str, hubspot: dict[str, str], app: dict[str, Any]
) -> None:
    """Turn the sync off, change the pair on both sides, turn it back on: the catch-up sees
    both changes at once."""
    assert (await org.api.post(org.sync_path("contacts", "off"))).json()["state"] == "off"
    await org.update_in_hubspot("contacts", hubspot_id, **hubspot)
    await org.update_in_dynamics("contacts", app_id, app)
    assert (await org.api.post(org.sync_path("contacts", "on"))).json()["state"] == "syncing"


async def _both_hold(org: SandboxOrg, hubspot_id: str, app_id: str, **expected: str) -> bool:
    hubspot = await org.hubspot_record("contacts", hubspot_id, *expected)
    app = await org.dynamics_record("contacts", app_id, *expected)
    return all(hubspot.get(k) == v and app.get(k) == v for k, v in expected.items())


async def _settled(org: SandboxOrg, hubspot_id: str, app_id: str, **expected: str) -> None:
    """Both sides hold `expected`, and still do after the reconciler had more looks."""
    assert await eventually(lambda: _both_hold(org, hubspot_id, app_id, **expected))
    with pytest.raises(AssertionError, match="condition not met"):
        # Nothing flips it back: the 2 s polls find no change left to sync.
        await eventually(
            lambda: _negated(_both_hold(org, hubspot_id, app_id, **expected)), within=5
        )


async def _negated(check: Any) -> bool:
    return not await check


async def test_same_field_changed_on_both_sides_keeps_hubspots_value_by_default(
    org: SandboxOrg,
):
    hubspot_id, app_id = await _synced_pair(org, firstname="Cleo", jobtitle="Start")
    await _edit_both_while_off(
        org, hubspot_id, app_id, {"jobtitle": "Set in HubSpot"}, {"jobtitle": "Set in app"}
    )
    await _settled(org, hubspot_id, app_id, jobtitle="Set in HubSpot")


@pytest.mark.parametrize("org", [{"conflict_winner": "app"}], indirect=True)
async def test_same_field_changed_on_both_sides_keeps_the_apps_value_when_the_app_wins(
    org: SandboxOrg,
):
    hubspot_id, app_id = await _synced_pair(org, firstname="Cleo", jobtitle="Start")
    await _edit_both_while_off(
        org, hubspot_id, app_id, {"jobtitle": "Set in HubSpot"}, {"jobtitle": "Set in app"}
    )
    await _settled(org, hubspot_id, app_id, jobtitle="Set in app")
    trail = await org.audit(record=hubspot_id)
    assert any(
        e["field"] == "jobtitle" and e["new_value"] == "Set in app" and "both" in e["reason"]
        for e in trail
    ), trail


@pytest.mark.parametrize("org", [{"conflict_winner": "app"}], indirect=True)
async def test_different_fields_changed_on_both_sides_both_reach_the_other_side(
    org: SandboxOrg,
):
    hubspot_id, app_id = await _synced_pair(org, firstname="Cleo", jobtitle="Start")
    await _edit_both_while_off(
        org, hubspot_id, app_id, {"jobtitle": "New title"}, {"firstname": "Cleopatra"}
    )
    await _settled(org, hubspot_id, app_id, jobtitle="New title", firstname="Cleopatra")


@pytest.mark.parametrize("org", [{"propagate_deletes": True}], indirect=True)
async def test_delete_propagates_to_the_other_side_when_the_sync_says_so(org: SandboxOrg):
    hubspot_id, app_id = await _synced_pair(org, firstname="Dora")
    deleted = await org.dynamics.delete(f"contacts({app_id})")
    assert deleted.status_code == 204

    async def gone_from_hubspot() -> bool:
        response = await org.hubspot.get(f"/crm/v3/objects/contacts/{hubspot_id}")
        return response.status_code == 404

    assert await eventually(gone_from_hubspot)
    await eventually(lambda: org.health_when("deleted", at_least=1))
    trail = await org.audit(record=hubspot_id)
    assert [e["target"] for e in trail if e["op"] == "delete"] == ["hubspot"], trail


@pytest.mark.parametrize("org", [{"propagate_deletes": True, "direction": "to_app"}], indirect=True)
async def test_a_propagated_delete_still_follows_the_direction(org: SandboxOrg):
    hubspot_id, app_id = await _synced_pair(org, firstname="Edda")
    deleted = await org.dynamics.delete(f"contacts({app_id})")
    assert deleted.status_code == 204
    await eventually(lambda: org.health_when("deleted", at_least=1))

    async def gone_from_hubspot() -> bool:
        response = await org.hubspot.get(f"/crm/v3/objects/contacts/{hubspot_id}")
        return response.status_code == 404

    # The sync only writes into the app: HubSpot's record stays.
    with pytest.raises(AssertionError, match="condition not met"):
        await eventually(gone_from_hubspot, within=5)


async def _reads_in_batches(org: SandboxOrg) -> int:
    """The operations of this organisation's `$batch` requests that read rather than wrote."""
    response = await org.dynamics_sandbox.get("/_sandbox/counters", params={"org": org.name})
    counters = response.json()
    return int(counters["batched_operations"]) - int(counters["writes"])


@pytest.mark.parametrize(
    "org", [{"direction": "two_way"}, {"direction": "to_app"}], indirect=True, ids=str
)
async def test_a_change_reads_the_other_side_only_where_that_side_could_change_it_too(
    org: SandboxOrg,
):
    """Two-way, a change to a synced pair first reads the app's record (did it change the
    same field meanwhile?), then writes. One way, the source's value goes across whatever the
    app holds: no read. (A poll may see the change too, before its write is stored, and
    repeat the read and the write: hence "at least".)"""
    two_way = (await org.api.get(org.sync_path("contacts"))).json()["settings"]["direction"]
    hubspot_id, app_id = await _synced_pair(org, jobtitle="Start")
    await _settled(org, hubspot_id, app_id, jobtitle="Start")
    before = await _reads_in_batches(org)
    await org.update_in_hubspot("contacts", hubspot_id, jobtitle="Changed")
    await _settled(org, hubspot_id, app_id, jobtitle="Changed")
    reads = await _reads_in_batches(org) - before
    if two_way == "two_way":
        assert reads >= 1
    else:
        assert reads == 0
