"""CRM properties: definitions in HubSpot's Property shape and value validation by type.

From HubSpot's properties guide and the `Property` / `PropertyCreate` models of its API:
`type` is one of string, number, date, datetime, enumeration, bool; `fieldType` says how the
property shows (text, textarea, number, date, select, radio, checkbox, booleancheckbox,
phonenumber, calculation_equation, file, html); enumerations carry `options` (label, value,
displayOrder, hidden). Values travel as strings; a write is checked against the property's
type and refused with the per-property problems HubSpot embeds in its VALIDATION_ERROR message
(`PROPERTY_DOESNT_EXIST`, `READ_ONLY_VALUE`, `INVALID_OPTION`, `INVALID_INTEGER`,
`INVALID_DATE`, `INVALID_EMAIL`). Date properties take midnight-UTC epoch milliseconds or
YYYY-MM-DD ("... is at 13:1:0.0 UTC, not midnight!" otherwise); bool takes "true"/"false".
"""

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from services.sandbox.hubspot.timestamps import iso, parse_datetime_ms

TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
FIELD_TYPES = (
    "text",
    "textarea",
    "number",
    "date",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
    "phonenumber",
    "calculation_equation",
    "file",
    "html",
)
# Which field types each type may show as (a property create outside this is a 400).
FIELD_TYPES_OF_TYPE: dict[str, frozenset[str]] = {
    "string": frozenset({"text", "textarea", "phonenumber", "file", "html", "select"}),
    "number": frozenset({"number", "calculation_equation", "text"}),
    "date": frozenset({"date", "text"}),
    "datetime": frozenset({"date", "text"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox"}),
    "bool": frozenset({"booleancheckbox", "radio", "select"}),
}
# Stamps of the definitions HubSpot ships with every account.
DEFINED_AT = "2019-08-06T02:41:52.000Z"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class Option:
    label: str
    value: str
    display_order: int = -1
    hidden: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": self.value,
            "displayOrder": self.display_order,
            "hidden": self.hidden,
        }


@dataclass(frozen=True)
class PropertyDefinition:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    options: tuple[Option, ...] = ()
    has_unique_value: bool = False
    read_only_value: bool = False
    calculated: bool = False
    hubspot_defined: bool = True
    external_options: bool = False  # options live elsewhere (pipelines, owners): not checked
    email: bool = False  # values must be email addresses (stored lowercase)
    display_order: int = -1
    hidden: bool = False
    form_field: bool = False
    created_at: str = DEFINED_AT
    updated_at: str = DEFINED_AT
    archived: bool = False
    option_values: frozenset[str] = field(default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "option_values", frozenset(o.value for o in self.options))

    @property
    def temporal(self) -> bool:
        return self.type in ("date", "datetime")

    def to_json(self) -> dict[str, Any]:
        """HubSpot's `Property` body (every field its clients require is present)."""
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [o.to_json() for o in self.options],
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": self.external_options,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value,
            },
            "formField": self.form_field,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived,
        }
        if self.archived:
            body["archivedAt"] = self.updated_at
        return body


def problem(name: str, code: str, message: str) -> dict[str, Any]:
    """One entry of the list HubSpot embeds in "Property values were not valid: [...]"."""
    return {
        "isValid": False,
        "message": message,
        "error": code,
        "name": name,
        "localizedErrorMessage": message,
    }


