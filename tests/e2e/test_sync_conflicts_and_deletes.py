"""Changes made on both sides of a synced pair between two looks, and deletes that propagate
when the sync is set to, driven through the control API and the sandboxes' APIs only."""

from typing import Any

import pytest

from tests.e2e.test_sync_scenarios import USER, Scenario, _has, email, scenario
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

__all__ = ["scenario"]  # the fixture, shared with the other scenarios


async def _synced_pair(scenario: Scenario, **properties: str) -> tuple[str, str]:
    """A contact created in HubSpot and synced into the app: (hubspot id, app id)."""
    address = email()
    hubspot_id = await scenario.create_in_hubspot(email=address, **properties)
    record = await eventually(lambda: scenario.in_dynamics(address))
    return hubspot_id, str(record["contactid"])


async def _edit_both_while_off(
    scenario: Scenario, hubspot_id: str, app_id: str, hubspot: dict[str, Any], app: dict[str, Any]
) -> None:
    """Turn the sync off, change the pair on both sides, turn it back on: the catch-up sees
    both changes at once."""
    sync = f"/v1/connections/{scenario.cid}/syncs/contacts"
    assert (await scenario.api.post(f"{sync}/off")).json()["state"] == "off"
    patched = await scenario.hubspot.patch(
        f"/crm/v3/objects/contacts/{hubspot_id}", json={"properties": hubspot}, headers=USER
    )
    assert patched.status_code == 200, patched.text
    updated = await scenario.dynamics.patch(f"contacts({app_id})", json=app, headers=USER)
    assert updated.status_code == 204, updated.text
    assert (await scenario.api.post(f"{sync}/on")).json()["state"] == "syncing"


async def _both_hold(scenario: Scenario, hubspot_id: str, app_id: str, **expected: str) -> bool:
    contact = await scenario.hubspot.get(
        f"/crm/v3/objects/contacts/{hubspot_id}",
        params={"properties": ",".join(expected)},
    )
    app = await scenario.dynamics.get(f"contacts({app_id})", params={"$select": ",".join(expected)})
    hubspot_values = contact.json()["properties"]
    return all(hubspot_values.get(k) == v and app.json().get(k) == v for k, v in expected.items())


async def _settled(scenario: Scenario, hubspot_id: str, app_id: str, **expected: str) -> None:
    """Both sides hold `expected`, and still do after the reconciler had more looks."""
    assert await eventually(lambda: _both_hold(scenario, hubspot_id, app_id, **expected))
    with pytest.raises(AssertionError):
        # Nothing flips it back: the 2 s polls find no change left to sync.
        await eventually(
            lambda: _negated(_both_hold(scenario, hubspot_id, app_id, **expected)), within=5
        )


async def _negated(check: Any) -> bool:
    return not await check


async def test_same_field_changed_on_both_sides_keeps_hubspots_value_by_default(
    scenario: Scenario,
):
    hubspot_id, app_id = await _synced_pair(scenario, firstname="Cleo", jobtitle="Start")
    await _edit_both_while_off(
        scenario, hubspot_id, app_id, {"jobtitle": "Set in HubSpot"}, {"jobtitle": "Set in app"}
    )
    await _settled(scenario, hubspot_id, app_id, jobtitle="Set in HubSpot")


@pytest.mark.parametrize("scenario", [{"conflict_winner": "app"}], indirect=True)
async def test_same_field_changed_on_both_sides_keeps_the_apps_value_when_the_app_wins(
    scenario: Scenario,
):
    hubspot_id, app_id = await _synced_pair(scenario, firstname="Cleo", jobtitle="Start")
    await _edit_both_while_off(
        scenario, hubspot_id, app_id, {"jobtitle": "Set in HubSpot"}, {"jobtitle": "Set in app"}
    )
    await _settled(scenario, hubspot_id, app_id, jobtitle="Set in app")
    trail = (
        await scenario.api.get(
            f"/v1/connections/{scenario.cid}/audit", params={"record": hubspot_id}
        )
    ).json()
    assert any(
        e["field"] == "jobtitle" and e["new_value"] == "Set in app" and "both" in e["reason"]
        for e in trail
    ), trail


@pytest.mark.parametrize("scenario", [{"conflict_winner": "app"}], indirect=True)
async def test_different_fields_changed_on_both_sides_both_reach_the_other_side(
    scenario: Scenario,
):
    hubspot_id, app_id = await _synced_pair(scenario, firstname="Cleo", jobtitle="Start")
    await _edit_both_while_off(
        scenario, hubspot_id, app_id, {"jobtitle": "New title"}, {"firstname": "Cleopatra"}
    )
    await _settled(scenario, hubspot_id, app_id, jobtitle="New title", firstname="Cleopatra")


@pytest.mark.parametrize("scenario", [{"propagate_deletes": True}], indirect=True)
async def test_delete_propagates_to_the_other_side_when_the_sync_says_so(scenario: Scenario):
    hubspot_id, app_id = await _synced_pair(scenario, firstname="Dora")
    deleted = await scenario.dynamics.delete(f"contacts({app_id})", headers=USER)
    assert deleted.status_code == 204

    async def gone_from_hubspot() -> bool:
        response = await scenario.hubspot.get(f"/crm/v3/objects/contacts/{hubspot_id}")
        return response.status_code == 404

    assert await eventually(gone_from_hubspot)
    await eventually(lambda: _has(scenario.health(), "deleted", 1))
    trail = (
        await scenario.api.get(
            f"/v1/connections/{scenario.cid}/audit", params={"record": hubspot_id}
        )
    ).json()
    assert [e["target"] for e in trail if e["op"] == "delete"] == ["hubspot"], trail


@pytest.mark.parametrize(
    "scenario", [{"propagate_deletes": True, "direction": "to_app"}], indirect=True
)
async def test_a_propagated_delete_still_follows_the_direction(scenario: Scenario):
    hubspot_id, app_id = await _synced_pair(scenario, firstname="Edda")
    deleted = await scenario.dynamics.delete(f"contacts({app_id})", headers=USER)
    assert deleted.status_code == 204
    await eventually(lambda: _has(scenario.health(), "deleted", 1))

    async def gone_from_hubspot() -> bool:
        response = await scenario.hubspot.get(f"/crm/v3/objects/contacts/{hubspot_id}")
        return response.status_code == 404

    # The sync only writes into the app: HubSpot's record stays.
    with pytest.raises(AssertionError):
        await eventually(gone_from_hubspot, within=5)
