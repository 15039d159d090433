"""The initial sync against both sandboxes over HTTP, the real broker and PostgreSQL: what it
publishes, what it reports as it goes, and the duplicates it holds back and records."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import topics
from schemas.events import ChangeEvent, Side
from schemas.settings import SyncSettings, SyncState
from services import bus
from services.config import KafkaSettings
from services.connectors.dynamics import DynamicsConnector
from services.connectors.errors import ConnectorError
from services.connectors.hubspot import HubSpotConnector
from services.reconciler import initial_sync
from services.reconciler.initial_sync import run_initial_sync
from services.sandbox.dynamics.app import create_app as dynamics_app
from services.sandbox.hubspot.app import create_app as hubspot_app
from services.store.migrate import migrate
from services.store.repository import Connection, Store
from tests.helpers import serve

pytestmark = pytest.mark.integration

SHARED, HUBSPOT_ONLY, APP_ONLY = 120, 90, 60


def person(i: int, email: str) -> dict[str, str]:
    return {"firstname": f"First{i}", "lastname": f"Last{i}", "email": email}


def in_dynamics(props: dict[str, str]) -> dict[str, str]:
    return {
        "firstname": props["firstname"],
        "lastname": props["lastname"],
        "emailaddress1": props["email"],
    }


@dataclass
class World:
    hubspot: HubSpotConnector
    app: DynamicsConnector
    hubspot_ids: dict[str, str]  # email -> id
    app_ids: dict[str, list[str]]  # email -> ids


@pytest_asyncio.fixture(scope="module")
async def world() -> AsyncIterator[World]:
    """HubSpot: shared + HubSpot-only contacts and one whose email two app contacts share.
    The app: the shared ones (emails in upper case), app-only ones, that pair of duplicates,
    and another pair of duplicates nobody in HubSpot matches."""
    shared = [person(i, f"shared{i}@example.com") for i in range(SHARED)]
    hubspot_only = [person(i, f"hs{i}@example.com") for i in range(HUBSPOT_ONLY)]
    app_only = [person(i, f"app{i}@example.com") for i in range(APP_ONLY)]
    ambiguous = person(0, "ambiguous@example.com")
    twins = person(1, "twin@example.com")
    hs_rows = [*shared, *hubspot_only, ambiguous]
    app_rows = [
        *[in_dynamics(p | {"email": p["email"].upper()}) for p in shared],
        *[in_dynamics(p) for p in app_only],
        in_dynamics(ambiguous),
        in_dynamics(ambiguous | {"firstname": "Other"}),
        in_dynamics(twins),
        in_dynamics(twins | {"firstname": "Other"}),
    ]
    async with serve(hubspot_app()) as hs_url, serve(dynamics_app()) as dyn_url:
        async with httpx.AsyncClient() as http:
            hs_seed = await http.post(f"{hs_url}/_sandbox/seed", json={"contacts": hs_rows})
            app_seed = await http.post(
                f"{dyn_url}/_sandbox/orgs/demo/seed", json={"contacts": app_rows}
            )
        hs_seed.raise_for_status()
        app_seed.raise_for_status()
        app_ids: dict[str, list[str]] = {}
        for row, record_id in zip(app_rows, app_seed.json()["contacts"], strict=True):
            app_ids.setdefault(row["emailaddress1"].lower(), []).append(record_id)
        hubspot = HubSpotConnector(hs_url, "sandbox-hubspot-token")
        app = DynamicsConnector(f"{dyn_url}/demo", "sandbox-dynamics-token")
        yield World(
            hubspot,
            app,
            dict(zip([r["email"] for r in hs_rows], hs_seed.json()["contacts"], strict=True)),
            app_ids,
        )
        await hubspot.aclose()
        await app.aclose()


@pytest_asyncio.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[Store]:
    await migrate(database_url)
    store = await Store.connect(database_url)
    yield store
    await store.close()


async def new_sync(store: Store) -> str:
    cid = f"c-init-{uuid4().hex[:8]}"
    await store.create_connection(
        Connection(cid, "dynamics365", "initial sync test", "http://127.0.0.1:1/demo", {}, "k",
                   None, datetime.now(UTC))
    )  # fmt: skip
    await store.put_sync(cid, "contacts", SyncSettings())
    await store.set_sync_state(cid, "contacts", SyncState.INITIAL_SYNC)
    return cid


async def published_events(kafka: KafkaSettings, cid: str, expected: int) -> list[ChangeEvent]:
    """Every event of connection `cid` in the contacts changes topic, from the start."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topics.changes("contacts"), p) for p in range(kafka.kafka_partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: list[ChangeEvent] = []
        for _ in range(20):
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    event = ChangeEvent.model_validate_json(record.value or b"")
                    if event.connection_id == cid:
                        found.append(event)
            if len(found) >= expected and not batches:
                break
        return found
    finally:
        await consumer.stop()


