"""What the record view, the errors and the associations endpoints say about a running sync,
driven through the control API and the sandboxes' APIs only."""

from typing import Any
from uuid import uuid4

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.devstack.stack import Stack
from tests.e2e.support import SandboxOrg, unique_email
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def _records(org: SandboxOrg, **params: str) -> list[dict[str, Any]]:
    response = await org.api.get(
        f"/v1/connections/{org.cid}/records", params={"object": "contacts", **params}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


async def test_a_failing_record_shows_its_category_and_fix_until_it_recovers(
    org: SandboxOrg, datasync_stack: Stack
):
    faults = f"{datasync_stack.hubspot_url}/_sandbox/faults"
    async with httpx.AsyncClient() as http:
        added = await http.post(
            faults,
            json={"status": 400, "count": 100, "path_prefix": "/crm/v3/objects/contacts/batch"},
        )
        assert added.status_code == 204
        try:
            address = unique_email()
            app_id = await org.create_in_dynamics(
                "contacts", {"emailaddress1": address, "firstname": "Fern"}
            )

            async def failing_group() -> dict[str, Any] | None:
                response = await org.api.get(
                    f"/v1/connections/{org.cid}/errors", params={"object": "contacts"}
                )
                groups = response.json()["groups"]
                return next((g for g in groups if g["category"] == "validation"), None)

            group = await eventually(failing_group)
            assert group["count"] >= 1
            assert "mapping" in group["fix"]  # the steps for a refused value
            assert app_id in [e["app_id"] for e in group["examples"]]
            [record] = [r for r in await _records(org, status="failing") if r["app_id"] == app_id]
            assert record["hubspot_id"] is None
            assert record["error"]["category"] == "validation"
            assert record["error"]["fix"] == group["fix"]
        finally:
            assert (await http.delete(faults)).status_code == 204

    # The cause is gone: the retry lands, and the record view says so.
    async def in_sync() -> dict[str, Any] | None:
        found = [r for r in await _records(org) if r["app_id"] == app_id]
        return found[0] if found and found[0]["status"] == "in_sync" else None

    record = await eventually(in_sync)
    assert record["hubspot_id"] is not None
    assert record["error"] is None
    assert await org.hubspot_contact(address) is not None


async def test_a_contact_whose_company_does_not_sync_says_what_it_waits_for(org: SandboxOrg):
    sync = org.sync_path("companies")
    # Companies sync, but only the ones with this name: the contact's company stays out.
    only = {"hubspot": [{"property": "name", "op": "eq", "value": f"Only {uuid4().hex}"}]}
    assert (await org.api.put(sync, json={"filters": only})).status_code == 200
    assert (await org.api.post(f"{sync}/start")).status_code == 200
    associations = (await org.api.get(org.sync_path("contacts", "associations"))).json()
    companies = [a for a in associations["associations"] if a["object"] == "companies"]
    assert companies
    assert companies[0]["syncs"] is True

    company_id = await org.create_in_hubspot("companies", name=f"Left out {uuid4().hex[:6]}")
    contact_id = await org.create_in_hubspot("contacts", email=unique_email(), firstname="Wanda")
    await org.associate_in_hubspot("contacts", contact_id, "companies", company_id)

    async def waiting() -> dict[str, Any] | None:
        found = [r for r in await _records(org) if r["hubspot_id"] == contact_id]
        return found[0] if found and found[0]["waiting_for"] else None

    record = await eventually(waiting)
    assert record["waiting_for"] == ["companies"]
    assert record["status"] == "in_sync"  # the contact itself synced

    # Turned off, the companies sync no longer counts: the associations endpoint says why.
    assert (await org.api.post(f"{sync}/off")).status_code == 200
    associations = (await org.api.get(org.sync_path("contacts", "associations"))).json()
    companies = [a for a in associations["associations"] if a["object"] == "companies"]
    assert companies[0]["syncs"] is False
    assert "off" in companies[0]["reason"]


async def test_metrics_count_what_every_service_did(org: SandboxOrg):
    """Ingest, reconciler and writers each add to the counters `/metrics` shows."""
    address = unique_email()
    await org.create_in_hubspot("contacts", email=address, firstname="Mia")
    await eventually(lambda: org.dynamics_contact(address))

    async def series() -> dict[tuple[str, str], float] | None:
        response = await org.api.get("/metrics")
        assert response.status_code == 200, response.text
        found: dict[tuple[str, str], float] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == "datasync_changes_received_total":
                    key = (sample.name, sample.labels["via"])
                elif sample.name == "datasync_writes_total":
                    key = (sample.name, sample.labels["target"])
                else:
                    continue
                found[key] = found.get(key, 0) + sample.value
        wanted = [
            ("datasync_changes_received_total", "webhook"),
            ("datasync_changes_received_total", "reconciler"),
            ("datasync_writes_total", "app"),
        ]
        return found if all(found.get(k, 0) > 0 for k in wanted) else None

    assert await eventually(series)
