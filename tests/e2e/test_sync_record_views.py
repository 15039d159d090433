"""What the record view, the errors and the associations endpoints say about a running sync,
driven through the control API and the sandboxes' APIs only."""

from typing import Any
from uuid import uuid4

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.devstack.stack import Stack
from tests.e2e.test_sync_scenarios import USER, Scenario, email, scenario
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

__all__ = ["scenario"]  # the fixture, shared with the other scenarios


async def _records(scenario: Scenario, **params: str) -> list[dict[str, Any]]:
    response = await scenario.api.get(
        f"/v1/connections/{scenario.cid}/records", params={"object": "contacts", **params}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


async def test_a_failing_record_shows_its_category_and_fix_until_it_recovers(
    scenario: Scenario, datasync_stack: Stack
):
    faults = f"{datasync_stack.hubspot_url}/_sandbox/faults"
    async with httpx.AsyncClient() as http:
        added = await http.post(
            faults,
            json={"status": 400, "count": 100, "path_prefix": "/crm/v3/objects/contacts/batch"},
        )
        assert added.status_code == 204
        try:
            address = email()
            created = await scenario.dynamics.post(
                "contacts", json={"emailaddress1": address, "firstname": "Fern"}, headers=USER
            )
            assert created.status_code == 204
            app_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

            async def failing_group() -> dict[str, Any] | None:
                response = await scenario.api.get(
                    f"/v1/connections/{scenario.cid}/errors", params={"object": "contacts"}
                )
                groups = response.json()["groups"]
                return next((g for g in groups if g["category"] == "validation"), None)

            group = await eventually(failing_group)
            assert group["count"] >= 1
            assert "mapping" in group["fix"]  # the steps for a refused value
            assert app_id in [e["app_id"] for e in group["examples"]]
            [record] = [
                r for r in await _records(scenario, status="failing") if r["app_id"] == app_id
            ]
            assert record["hubspot_id"] is None
            assert record["error"]["category"] == "validation"
            assert record["error"]["fix"] == group["fix"]
        finally:
            assert (await http.delete(faults)).status_code == 204

    # The cause is gone: the retry lands, and the record view says so.
    async def in_sync() -> dict[str, Any] | None:
        found = [r for r in await _records(scenario) if r["app_id"] == app_id]
        return found[0] if found and found[0]["status"] == "in_sync" else None

    record = await eventually(in_sync)
    assert record["hubspot_id"] is not None
    assert record["error"] is None
    assert await scenario.hubspot_contact(address) is not None


async def test_a_contact_whose_company_does_not_sync_says_what_it_waits_for(scenario: Scenario):
    sync = f"/v1/connections/{scenario.cid}/syncs/companies"
    # Companies sync, but only the ones with this name: the contact's company stays out.
    only = {"hubspot": [{"property": "name", "op": "eq", "value": f"Only {uuid4().hex}"}]}
    assert (await scenario.api.put(sync, json={"filters": only})).status_code == 200
    assert (await scenario.api.post(f"{sync}/start")).status_code == 200
    associations = (
        await scenario.api.get(f"/v1/connections/{scenario.cid}/syncs/contacts/associations")
    ).json()
    companies = [a for a in associations["associations"] if a["object"] == "companies"]
    assert companies
    assert companies[0]["syncs"] is True

    company = await scenario.hubspot.post(
        "/crm/v3/objects/companies",
        json={"properties": {"name": f"Left out {uuid4().hex[:6]}"}},
        headers=USER,
    )
    assert company.status_code == 201, company.text
    contact_id = await scenario.create_in_hubspot(email=email(), firstname="Wanda")
    put = await scenario.hubspot.put(
        f"/crm/v4/objects/contacts/{contact_id}/associations/default/companies/"
        f"{company.json()['id']}",
        headers=USER,
    )
    assert put.status_code in (200, 201), put.text

    async def waiting() -> dict[str, Any] | None:
        found = [r for r in await _records(scenario) if r["hubspot_id"] == contact_id]
        return found[0] if found and found[0]["waiting_for"] else None

    record = await eventually(waiting)
    assert record["waiting_for"] == ["companies"]
    assert record["status"] == "in_sync"  # the contact itself synced

    # Turned off, the companies sync no longer counts: the associations endpoint says why.
    assert (await scenario.api.post(f"{sync}/off")).status_code == 200
    associations = (
        await scenario.api.get(f"/v1/connections/{scenario.cid}/syncs/contacts/associations")
    ).json()
    companies = [a for a in associations["associations"] if a["object"] == "companies"]
    assert companies[0]["syncs"] is False
    assert "off" in companies[0]["reason"]


async def test_metrics_count_what_every_service_did(scenario: Scenario):
    """Ingest, reconciler and writers each add to the counters `/metrics` shows."""
    address = email()
    await scenario.create_in_hubspot(email=address, firstname="Mia")
    await eventually(lambda: scenario.in_dynamics(address))

    async def series() -> dict[tuple[str, str], float] | None:
        response = await scenario.api.get("/metrics")
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
