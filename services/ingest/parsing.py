"""Webhook payloads of each app, normalised into change events. Pure: no I/O."""

from datetime import UTC, datetime
from typing import Any

from schemas.events import ChangeEvent, ChangeKind, Side


class PayloadError(ValueError):
    """The webhook body is not what the app sends."""


# HubSpot webhook subscription object names → datasync object types.
HUBSPOT_SUBSCRIPTION_OBJECTS = {
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "product": "products",
    "invoice": "invoices",
    "order": "sales_orders",
    "task": "activities",
    "call": "activities",
    "meeting": "activities",
    "note": "activities",
}

# Dataverse entity logical names → datasync object types.
DYNAMICS_ENTITIES = {
    "contact": "contacts",
    "account": "companies",
    "opportunity": "deals",
    "product": "products",
    "invoice": "invoices",
    "salesorder": "sales_orders",
    "task": "activities",
    "phonecall": "activities",
    "appointment": "activities",
    "annotation": "activities",
}


def _millis(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


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
            object_id = str(item["objectId"])
            event_id = str(item["eventId"])
        except KeyError as exc:
            raise PayloadError(f"event {index} lacks {exc.args[0]}") from None
        name, _, action = subscription.partition(".")
        object_type = HUBSPOT_SUBSCRIPTION_OBJECTS.get(name)
        if object_type is None or action not in (
            "creation",
            "propertyChange",
            "deletion",
            "restore",
        ):
            ignored += 1
            continue
        properties = None
        if action == "propertyChange" and item.get("propertyName"):
            properties = {str(item["propertyName"]): item.get("propertyValue")}
        events.append(
            ChangeEvent(
                event_id=f"hubspot:{event_id}",
                object_type=object_type,
                side=Side.HUBSPOT,
                record_id=object_id,
                kind=ChangeKind.DELETE if action == "deletion" else ChangeKind.UPSERT,
                properties=properties,
                occurred_at=_millis(item.get("occurredAt")),
                self_originated=(
                    app_id is not None
                    and item.get("changeSource") == "INTEGRATION"
                    and str(item.get("sourceId")) == str(app_id)
                ),
            )
        )
    return events, ignored


def _attributes(target: Any) -> dict[str, Any]:
    if not isinstance(target, dict):
        return {}
    attributes = target.get("Attributes") or []
    return {a["key"]: a.get("value") for a in attributes if isinstance(a, dict) and "key" in a}


def parse_dynamics(
    body: Any, connection_id: str, app_user_id: str | None
) -> tuple[list[ChangeEvent], int]:
    """The change event of a Dataverse `RemoteExecutionContext` post."""
    if not isinstance(body, dict):
        raise PayloadError("a Dataverse webhook body is a RemoteExecutionContext JSON object")
    try:
        message = str(body["MessageName"])
        entity = str(body["PrimaryEntityName"])
        record_id = str(body["PrimaryEntityId"])
    except KeyError as exc:
        raise PayloadError(f"RemoteExecutionContext lacks {exc.args[0]}") from None
    object_type = DYNAMICS_ENTITIES.get(entity)
    if object_type is None or message not in ("Create", "Update", "Delete"):
        return [], 1
    params = {
        p.get("key"): p.get("value")
        for p in body.get("InputParameters") or []
        if isinstance(p, dict)
    }
    initiator = str(body.get("InitiatingUserId") or body.get("UserId") or "")
    return [
        ChangeEvent(
            event_id=f"dynamics:{connection_id}:{body.get('CorrelationId') or ''}:"
            f"{record_id}:{message}:{body.get('OperationCreatedOn') or ''}",
            object_type=object_type,
            side=Side.APP,
            connection_id=connection_id,
            record_id=record_id,
            kind=ChangeKind.DELETE if message == "Delete" else ChangeKind.UPSERT,
            properties=_attributes(params.get("Target")) if message != "Delete" else None,
            self_originated=app_user_id is not None and initiator.lower() == app_user_id.lower(),
        )
    ], 0
