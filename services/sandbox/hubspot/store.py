"""In-memory CRM records, one store per object definition, all objects in one portal.

Values are kept as HubSpot returns them: strings, datetimes as ISO-8601 UTC, dates as
YYYY-MM-DD. Ids come from one portal-wide counter that survives resets, so an id a client still
remembers never names a different record later. A record merged into another keeps resolving
to the one it was merged into, as HubSpot resolves merged ids to the surviving record.
"""

import bisect
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from services.sandbox.hubspot.associations import AssociationStore
from services.sandbox.hubspot.objects import OBJECTS, ObjectDefinition
from services.sandbox.hubspot.properties import PropertySet
from services.sandbox.hubspot.property_catalog import CATALOG
from services.sandbox.hubspot.timestamps import iso, parse_datetime_ms

__all__ = ["iso", "parse_datetime_ms"]


class InvalidProperties(Exception):
    """One entry per property, in the shape HubSpot embeds in its VALIDATION_ERROR message."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(problems)
        self.problems = problems


class DuplicateValue(Exception):
    def __init__(self, existing_id: int, name: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id
        self.name = name


@dataclass(slots=True)
class Record:
    id: int
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    archived: bool = False
    archived_ms: int | None = None


class ObjectStore:
    def __init__(
        self, definition: ObjectDefinition, ids: Iterator[int], properties: PropertySet
    ) -> None:
        self.definition = definition
        self.properties = properties
        self._ids = ids
        self.records: dict[int, Record] = {}
        self.merged: dict[int, int] = {}  # merged-away id -> the id it was merged into
        self._order: list[int] = []  # ascending, because ids only grow
        self._unique: dict[str, dict[str, int]] = {}  # property -> value -> id, live records
        self._writable_stamps = frozenset({definition.created_property})

    # -- reading ---------------------------------------------------------------------------

    def get(
        self, key: str, id_property: str | None = None, archived: bool = False
    ) -> Record | None:
        """By id (a merged id resolves to its survivor), or by a unique-value property."""
        record: Record | None
        if id_property and id_property != "hs_object_id":
            if id_property not in self.properties.unique:
                return None
            record_id = self._unique.get(id_property, {}).get(self._key(id_property, key))
            record = self.records.get(record_id) if record_id is not None else None
        else:
            record = self.records.get(self.resolve(int(key))) if key.isdigit() else None
        if record is None or record.archived != archived:
            return None
        return record

    def resolve(self, record_id: int) -> int:
        while record_id in self.merged:
            record_id = self.merged[record_id]
        return record_id

    def live(self) -> Iterator[Record]:
        return (r for r in self.records.values() if not r.archived)

    def page(self, after: int, limit: int, archived: bool) -> tuple[list[Record], int | None]:
        """Records with id >= after in id order; the cursor of the next page, if any."""
        found: list[Record] = []
        for position in range(bisect.bisect_left(self._order, after), len(self._order)):
            record = self.records[self._order[position]]
            if record.archived != archived:
                continue
            if len(found) == limit:
                return found, record.id
            found.append(record)
        return found, None

    # -- validating ------------------------------------------------------------------------

    def normalize(self, properties: Mapping[str, Any]) -> dict[str, str | None]:
        """HubSpot's string values; None means "clear". Raises InvalidProperties."""
        values, problems = self.properties.check(dict(properties), self._writable_stamps)
        if problems:
            raise InvalidProperties(problems)
        return values

    def check_unique(self, values: Mapping[str, str | None], own_id: int | None = None) -> None:
        for name in self.properties.unique:
            value = values.get(name)
            if value:
                existing = self._unique.get(name, {}).get(self._key(name, value))
                if existing is not None and existing != own_id:
                    raise DuplicateValue(existing, name)

    def _key(self, name: str, value: str) -> str:
        definition = self.properties.get(name)
        return value.strip().lower() if definition and definition.email else value.strip()

    # -- writing ---------------------------------------------------------------------------

    def create(
        self, values: Mapping[str, str | None], now_ms: int, updated_ms: int | None = None
    ) -> Record:
        """Store already normalised, uniqueness-checked values."""
        definition = self.definition
        record_id = next(self._ids)
        properties = {k: v for k, v in values.items() if v is not None}
        created = properties.get(definition.created_property)
        created_ms = parse_datetime_ms(created) if created else None
        record = Record(record_id, properties, created_ms or now_ms, updated_ms or now_ms)
        self._stamp(record, stamp_created=True)
        self.records[record_id] = record
        self._order.append(record_id)
        self._index(record)
        return record

    def update(
        self, record: Record, values: Mapping[str, str | None], now_ms: int
    ) -> dict[str, str]:
        """Apply values; the properties that really changed, "" for a cleared one."""
        changed: dict[str, str] = {}
        created_property = self.definition.created_property
        self._unindex(record)
        for name, value in values.items():
            if record.properties.get(name) == value or (name == created_property and not value):
                continue
            if name == created_property and value:
                record.created_ms = parse_datetime_ms(value) or record.created_ms
            if value is None:
                if name in record.properties:
                    del record.properties[name]
                    changed[name] = ""
            else:
                record.properties[name] = value
                changed[name] = value
        if changed:
            record.updated_ms = max(now_ms, record.updated_ms)
            self._stamp(record, stamp_created=created_property in changed)
        self._index(record)
        return changed

    def archive(self, record: Record, now_ms: int) -> None:
        self._unindex(record)
        record.archived = True
        record.archived_ms = now_ms

    def restore(self, record: Record, now_ms: int) -> None:
        """Back from the recycling bin; the caller checked its unique values are free."""
        record.archived = False
        record.archived_ms = None
        record.updated_ms = max(now_ms, record.updated_ms)
        self._stamp(record, stamp_created=False)
        self._index(record)

    def merge(self, primary: Record, secondary: Record, now_ms: int) -> int:
        """Fold `secondary` into `primary`: the primary's values win, gaps are filled.

        Returns how many properties moved. The secondary's id resolves to the primary from
        now on, and (for contacts) its email becomes one of the primary's additional emails.
        """
        self._unindex(primary)
        self._unindex(secondary)
        system = {"hs_object_id", "hs_merged_object_ids", *self.definition.modified_properties}
        moved = 0
        for name, value in secondary.properties.items():
            if name not in system and name not in primary.properties:
                primary.properties[name] = value
                moved += 1
        merged_ids = [
            *filter(None, primary.properties.get("hs_merged_object_ids", "").split(";")),
            str(secondary.id),
            *filter(None, secondary.properties.get("hs_merged_object_ids", "").split(";")),
        ]
        primary.properties["hs_merged_object_ids"] = ";".join(merged_ids)
        email = secondary.properties.get("email")
        if (
            self.definition.name == "contacts"
            and email
            and email != primary.properties.get("email")
        ):
            extra = primary.properties.get("hs_additional_emails", "")
            primary.properties["hs_additional_emails"] = ";".join(filter(None, [extra, email]))
        primary.updated_ms = max(now_ms, primary.updated_ms)
        self._stamp(primary, stamp_created=False)
        del self.records[secondary.id]
        self._order.remove(secondary.id)
        self.merged[secondary.id] = primary.id
        self._index(primary)
        return moved

    def clear(self) -> None:
        self.records.clear()
        self.merged.clear()
        self._order.clear()
        self._unique.clear()

    def _stamp(self, record: Record, stamp_created: bool) -> None:
        definition = self.definition
        properties = record.properties
        if stamp_created:
            properties[definition.created_property] = iso(record.created_ms)
        properties["hs_object_id"] = str(record.id)
        for name in definition.modified_properties:
            properties[name] = iso(record.updated_ms)

    def _unique_values(self, record: Record) -> Iterator[tuple[str, str]]:
        for name in self.properties.unique:
            value = record.properties.get(name)
            if value:
                yield name, self._key(name, value)
        if self.definition.name == "contacts":  # merged-in emails still find the contact
            for extra in record.properties.get("hs_additional_emails", "").split(";"):
                if extra:
                    yield "email", extra.lower()

    def _index(self, record: Record) -> None:
        if not record.archived:
            for name, key in self._unique_values(record):
                self._unique.setdefault(name, {})[key] = record.id

    def _unindex(self, record: Record) -> None:
        for name, key in self._unique_values(record):
            index = self._unique.get(name, {})
            if index.get(key) == record.id:
                del index[key]

    def taken(self, record: Record) -> int | None:
        """The live record that holds one of `record`'s unique values, if any."""
        for name, key in self._unique_values(record):
            holder = self._unique.get(name, {}).get(key)
            if holder is not None and holder != record.id:
                return holder
        return None


class Portal:
    """Every object store, property set and association of one HubSpot account."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.properties = {name: PropertySet(name, CATALOG[name]) for name in OBJECTS}
        self.stores = {
            name: ObjectStore(d, self._ids, self.properties[name]) for name, d in OBJECTS.items()
        }
        self.associations = AssociationStore()

    def store(self, definition: ObjectDefinition) -> ObjectStore:
        return self.stores[definition.name]

    def clear(self) -> None:
        for store in self.stores.values():
            store.clear()
        for properties in self.properties.values():
            properties.reset()
        self.associations.clear()
