"""Scenarios of the sync engine, driven through the control API and the sandboxes' APIs only."""

from typing import Any
from uuid import uuid4

import httpx
import pytest

from services.devstack.stack import Stack
from tests.e2e.support import SandboxOrg, unique_email
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def test_deleted_record_stays_deleted_until_resynced_then_is_recreated(org: SandboxOrg):
    address = unique_email()
    await org.create_in_hubspot("contacts", email=address, firstname="Della")
    first = await eventually(lambda: org.dynamics_contact(address))

    deleted = await org.dynamics.delete(f"contacts({first['contactid']})")
    assert deleted.status_code == 204
    await eventually(lambda: org.health_when("deleted", at_least=1))
    # Not deleted on the other side by default.
    assert await org.hubspot_contact(address) is not None

    response = await org.api.post(org.sync_path("contacts", "resync-deleted"), json={"into": "app"})
    assert response.status_code == 202
    assert response.json() == {"requested": 1}
    again = await eventually(lambda: org.dynamics_contact(address))
    assert again["contactid"] != first["contactid"]
    assert again["firstname"] == "Della"
    await eventually(lambda: org.health_when("in_sync", at_least=1))


async def test_failing_record_is_retried_and_recovers_by_itself(
    org: SandboxOrg, datasync_stack: Stack
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
    address = unique_email()
    await org.create_in_dynamics("contacts", {"emailaddress1": address, "firstname": "Fay"})

    failing = await eventually(lambda: org.health_when("failing", at_least=1))
    assert failing["failing"] == 1
    # The cause was one refused request: the retry lands without anyone doing anything.
    recovered = await eventually(lambda: org.hubspot_contact(address))
    assert recovered["firstname"] == "Fay"
    await eventually(lambda: org.health_when("failing", at_most=0))


async def test_audit_trail_says_which_field_changed_how_and_why(org: SandboxOrg):
    address = unique_email()
    hubspot_id = await org.create_in_hubspot(
        "contacts", email=address, firstname="Al", jobtitle="Dev"
    )
    record = await eventually(lambda: org.dynamics_contact(address))
    await org.update_in_dynamics("contacts", record["contactid"], {"jobtitle": "Lead"})

    async def jobtitle_entry() -> dict[str, Any] | None:
        entries = await org.audit(record=hubspot_id)
        return next((e for e in entries if e["field"] == "jobtitle" and e["op"] == "update"), None)

    entry = await eventually(jobtitle_entry)
    assert (entry["old_value"], entry["new_value"], entry["target"]) == ("Dev", "Lead", "hubspot")
    assert "changed in app" in entry["reason"]
    trail = await org.audit(record=hubspot_id)
    created = [e for e in trail if e["op"] == "create"]
    assert {e["field"] for e in created} >= {"emailaddress1", "firstname"}


async def test_turned_off_sync_writes_nothing_and_catches_up_when_turned_on(org: SandboxOrg):
    address = unique_email()
    await org.create_in_hubspot("contacts", email=address, firstname="Otto")
    await eventually(lambda: org.dynamics_contact(address))
    off = await org.api.post(org.sync_path("contacts", "off"))
    assert off.json()["state"] == "off"

    contact = await org.hubspot_contact(address)
    assert contact is not None
    await org.update_in_hubspot("contacts", contact["id"], jobtitle="While off")
    # Two reconciler polls and a webhook's worth of time: nothing may arrive while off.
    with pytest.raises(AssertionError, match="condition not met"):
        await eventually(lambda: _jobtitle(org, address, "While off"), within=5)

    on = await org.api.post(org.sync_path("contacts", "on"))
    assert on.json()["state"] == "syncing"
    assert await eventually(lambda: _jobtitle(org, address, "While off"))


@pytest.mark.parametrize("org", [{"direction": "to_hubspot"}], indirect=True)
async def test_one_way_into_hubspot_never_writes_into_the_app(org: SandboxOrg):
    address = unique_email()
    await org.create_in_hubspot("contacts", email=address, firstname="Uni")
    with pytest.raises(AssertionError, match="condition not met"):
        await eventually(lambda: org.dynamics_contact(address), within=4)

    app_address = unique_email()
    await org.create_in_dynamics("contacts", {"emailaddress1": app_address, "firstname": "Dyn"})
    assert await eventually(lambda: org.hubspot_contact(app_address))


async def _jobtitle(org: SandboxOrg, address: str, expected: str) -> bool:
    record = await org.dynamics_contact(address)
    return record is not None and record.get("jobtitle") == expected


async def test_a_contacts_primary_company_follows_it_once_both_syncs_run(org: SandboxOrg):
    name = f"Assoc {uuid4().hex[:6]}"
    company_id = await org.create_in_hubspot("companies", name=name, domain=f"{uuid4().hex[:8]}.io")
    address = unique_email()
    contact_id = await org.create_in_hubspot("contacts", email=address, firstname="Cora")
    await org.associate_in_hubspot("contacts", contact_id, "companies", company_id)
    # Only contacts sync so far: the contact arrives without its company.
    contact = await eventually(lambda: org.dynamics_contact(address))

    response = await org.put_settings("companies", {})
    assert response.status_code == 200, response.text
    started = await org.api.post(org.sync_path("companies", "start"))
    assert started.status_code == 200

    async def parent_account() -> str | None:
        record = await org.dynamics_record(
            "contacts", contact["contactid"], "_parentcustomerid_value"
        )
        return record.get("_parentcustomerid_value")

    account_id = await eventually(parent_account)
    account = await org.dynamics_record("accounts", account_id, "name")
    assert account["name"] == name
