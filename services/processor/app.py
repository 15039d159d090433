"""The processor as a Faust app: one agent per object's changes topic, taking events in
batches, handing each batch to the engine, sending the resulting write commands and only
then letting Faust commit the offsets behind them (at-least-once; the engine is idempotent)."""

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from schemas import topics
from schemas.events import ChangeEvent
from services import bus
from services.config import DatabaseSettings, KafkaSettings, ProcessorSettings
from services.connectors.registry import Connectors
from services.processor.engine import Engine
from services.processor.transport import App
from services.store.repository import Store

log = logging.getLogger(__name__)


class Resources:
    """What the agents share in one worker process, opened on first use."""

    def __init__(self, kafka: KafkaSettings, database: DatabaseSettings) -> None:
        self.kafka = kafka
        self.database = database
        self._ready: asyncio.Lock = asyncio.Lock()
        self.engine: Engine | None = None
        self.producer: AIOKafkaProducer | None = None
        self.store: Store | None = None

    async def open(self) -> tuple[Engine, AIOKafkaProducer, Store]:
        async with self._ready:
            if self.engine is None:
                self.store = await Store.connect(
                    self.database.database_url, self.database.database_pool_size
                )
                self.producer = bus.producer(self.kafka)
                await self.producer.start()
                self.engine = Engine(self.store, Connectors(self.store))
        assert self.producer is not None
        assert self.store is not None
        return self.engine, self.producer, self.store


def parse(raw: bytes) -> ChangeEvent:
    return ChangeEvent.model_validate_json(raw)


async def process_batch(
    engine: Engine, producer: AIOKafkaProducer, store: Store, values: list[Any]
) -> int:
    """Parse, dead-letter what does not parse, process, publish; returns commands sent."""
    events = []
    for value in values:
        raw = value if isinstance(value, bytes) else str(value).encode()
        try:
            events.append(parse(raw))
        except ValidationError as exc:
            log.error("dead-lettering an unparseable change event: %s", exc.errors()[:1])
            await producer.send_and_wait(topics.DEAD_LETTER, raw)
            await store.add_dead_letter("processor", raw, str(exc)[:2000])
    result = await engine.handle(events)
    await bus.send_all(
        producer,
        (
            (
                topics.writes(c.object_type, c.target),
                c.partition_key(),
                c.model_dump_json().encode(),
            )
            for c in result.commands
        ),
    )
    if result.stats:
        log.info("batch of %d events: %s", len(values), dict(result.stats))
    return len(result.commands)


async def process_with_retries(
    engine: Engine, producer: AIOKafkaProducer, store: Store, values: list[Any], attempts: int = 5
) -> None:
    """A batch that fails (an app or the database unavailable) is tried again with backoff,
    holding its partitions meanwhile. If it still fails, the changes are not lost: the
    reconciler's next poll finds every record whose content differs from its snapshot."""
    for attempt in range(attempts):
        try:
            await process_batch(engine, producer, store, values)
            return
        except Exception:
            log.exception(
                "processing a batch of %d events failed (try %d)", len(values), attempt + 1
            )
            await asyncio.sleep(min(2**attempt, 30))
    log.error(
        "gave up on a batch of %d events; the reconciler will pick the changes up", len(values)
    )


def create_app(object_types: list[str]) -> faust.App:
    kafka = KafkaSettings()
    settings = ProcessorSettings()
    app = App(
        "datasync-processor",
        broker=f"kafka://{kafka.kafka_bootstrap.split(',')[0]}",
        value_serializer="raw",
        key_serializer="raw",
        processing_guarantee="at_least_once",
        web_enabled=False,
        store="memory://",
        # Faust wants a data directory even with memory tables; keep it out of the work tree.
        datadir=str(Path(tempfile.gettempdir()) / "datasync-processor"),
        topic_partitions=kafka.kafka_partitions,
        topic_replication_factor=kafka.kafka_replication,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        # Group joins wait on the session timeout; Faust's 60 s default makes a start slow.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
    )
    resources = Resources(kafka, DatabaseSettings())

    def make_agent(object_type: str) -> None:
        topic = app.topic(topics.changes(object_type), value_type=bytes, value_serializer="raw")

        async def agent(stream: Any) -> None:
            engine, producer, store = await resources.open()
            async for values in stream.take(
                settings.processor_batch_size, settings.processor_batch_wait
            ):
                await process_with_retries(engine, producer, store, values)

        agent.__name__ = f"process_{object_type}"
        app.agent(topic, name=f"datasync.processor.{object_type}")(agent)

    for object_type in object_types:
        make_agent(object_type)
    return app
