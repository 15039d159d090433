"""End-to-end fixtures: the whole stack, polled by the reconciler every two seconds so that
its look at datasync's own writes is part of every test."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
import pytest_asyncio

from services.devstack.stack import Stack
from tests.e2e.support import ConnectOrg, SandboxOrg, connected_org


@pytest.fixture(scope="session")
def datasync_stack_env() -> dict[str, str]:
    return {"DATASYNC_RECONCILE_INTERVAL_SECONDS": "2", "DATASYNC_RETRY_BASE_SECONDS": "1"}


@pytest_asyncio.fixture(scope="session")
async def hubspot_account(datasync_stack: Stack) -> None:
    """The stack's HubSpot account is the sandbox's, whose webhooks reach the ingest."""
    s = datasync_stack
    headers = {"Authorization": f"Bearer {s.admin_token}"}
    async with httpx.AsyncClient(base_url=s.api_url, headers=headers) as api:
        response = await api.put(
            "/v1/hubspot",
            json={
                "base_url": s.hubspot_url,
                "access_token": "sandbox-hubspot-token",
                "app_secret": "sandbox-hubspot-app-secret",
            },
        )
        assert response.status_code == 200, response.text
    async with httpx.AsyncClient() as http:
        hook = await http.put(
            f"{s.hubspot_url}/_sandbox/webhook", json={"url": f"{s.ingest_url}/webhooks/hubspot"}
        )
        assert hook.status_code == 204


@pytest_asyncio.fixture
async def connect_org(datasync_stack: Stack, hubspot_account: None) -> AsyncIterator[ConnectOrg]:
    """`await connect_org()`: a new organisation connected to datasync, nothing syncing yet.
    Each is disconnected after the test."""
    async with AsyncExitStack() as orgs:

        async def connect() -> SandboxOrg:
            return await orgs.enter_async_context(connected_org(datasync_stack))

        yield connect
    datasync_stack.check()


@pytest_asyncio.fixture
async def org(connect_org: ConnectOrg, request: pytest.FixtureRequest) -> SandboxOrg:
    """A new organisation whose contacts sync has started and worked its initial sync through,
    with the settings a test gives as this fixture's indirect parameter (defaults without)."""
    new = await connect_org()
    await new.start("contacts", getattr(request, "param", {}))
    return new


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The demo suite counts the shared HubSpot account's contacts exactly: it runs before
    every suite that adds contacts there."""
    items.sort(key=lambda item: "test_contacts_two_way" not in item.nodeid)
