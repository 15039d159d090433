"""HubSpot webhook deliveries (webhooks v3) normalised into change events. Pure: no I/O.

Legacy subscription types name the object (`contact.propertyChange`); the generic ones
(`object.propertyChange`) carry an `objectTypeId` instead.
"""

from datetime import UTC, datetime
from typing import Any

from schemas.events import ChangeEvent, ChangeKind, Side
from schemas.objects import compound_id
from services.connectors.errors import PayloadError

# HubSpot object type id → (datasync object type, HubSpot object name).
TYPE_IDS: dict[str, tuple[str, str]] = {
    "0-1": ("contacts", "contacts"),
    "0-2": ("companies", "companies"),
    "0-3": ("deals", "deals"),
    "0-7": ("products", "products"),
    "0-53": ("invoices", "invoices"),
    "0-123": ("sales_orders", "orders"),
    "0-27": ("activities", "tasks"),
    "0-48": ("activities", "calls"),
    "0-47": ("activities", "meetings"),
    "0-46": ("activities", "notes"),
}
LEGACY_NAMES = {"contact": "0-1", "company": "0-2", "deal": "0-3", "product": "0-7"}
MULTI_ENTITY = {"activities"}

_KINDS = {
    "creation": ChangeKind.UPSERT,
    "propertyChange": ChangeKind.UPSERT,
    "restore": ChangeKind.UPSERT,
    "deletion": ChangeKind.DELETE,
    "privacyDeletion": ChangeKind.DELETE,
    "merge": ChangeKind.MERGE,
    "associationChange": ChangeKind.ASSOCIATION,
}


def _millis(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def _record_id(object_type: str, hubspot_object: str, object_id: Any) -> str:
    plain = str(object_id)
    return compound_id(hubspot_object, plain) if object_type in MULTI_ENTITY else plain


def parse_hubspot(body: Any, app_id: str | None) -> tuple[list[ChangeEvent], int]:
    """Events of a HubSpot webhook delivery; returns (events, number of events ignored).

    A change HubSpot attributes to this app (`changeSource` INTEGRATION with our app id as
    `sourceId`) is datasync's own write: it is marked so the processor drops the echo.
    """
    if not isinstance(body, list):
        raise PayloadError("a HubSpot webhook body is a JSON array of events")
    events: list[ChangeEvent] = []
    ignored = 0
    for index, item in enumerate(body):
        if not isinstance(item, dict):
            raise PayloadError(f"event {index} is not an object")
        try:
            subscription = str(item["subscriptionType"])
            event_id = str(item["eventId"])
        except KeyError as exc:
            raise PayloadError(f"event {index} lacks {exc.args[0]}") from None
        name, _, action = subscription.partition(".")
        type_id = str(item.get("objectTypeId")) if name == "object" else LEGACY_NAMES.get(name)
        known = TYPE_IDS.get(type_id or "")
        kind = _KINDS.get(action)
        if known is None or kind is None:
            ignored += 1
            continue
        object_type, hubspot_object = known
        object_id = item.get("objectId")
        gone: list[Any] = []
        if kind is ChangeKind.MERGE:
            # The record that results from the merge is `newObjectId`; it is the primary's id
            # unless HubSpot made a new record, and then the primary is gone as well.
            primary = item.get("primaryObjectId")
            object_id = next(
                (i for i in (item.get("newObjectId"), primary, object_id) if i is not None), None
            )
            gone = [primary, *(item.get("mergedObjectIds") or [])]
        elif kind is ChangeKind.ASSOCIATION:
            object_id = item.get("fromObjectId", object_id)
        if object_id is None:
            raise PayloadError(f"event {index} lacks objectId")
        properties = None
        if action == "propertyChange" and item.get("propertyName"):
            properties = {str(item["propertyName"]): item.get("propertyValue")}
        # The primary's pair, if any, comes first: it is the one that follows a new record.
        merged = [
            _record_id(object_type, hubspot_object, m)
            for m in dict.fromkeys(str(g) for g in gone if g is not None)
            if m != str(object_id)
        ]
        events.append(
            ChangeEvent(
                event_id=f"hubspot:{event_id}",
                object_type=object_type,
                side=Side.HUBSPOT,
                record_id=_record_id(object_type, hubspot_object, object_id),
                kind=kind,
                properties=properties,
                merged_ids=merged,
                occurred_at=_millis(item.get("occurredAt")),
                self_originated=(
                    app_id is not None
                    and item.get("changeSource") == "INTEGRATION"
                    and str(item.get("sourceId")) == str(app_id)
                ),
            )
        )
    return events, ignored
