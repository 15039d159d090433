"""Writes and reads shared by the single-record and batch routes.

A `Writer` validates in HubSpot's terms (400 VALIDATION_ERROR, 409 CONFLICT), applies the write,
and collects the changes it made; `finish()` hands them to webhook delivery and counts the write.
Associations given with a create (`associations: [{to: {id}, types: [...]}]`, as the CRM v3
create body has them) are checked before anything is written.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.sandbox.hubspot import errors
from services.sandbox.hubspot.associations import (
    HUBSPOT_DEFINED,
    TYPES,
    AssociationChange,
)
from services.sandbox.hubspot.errors import HubSpotError
from services.sandbox.hubspot.objects import OBJECTS, ObjectDefinition, resolve_object
from services.sandbox.hubspot.state import Sandbox
from services.sandbox.hubspot.store import (
    DuplicateValue,
    InvalidProperties,
    ObjectStore,
    Record,
    iso,
)
from services.sandbox.hubspot.subscriptions import ChangeKind
from services.sandbox.hubspot.webhooks import Actor, Change

Values = dict[str, str | None]
# (to object, to id, association type ids of this object's direction)
AssociationPlan = list[tuple[str, int, list[int]]]


def definition_of(segment: str) -> ObjectDefinition:
    definition = resolve_object(segment)
    if definition is None:
        raise errors.unknown_object_type(segment)
    return definition


def property_names(raw: Sequence[str] | None) -> list[str]:
    """`properties=a,b` and `properties=a&properties=b` alike."""
    return [name.strip() for item in raw or () for name in item.split(",") if name.strip()]


def render(
    definition: ObjectDefinition,
    record: Record,
    names: Sequence[str] | None = None,
    everything: bool = False,
) -> dict[str, Any]:
    """HubSpot's SimplePublicObject; unset requested properties come back as null."""
    if everything:
        properties: dict[str, str | None] = dict(record.properties)
    else:
        wanted = {*(names or definition.default_properties), *definition.always_returned}
        properties = {name: record.properties.get(name) for name in wanted}
    body: dict[str, Any] = {
        "id": str(record.id),
        "properties": dict(sorted(properties.items())),
        "createdAt": iso(record.created_ms),
        "updatedAt": iso(record.updated_ms),
        "archived": record.archived,
    }
    if record.archived and record.archived_ms is not None:
        body["archivedAt"] = iso(record.archived_ms)
    return body


