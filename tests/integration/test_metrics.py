"""`GET /metrics`: Prometheus text from the state store and the broker, against the real
PostgreSQL and broker. The database is shared by the session, so counts are compared before
and after."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from schemas.commands import WriteOp
from schemas.events import ChangeEvent
from schemas.settings import SyncSettings
from services.config import ConnectorSettings, KafkaSettings
from services.connectors.base import WriteRequest
from services.connectors.dynamics import DynamicsConnector
from services.connectors.hubspot_signature import sign_v3
from services.connectors.registry import Connectors
from services.ingest.app import create_app as create_ingest
from services.sandbox.dynamics.app import create_app as dynamics_app
from services.sandbox.hubspot.app import create_app as hubspot_app
from services.status_api.app import create_app
from services.status_api.metrics import ConsumerLag, highwaters
from services.store.migrate import migrate
from services.store.outcomes import LinkOutcome
from services.store.repository import HubSpotAccount, Store
from tests.helpers import app_connection, eventually, serve

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-secret"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest_asyncio.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[Store]:
    await migrate(database_url)
    store = await Store.connect(database_url)
    yield store
    await store.close()


@pytest.fixture
def kafka_env(broker_bootstrap: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATASYNC_KAFKA_BOOTSTRAP", broker_bootstrap)
        yield


@pytest_asyncio.fixture
async def api(store: Store, kafka_env: None) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh app per test, so that no test sees another's cached consumer lag."""
    app = create_app(store, "admin-secret")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        yield client


async def scrape(api: httpx.AsyncClient) -> Samples:
    response = await api.get("/metrics", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_need_a_token(api: httpx.AsyncClient):
    response = await api.get("/metrics")
    assert response.status_code == 401


async def test_metrics_are_prometheus_text_with_dead_letters_counted(
    api: httpx.AsyncClient, store: Store
):
    before = await scrape(api)
    await store.add_dead_letter("test", b"{", "not JSON")
    after = await scrape(api)
    assert value(after, "datasync_dead_letters_total") == (
        value(before, "datasync_dead_letters_total") + 1
    )


async def test_an_accepted_hubspot_webhook_counts_its_changes(api: httpx.AsyncClient, store: Store):
    previous = await store.get_hubspot()
    await store.put_hubspot(HubSpotAccount("http://hubspot", "token", "secret", None, "app-1"))
    published: list[ChangeEvent] = []

    async def publish(events: list[ChangeEvent]) -> None:
        published.extend(events)

    async def dead_letter(payload: bytes, error: str) -> None:
        raise AssertionError(error)

    ingest = create_ingest(store, publish, dead_letter)
    body = json.dumps(
        [
            {"subscriptionType": "contact.propertyChange", "eventId": i, "objectId": 100 + i}
            for i in range(3)
        ]
        + [{"subscriptionType": "company.creation", "eventId": 9, "objectId": 7}]
    ).encode()
    timestamp = str(int(time.time() * 1000))
    url = "http://ingest/webhooks/hubspot"
    headers = {
        "X-HubSpot-Signature-v3": sign_v3("secret", "POST", url, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
        "Content-Type": "application/json",
    }
    try:
        before = await scrape(api)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=ingest), base_url="http://ingest"
        ) as client:
            response = await client.post("/webhooks/hubspot", content=body, headers=headers)
        assert response.status_code == 200, response.text
        after = await scrape(api)
    finally:
        if previous is not None:
            await store.put_hubspot(previous)

    assert len(published) == 4
    name = "datasync_changes_received_total"
    contacts = {"source": "hubspot", "object": "contacts", "via": "webhook"}
    companies = {"source": "hubspot", "object": "companies", "via": "webhook"}
    assert value(after, name, **contacts) == value(before, name, **contacts) + 3
    assert value(after, name, **companies) == value(before, name, **companies) + 1


async def test_writes_counted_by_the_writers_are_exposed(api: httpx.AsyncClient, store: Store):
    labels = {"target": "app", "object": "deals", "outcome": "failing"}
    before = await scrape(api)
    await store.add_counts("datasync_writes", {tuple(sorted(labels.items())): 2})
    after = await scrape(api)
    name = "datasync_writes_total"
    assert value(after, name, **labels) == value(before, name, **labels) + 2


