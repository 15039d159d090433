"""Writes and reads shared by the single-record and batch routes.

A `Writer` validates in HubSpot's terms (400 VALIDATION_ERROR, 409 CONFLICT), applies the write,
and collects the changes it made; `finish()` hands them to webhook delivery and counts the write.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from services.sandbox.hubspot import errors
from services.sandbox.hubspot.errors import HubSpotError
from services.sandbox.hubspot.objects import ObjectDefinition, resolve_object
from services.sandbox.hubspot.state import Sandbox
from services.sandbox.hubspot.store import (
    DuplicateValue,
    InvalidProperties,
    ObjectStore,
    Record,
    iso,
)
from services.sandbox.hubspot.webhooks import Actor, Change, ChangeKind

Values = dict[str, str | None]


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

    def create(self, values: Values) -> Record:
        now = self.sandbox.now_ms()
        record = self.store.create(values, now)
        self.written += 1
        self._note(record, "creation", now)
        return record

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
