"""The `RemoteExecutionContext` JSON Dataverse posts to a webhook (Use webhooks: Request body).

Shape as in Microsoft's example for an asynchronous post-operation Update step: InputParameters
`[{"key": "Target", "value": Entity}]` where an Entity is `{"__type": "Entity:...",
"Attributes": [{"key", "value"}], "Id", "LogicalName", ...}`; for Delete the Target is an
`EntityReference`. Values are typed the WCF way: date-times `/Date(ms)/`, choices
`OptionSetValue`, money `Money`, lookups `EntityReference`. Asynchronous steps carry the
`AsynchronousStepPrimaryName` post-image; registered step images add Pre/PostEntityImages.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from services.sandbox.dynamics.query import LOOKUP_LOGICAL_NAME
from services.sandbox.dynamics.registration import (
    ASYNCHRONOUS,
    BOTH_IMAGES,
    POST_IMAGE,
    PRE_IMAGE,
    Subscription,
)
from services.sandbox.dynamics.schema import AttrType, EntityDef, Row
from services.sandbox.dynamics.store import Change, Identity

_CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
ENTITY_TYPE = f"Entity:{_CONTRACTS}"
REFERENCE_TYPE = f"EntityReference:{_CONTRACTS}"
OPTION_SET_TYPE = f"OptionSetValue:{_CONTRACTS}"
MONEY_TYPE = f"Money:{_CONTRACTS}"


def wcf_date(value: datetime, offset: bool = False) -> str:
    millis = int(value.timestamp() * 1000)
    return f"/Date({millis}+0000)/" if offset else f"/Date({millis})/"


def reference(logical_name: str, record_id: str, typed: bool = True) -> dict[str, Any]:
    ref: dict[str, Any] = {"__type": REFERENCE_TYPE} if typed else {}
    ref.update(
        {
            "Id": record_id,
            "KeyAttributes": [],
            "LogicalName": logical_name,
            "Name": None,
            "RowVersion": None,
        }
    )
    return ref


def _value(entity: EntityDef, name: str, row: Row) -> Any:
    attr = entity.attr(name)
    value = row.get(name)
    if value is None or attr is None:
        return value
    if attr.type is AttrType.DATETIME:
        return wcf_date(value)
    if attr.type is AttrType.DATE and isinstance(value, date):
        return wcf_date(datetime(value.year, value.month, value.day, tzinfo=UTC))
    if attr.type is AttrType.MONEY:
        return {"__type": MONEY_TYPE, "Value": float(value)}
    if attr.type is AttrType.PICKLIST:
        return {"__type": OPTION_SET_TYPE, "Value": value}
    if attr.type is AttrType.LOOKUP:
        return reference(row.get(f"{name}@{LOOKUP_LOGICAL_NAME}", ""), value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def entity_object(
    entity: EntityDef, record_id: str, row: Row, columns: Iterable[str], typed: bool = True
) -> dict[str, Any]:
    """An `Entity` holding `columns` of `row` (column names as the Web API spells them)."""
    attributes, formatted = [], []
    for name in columns:
        attr = entity.attr(name)
        if attr is None or not attr.read:
            continue
        attributes.append({"key": attr.logical_name, "value": _value(entity, name, row)})
        if attr.type is AttrType.PICKLIST and row.get(name) is not None and not typed:
            formatted.append({"key": name, "value": attr.options.get(row[name], "")})
    body: dict[str, Any] = {"__type": ENTITY_TYPE} if typed else {}
    body.update(
        {
            "Attributes": attributes,
            "EntityState": None,
            "FormattedValues": formatted,
            "Id": record_id,
            "KeyAttributes": [],
            "LogicalName": entity.logical_name,
            "RelatedEntities": [],
            "RowVersion": None,
        }
    )
    return body


def _columns(entity: EntityDef, row: Row, spec: str | None) -> list[str]:
    """Columns an image holds: the registered logical names, or every readable column."""
    if not spec:
        return [a.name for a in entity.readable() if a.name in row]
    wanted = {name.strip() for name in spec.split(",")}
    return [a.name for a in entity.readable() if a.logical_name in wanted]


def _images(change: Change, subscription: Subscription) -> tuple[list[Any], list[Any]]:
    entity, record_id = change.entity, change.record_id
    pre: list[Any] = []
    post: list[Any] = []
    for image in subscription.images:
        kind, alias = image.get("imagetype"), image.get("entityalias")
        if kind in (PRE_IMAGE, BOTH_IMAGES) and change.before is not None:
            columns = _columns(entity, change.before, image.get("attributes"))
            value = entity_object(entity, record_id, change.before, columns, typed=False)
            pre.append({"key": alias, "value": value})
        if kind in (POST_IMAGE, BOTH_IMAGES) and change.after is not None:
            columns = _columns(entity, change.after, image.get("attributes"))
            value = entity_object(entity, record_id, change.after, columns, typed=False)
            post.append({"key": alias, "value": value})
    if subscription.step.get("mode") == ASYNCHRONOUS and change.after is not None:
        columns = [entity.primary_name, entity.primary_id]
        value = entity_object(entity, record_id, change.after, columns, typed=False)
        post.append({"key": "AsynchronousStepPrimaryName", "value": value})
    return pre, post


def _target(change: Change, columns: Iterable[str]) -> dict[str, Any]:
    if change.message == "Delete":
        return reference(change.entity.logical_name, change.record_id)
    row = change.after or {}
    return entity_object(change.entity, change.record_id, {**row, **change.target}, columns)


def _context(
    identity: Identity,
    change: Change,
    subscription: Subscription,
    correlation_id: str,
    operation_id: str,
    created_on: datetime,
    stage: int,
    parent: dict[str, Any] | None,
) -> dict[str, Any]:
    step = subscription.step
    inputs: list[dict[str, Any]] = [{"key": "Target", "value": _target(change, change.target)}]
    if parent is None:
        inputs.append({"key": "SuppressDuplicateDetection", "value": False})
    outputs = (
        [{"key": "id", "value": change.record_id}]
        if change.message == "Create" and parent is not None
        else []
    )
    pre, post = _images(change, subscription) if parent is not None else ([], [])
    return {
        "BusinessUnitId": identity.business_unit_id,
        "CorrelationId": correlation_id,
        "Depth": 1,
        "InitiatingUserId": change.user_id,
        "InputParameters": inputs,
        "IsExecutingOffline": False,
        "IsInTransaction": False,
        "IsOfflinePlayback": False,
        "IsolationMode": 1,
        "MessageName": change.message,
        "Mode": step.get("mode", ASYNCHRONOUS),
        "OperationCreatedOn": wcf_date(created_on, offset=True),
        "OperationId": operation_id,
        "OrganizationId": identity.organization_id,
        "OrganizationName": identity.name,
        "OutputParameters": outputs,
        "OwningExtension": reference(
            "sdkmessageprocessingstep", step["sdkmessageprocessingstepid"], typed=False
        ),
        "ParentContext": parent,
        "PostEntityImages": post,
        "PreEntityImages": pre,
        "PrimaryEntityId": change.record_id,
        "PrimaryEntityName": change.entity.logical_name,
        "RequestId": None,
        "SecondaryEntityName": "none",
        "SharedVariables": [],
        "Stage": stage,
        "UserId": change.user_id,
    }


def execution_context(
    identity: Identity,
    change: Change,
    subscription: Subscription,
    correlation_id: str,
    operation_id: str,
    created_on: datetime,
) -> dict[str, Any]:
    """The body posted for one registered step; its parent is the main operation (stage 30)."""
    parent = _context(
        identity, change, subscription, correlation_id, operation_id, created_on, 30, None
    )
    stage = subscription.step.get("stage", 40)
    return _context(
        identity, change, subscription, correlation_id, operation_id, created_on, stage, parent
    )