async def test_links_and_initial_sync_progress_are_gauges(api: httpx.AsyncClient, store: Store):
    cid = f"c-metrics-{uuid.uuid4().hex[:8]}"
    await store.create_connection(app_connection(cid, name="metrics"))
    await store.put_sync(cid, "contacts", SyncSettings())
    await store.set_progress(
        cid, "contacts", {"phase": "publishing", "read": {"hubspot": 5, "app": 4}, "matched": 3}
    )
    await store.apply_outcomes(
        [
            LinkOutcome(cid, "contacts", "1", "g1", "in_sync", {}),
            LinkOutcome(cid, "contacts", "2", "g2", "in_sync", {}),
            LinkOutcome(cid, "contacts", "3", None, "failing", None, "validation", "bad email"),
        ]
    )
    samples = await scrape(api)
    links, key = "datasync_links", {"connection": cid, "object": "contacts"}
    assert value(samples, links, **key, status="in_sync") == 2
    assert value(samples, links, **key, status="failing") == 1
    progress = "datasync_initial_sync_records"
    assert value(samples, progress, **key, side="hubspot", stage="read") == 5
    assert value(samples, progress, **key, side="app", stage="read") == 4
    assert value(samples, progress, **key, side="both", stage="matched") == 3


async def test_consumer_lag_is_exact_on_the_broker_for_a_partly_committed_group(
    api: httpx.AsyncClient, broker_bootstrap: str, kafka_idempotence: bool
):
    topic = f"datasync.metrics{uuid.uuid4().hex[:8]}.changes"
    group = f"metrics-test-{uuid.uuid4().hex[:8]}"
    first, second = TopicPartition(topic, 0), TopicPartition(topic, 1)
    admin = AIOKafkaAdminClient(bootstrap_servers=broker_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    # Messages sent together go out as multi-message batches: the case where the embedded
    # broker's ListOffsets falls short of the end.
    producer = AIOKafkaProducer(
        bootstrap_servers=broker_bootstrap, enable_idempotence=kafka_idempotence, linger_ms=50
    )
    await producer.start()
    try:
        for partition, n in ((0, 25), (1, 7)):
            sent = [
                await producer.send(topic, f"m{i}".encode(), partition=partition) for i in range(n)
            ]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([first, second])
        await consumer.commit({first: 10})  # partition 1 never committed: all 7 are behind
    finally:
        await consumer.stop()

    lag = await ConsumerLag(KafkaSettings(kafka_bootstrap=broker_bootstrap)).read()
    assert lag is not None
    assert lag[(group, topic)] == (25 - 10) + 7

    samples = await scrape(api)
    object_type = topic.split(".")[1]
    assert (
        value(samples, "datasync_consumer_lag", group=group, topic=topic, object=object_type)
        == (25 - 10) + 7
    )


async def test_metrics_answer_without_lag_when_the_broker_is_unreachable(store: Store, free_ports):
    (port,) = free_ports(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATASYNC_KAFKA_BOOTSTRAP", f"127.0.0.1:{port}")
        app = create_app(store, "admin-secret")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        samples = await scrape(client)
    assert not any(name == "datasync_consumer_lag" for name, _ in samples)
    assert any(name == "datasync_dead_letters_total" for name, _ in samples)


async def test_health_shows_each_consumer_groups_lag_on_the_object(
    api: httpx.AsyncClient, store: Store, broker_bootstrap: str, kafka_idempotence: bool
):
    """A group 5 messages behind on the deals topic shows in the health of a deals sync."""
    topic, group = "datasync.deals.changes", f"health-lag-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(
        bootstrap_servers=broker_bootstrap, enable_idempotence=kafka_idempotence
    )
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, b"m", partition=0) for _ in range(5)])
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await highwaters(consumer, partitions)
        await consumer.commit(
            {tp: end - 5 if tp.partition == 0 else end for tp, end in ends.items()}
        )
    finally:
        await consumer.stop()
    cid = f"c-lag-{uuid.uuid4().hex[:8]}"
    await store.create_connection(app_connection(cid, name="lag"))
    await store.put_sync(cid, "deals", SyncSettings())

    async def measured() -> dict[str, int] | None:
        # None while the measurement takes longer than a health call waits (a busy machine)
        response = await api.get(f"/v1/connections/{cid}/health", headers=ADMIN)
        assert response.status_code == 200, response.text
        lag: dict[str, int] | None = response.json()["objects"]["deals"]["consumer_lag"]
        return lag

    lag = await eventually(measured)
    assert lag[group] == 5


