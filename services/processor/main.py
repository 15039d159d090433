"""`datasync processor [--object X ...]`: run the stream processor for some or all objects."""

import argparse
import asyncio

import faust

from schemas.objects import OBJECT_TYPES
from services import bus
from services.config import KafkaSettings
from services.logs import quiet_config, setup_logging
from services.processor.app import create_app


def run(args: argparse.Namespace) -> None:
    setup_logging()
    object_types = list(args.objects or OBJECT_TYPES)
    asyncio.run(bus.ensure_topics(KafkaSettings(), bus.all_topics(object_types)))
    app = create_app(object_types)
    worker = faust.Worker(app, loglevel="INFO", quiet=True, logging_config=quiet_config())
    worker.execute_from_commandline()
