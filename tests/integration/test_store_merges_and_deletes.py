"""What the state store does with HubSpot merges and deleted records, against a real
PostgreSQL."""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from schemas.events import Side
from schemas.settings import SyncSettings
from services.store.migrate import migrate
from services.store.outcomes import AuditEntry, LinkOutcome
from services.store.repository import Store
from tests.helpers import app_connection

pytestmark = pytest.mark.integration

CID = "c-merges"


@pytest_asyncio.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[Store]:
    await migrate(database_url)
    store = await Store.connect(database_url)
    await store.create_connection(app_connection(CID, name="merges and deletes"))
    await store.put_sync(CID, "contacts", SyncSettings())
    yield store
    await store.close()


async def _pair(store: Store, hubspot_id: str, app_id: str) -> None:
    await store.apply_outcomes(
        [LinkOutcome(CID, "contacts", hubspot_id, app_id, "in_sync", {"e:e": hubspot_id})]
    )


async def _by_app(store: Store, app_id: str) -> tuple[str | None, str, Side | None]:
    stored = (await store.stored_links(CID, "contacts", Side.APP, [app_id]))[app_id]
    return stored.state.hubspot_id, stored.state.status, stored.deleted_side


async def test_a_merged_away_pair_is_closed_and_the_primarys_pair_stays(store: Store):
    await _pair(store, "h1", "a1")
    await _pair(store, "h2", "a2")
    await store.repoint_merged(CID, "contacts", "h1", ["h2"])
    assert await _by_app(store, "a1") == ("h1", "in_sync", None)
    # HubSpot's side is gone: the app record is never copied back into HubSpot.
    assert await _by_app(store, "a2") == (None, "merged", Side.HUBSPOT)
    counts = (await store.status_counts(CID))["contacts"]
    assert counts["merged"] >= 1


async def test_a_primary_that_never_paired_takes_over_the_merged_pair(store: Store):
    await store.record_exclusions(CID, "contacts", Side.HUBSPOT, {"h3": "no email"})
    await _pair(store, "h4", "a4")
    await store.repoint_merged(CID, "contacts", "h3", ["h4"])
    assert await _by_app(store, "a4") == ("h3", "in_sync", None)
    assert await store.links_for(CID, "contacts", Side.HUBSPOT, ["h4"]) == {}


async def test_several_merged_records_each_follow_what_was_found_for_them(store: Store):
    await store.record_exclusions(CID, "contacts", Side.HUBSPOT, {"h6": "no email"})
    await _pair(store, "h7", "a7")
    await _pair(store, "h8", "a8")
    # h6 has no pair of its own, so the first merged pair moves to it; the second closes.
    await store.repoint_merged(CID, "contacts", "h5", ["h6", "h7", "h8"])
    assert await store.links_for(CID, "contacts", Side.HUBSPOT, ["h6"]) == {}
    assert await _by_app(store, "a7") == ("h5", "in_sync", None)
    assert await _by_app(store, "a8") == (None, "merged", Side.HUBSPOT)


async def test_a_write_that_lands_after_the_merge_does_not_reopen_the_closed_pair(store: Store):
    await _pair(store, "h9", "a9")
    await _pair(store, "h10", "a10")
    await store.repoint_merged(CID, "contacts", "h9", ["h10"])
    await store.apply_outcomes(
        [LinkOutcome(CID, "contacts", "h10", "a10", "in_sync", {"e:e": "late"})]
    )
    assert await _by_app(store, "a10") == (None, "merged", Side.HUBSPOT)


async def test_deleting_the_app_record_of_a_closed_pair_leaves_it_closed(store: Store):
    await _pair(store, "h11", "a11")
    await _pair(store, "h12", "a12")
    await store.repoint_merged(CID, "contacts", "h11", ["h12"])
    await store.mark_deleted(CID, "contacts", Side.APP, ["a12"])
    assert await _by_app(store, "a12") == (None, "merged", Side.HUBSPOT)


async def test_a_propagated_delete_keeps_the_side_deleted_first_and_is_audited(store: Store):
    await _pair(store, "h13", "a13")
    await store.mark_deleted(CID, "contacts", Side.APP, ["a13"])
    await store.apply_outcomes(
        [
            LinkOutcome(
                CID,
                "contacts",
                "h13",
                "a13",
                "deleted",
                None,
                target=Side.HUBSPOT,
                op="delete",
                reason="deleted in app: deleted in hubspot (deletes propagate)",
                command_id="cmd-13",
                audit=[AuditEntry(None, None, None)],
            )
        ]
    )
    assert await _by_app(store, "a13") == ("h13", "deleted", Side.APP)
    trail = await store.audit_trail(CID, "contacts", "h13", 10)
    assert [(r["op"], r["target"]) for r in trail] == [("delete", "hubspot")]


async def test_a_record_found_deleted_by_a_write_is_marked_on_that_side(store: Store):
    await _pair(store, "h14", "a14")
    await store.apply_outcomes(
        [
            LinkOutcome(
                CID,
                "contacts",
                "h14",
                "a14",
                "deleted",
                None,
                "not_found",
                "gone",
                target=Side.APP,
                op="update",
            )
        ]
    )
    assert await _by_app(store, "a14") == ("h14", "deleted", Side.APP)
    assert await store.audit_trail(CID, "contacts", "h14", 10) == []
