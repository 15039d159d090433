"""The dashboard in headless Chromium against the running stack: it shows what the API reports,
an admin's action on the page changes the sync, and a viewer sees no actions. The run saves a
screenshot of the dashboard to docs/dashboard.png, which the README shows."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from services.devstack.stack import Stack
from services.store.repository import Store
from services.tokens import create_token
from tests.e2e.browser import Chromium, Page, chromium, chromium_binary
from tests.e2e.support import USER, connected_org, unique_email
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
COUNTS = ("in_sync", "failing", "excluded", "pending", "deleted", "waiting_for_association")


@dataclass
class Synced:
    """A new Dynamics organisation with a running contacts sync, one of whose records fails."""

    cid: str
    api: httpx.AsyncClient
    failing_app_id: str


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Chromium]:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("chromium is not installed: `make browser` installs Debian's package")
    async with chromium(binary) as started:
        yield started


@pytest_asyncio.fixture(scope="module")
async def synced(datasync_stack: Stack, hubspot_account: None) -> AsyncIterator[Synced]:
    s = datasync_stack
    async with httpx.AsyncClient(
        base_url=s.hubspot_url, headers={**USER, "Authorization": "Bearer sandbox-hubspot-token"}
    ) as hubspot:
        for name in ("Ada", "Grace", "Edsger", "Barbara", "Donald"):
            created = await hubspot.post(
                "/crm/v3/objects/contacts",
                json={"properties": {"email": unique_email(), "firstname": name}},
            )
            assert created.status_code == 201, created.text
    async with connected_org(s) as org:
        await org.start("contacts")
        # HubSpot refuses the contact created in the app: the errors tab has a category.
        refuse = {"status": 400, "count": 100, "path_prefix": "/crm/v3/objects/contacts/batch"}
        assert (await org.hubspot.post("/_sandbox/faults", json=refuse)).status_code == 204
        try:
            app_id = await org.create_in_dynamics(
                "contacts", {"emailaddress1": unique_email(), "firstname": "Fern"}
            )
            await eventually(lambda: org.health_when("failing", at_least=1))
            yield Synced(org.cid, org.api, app_id)
        finally:
            assert (await org.hubspot.delete("/_sandbox/faults")).status_code == 204
    s.check()


async def signed_in(browser: Chromium, stack: Stack, token: str, cid: str) -> Page:
    """A new tab on the dashboard, signed in with `token`, showing the connection `cid`."""
    page = await browser.page()
    await page.open(stack.dashboard_url)
    await page.type("#token", token)
    await page.press_enter()
    await page.wait_for("document.body.dataset.role")
    await page.click(f'[data-connection="{cid}"]')
    await page.wait_for(
        f"document.querySelector('[aria-current=\"true\"]')?.dataset.connection === '{cid}'"
        " && document.querySelectorAll('#syncs tr[data-object]').length > 0"
    )
    return page


async def page_counts(page: Page) -> dict[str, dict[str, int]]:
    """The overview's counts: object -> count name -> number."""
    shown = await page.evaluate(
        """Object.fromEntries([...document.querySelectorAll('#syncs tr[data-object]')].map(
            (row) => [row.dataset.object, Object.fromEntries([...row.querySelectorAll('[data-count]')]
                .map((cell) => [cell.dataset.count, cell.textContent])) ]))"""
    )
    return {
        obj: {name: int(text.replace(",", "")) for name, text in cells.items()}
        for obj, cells in shown.items()
    }


async def api_counts(api: httpx.AsyncClient, cid: str) -> dict[str, dict[str, int]]:
    health = (await api.get(f"/v1/connections/{cid}/health")).json()
    return {obj: {n: h[n] for n in COUNTS} for obj, h in health["objects"].items()}


