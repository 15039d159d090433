"""`datasync writer [--target hubspot|app] [--object X ...]`: consume write commands, one
consumer group per target and object, gather them into batches that fill the target's batch
APIs (`batching`), and flush each batch before committing its offsets."""

import argparse
import asyncio
import contextlib
import logging
import signal
from collections import Counter

from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from schemas import topics
from schemas.commands import WriteCommand
from schemas.events import Side
from schemas.objects import OBJECT_TYPES
from services import bus
from services.config import DatabaseSettings, KafkaSettings, WriterSettings
from services.connectors.dynamics_batch import MAX_OPERATIONS as DATAVERSE_BATCH_LIMIT
from services.connectors.http import RequestBudget
from services.connectors.hubspot import BATCH_LIMIT as HUBSPOT_BATCH_LIMIT
from services.connectors.registry import Connectors
from services.logs import setup_logging
from services.store.metrics import labels_of
from services.store.repository import Store
from services.writer.batching import Batch, BatchPolicy, Saturated, write_batches
from services.writer.worker import Writer

log = logging.getLogger("datasync.writer")


async def consume(object_type: str, target: Side, store: Store, stop: asyncio.Event) -> None:
    kafka = KafkaSettings()
    settings = WriterSettings()
    consumer = bus.consumer(
        kafka, f"datasync-writer-{target}-{object_type}", topics.writes(object_type, target)
    )
    producer = bus.producer(kafka)
    connectors = Connectors(store)
    writer = Writer(store, connectors, target, settings.retry_base_seconds, bus.publisher(producer))
    hubspot = target is Side.HUBSPOT
    policy = BatchPolicy(
        settings.writer_hubspot_batch if hubspot else settings.writer_app_batch,
        settings.writer_batch_wait,
        settings.writer_batch_max_wait,
        bulk_linger=settings.writer_batch_bulk_wait,
        # HubSpot takes each operation in its own batch calls; Dataverse mixes them in a $batch.
        per_request=HUBSPOT_BATCH_LIMIT if hubspot else DATAVERSE_BATCH_LIMIT,
        by_operation=hubspot,
    )

    async def write(commands: list[WriteCommand]) -> None:
        outcomes = await writer.write(commands)
        failed = sum(1 for o in outcomes if o.status != "in_sync")
        log.info("wrote %d commands to %s (%d failing)", len(outcomes), target, failed)
        counts = Counter(
            labels_of(target=target, object=o.object_type, outcome=o.status) for o in outcomes
        )
        try:
            await store.add_counts("datasync_writes", counts)
        except Exception:
            # The outcomes are stored: a lost count must not make the batch be written again.
            log.exception("could not count %d writes", len(outcomes))

    async def dead_letter(message: ConsumerRecord, error: ValidationError) -> None:
        log.error("dead-lettering an unparseable write command: %s", error.errors()[:1])
        await producer.send_and_wait(topics.DEAD_LETTER, message.value or b"")
        await store.add_dead_letter("writer", message.value or b"", str(error)[:2000])

    await consumer.start()
    await producer.start()
    try:
        await write_batches(
            consumer, write, dead_letter, policy, stop, budget_probe(connectors, target)
        )
    finally:
        await connectors.aclose()
        await consumer.stop()
        await producer.stop()


def budget_probe(connectors: Connectors, target: Side) -> Saturated:
    """Whether no account a batch writes to has a request slot free right now."""

    async def saturated(batch: Batch) -> bool:
        try:
            accounts: list[object]
            if target is Side.HUBSPOT:
                accounts = [await connectors.hubspot()]
            else:
                ids = {c.connection_id for c in batch.commands}
                accounts = [await connectors.app(cid) for cid in ids]
        except LookupError:
            return False  # the write will say what is missing
        budgets = [b for b in map(_budget, accounts) if b is not None]
        return bool(budgets) and all(b.used() >= b.max_requests for b in budgets)

    return saturated


def _budget(connector: object) -> RequestBudget | None:
    """The request budget of a connector that sends through an `ApiClient` (as `api`)."""
    api = getattr(connector, "api", None)
    budget = getattr(api, "budget", None)
    return budget if isinstance(budget, RequestBudget) else None


async def main(object_types: list[str], targets: list[Side]) -> None:
    await bus.ensure_topics(KafkaSettings(), bus.all_topics(object_types))
    database = DatabaseSettings()
    store = await Store.connect(database.database_url, database.database_pool_size)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        tasks = [
            asyncio.create_task(consume(obj, target, store, stop))
            for obj in object_types
            for target in targets
        ]
        await asyncio.gather(*tasks)
    except KafkaError:
        log.exception("broker failure")
        raise
    finally:
        with contextlib.suppress(Exception):
            await store.close()


def run(args: argparse.Namespace) -> None:
    setup_logging()
    object_types = list(args.objects or OBJECT_TYPES)
    targets = [Side(t) for t in (args.targets or ["hubspot", "app"])]
    asyncio.run(main(object_types, targets))
