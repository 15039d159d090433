"""`datasync writer [--target hubspot|app] [--object X ...]`: consume write commands, one
consumer group per target and object, and flush each batch before committing its offsets."""

import argparse
import asyncio
import contextlib
import logging
import signal

from aiokafka.errors import KafkaError
from pydantic import ValidationError

from schemas import topics
from schemas.commands import WriteCommand
from schemas.events import Side
from schemas.objects import OBJECT_TYPES
from services import bus
from services.config import DatabaseSettings, KafkaSettings, WriterSettings
from services.connectors.registry import Connectors
from services.logs import setup_logging
from services.store.repository import Store
from services.writer.worker import Writer

log = logging.getLogger("datasync.writer")


async def consume(object_type: str, target: Side, store: Store, stop: asyncio.Event) -> None:
    kafka = KafkaSettings()
    settings = WriterSettings()
    consumer = bus.consumer(
        kafka, f"datasync-writer-{target}-{object_type}", topics.writes(object_type, target)
    )
    producer = bus.producer(kafka)
    writer = Writer(
        store, Connectors(store), target, settings.retry_base_seconds, bus.publisher(producer)
    )
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=int(settings.writer_batch_wait * 1000) or 1)
            messages = [m for batch in batches.values() for m in batch]
            if not messages:
                continue
            commands = []
            for message in messages:
                try:
                    commands.append(WriteCommand.model_validate_json(message.value or b""))
                except ValidationError as exc:
                    log.error("dead-lettering an unparseable write command: %s", exc.errors()[:1])
                    await producer.send_and_wait(topics.DEAD_LETTER, message.value or b"")
                    await store.add_dead_letter("writer", message.value or b"", str(exc)[:2000])
            try:
                outcomes = await writer.write(commands)
            except Exception:
                # Nothing of this batch is committed: go back to its start and try it again.
                log.exception("writing a batch to %s failed; retrying it", target)
                for partition, batch in batches.items():
                    consumer.seek(partition, batch[0].offset)
                await asyncio.sleep(1.0)
                continue
            failed = sum(1 for o in outcomes if o.status != "in_sync")
            log.info("wrote %d commands to %s (%d failing)", len(outcomes), target, failed)
            await consumer.commit()
    finally:
        await writer.connectors.aclose()
        await consumer.stop()
        await producer.stop()


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
