"""Webhook delivery in HubSpot's webhooks-v3 shape: batched, signed, retried, in the background.

From HubSpot's webhooks documentation: a delivery is a POST of a JSON array of up to 100
events; each event carries eventId, subscriptionId, portalId, appId, occurredAt (ms),
subscriptionType, attemptNumber (0 on the first try), objectId, changeSource and sourceId, plus
propertyName/propertyValue for property changes and changeFlag (CREATED, DELETED) for creations
and deletions. Changes made through an app's token carry changeSource INTEGRATION and the app
id as sourceId; changes made by a person in HubSpot carry CRM_UI and `userId:<id>`. Failed
deliveries (connection errors, timeouts, any non-2xx) are retried with exponential backoff,
honouring Retry-After on a 429; HubSpot spreads ten retries over a day, the sandbox compresses
a handful into seconds. Requests are signed with signature v3.

Merge, restore and associationChange events carry the fields HubSpot's changelog ("New
subscription types for Webhooks") lists: primaryObjectId, mergedObjectIds, newObjectId,
numberOfPropertiesMoved; associationType, fromObjectId, toObjectId, associationRemoved,
isPrimaryAssociation. Which events go out, and with which subscription id, is decided by the
app's subscriptions (`subscriptions.Subscriptions`); at most `maxConcurrentRequests` deliveries
are in flight at once, as the app's throttling setting says.
"""

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from services.connectors.hubspot_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    VERSION_HEADER,
    sign_v3,
)
from services.sandbox.hubspot.objects import ObjectDefinition
from services.sandbox.hubspot.subscriptions import ChangeKind, Subscriptions

_CHANGE_FLAGS = {"creation": "CREATED", "deletion": "DELETED"}
# Fields only the generic `object.associationChange` events carry.
_GENERIC_ONLY = frozenset(
    {"fromObjectTypeId", "toObjectTypeId", "associationTypeId", "associationCategory"}
)
USER_AGENT = "HubSpot Connect 2.0 (http://dev.hubspot.com/) (datasync sandbox webhooks)"


@dataclass(frozen=True)
class Actor:
    change_source: str
    source_id: str


@dataclass(frozen=True)
class Change:
    definition: ObjectDefinition
    object_id: int
    kind: ChangeKind
    occurred_ms: int
    actor: Actor
    property_name: str | None = None
    property_value: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()  # merge / association fields, in payload order


