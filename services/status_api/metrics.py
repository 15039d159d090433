"""`GET /metrics`: Prometheus text exposition of what the state store and the broker know.

Each service is its own process, so nothing is counted in this one: counters that ingest and
the writers add to live in the store's `counters` table, gauges are read from the store's
tables, and consumer lag is measured on the broker (cached for `LAG_CACHE_SECONDS`, and left
out while the broker cannot be reached, so a scrape always gets an answer).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from fastapi import APIRouter, Depends, Response
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from services.config import KafkaSettings
from services.store.repository import Store

log = logging.getLogger(__name__)

LAG_CACHE_SECONDS = 5.0
LAG_TIMEOUT_SECONDS = 5.0
HIGHWATER_FETCH_MS = 200

# Counter names in the store → their help text; a counter not listed here is still exposed.
COUNTER_HELP = {
    "datasync_changes_received": "Change events accepted for publishing, by source side, object"
    " and how they arrived",
    "datasync_writes": "Record writes the writers landed or failed, by target side, object and"
    " outcome",
    "datasync_api_requests": "Requests sent to an app's API, by account and app",
}

GroupLag = dict[tuple[str, str], int]  # (group, topic) -> messages not yet committed


def object_of(topic: str) -> str:
    """The datasync object a topic carries (`datasync.contacts.changes` → `contacts`)."""
    parts = topic.split(".")
    return parts[1] if len(parts) >= 3 and parts[0] == "datasync" else ""


def lag_of_object(lags: GroupLag, object_type: str) -> dict[str, int]:
    """Per consumer group: the messages of `object_type`'s topics it has not committed yet."""
    per_group: dict[str, int] = {}
    for (group, topic), n in lags.items():
        if object_of(topic) == object_type:
            per_group[group] = per_group.get(group, 0) + n
    return dict(sorted(per_group.items()))


