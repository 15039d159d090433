"""`datasync reconciler [--object X ...]`: runs initial syncs as soon as they are started, and
polls every syncing object for changes that webhooks missed."""

import argparse
import asyncio
import contextlib
import logging
import signal
import time
from datetime import timedelta

from schemas.events import Side
from schemas.objects import OBJECT_TYPES
from schemas.settings import SyncState
from services import bus
from services.config import DatabaseSettings, KafkaSettings, ReconcilerSettings
from services.connectors.registry import Connectors
from services.logs import setup_logging
from services.reconciler.first_poll import FirstPolls
from services.reconciler.initial_sync import Publish, run_initial_sync
from services.reconciler.poll import poll_side
from services.reconciler.retries import (
    publish_association_hints,
    publish_association_waits,
    publish_resyncs,
    publish_retries,
)
from services.store.repository import Store

log = logging.getLogger("datasync.reconciler")

CHECK_EVERY = 1.0  # seconds between looks for newly started syncs


async def loop(object_types: list[str], stop: asyncio.Event) -> None:
    kafka, database, settings = KafkaSettings(), DatabaseSettings(), ReconcilerSettings()
    await bus.ensure_topics(kafka, bus.all_topics(object_types))
    store = await Store.connect(database.database_url, database.database_pool_size)
    connectors = Connectors(store)
    producer = bus.producer(kafka)
    await producer.start()
    publish = bus.publisher(producer)
    first_polls = FirstPolls(timedelta(seconds=settings.reconcile_first_poll_max_delay))
    last_poll = 0.0
    try:
        while not stop.is_set():
            for sync in await store.list_syncs(states=[SyncState.INITIAL_SYNC]):
                if sync.object_type not in object_types:
                    continue
                try:
                    await run_initial_sync(
                        store,
                        sync,
                        await connectors.hubspot(),
                        await connectors.app(sync.connection_id),
                        publish,
                    )
                    # The initial sync has just read everything: the next poll can wait.
                    last_poll = time.monotonic()
                    await publish_association_hints(
                        store, publish, sync.connection_id, sync.object_type
                    )
                except Exception as exc:  # retried at the next tick; the others go on
                    log.error(
                        "initial sync of %s/%s failed: %s; retrying",
                        sync.connection_id,
                        sync.object_type,
                        exc,
                    )
            try:
                await publish_resyncs(store, publish)
                await publish_retries(store, publish)
                await publish_association_waits(store, publish)
            except Exception:
                log.exception("republishing retries, resyncs or waits failed; trying again")
            if time.monotonic() - last_poll >= settings.reconcile_interval_seconds:
                last_poll = time.monotonic()
                await poll_all(store, connectors, publish, object_types, first_polls)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CHECK_EVERY)
    finally:
        await connectors.aclose()
        await producer.stop()
        await store.close()


async def poll_all(
    store: Store,
    connectors: Connectors,
    publish: Publish,
    object_types: list[str],
    first_polls: FirstPolls | None = None,
) -> None:
    for sync in await store.list_syncs(states=[SyncState.SYNCING]):
        if sync.object_type not in object_types:
            continue
        try:
            if first_polls is not None and not await first_polls.due(store, sync):
                log.info(
                    "poll of %s/%s waits for its initial sync's writes to land",
                    sync.connection_id,
                    sync.object_type,
                )
                continue
        except Exception as exc:  # the database away: poll as if the sync were not fresh
            log.error("looking at %s/%s failed: %s", sync.connection_id, sync.object_type, exc)
        for side in Side:
            try:
                connector = (
                    await connectors.hubspot()
                    if side is Side.HUBSPOT
                    else await connectors.app(sync.connection_id)
                )
                count = await poll_side(store, sync, side, connector, publish)
            except Exception as exc:  # one sync's failure (a connection just deleted, an app
                # down, the database away) must not stop the others or the reconciler
                log.error(
                    "poll of %s/%s %s failed: %s", sync.connection_id, sync.object_type, side, exc
                )
                continue
            if count:
                log.info(
                    "poll of %s/%s %s: %d changed",
                    sync.connection_id,
                    sync.object_type,
                    side,
                    count,
                )


def run(args: argparse.Namespace) -> None:
    setup_logging()
    object_types = list(args.objects or OBJECT_TYPES)

    async def main() -> None:
        stop = asyncio.Event()
        loop_ = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop_.add_signal_handler(sig, stop.set)
        await loop(object_types, stop)

    asyncio.run(main())
