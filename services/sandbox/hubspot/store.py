"""In-memory CRM records, one store per object definition, all objects in one portal.

Values are kept as HubSpot returns them: strings, datetimes as ISO-8601 UTC. Ids come from one
portal-wide counter that survives resets, so an id a client still remembers never names a
different record later.
"""

import bisect
import functools
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.sandbox.hubspot.objects import OBJECTS, ObjectDefinition

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EPOCH_MS = re.compile(r"^-?\d+$")


@functools.lru_cache(maxsize=4096)  # writes in one millisecond share their stamps
def iso(ms: int) -> str:
    """Like Java's Instant.toString(), which HubSpot emits: no fraction for whole seconds."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}Z" if ms % 1000 == 0 else f"{text}.{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=1 << 16)  # searches re-read the same stamps on every poll
def parse_datetime_ms(value: str) -> int | None:
    """Epoch milliseconds or ISO-8601 (date or datetime), as HubSpot accepts both."""
    text = value.strip()
    if _EPOCH_MS.match(text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class InvalidProperties(Exception):
    """One entry per property, in the shape HubSpot embeds in its VALIDATION_ERROR message."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(problems)
        self.problems = problems


class DuplicateValue(Exception):
    def __init__(self, existing_id: int) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


def _problem(name: str, code: str, message: str) -> dict[str, Any]:
    return {
        "isValid": False,
        "message": message,
        "error": code,
        "name": name,
        "localizedErrorMessage": message,
    }


@dataclass(slots=True)
class Record:
    id: int
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    archived: bool = False
    archived_ms: int | None = None


class ObjectStore:
    def __init__(self, definition: ObjectDefinition, ids: Iterator[int]) -> None:
        self.definition = definition
        self._ids = ids
        self.records: dict[int, Record] = {}
        self._order: list[int] = []  # ascending, because ids only grow
        self._unique: dict[str, int] = {}  # unique value -> id, live records only

    # -- reading ---------------------------------------------------------------------------

    def get(
        self, key: str, id_property: str | None = None, archived: bool = False
    ) -> Record | None:
        """By id, or by the object's unique property; `archived` selects archived records."""
        record: Record | None
        unique = self.definition.unique_property
        if id_property and id_property != "hs_object_id":
            if id_property != unique:
                return None
            record_id = self._unique.get(key.strip().lower())
            record = self.records.get(record_id) if record_id is not None else None
        else:
            record = self.records.get(int(key)) if key.isdigit() else None
        if record is None or record.archived != archived:
            return None
        return record

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
        definition = self.definition
        read_only = definition.system_properties - {definition.created_property}
        datetimes = definition.all_datetime_properties()
        values: dict[str, str | None] = {}
        problems: list[dict[str, Any]] = []
        for name, raw in properties.items():
            if name in read_only:
                problems.append(_problem(name, "READ_ONLY_VALUE", f"{name} is a read only value"))
                continue
            value = _as_text(raw)
            if value is None or value == "":
                values[name] = None
            elif isinstance(raw, dict | list):
                problems.append(_problem(name, "INVALID_OPTION", f"{raw!r} is not a valid value"))
            elif name in definition.email_properties:
                email = value.strip().lower()
                if _EMAIL.match(email):
                    values[name] = email
                else:
                    message = f"Email address {value} is invalid"
                    problems.append(_problem(name, "INVALID_EMAIL", message))
            elif name in datetimes:
                ms = parse_datetime_ms(value)
                if ms is None:
                    message = f"{value} was not a valid long or ISO-8601 datetime"
                    problems.append(_problem(name, "INVALID_DATE", message))
                else:
                    values[name] = iso(ms)
            else:
                values[name] = value
        if problems:
            raise InvalidProperties(problems)
        return values

    def check_unique(self, values: Mapping[str, str | None], own_id: int | None = None) -> None:
        unique = self.definition.unique_property
        value = values.get(unique) if unique else None
        if value:
            existing = self._unique.get(value)
            if existing is not None and existing != own_id:
                raise DuplicateValue(existing)

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

    def clear(self) -> None:
        self.records.clear()
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

    def _index(self, record: Record) -> None:
        unique = self.definition.unique_property
        value = record.properties.get(unique) if unique else None
        if value and not record.archived:
            self._unique[value] = record.id

    def _unindex(self, record: Record) -> None:
        unique = self.definition.unique_property
        value = record.properties.get(unique) if unique else None
        if value and self._unique.get(value) == record.id:
            del self._unique[value]


def _as_text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return raw if isinstance(raw, str) else str(raw)


class Portal:
    """Every object store of one HubSpot account."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.stores = {name: ObjectStore(d, self._ids) for name, d in OBJECTS.items()}

    def store(self, definition: ObjectDefinition) -> ObjectStore:
        return self.stores[definition.name]

    def clear(self) -> None:
        for store in self.stores.values():
            store.clear()