class ConsumerLag:
    """Per consumer group and topic: the high watermark minus the committed offset, summed
    over the partitions (a partition the group never committed counts from its start).

    The high watermark comes from a fetch response, not from ListOffsets: the embedded broker
    answers ListOffsets(latest) with the last batch's base offset + 1, which is short of the
    end whenever that batch holds more than one message. A fetch from that position returns at
    most the last batch, and its response carries the true high watermark on every broker.
    """

    def __init__(self, settings: KafkaSettings, cache_seconds: float = LAG_CACHE_SECONDS) -> None:
        self.settings = settings
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, GroupLag | None] | None = None
        self._measuring: asyncio.Task[GroupLag | None] | None = None

    @property
    def measuring(self) -> "asyncio.Task[GroupLag | None] | None":
        """The measurement under way, if one is."""
        return self._measuring

    async def read(self, wait: float = LAG_TIMEOUT_SECONDS) -> GroupLag | None:
        """The lag per (group, topic), or None when the broker could not be asked.

        One measurement runs at a time, whoever asks; a caller waits for it at most `wait`
        seconds and then takes the last measurement (a health check must not wait on an
        unreachable broker), while the measurement goes on for the next caller.
        """
        if self._cached and time.monotonic() - self._cached[0] < self.cache_seconds:
            return self._cached[1]
        if self._measuring is None:
            self._measuring = asyncio.create_task(self._remember())
        try:
            return await asyncio.wait_for(asyncio.shield(self._measuring), wait)
        except TimeoutError:
            return self._cached[1] if self._cached else None

    async def _remember(self) -> GroupLag | None:
        lag: GroupLag | None = None
        try:
            async with asyncio.timeout(LAG_TIMEOUT_SECONDS):
                lag = await self._measure()
        except Exception as exc:  # any broker failure: answer without lag
            log.warning("consumer lag not measured: %r", exc)
        finally:
            self._cached = (time.monotonic(), lag)
            self._measuring = None
        return lag

    async def _measure(self) -> GroupLag:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=HIGHWATER_FETCH_MS,
        )
        try:  # stopped even when it could not start, or it warns of an unclosed consumer
            await consumer.start()
            partitions = [
                TopicPartition(topic, p)
                for topic in sorted(await consumer.topics())
                if not topic.startswith("__")
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            committed = await self._committed(partitions)
            topics = {tp.topic for offsets in committed.values() for tp in offsets}
            partitions = [tp for tp in partitions if tp.topic in topics]
            if not partitions:
                return {}
            starts = await consumer.beginning_offsets(partitions)
            ends = await highwaters(consumer, partitions)
        finally:
            await consumer.stop()
        lag: GroupLag = {}
        for group, offsets in committed.items():
            group_topics = {t.topic for t in offsets}
            for tp in partitions:
                if tp.topic not in group_topics or tp not in ends:
                    continue
                behind = max(0, ends[tp] - offsets.get(tp, starts.get(tp, 0)))
                lag[(group, tp.topic)] = lag.get((group, tp.topic), 0) + behind
        return lag

    async def _committed(
        self, partitions: list[TopicPartition]
    ) -> dict[str, dict[TopicPartition, int]]:
        """Each group's committed offsets. The partitions are named, as the embedded broker
        sends an answer aiokafka cannot read when asked for "all of the group's offsets"."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
        try:
            await admin.start()
            committed: dict[str, dict[TopicPartition, int]] = {}
            for group, *_ in await admin.list_consumer_groups():
                offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
                committed[group] = {tp: m.offset for tp, m in offsets.items() if m.offset >= 0}
            return committed
        finally:
            await admin.close()


async def highwaters(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """Each partition's high watermark, as the fetch responses report it."""
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    missing = list(partitions)
    while missing:  # bounded by the caller's timeout
        await consumer.getmany(*missing, timeout_ms=HIGHWATER_FETCH_MS)
        missing = [tp for tp in missing if consumer.highwater(tp) is None]
    return {tp: hw for tp in partitions if (hw := consumer.highwater(tp)) is not None}


class _Families:
    """The collected families, in the shape `generate_latest` reads."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _counters(rows: Iterable[tuple[str, dict[str, Any], int]]) -> list[Metric]:
    by_name: dict[str, list[tuple[dict[str, Any], int]]] = {}
    for name, labels, value in rows:
        by_name.setdefault(name, []).append((labels, value))
    families: list[Metric] = []
    for name, series in by_name.items():
        keys = sorted({k for labels, _ in series for k in labels})
        family = CounterMetricFamily(name, COUNTER_HELP.get(name, name), labels=keys)
        for labels, value in series:
            family.add_metric([str(labels.get(k, "")) for k in keys], value)
        families.append(family)
    return families


def _initial_sync(syncs: Iterable[Any]) -> Metric:
    family = GaugeMetricFamily(
        "datasync_initial_sync_records",
        "The initial sync's progress: records read and held back as duplicates per side,"
        " pairs matched, and events published to be written",
        labels=["connection", "object", "side", "stage"],
    )
    for sync in syncs:
        progress, key = sync.progress or {}, [sync.connection_id, sync.object_type]
        for stage in ("read", "duplicates"):
            for side, n in (progress.get(stage) or {}).items():
                family.add_metric([*key, side, stage], n or 0)
        for stage in ("matched", "published"):
            if stage in progress:
                family.add_metric([*key, "both", stage], progress[stage] or 0)
    return family


async def collect(store: Store, lag: ConsumerLag) -> list[Metric]:
    families = _counters(await store.counter_values())
    dead = CounterMetricFamily(
        "datasync_dead_letters", "Payloads kept on the dead-letter topic and table"
    )
    dead.add_metric([], await store.dead_letter_count())
    links = GaugeMetricFamily(
        "datasync_links",
        "Record pairs by connection, object and status",
        labels=["connection", "object", "status"],
    )
    for cid, obj, status, n in await store.link_counts():
        links.add_metric([cid, obj, status], n)
    families += [dead, links, _initial_sync(await store.list_syncs())]
    lags = await lag.read()
    if lags is not None:
        gauge = GaugeMetricFamily(
            "datasync_consumer_lag",
            "Messages not yet committed, per consumer group and topic",
            labels=["group", "topic", "object"],
        )
        for (group, topic), n in sorted(lags.items()):
            gauge.add_metric([group, topic, object_of(topic)], n)
        families.append(gauge)
    return families


def metrics_router(
    store: Store, *, read: Callable[..., Awaitable[object]], lag: ConsumerLag
) -> APIRouter:
    """`GET /metrics`, for `create_app` to include; `read` checks the bearer token (a viewer's
    is enough), as for every other read."""
    router = APIRouter(dependencies=[Depends(read)])

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body = generate_latest(_Families(await collect(store, lag)))
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
