"""Posting changes to registered webhooks, in the background, with retries.

A change made through the API is turned into one delivery per matching step while the request
is handled (a snapshot), and posted later by worker tasks: never inside the API request. A
record's deliveries go through the same worker, so they arrive in the order the changes
happened. Authentication as Dataverse does it (Register a WebHook): WebhookKey adds
`?code=<key>` to the URL, HttpQueryString adds its key/value pairs to the query string and
HttpHeader sends them as headers. Headers as documented: `x-request-id`,
`x-ms-dynamics-organization`, `x-ms-dynamics-entity-name`, `x-ms-dynamics-request-name`,
`x-ms-correlation-request-id`, and `x-ms-dynamics-msg-size-exceeded` over 256 KB.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from services.sandbox.dynamics.context import execution_context
from services.sandbox.dynamics.registration import (
    HTTP_HEADER,
    HTTP_QUERY_STRING,
    WEBHOOK_KEY,
    Subscription,
    parse_settings,
    subscriptions,
)
from services.sandbox.dynamics.schema import now
from services.sandbox.dynamics.store import Change, Org

log = logging.getLogger(__name__)
MAX_PAYLOAD = 256 * 1024
_DROPPED_WHEN_TOO_LARGE = (
    "ParentContext",
    "InputParameters",
    "PreEntityImages",
    "PostEntityImages",
)


@dataclass
class Delivery:
    org: str
    url: str
    headers: dict[str, str]
    body: bytes
    generation: int


@dataclass
class WebhookStats:
    delivered: int = 0
    failed_attempts: int = 0
    pending: int = 0
    abandoned: int = 0  # deliveries given up after the last retry

    def view(self) -> dict[str, int]:
        return {
            "delivered": self.delivered,
            "failed_attempts": self.failed_attempts,
            "pending": self.pending,
            "abandoned": self.abandoned,
        }


def authenticated(endpoint: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The URL and extra headers a webhook is called with."""
    url, key, headers = endpoint["url"], endpoint.get("authvalue") or "", {}
    pairs: list[tuple[str, str]] = []
    if endpoint.get("authtype") == WEBHOOK_KEY:
        pairs = [("code", key)]
    elif endpoint.get("authtype") == HTTP_QUERY_STRING:
        pairs = parse_settings(key)
    elif endpoint.get("authtype") == HTTP_HEADER:
        headers = dict(parse_settings(key))
    if pairs:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(pairs)}"
    return url, headers


def encode(context: dict[str, Any]) -> tuple[bytes, bool]:
    """The body as Dataverse serialises it (DataContractJsonSerializer escapes '/')."""
    text = json.dumps(context, separators=(",", ":")).replace("/", "\\/")
    if len(text.encode()) <= MAX_PAYLOAD:
        return text.encode(), False
    trimmed = {k: v for k, v in context.items() if k not in _DROPPED_WHEN_TOO_LARGE}
    return json.dumps(trimmed, separators=(",", ":")).replace("/", "\\/").encode(), True


@dataclass
class WebhookDispatcher:
    retry_delays: tuple[float, ...] = (0.02, 0.1, 0.5, 2.0)
    workers: int = 4
    timeout: float = 5.0
    stats: dict[str, WebhookStats] = field(default_factory=dict)
    _queues: list[asyncio.Queue[Delivery]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _client: httpx.AsyncClient | None = None
    _generation: int = 0

    def stats_of(self, org: str) -> WebhookStats:
        return self.stats.setdefault(org, WebhookStats())

    def notify(self, org: Org, change: Change) -> int:
        """Queues a delivery for every step registered for this change; returns how many."""
        entity = change.entity
        changed = {a.logical_name for k in change.target if (a := entity.attr(k)) is not None}
        found = subscriptions(org, change.message, entity.logical_name, changed)
        correlation_id, created_on = str(uuid.uuid4()), now()
        for subscription in found:
            try:
                self.submit(org, change, subscription, correlation_id, created_on)
            except Exception:  # a broken registration must never fail the write itself
                log.exception("could not build the webhook for step %s", subscription.step)
                self.stats_of(org.name).abandoned += 1
        return len(found)

    def submit(
        self,
        org: Org,
        change: Change,
        subscription: Subscription,
        correlation_id: str,
        created_on: Any,
    ) -> None:
        operation_id = str(uuid.uuid4())
        context = execution_context(
            org.identity, change, subscription, correlation_id, operation_id, created_on
        )
        body, too_large = encode(context)
        url, extra = authenticated(subscription.endpoint)
        headers = {
            "Content-Type": "application/json",
            "x-request-id": operation_id,
            "x-ms-dynamics-organization": org.name,
            "x-ms-dynamics-entity-name": change.entity.logical_name,
            "x-ms-dynamics-request-name": change.message,
            "x-ms-correlation-request-id": correlation_id,
            **extra,
        }
        if too_large:
            headers["x-ms-dynamics-msg-size-exceeded"] = "true"
        self._start()
        self.stats_of(org.name).pending += 1
        worker = hash(change.record_id) % self.workers
        self._queues[worker].put_nowait(Delivery(org.name, url, headers, body, self._generation))

    def _start(self) -> None:
        if self._tasks:
            return
        self._queues = [asyncio.Queue() for _ in range(self.workers)]
        self._client = httpx.AsyncClient(timeout=self.timeout, trust_env=False)
        self._tasks = [asyncio.create_task(self._work(q)) for q in self._queues]

    async def _work(self, queue: asyncio.Queue[Delivery]) -> None:
        while True:
            delivery = await queue.get()
            try:
                await self._deliver(delivery)
            except Exception:  # a worker must survive anything one delivery does
                log.exception("webhook delivery to %s crashed", delivery.url)
            finally:
                queue.task_done()

    async def _deliver(self, delivery: Delivery) -> None:
        assert self._client is not None
        stats = self.stats_of(delivery.org)
        for delay in (*self.retry_delays, None):
            try:
                response = await self._client.post(
                    delivery.url, content=delivery.body, headers=delivery.headers
                )
                ok = response.is_success
            except httpx.HTTPError:
                ok = False
            if delivery.generation != self._generation:
                return  # the sandbox was reset meanwhile; this delivery no longer counts
            if ok:
                stats.delivered += 1
                stats.pending -= 1
                return
            stats.failed_attempts += 1
            if delay is None:
                stats.pending -= 1
                stats.abandoned += 1
                log.warning("webhook delivery to %s abandoned", delivery.url)
                return
            await asyncio.sleep(delay)

    def clear(self) -> None:
        """Forgets queued deliveries and counts; deliveries in flight stop counting."""
        self._generation += 1
        for queue in self._queues:
            while not queue.empty():
                queue.get_nowait()
                queue.task_done()
        self.stats = {}

    def reset_counts(self) -> None:
        for stats in self.stats.values():
            stats.delivered = stats.failed_attempts = stats.abandoned = 0

    async def wait_idle(self) -> None:
        """Returns once every queued delivery is done (delivered or abandoned)."""
        for queue in self._queues:
            await queue.join()

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks, self._queues = [], []
        if self._client is not None:
            await self._client.aclose()
            self._client = None
