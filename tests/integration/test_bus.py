"""`bus.send_all` against the real broker: every message lands once, on the partition the
producer's own partitioner picks for its key, in the order sent per key."""

import uuid
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner

from services import bus
from services.config import KafkaSettings

pytestmark = pytest.mark.integration


async def test_send_all_keeps_each_keys_order_on_its_partition(
    broker_bootstrap: str, kafka_idempotence: bool
):
    kafka = KafkaSettings(kafka_bootstrap=broker_bootstrap, kafka_idempotence=kafka_idempotence)
    topic = f"bench.send-all.{uuid.uuid4().hex[:8]}"
    await bus.ensure_topics(kafka, [topic])
    keys = [f"record-{k}".encode() for k in range(7)]
    # Small messages fill batches by the hundred; the large ones need a batch each.
    messages = [
        (topic, keys[i % 7], f"{i}:".encode() + b"x" * (i % 3) * 20_000) for i in range(900)
    ]
    producer = bus.producer(kafka)
    await producer.start()
    try:
        await bus.send_all(producer, messages)
        partitions = sorted(await producer.partitions_for(topic))
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=broker_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    received: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
    try:
        while sum(map(len, received.values())) < len(messages):
            batches = await consumer.getmany(timeout_ms=2000)
            assert batches, "the broker holds fewer messages than were sent"
            for records in batches.values():
                for r in records:
                    assert r.key is not None
                    assert r.value is not None
                    received[r.key].append((r.partition, int(r.value.split(b":")[0])))
    finally:
        await consumer.stop()

    assert len(partitions) > 1
    for key in keys:
        sent = [int(v.split(b":")[0]) for _, k, v in messages if k == key]
        assert [i for _, i in received[key]] == sent
        expected = DefaultPartitioner()(key, partitions, partitions)
        assert {p for p, _ in received[key]} == {expected}