@dataclass(frozen=True)
class WebhookPolicy:
    batch_window_seconds: float = 0.05
    max_events_per_request: int = 100
    max_attempts: int = 6
    first_retry_seconds: float = 0.5
    max_retry_seconds: float = 4.0
    timeout_seconds: float = 5.0
    max_concurrent_requests: int = 10

    def retry_delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds before the attempt after `attempt` (0-based)."""
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after), self.max_retry_seconds)
        return min(self.first_retry_seconds * 2**attempt, self.max_retry_seconds)


class WebhookDispatcher:
    """Collects changes for a short window and posts them to the target URL.

    `delivered` and `abandoned` count events; `failed_attempts` counts POSTs that failed.
    """

    def __init__(
        self, app_secret: str, portal_id: int, app_id: int, policy: WebhookPolicy | None = None
    ) -> None:
        self.app_secret = app_secret
        self.portal_id = portal_id
        self.app_id = app_id
        self.policy = policy or WebhookPolicy()
        self.subscriptions = Subscriptions()
        self.delivered = 0
        self.failed_attempts = 0
        self.abandoned = 0
        self._event_ids = itertools.count(1)
        self._buffer: list[dict[str, Any]] = []
        self._flush: asyncio.Task[None] | None = None
        self._in_flight: dict[asyncio.Task[None], int] = {}
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        self._slots_size = 0
        self.most_in_flight = 0  # the most POSTs that were ever under way at once
        self._posting = 0

    @property
    def target_url(self) -> str | None:
        return self.subscriptions.target_url

    @property
    def pending(self) -> int:
        return len(self._buffer) + sum(self._in_flight.values())

    def publish(self, changes: Iterable[Change]) -> None:
        """Queue events; never blocks the request that made the changes."""
        if self.target_url is None:
            return  # no subscription target: HubSpot would notify no one
        match = self.subscriptions.match
        self._buffer.extend(
            self._event(change, subscription_id, subscription_type)
            for change in changes
            for subscription_id, subscription_type in match(change)
        )
        if self._buffer and self._flush is None:
            self._flush = asyncio.get_running_loop().create_task(self._flush_after_window())

    def reset(self) -> None:
        self._cancel_all()
        self.subscriptions.reset()
        self._slots = None
        self.reset_counters()

    def reset_counters(self) -> None:
        self.most_in_flight = 0
        self.delivered = 0
        self.failed_attempts = 0
        self.abandoned = 0

    async def aclose(self) -> None:
        tasks = self._cancel_all()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _cancel_all(self) -> list[asyncio.Task[None]]:
        tasks = [*self._in_flight, *([self._flush] if self._flush else [])]
        for task in tasks:
            task.cancel()
        self._buffer.clear()
        self._in_flight.clear()
        self._flush = None
        return tasks

    def _event(
        self, change: Change, subscription_id: int, subscription_type: str
    ) -> dict[str, Any]:
        definition = change.definition
        event: dict[str, Any] = {
            "eventId": next(self._event_ids),
            "subscriptionId": subscription_id,
            "portalId": self.portal_id,
            "appId": self.app_id,
            "occurredAt": change.occurred_ms,
            "subscriptionType": subscription_type,
            "attemptNumber": 0,
        }
        if change.kind != "associationChange":
            event["objectId"] = change.object_id
        if subscription_type.startswith("object."):
            event["objectTypeId"] = definition.type_id
        if change.kind == "propertyChange":
            event["propertyName"] = change.property_name
            event["propertyValue"] = change.property_value
        elif change.kind in _CHANGE_FLAGS:
            event["changeFlag"] = _CHANGE_FLAGS[change.kind]
        generic = subscription_type.startswith("object.")
        event.update((k, v) for k, v in change.extra if generic or k not in _GENERIC_ONLY)
        event["changeSource"] = change.actor.change_source
        event["sourceId"] = change.actor.source_id
        return event

    async def _flush_after_window(self) -> None:
        await asyncio.sleep(self.policy.batch_window_seconds)
        events, self._buffer = self._buffer, []
        self._flush = None
        url = self.target_url
        if url is None:
            return
        size = self.policy.max_events_per_request
        loop = asyncio.get_running_loop()
        for start in range(0, len(events), size):
            chunk = events[start : start + size]
            task = loop.create_task(self._deliver(chunk, url))
            self._in_flight[task] = len(chunk)

    async def _deliver(self, events: list[dict[str, Any]], url: str) -> None:
        policy = self.policy
        try:
            for attempt in range(policy.max_attempts):
                payload = [{**event, "attemptNumber": attempt} for event in events]
                ok, retry_after = await self._post(url, payload)
                if ok:
                    self.delivered += len(events)
                    return
                self.failed_attempts += 1
                if attempt + 1 < policy.max_attempts:
                    await asyncio.sleep(policy.retry_delay(attempt, retry_after))
            self.abandoned += len(events)
        finally:
            current = asyncio.current_task()
            if current is not None:
                self._in_flight.pop(current, None)

    async def _post(self, url: str, payload: list[dict[str, Any]]) -> tuple[bool, str | None]:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.policy.timeout_seconds)
        concurrency = self.subscriptions.max_concurrent_requests or (
            self.policy.max_concurrent_requests
        )
        if self._slots is None or self._slots_size != concurrency:
            self._slots = asyncio.Semaphore(concurrency)
            self._slots_size = concurrency
        body = json.dumps(payload, separators=(",", ":")).encode()
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign_v3(self.app_secret, "POST", url, body, timestamp),
            TIMESTAMP_HEADER: timestamp,
            VERSION_HEADER: "v3",
            "X-HubSpot-Timeout-Millis": str(int(self.policy.timeout_seconds * 1000)),
        }
        async with self._slots:
            self._posting += 1
            self.most_in_flight = max(self.most_in_flight, self._posting)
            try:
                with contextlib.suppress(httpx.HTTPError):
                    response = await self._client.post(url, content=body, headers=headers)
                    retry_after = response.headers.get("Retry-After")
                    return response.is_success, retry_after
            finally:
                self._posting -= 1
        return False, None