class Writer:
    def __init__(self, sandbox: Sandbox, definition: ObjectDefinition, actor: Actor) -> None:
        self.sandbox = sandbox
        self.definition = definition
        self.actor = actor
        self.store: ObjectStore = sandbox.portal.store(definition)
        self.changes: list[Change] = []
        self.written = 0

    def prepare(self, properties: Mapping[str, Any], own_id: int | None = None) -> Values:
        """Normalised values, or HubSpot's 400 / 409 for them."""
        try:
            values = self.store.normalize(properties)
            self.store.check_unique(values, own_id)
        except InvalidProperties as invalid:
            raise errors.validation(errors.property_message(invalid.problems)) from None
        except DuplicateValue as duplicate:
            raise errors.conflict(self.definition, duplicate.existing_id) from None
        return values

    def note(self, record: Record, kind: ChangeKind, extra: tuple[tuple[str, Any], ...]) -> None:
        now = self.sandbox.now_ms()
        self.written += 1
        self.changes.append(Change(self.definition, record.id, kind, now, self.actor, extra=extra))

    def plan_associations(self, raw: Iterable[Mapping[str, Any]]) -> AssociationPlan:
        """The `associations` of a create input, checked; HubSpot's 400 for a bad one."""
        plan: AssociationPlan = []
        portal = self.sandbox.portal
        for item in raw:
            target = str((item.get("to") or {}).get("id", ""))
            type_ids: list[int] = []
            to_object: str | None = None
            for spec in item.get("types") or []:
                type_id = spec.get("associationTypeId")
                kind = TYPES.get(type_id) if isinstance(type_id, int) else None
                category = spec.get("associationCategory", HUBSPOT_DEFINED)
                if (
                    kind is None
                    or category != HUBSPOT_DEFINED
                    or (kind.from_object != self.definition.name)
                ):
                    raise errors.validation(
                        f"{type_id} is not a valid association type from {self.definition.noun}"
                    )
                if to_object not in (None, kind.to_object):
                    raise errors.validation("All types of one association must name one object")
                to_object = kind.to_object
                type_ids.append(kind.type_id)
            if to_object is None:
                raise errors.validation("An association needs at least one type")
            found = portal.stores[to_object].get(target) if target.isdigit() else None
            if found is None:
                noun = OBJECTS[to_object].noun
                raise errors.validation(f"{noun} {target} does not exist; cannot associate it")
            plan.append((to_object, found.id, type_ids))
        return plan

    def create(self, values: Values, plan: AssociationPlan | None = None) -> Record:
        now = self.sandbox.now_ms()
        record = self.store.create(values, now)
        self.written += 1
        self._note(record, "creation", now)
        associations = self.sandbox.portal.associations
        for to_object, to_id, type_ids in plan or ():
            changes = associations.add(self.definition.name, record.id, to_object, to_id, type_ids)
            self.associated(changes)
        return record

    def associated(self, changes: Iterable[AssociationChange]) -> None:
        """Note association changes as associationChange events of both records."""
        now = self.sandbox.now_ms()
        for change in changes:
            self.changes.append(association_event(change, now, self.actor))

    def update(self, record: Record, values: Values) -> Record:
        now = self.sandbox.now_ms()
        changed = self.store.update(record, values, now)
        self.written += 1
        for name, value in changed.items():
            self._note(record, "propertyChange", now, name, value)
        return record

    def archive(self, record: Record) -> None:
        now = self.sandbox.now_ms()
        self.store.archive(record, now)
        self.written += 1
        self._note(record, "deletion", now)

    def finish(self) -> None:
        self.sandbox.publish(self.changes)
        self.sandbox.count_write(self.actor, self.written)

    def _note(
        self,
        record: Record,
        kind: ChangeKind,
        now: int,
        name: str | None = None,
        value: str | None = None,
    ) -> None:
        change = Change(self.definition, record.id, kind, now, self.actor, name, value)
        self.changes.append(change)


def association_event(change: AssociationChange, now: int, actor: Actor) -> Change:
    source, target = OBJECTS[change.from_object], OBJECTS[change.to_object]
    plain = [t for t in change.type_ids if not TYPES[t].primary] or list(change.type_ids)
    extra = (
        ("associationType", f"{source.noun}_TO_{target.noun}"),
        ("fromObjectId", change.from_id),
        ("toObjectId", change.to_id),
        ("associationRemoved", change.removed),
        ("isPrimaryAssociation", change.primary),
        ("fromObjectTypeId", source.type_id),
        ("toObjectTypeId", target.type_id),
        ("associationTypeId", plain[0]),
        ("associationCategory", HUBSPOT_DEFINED),
    )
    return Change(source, change.from_id, "associationChange", now, actor, extra=extra)


def repeated_unique_values(definition: ObjectDefinition, batch: Sequence[Values]) -> list[int]:
    """Positions of inputs claiming a unique value an earlier input of the batch claims."""
    unique = definition.unique_property
    if unique is None:
        return []
    seen: set[str] = set()
    repeated: list[int] = []
    for position, values in enumerate(batch):
        value = values.get(unique)
        if value and value in seen:
            repeated.append(position)
        elif value:
            seen.add(value)
    return repeated


def repeated_value_error(definition: ObjectDefinition, values: Values) -> HubSpotError:
    unique = definition.unique_property or ""
    return errors.validation(
        f"Duplicate {unique} found in batch input: {values.get(unique)}. Values must be unique"
    )