async def test_initial_sync_publishes_pairs_once_and_holds_back_duplicates(
    world: World,
    store: Store,
    broker_bootstrap: str,
    kafka_idempotence: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kafka = KafkaSettings(kafka_bootstrap=broker_bootstrap, kafka_idempotence=kafka_idempotence)
    await bus.ensure_topics(kafka, bus.all_topics(["contacts"]))
    cid = await new_sync(store)
    sync = await store.get_sync(cid, "contacts")
    assert sync is not None

    saved: list[dict[str, Any]] = []
    set_progress = store.set_progress

    async def spy(connection_id: str, object_type: str, progress: dict[str, Any]) -> None:
        saved.append(json.loads(json.dumps(progress)))
        await set_progress(connection_id, object_type, progress)

    monkeypatch.setattr(store, "set_progress", spy)
    monkeypatch.setattr(initial_sync, "PROGRESS_EVERY", 0.0)  # every page, for the test

    producer = bus.producer(kafka)
    await producer.start()
    try:
        final = await run_initial_sync(
            store, sync, world.hubspot, world.app, bus.publisher(producer), publish_chunk=50
        )
    finally:
        await producer.stop()

    hs_total, app_total = SHARED + HUBSPOT_ONLY + 1, SHARED + APP_ONLY + 4
    # HubSpot: every record but the one two app records match; the app: those not matched
    # and not duplicates.
    to_publish = (hs_total - 1) + APP_ONLY
    assert final["phase"] == "done"
    assert final["read"] == {"hubspot": hs_total, "app": app_total}
    assert final["matched"] == SHARED
    assert final["duplicates"] == {"hubspot": 1, "app": 4}
    assert final["ambiguous"] == {"hubspot": 1, "app": 0}
    assert final["to_publish"] == final["published"] == to_publish
    for stamp in ("started_at", "reading_at", "matching_at", "publishing_at", "finished_at"):
        datetime.fromisoformat(final[stamp])

    # Progress was reported as it went: pages read one by one, then chunks published.
    phases = [p["phase"] for p in saved]
    assert phases == sorted(phases, key=["reading", "matching", "publishing", "done"].index)
    hubspot_reads = sorted({p["read"]["hubspot"] for p in saved if p["phase"] == "reading"})
    assert len(hubspot_reads) >= 3  # pages of 100
    published = [p["published"] for p in saved if p["phase"] == "publishing"]
    assert published == sorted(published)
    assert len(set(published)) >= to_publish // 50

    events = await published_events(kafka, cid, to_publish)
    assert len(events) == to_publish
    assert len({(e.side, e.record_id) for e in events}) == to_publish
    assert all(e.complete and e.origin == "initial_sync" for e in events)
    pairs = [e for e in events if e.counterpart_id is not None]
    assert len(pairs) == SHARED
    for event in pairs:
        email = event.properties["email"] if event.properties else ""
        assert event.side is Side.HUBSPOT
        assert event.counterpart_id == world.app_ids[email][0]
        assert event.counterpart is not None
        assert event.counterpart["emailaddress1"] == email.upper()
    held = {world.hubspot_ids["ambiguous@example.com"], *world.app_ids["ambiguous@example.com"]}
    held |= set(world.app_ids["twin@example.com"])
    assert not held & {e.record_id for e in events}

    counts = (await store.status_counts(cid))["contacts"]
    assert counts == {"pending": SHARED, "failing": 5}
    rows = await store.pool.fetch(
        "SELECT hubspot_id, app_id, error_category, error_message FROM links"
        " WHERE connection_id = $1 AND status = 'failing'",
        cid,
    )
    assert {r["hubspot_id"] or r["app_id"] for r in rows} == held
    assert {r["error_category"] for r in rows} == {"duplicate"}
    messages = {r["hubspot_id"] or r["app_id"]: r["error_message"] for r in rows}
    assert (
        "Several records in the app match this record"
        in messages[world.hubspot_ids["ambiguous@example.com"]]
    )
    assert (
        "2 records in the app have the same email 'twin@example.com'"
        in messages[world.app_ids["twin@example.com"][0]]
    )

    after = await store.get_sync(cid, "contacts")
    assert after is not None
    assert after.state is SyncState.SYNCING
    assert after.progress["phase"] == "done"
    assert await store.get_watermark(cid, "contacts", Side.APP) is not None


async def test_a_failed_read_is_reported_in_the_progress(world: World, store: Store) -> None:
    cid = await new_sync(store)
    sync = await store.get_sync(cid, "contacts")
    assert sync is not None
    broken = DynamicsConnector("http://127.0.0.1:9/demo", "t", max_attempts=1)

    async def publish(events: list[ChangeEvent]) -> None:
        raise AssertionError("nothing is published when a side cannot be read")

    try:
        with pytest.raises(ConnectorError):
            await run_initial_sync(store, sync, world.hubspot, broken, publish)
    finally:
        await broken.aclose()
    after = await store.get_sync(cid, "contacts")
    assert after is not None
    assert after.state is SyncState.INITIAL_SYNC
    assert after.progress["phase"] == "failed"
    assert after.progress["error"]
