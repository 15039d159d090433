"""An app's webhook settings and subscriptions (webhooks API v3), and which events they select.

From HubSpot's webhooks API reference and the `SubscriptionCreateRequest` / `SettingsResponse`
models of its clients: settings are `targetUrl` and `throttling.maxConcurrentRequests` (at least
5; the legacy docs add `period: SECONDLY`); a subscription has an `eventType` (legacy
`contact.propertyChange`, ... or generic `object.*` with an `objectTypeId`), an optional
`propertyName` (required for property changes: one subscription per property) and `active`.
Only active subscriptions deliver.

The sandbox's `/_sandbox/webhook` shortcut sets the target and, while the app has no
subscription of its own, delivers every event under stable per-object subscription ids, so
tests and the demo need no subscription setup.
"""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from services.sandbox.hubspot.objects import OBJECTS, resolve_object
from services.sandbox.hubspot.timestamps import iso

if TYPE_CHECKING:
    from services.sandbox.hubspot.webhooks import Change

ChangeKind = Literal[
    "creation", "propertyChange", "deletion", "merge", "restore", "associationChange"
]
KINDS: tuple[ChangeKind, ...] = (
    "creation",
    "propertyChange",
    "deletion",
    "merge",
    "restore",
    "associationChange",
)
# Objects with their own (legacy) event types, as HubSpot's subscription enum lists them.
LEGACY_PREFIXES = {"contact", "company", "deal", "product", "ticket", "line_item"}
_LEGACY_KINDS = {
    "product": {"creation", "propertyChange", "deletion", "merge", "restore"},
}
# Stable ids of the shortcut's implicit subscriptions: one per object and kind.
IMPLICIT_IDS = {
    (name, kind): 3_000_000 + 10 * row + column
    for row, name in enumerate(OBJECTS)
    for column, kind in enumerate(KINDS)
}
MIN_CONCURRENCY = 5


def event_types() -> list[str]:
    """Every eventType a subscription may have (legacy ones and generic `object.*`)."""
    legacy = [
        f"{prefix}.{kind}"
        for prefix in sorted(LEGACY_PREFIXES)
        for kind in KINDS
        if kind in _LEGACY_KINDS.get(prefix, set(KINDS))
    ]
    return [*legacy, *(f"object.{kind}" for kind in KINDS)]


EVENT_TYPES = frozenset(event_types())


@dataclass
class Subscription:
    id: int
    event_type: str
    created_ms: int
    updated_ms: int
    property_name: str | None = None
    object_type_id: str | None = None
    active: bool = True

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(self.id),
            "eventType": self.event_type,
            "active": self.active,
            "createdAt": iso(self.created_ms),
            "updatedAt": iso(self.updated_ms),
        }
        if self.property_name is not None:
            body["propertyName"] = self.property_name
        if self.object_type_id is not None:
            body["objectTypeId"] = self.object_type_id
        return body


def legacy_prefix(object_name: str) -> str | None:
    definition = OBJECTS[object_name]
    return definition.singular if definition.legacy_webhooks else None


class Subscriptions:
    def __init__(self) -> None:
        self._ids = itertools.count(4_000_001)
        self.reset()

    def reset(self) -> None:
        self.target_url: str | None = None
        self.max_concurrent_requests: int | None = None
        self.settings_created_ms: int | None = None
        self.settings_updated_ms: int | None = None
        self.everything = False  # the sandbox shortcut: deliver all while none is defined
        self.by_id: dict[int, Subscription] = {}

    def use_shortcut(self, url: str | None) -> None:
        self.target_url = url
        self.everything = url is not None

    def find(self, event_type: str, object_type_id: str | None, name: str | None) -> int | None:
        for subscription in self.by_id.values():
            same = (
                subscription.event_type,
                subscription.object_type_id,
                subscription.property_name,
            )
            if same == (event_type, object_type_id, name):
                return subscription.id
        return None

    def add(
        self, event_type: str, object_type_id: str | None, name: str | None, active: bool, now: int
    ) -> Subscription:
        subscription = Subscription(next(self._ids), event_type, now, now, name, object_type_id)
        subscription.active = active
        self.by_id[subscription.id] = subscription
        return subscription

    def match(self, change: "Change") -> Iterator[tuple[int, str]]:
        """(subscription id, subscriptionType) of every event the change is delivered as."""
        name = change.definition.name
        prefix = legacy_prefix(name)
        if not self.by_id:
            if self.everything:
                yield IMPLICIT_IDS[(name, change.kind)], f"{prefix or 'object'}.{change.kind}"
            return
        legacy = f"{prefix}.{change.kind}" if prefix else None
        for subscription in self.by_id.values():
            if not subscription.active:
                continue
            event_type = subscription.event_type
            if event_type == f"object.{change.kind}":
                if resolve_object(subscription.object_type_id or "") is not change.definition:
                    continue
            elif event_type != legacy:
                continue
            if change.kind == "propertyChange" and subscription.property_name != (
                change.property_name
            ):
                continue
            yield subscription.id, event_type
