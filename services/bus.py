"""Kafka plumbing shared by the services: producers, consumers, topic creation."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from schemas import topics
from schemas.events import ChangeEvent, Side
from schemas.objects import OBJECT_TYPES
from services.config import KafkaSettings

log = logging.getLogger(__name__)


def all_topics(object_types: Iterable[str] = OBJECT_TYPES) -> list[str]:
    names = [topics.DEAD_LETTER]
    for obj in object_types:
        names += [
            topics.changes(obj),
            topics.writes(obj, Side.HUBSPOT),
            topics.writes(obj, Side.APP),
        ]
    return names


async def ensure_topics(settings: KafkaSettings, names: Iterable[str], attempts: int = 30) -> None:
    """Create the topics that do not exist yet; waits for the broker to come up."""
    wanted = list(names)
    for attempt in range(attempts):
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [n for n in wanted if n not in existing]
            if missing:
                # Another service may have created them first.
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(
                        [
                            NewTopic(n, settings.kafka_partitions, settings.kafka_replication)
                            for n in missing
                        ]
                    )
            return
        except KafkaConnectionError:
            log.warning("broker not reachable yet (attempt %d)", attempt + 1)
            await asyncio.sleep(1.0)
        finally:
            await admin.close()
    raise RuntimeError(f"broker {settings.kafka_bootstrap} not reachable")


def producer(settings: KafkaSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        linger_ms=5,
    )


def publisher(producer: AIOKafkaProducer) -> Callable[[list[ChangeEvent]], Awaitable[None]]:
    """Publish change events to their object's topic, keyed by record, and wait for the
    broker's acknowledgement of all of them."""

    async def publish(events: list[ChangeEvent]) -> None:
        futures = [
            await producer.send(
                topics.changes(e.object_type), e.model_dump_json().encode(), key=e.partition_key()
            )
            for e in events
        ]
        await asyncio.gather(*futures)

    return publish


def consumer(settings: KafkaSettings, group: str, *topic_names: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topic_names,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1000,
    )