class InvalidValue(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- checking one value by type ----------------------------------------------------------------


def _string(definition: PropertyDefinition, text: str) -> str:
    if definition.email:
        email = text.strip().lower()
        if not _EMAIL.match(email):
            raise InvalidValue("INVALID_EMAIL", f"Email address {text} is invalid")
        return email
    return text


def _number(_: PropertyDefinition, text: str) -> str:
    cleaned = text.strip()
    try:
        number = float(cleaned)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise InvalidValue("INVALID_INTEGER", f"{text} was not a valid number.")
    return cleaned


def _datetime(_: PropertyDefinition, text: str) -> str:
    ms = parse_datetime_ms(text)
    if ms is None:
        raise InvalidValue("INVALID_DATE", f"{text} was not a valid long or ISO-8601 datetime")
    return iso(ms)


def _date(_: PropertyDefinition, text: str) -> str:
    ms = parse_datetime_ms(text)
    if ms is None:
        raise InvalidValue("INVALID_DATE", f"{text} was not a valid date")
    if ms % _DAY_MS:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
        clock = f"{moment.hour}:{moment.minute}:{moment.second}.{moment.microsecond // 1000}"
        raise InvalidValue("INVALID_DATE", f"{text} is at {clock} UTC, not midnight!")
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


def _enumeration(definition: PropertyDefinition, text: str) -> str:
    if definition.external_options:
        return text
    # Multiple checkboxes hold several option values separated by semicolons.
    chosen = text.split(";") if definition.field_type == "checkbox" else [text]
    wrong = [value for value in chosen if value not in definition.option_values]
    if wrong:
        allowed = ", ".join(o.value for o in definition.options)
        raise InvalidValue(
            "INVALID_OPTION", f"{wrong[0]} was not one of the allowed options: [{allowed}]"
        )
    return text


def _bool(_: PropertyDefinition, text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise InvalidValue(
            "INVALID_OPTION", f"{text} was not one of the allowed options: [true, false]"
        )
    return lowered


CHECKS: dict[str, Callable[[PropertyDefinition, str], str]] = {
    "string": _string,
    "number": _number,
    "date": _date,
    "datetime": _datetime,
    "enumeration": _enumeration,
    "bool": _bool,
}


def as_text(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return raw if isinstance(raw, str) else str(raw)


class PropertySet:
    """The properties of one object type in one account: HubSpot's defaults plus custom ones."""

    def __init__(self, object_name: str, defaults: Iterable[PropertyDefinition]) -> None:
        self.object_name = object_name
        self._defaults = {d.name: d for d in defaults}
        self.by_name: dict[str, PropertyDefinition] = dict(self._defaults)
        self._refresh()

    def _refresh(self) -> None:
        live = [d for d in self.by_name.values() if not d.archived]
        self.unique = tuple(d.name for d in live if d.has_unique_value)
        self.temporal = frozenset(d.name for d in live if d.temporal)

    def get(self, name: str) -> PropertyDefinition | None:
        definition = self.by_name.get(name)
        return definition if definition is not None and not definition.archived else None

    def live(self) -> list[PropertyDefinition]:
        return [d for d in self.by_name.values() if not d.archived]

    def add(self, definition: PropertyDefinition) -> None:
        self.by_name[definition.name] = definition
        self._refresh()

    def archive(self, name: str, stamp: str) -> None:
        definition = self.by_name[name]
        self.by_name[name] = replace(definition, archived=True, updated_at=stamp)
        self._refresh()

    def reset(self) -> None:
        self.by_name = dict(self._defaults)
        self._refresh()

    def check(
        self, properties: dict[str, Any], writable_stamps: frozenset[str] = frozenset()
    ) -> tuple[dict[str, str | None], list[dict[str, Any]]]:
        """(HubSpot's string values, None meaning "clear"; the problems found).

        `writable_stamps` are read-only properties a client may still set (HubSpot lets
        `createdate` be given on import-like writes).
        """
        values: dict[str, str | None] = {}
        problems: list[dict[str, Any]] = []
        for name, raw in properties.items():
            definition = self.get(name)
            if definition is None:
                message = f'Property "{name}" does not exist'
                problems.append(problem(name, "PROPERTY_DOESNT_EXIST", message))
                continue
            if definition.read_only_value and name not in writable_stamps:
                problems.append(problem(name, "READ_ONLY_VALUE", f"{name} is a read only value"))
                continue
            text = as_text(raw)
            if text is None or text == "":
                values[name] = None
            elif isinstance(raw, dict | list):
                problems.append(problem(name, "INVALID_OPTION", f"{raw!r} is not a valid value"))
            else:
                try:
                    values[name] = CHECKS[definition.type](definition, text)
                except InvalidValue as invalid:
                    problems.append(problem(name, invalid.code, invalid.message))
        return values, problems
