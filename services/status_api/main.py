"""`datasync api`: the status and control API."""

import argparse
import asyncio

import uvicorn

from services.config import ApiSettings, DatabaseSettings
from services.logs import setup_logging
from services.status_api.app import create_app
from services.store.repository import Store


async def serve() -> None:
    settings, database = ApiSettings(), DatabaseSettings()
    store = await Store.connect(database.database_url, database.database_pool_size)
    app = create_app(store, settings.admin_token)
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.api_host, port=settings.api_port, log_level="warning")
    )
    try:
        await server.serve()
    finally:
        await store.close()


def run(args: argparse.Namespace) -> None:
    setup_logging()
    asyncio.run(serve())