async def test_the_dashboard_shows_what_the_api_reports_without_console_errors(
    browser: Chromium, datasync_stack: Stack, synced: Synced
):
    api, cid = synced.api, synced.cid
    page = await signed_in(browser, datasync_stack, datasync_stack.admin_token, cid)

    # The overview: the same counts as the health endpoint, once both have settled.
    async def same_counts() -> dict[str, dict[str, int]] | None:
        shown, reported = await page_counts(page), await api_counts(api, cid)
        return reported if shown == reported else None

    reported = await eventually(same_counts)
    assert reported["contacts"]["in_sync"] > 0
    assert reported["contacts"]["failing"] >= 1
    assert (
        await page.evaluate("document.querySelector('td[data-field=state]').textContent")
        == ((await api.get(f"/v1/connections/{cid}/syncs/contacts")).json()["state"])
    )
    # How far behind the object's consumers are: a number once the broker has been asked and
    # the consumer groups have committed, with each group on hover, as health reports them.
    cell = "document.querySelector('#syncs tr[data-object=contacts] td[data-lag]')"
    lag = await page.wait_for(f"{cell}?.title.includes('datasync-processor') && {cell}.title")
    reported_lag = (await api.get(f"/v1/connections/{cid}/health")).json()["objects"]["contacts"]
    assert set(reported_lag["consumer_lag"]) == {line.split(": ")[0] for line in lag.split("\n")}
    await page.wait_for("document.querySelectorAll('#activity svg rect').length > 0")

    # The errors tab: each category with its count, and its fix steps on hover.
    await page.click('[data-tab="errors"]')
    errors = (await api.get(f"/v1/connections/{cid}/errors")).json()
    group = next(g for g in errors["groups"] if g["category"] == "validation")
    row = '#errors tr[data-object="contacts"][data-category="validation"]'
    hint = await page.wait_for(f"document.querySelector('{row} .hint')?.title")
    assert hint == f"How to fix: {group['fix']}"

    async def same_errors() -> bool:
        shown = await page.evaluate(
            "[...document.querySelectorAll('#errors tr[data-category]')].map((r) =>"
            " [r.dataset.object, r.dataset.category, r.querySelector('[data-count]').textContent])"
        )
        now = (await api.get(f"/v1/connections/{cid}/errors")).json()["groups"]
        return bool(shown == [[g["object"], g["category"], str(g["count"])] for g in now])

    await eventually(same_errors)

    # Its records, and one of them opened with its error and audit trail.
    await page.click(f"{row} button")
    record = f'#records tr[data-record="{synced.failing_app_id}"]'
    await page.click(record)
    await page.wait_for("document.querySelector('#record').open")
    facts = await page.evaluate("document.querySelector('#record-facts').innerText")
    assert "validation" in facts
    assert group["fix"] in facts
    await page.click("#close-record")
    await page.wait_for("!document.querySelector('#record').open")

    await page.click('[data-tab="overview"]')
    # How far behind the object's consumers are: a number once the broker has been asked and
    # the consumer groups have committed, with each group on hover, as health reports them.
    cell = "document.querySelector('#syncs tr[data-object=contacts] td[data-lag]')"
    lag = await page.wait_for(f"{cell}?.title.includes('datasync-processor') && {cell}.title")
    reported_lag = (await api.get(f"/v1/connections/{cid}/health")).json()["objects"]["contacts"]
    assert set(reported_lag["consumer_lag"]) == {line.split(": ")[0] for line in lag.split("\n")}
    await page.wait_for("document.querySelectorAll('#activity svg rect').length > 0")
    await page.screenshot(SCREENSHOT)
    assert page.problems == []
    await page.close()


async def test_an_admin_turns_a_sync_off_and_on_from_the_dashboard(
    browser: Chromium, datasync_stack: Stack, synced: Synced
):
    api, cid = synced.api, synced.cid
    page = await signed_in(browser, datasync_stack, datasync_stack.admin_token, cid)

    async def state() -> str:
        return str((await api.get(f"/v1/connections/{cid}/syncs/contacts")).json()["state"])

    async def off() -> bool:
        return await state() == "off"

    async def on() -> bool:
        return await state() == "syncing"

    assert await on()
    await page.click('#syncs [data-actions-for="contacts"] [data-action="off"]')
    await eventually(off)
    await page.wait_for("document.querySelector('#notice').innerText.includes('is off')")
    await page.wait_for(
        "document.querySelector('#syncs tr[data-object=\"contacts\"] td[data-field=state]')"
        ".textContent === 'off'"
    )

    await page.click('#syncs [data-actions-for="contacts"] [data-action="on"]')
    await eventually(on)
    await page.wait_for(
        '!!document.querySelector(\'#syncs [data-actions-for="contacts"] [data-action="off"]\')'
    )
    assert page.problems == []
    await page.close()


async def test_a_viewer_sees_no_actions(browser: Chromium, datasync_stack: Stack, synced: Synced):
    store = await Store.connect(datasync_stack.database_url, size=1)
    try:
        _, token = await create_token(store, "viewer")
    finally:
        await store.close()
    page = await signed_in(browser, datasync_stack, token, synced.cid)

    assert await page.evaluate("document.querySelector('#role').textContent") == "viewer"
    await page.click('[data-tab="errors"]')
    await page.wait_for("document.querySelectorAll('#errors tr[data-category]').length > 0")
    await page.click('[data-tab="overview"]')
    assert await page.evaluate("document.querySelectorAll('[data-action]').length") == 0
    assert await page.evaluate("document.querySelectorAll('[data-actions-for]').length") == 0
    assert page.problems == []
    await page.close()

    # The API refuses them anyway.
    refused = await synced.api.post(
        f"/v1/connections/{synced.cid}/syncs/contacts/off",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 403