async def test_a_silent_broker_does_not_hold_up_a_lag_reader(free_ports):
    """A broker that accepts connections and never answers: the reader gets no lag after its
    own wait while the measurement is still running, and no second measurement is started."""
    (port,) = free_ports(1)
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", port)
    lag = ConsumerLag(KafkaSettings(kafka_bootstrap=f"127.0.0.1:{port}"))
    try:
        assert await lag.read(wait=0.1) is None
        measuring = lag.measuring
        assert measuring is not None
        assert not measuring.done()
        assert await lag.read(wait=0.1) is None
        assert lag.measuring is measuring
        assert held  # the reader really asked the silent broker
    finally:
        server.close()
        for writer in held:
            writer.close()
        if lag.measuring is not None:
            await lag.measuring


async def sandbox_requests(http: httpx.AsyncClient, url: str) -> int:
    response = await http.get(f"{url}/_sandbox/counters")
    response.raise_for_status()
    return sum(response.json()["requests"].values())


async def test_requests_the_connectors_send_are_counted_per_account(
    api: httpx.AsyncClient, store: Store
):
    """What the sandboxes received, request for request, is what `/metrics` counts for the
    HubSpot account and the connection."""
    previous = await store.get_hubspot()
    cid = f"c-requests-{uuid.uuid4().hex[:8]}"
    async with (
        serve(hubspot_app()) as hubspot_url,
        serve(dynamics_app()) as dynamics_url,
        httpx.AsyncClient() as http,
    ):
        portal = f"portal-{uuid.uuid4().hex[:6]}"
        await store.put_hubspot(
            HubSpotAccount(hubspot_url, "sandbox-hubspot-token", "secret", portal, "app-1")
        )
        await store.create_connection(
            app_connection(
                cid, base_url=f"{dynamics_url}/demo", access_token="sandbox-dynamics-token"
            )
        )
        budgets = ConnectorSettings(
            hubspot_requests_per_window=190, dynamics_requests_per_window=3000
        )
        connectors = Connectors(store, count_every=0, settings=budgets)
        before = await scrape(api)
        try:
            hubspot, dynamics = await connectors.hubspot(), await connectors.app(cid)
            assert hubspot.api.budget.max_requests == 190
            assert isinstance(dynamics, DynamicsConnector)
            assert dynamics.api.budget.max_requests == 3000
            for connector, email_field in ((hubspot, "email"), (dynamics, "emailaddress1")):
                writes = [
                    WriteRequest(f"r{i}", WriteOp.CREATE, None, {email_field: f"n{i}@example.com"})
                    for i in range(3)
                ]
                results = await connector.write_batch("contacts", writes)
                assert all(r.ok for r in results), [r.error for r in results]
                await connector.read_batch("contacts", [r.record_id for r in results], [])
            await hubspot.account_info()
        finally:
            await connectors.aclose()
            if previous is not None:
                await store.put_hubspot(previous)
        sent_to_hubspot = await sandbox_requests(http, hubspot_url)
        sent_to_dynamics = await sandbox_requests(http, dynamics_url)
    after = await scrape(api)

    name = "datasync_api_requests_total"
    hubspot_labels = {"account": portal, "app": "hubspot"}
    dynamics_labels = {"account": cid, "app": "dynamics365"}
    assert sent_to_hubspot >= 3
    assert sent_to_dynamics >= 2
    assert value(after, name, **hubspot_labels) - value(before, name, **hubspot_labels) == (
        sent_to_hubspot
    )
    assert value(after, name, **dynamics_labels) == sent_to_dynamics
