"""A contact syncs both ways through webhook → ingest → Kafka → processor → Kafka → writer,
against the real broker, PostgreSQL and both sandboxes, driven only through public APIs."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.devstack.demo import PEOPLE, bootstrap, wait_in_sync
from services.devstack.stack import Stack
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

USER = {"X-Sandbox-Actor": "user"}  # the sandboxes' hook for "a person edited this in the UI"


@pytest_asyncio.fixture(scope="module")
async def demo(datasync_stack: Stack) -> AsyncIterator[str]:
    s = datasync_stack
    cid = await bootstrap(s.api_url, s.admin_token, s.hubspot_url, s.dynamics_url, s.ingest_url)
    yield cid


@pytest_asyncio.fixture
async def hubspot(datasync_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": "Bearer sandbox-hubspot-token"}
    async with httpx.AsyncClient(base_url=datasync_stack.hubspot_url, headers=headers) as client:
        yield client


@pytest_asyncio.fixture
async def dynamics(datasync_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": "Bearer sandbox-dynamics-token"}
    base = f"{datasync_stack.dynamics_url}/demo/api/data/v9.2/"
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        yield client


async def hubspot_emails(hubspot: httpx.AsyncClient) -> list[str]:
    response = await hubspot.get("/crm/v3/objects/contacts", params={"limit": 100})
    return sorted(r["properties"]["email"] for r in response.json()["results"])


async def dynamics_emails(dynamics: httpx.AsyncClient) -> list[str]:
    response = await dynamics.get("contacts", params={"$select": "emailaddress1"})
    return sorted(r["emailaddress1"] for r in response.json()["value"])


async def dynamics_contact(dynamics: httpx.AsyncClient, email: str) -> dict[str, Any] | None:
    response = await dynamics.get(
        "contacts",
        params={
            "$select": "contactid,firstname,jobtitle",
            "$filter": f"emailaddress1 eq '{email}'",
        },
    )
    found = response.json()["value"]
    return found[0] if found else None


async def write_counts(stack: Stack) -> tuple[int, int]:
    async with httpx.AsyncClient() as http:
        hs = (await http.get(f"{stack.hubspot_url}/_sandbox/counters")).json()
        dyn = (
            await http.get(f"{stack.dynamics_url}/_sandbox/counters", params={"org": "demo"})
        ).json()
    return int(hs["writes"]), int(dyn["writes"])


async def test_demo_contacts_end_up_on_both_sides_without_duplicates(
    datasync_stack: Stack, demo: str, hubspot: httpx.AsyncClient, dynamics: httpx.AsyncClient
) -> None:
    s = datasync_stack
    assert await wait_in_sync(s.api_url, s.admin_token, demo, len(PEOPLE), within=60) == len(PEOPLE)
    everyone = sorted(email for _, _, email, _ in PEOPLE)
    assert await hubspot_emails(hubspot) == everyone
    assert await dynamics_emails(dynamics) == everyone


async def test_contact_syncs_both_ways_and_its_writes_do_not_echo(
    datasync_stack: Stack, demo: str, hubspot: httpx.AsyncClient, dynamics: httpx.AsyncClient
) -> None:
    s = datasync_stack
    await wait_in_sync(s.api_url, s.admin_token, demo, len(PEOPLE), within=60)

    created = await hubspot.post(
        "/crm/v3/objects/contacts",
        json={"properties": {"email": "new.person@example.com", "firstname": "Nova"}},
        headers=USER,
    )
    assert created.status_code == 201
    hubspot_id = created.json()["id"]
    in_dynamics = await eventually(lambda: dynamics_contact(dynamics, "new.person@example.com"))
    assert in_dynamics["firstname"] == "Nova"

    edited = await dynamics.patch(
        f"contacts({in_dynamics['contactid']})", json={"jobtitle": "Navigator"}, headers=USER
    )
    assert edited.status_code == 204

    async def jobtitle_in_hubspot() -> str | None:
        response = await hubspot.get(
            f"/crm/v3/objects/contacts/{hubspot_id}", params={"properties": "jobtitle"}
        )
        return response.json()["properties"].get("jobtitle")

    assert await eventually(jobtitle_in_hubspot) == "Navigator"
    # The link between the two records is stored: the new pair counts as in sync.
    total = len(PEOPLE) + 1
    assert await wait_in_sync(s.api_url, s.admin_token, demo, total, within=30) == total

    # No ping-pong: neither the webhooks of the sync's own writes nor the reconciler's polls
    # (every 2 s here) lead to further writes on either side.
    # Let writes already under way land (a matched pair may be merged from both of its
    # records' events), then nothing more may come.
    before = await write_counts(s)
    while True:
        await asyncio.sleep(3)
        settled = await write_counts(s)
        if settled == before:
            break
        before = settled
    assert min(before) > 0  # both sides did receive the sync's writes
    await asyncio.sleep(6)
    after = await write_counts(s)
    if after != before:
        headers = {"Authorization": f"Bearer {s.admin_token}"}
        async with httpx.AsyncClient(base_url=s.api_url, headers=headers) as api:
            trail = (await api.get(f"/v1/connections/{demo}/audit")).json()
        raise AssertionError(f"writes went on: {before} -> {after}; audit: {trail[:6]}")
    s.check()
