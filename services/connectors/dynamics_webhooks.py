"""Dataverse webhook posts (the `RemoteExecutionContext` JSON) normalised into change events.
Pure: no I/O."""

from typing import Any

from schemas.events import ChangeEvent, ChangeKind, Side
from schemas.objects import compound_id
from services.connectors.errors import PayloadError

# Dataverse entity logical name → (datasync object type, entity set).
ENTITIES: dict[str, tuple[str, str]] = {
    "contact": ("contacts", "contacts"),
    "account": ("companies", "accounts"),
    "opportunity": ("deals", "opportunities"),
    "product": ("products", "products"),
    "invoice": ("invoices", "invoices"),
    "salesorder": ("sales_orders", "salesorders"),
    "task": ("activities", "tasks"),
    "phonecall": ("activities", "phonecalls"),
    "appointment": ("activities", "appointments"),
    "annotation": ("activities", "annotations"),
}
_KINDS = {
    "Create": ChangeKind.UPSERT,
    "Update": ChangeKind.UPSERT,
    "Delete": ChangeKind.DELETE,
    "Associate": ChangeKind.ASSOCIATION,
    "Disassociate": ChangeKind.ASSOCIATION,
}


def _attributes(target: Any) -> dict[str, Any]:
    if not isinstance(target, dict):
        return {}
    attributes = target.get("Attributes") or []
    return {a["key"]: a.get("value") for a in attributes if isinstance(a, dict) and "key" in a}


def parse_dynamics(
    body: Any, connection_id: str, app_user_id: str | None
) -> tuple[list[ChangeEvent], int]:
    """The change event of a Dataverse `RemoteExecutionContext` post; returns (events, ignored).

    A change made by the connection's own application user is datasync's own write and is
    marked so the processor drops the echo.
    """
    if not isinstance(body, dict):
        raise PayloadError("a Dataverse webhook body is a RemoteExecutionContext JSON object")
    try:
        message = str(body["MessageName"])
        entity = str(body["PrimaryEntityName"])
        record_id = str(body["PrimaryEntityId"])
    except KeyError as exc:
        raise PayloadError(f"RemoteExecutionContext lacks {exc.args[0]}") from None
    known = ENTITIES.get(entity)
    kind = _KINDS.get(message)
    if known is None or kind is None:
        return [], 1
    object_type, entity_set = known
    if object_type == "activities":
        record_id = compound_id(entity_set, record_id)
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
            kind=kind,
            properties=_attributes(params.get("Target")) if kind is ChangeKind.UPSERT else None,
            self_originated=app_user_id is not None and initiator.lower() == app_user_id.lower(),
        )
    ], 0
