"""A contact syncs both ways through webhook → ingest → Kafka → processor → Kafka → writer,
against the real broker, PostgreSQL and both sandboxes, driven only through public APIs."""

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from services.devstack.demo import PEOPLE, bootstrap, wait_in_sync
from services.devstack.stack import Stack
from tests.e2e.support import SandboxOrg
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


@pytest_asyncio.fixture(scope="module")
async def demo(datasync_stack: Stack) -> AsyncIterator[SandboxOrg]:
    """The `make run` demo: its "demo" organisation, connected with a running contacts sync."""
    s = datasync_stack
    cid = await bootstrap(s.api_url, s.admin_token, s.hubspot_url, s.dynamics_url, s.ingest_url)
    async with SandboxOrg.open(s, "demo", cid) as org:
        yield org


async def hubspot_emails(demo: SandboxOrg) -> list[str]:
    response = await demo.hubspot.get("/crm/v3/objects/contacts", params={"limit": 100})
    return sorted(r["properties"]["email"] for r in response.json()["results"])


async def dynamics_emails(demo: SandboxOrg) -> list[str]:
    response = await demo.dynamics.get("contacts", params={"$select": "emailaddress1"})
    return sorted(r["emailaddress1"] for r in response.json()["value"])


async def test_demo_contacts_end_up_on_both_sides_without_duplicates(
    datasync_stack: Stack, demo: SandboxOrg
) -> None:
    s = datasync_stack
    in_sync = await wait_in_sync(s.api_url, s.admin_token, demo.cid, len(PEOPLE), within=60)
    assert in_sync == len(PEOPLE)
    everyone = sorted(email for _, _, email, _ in PEOPLE)
    assert await hubspot_emails(demo) == everyone
    assert await dynamics_emails(demo) == everyone


async def test_contact_syncs_both_ways_and_its_writes_do_not_echo(
    datasync_stack: Stack, demo: SandboxOrg
) -> None:
    s = datasync_stack
    await wait_in_sync(s.api_url, s.admin_token, demo.cid, len(PEOPLE), within=60)

    hubspot_id = await demo.create_in_hubspot(
        "contacts", email="new.person@example.com", firstname="Nova"
    )
    in_dynamics = await eventually(lambda: demo.dynamics_contact("new.person@example.com"))
    assert in_dynamics["firstname"] == "Nova"

    await demo.update_in_dynamics("contacts", in_dynamics["contactid"], {"jobtitle": "Navigator"})

    async def jobtitle_in_hubspot() -> str | None:
        return (await demo.hubspot_record("contacts", hubspot_id, "jobtitle")).get("jobtitle")

    assert await eventually(jobtitle_in_hubspot) == "Navigator"
    # The link between the two records is stored: the new pair counts as in sync.
    total = len(PEOPLE) + 1
    assert await wait_in_sync(s.api_url, s.admin_token, demo.cid, total, within=30) == total

    # No ping-pong: neither the webhooks of the sync's own writes nor the reconciler's polls
    # (every 2 s here) lead to further writes on either side.
    # Let writes already under way land (a matched pair may be merged from both of its
    # records' events), then nothing more may come.
    before = await demo.writes()
    while True:
        await asyncio.sleep(3)
        settled = await demo.writes()
        if settled == before:
            break
        before = settled
    assert min(before) > 0  # both sides did receive the sync's writes
    await asyncio.sleep(6)
    after = await demo.writes()
    if after != before:
        trail = await demo.audit()
        raise AssertionError(f"writes went on: {before} -> {after}; audit: {trail[:6]}")
    s.check()
