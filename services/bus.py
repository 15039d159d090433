"""Kafka plumbing shared by the services: producers, consumers, topic creation."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

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


Message = tuple[str, bytes, bytes]  # topic, key, value
_PARTITIONER = DefaultPartitioner()


async def send_all(producer: AIOKafkaProducer, messages: Iterable[Message]) -> None:
    """Send keyed messages and wait until the broker acknowledged every one.

    The messages go in batches built here, one per partition (as the producer's own
    partitioner would choose it), instead of one `send` per message: the per-message awaits
    and futures cost more than the encoding at thousands of messages a second. A partition's
    messages keep their order.
    """
    partitions: dict[str, list[int]] = {}
    batches: dict[tuple[str, int], BatchBuilder] = {}
    futures: list[asyncio.Future[object]] = []
    for topic, key, value in messages:
        if topic not in partitions:
            partitions[topic] = sorted(await producer.partitions_for(topic))
        partition = _PARTITIONER(key, partitions[topic], partitions[topic])
        batch = batches.get((topic, partition))
        if batch is None:
            batch = batches[(topic, partition)] = producer.create_batch()
        if batch.append(timestamp=None, key=key, value=value) is None:  # full: send it
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = batches[(topic, partition)] = producer.create_batch()
            if batch.append(timestamp=None, key=key, value=value) is None:
                raise ValueError(f"a message for {topic} is larger than a whole batch")
    for (topic, partition), batch in batches.items():
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*futures)


def publisher(producer: AIOKafkaProducer) -> Callable[[list[ChangeEvent]], Awaitable[None]]:
    """Publish change events to their object's topic, keyed by record, and wait for the
    broker's acknowledgement of all of them."""

    async def publish(events: list[ChangeEvent]) -> None:
        await send_all(
            producer,
            (
                (topics.changes(e.object_type), e.partition_key(), e.model_dump_json().encode())
                for e in events
            ),
        )

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
