"""`datasync ingest`: the webhook receiver."""

import argparse
import asyncio

import uvicorn

from schemas import topics
from services import bus
from services.config import DatabaseSettings, IngestSettings, KafkaSettings
from services.ingest.app import create_app
from services.logs import setup_logging
from services.store.repository import Store


async def serve() -> None:
    kafka, database, settings = KafkaSettings(), DatabaseSettings(), IngestSettings()
    await bus.ensure_topics(kafka, bus.all_topics())
    store = await Store.connect(database.database_url, database.database_pool_size)
    producer = bus.producer(kafka)
    await producer.start()

    async def dead_letter(payload: bytes, error: str) -> None:
        await producer.send_and_wait(topics.DEAD_LETTER, payload)
        await store.add_dead_letter("ingest", payload, error)

    app = create_app(store, bus.publisher(producer), dead_letter, settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=settings.ingest_host, port=settings.ingest_port, log_level="warning"
        )
    )
    try:
        await server.serve()
    finally:
        await producer.stop()
        await store.close()


def run(args: argparse.Namespace) -> None:
    setup_logging()
    asyncio.run(serve())
