"""The state store against a real PostgreSQL: migrations, links and snapshots."""

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from schemas.events import Side
from schemas.settings import SyncSettings, SyncState
from services.store.migrate import apply_migrations, migrate, migration_files
from services.store.outcomes import LinkOutcome
from services.store.repository import Store
from tests.helpers import app_connection

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[Store]:
    await migrate(database_url)
    store = await Store.connect(database_url)
    await store.create_connection(app_connection("c-store", name="store test"))
    await store.put_sync("c-store", "contacts", SyncSettings())
    yield store
    await store.close()


async def test_migrations_apply_once_and_then_are_a_no_op(store: Store, database_url: str):
    conn = await asyncpg.connect(database_url)
    try:
        assert await apply_migrations(conn) == []
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [r["version"] for r in versions] == [v for v, _, _ in migration_files()]


async def test_sync_state_changes_are_stored(store: Store):
    await store.set_sync_state("c-store", "contacts", SyncState.SYNCING)
    sync = await store.get_sync("c-store", "contacts")
    assert sync is not None
    assert sync.state is SyncState.SYNCING
    syncing = await store.list_syncs("contacts", [SyncState.SYNCING])
    assert "c-store" in [s.connection_id for s in syncing]


async def test_a_created_record_is_linked_with_both_snapshots(store: Store):
    synced = {"email:emailaddress1": "a@x.io", "firstname:firstname": "Ann"}
    await store.apply_outcomes(
        [LinkOutcome("c-store", "contacts", "101", "guid-101", "in_sync", synced)]
    )
    link = (await store.links_for("c-store", "contacts", Side.APP, ["guid-101"]))["guid-101"]
    assert (link.hubspot_id, link.status) == ("101", "in_sync")
    assert link.hubspot_values == synced
    assert link.app_values == synced


async def test_an_update_merges_into_the_snapshots_and_a_failure_keeps_them(store: Store):
    await store.apply_outcomes(
        [LinkOutcome("c-store", "contacts", "102", "guid-102", "in_sync", {"a:a": "1", "b:b": "2"})]
    )
    await store.apply_outcomes(
        [LinkOutcome("c-store", "contacts", "102", "guid-102", "in_sync", {"b:b": "3"})]
    )
    await store.apply_outcomes(
        [
            LinkOutcome(
                "c-store", "contacts", "102", "guid-102", "failing", None, "validation", "bad"
            )
        ]
    )
    link = (await store.links_for("c-store", "contacts", Side.HUBSPOT, ["102"]))["102"]
    assert link.hubspot_values == {"a:a": "1", "b:b": "3"}
    assert link.status == "failing"
    counts = await store.status_counts("c-store")
    assert counts["contacts"]["failing"] >= 1


async def test_an_excluded_record_becomes_linked_once_it_syncs(store: Store):
    await store.record_exclusions("c-store", "contacts", Side.HUBSPOT, {"103": "no email"})
    excluded = (await store.links_for("c-store", "contacts", Side.HUBSPOT, ["103"]))["103"]
    assert (excluded.status, excluded.app_id) == ("excluded", None)
    await store.apply_outcomes(
        [LinkOutcome("c-store", "contacts", "103", "guid-103", "in_sync", {"a:a": "x"})]
    )
    linked = (await store.links_for("c-store", "contacts", Side.HUBSPOT, ["103"]))["103"]
    assert (linked.status, linked.app_id) == ("in_sync", "guid-103")


async def test_deleting_a_sync_removes_its_links(store: Store):
    await store.put_sync("c-store", "companies", SyncSettings())
    await store.apply_outcomes(
        [LinkOutcome("c-store", "companies", "201", "acc-201", "in_sync", {})]
    )
    assert await store.delete_sync("c-store", "companies")
    assert await store.links_for("c-store", "companies", Side.HUBSPOT, ["201"]) == {}


async def test_a_watermark_is_kept_only_while_its_sync_exists(store: Store):
    await store.put_sync("c-store", "products", SyncSettings())
    await store.set_watermark("c-store", "products", Side.APP, "2026-01-01T00:00:00+00:00")
    assert await store.get_watermark("c-store", "products", Side.APP) is not None
    assert await store.delete_sync("c-store", "products")
    # A poll that finishes after the sync was deleted leaves nothing behind.
    await store.set_watermark("c-store", "products", Side.APP, "2026-02-01T00:00:00+00:00")
    assert await store.get_watermark("c-store", "products", Side.APP) is None
    await store.set_watermark("c-gone", "products", Side.APP, "2026-02-01T00:00:00+00:00")
