"""CRM properties API v3: list, read, create, update and archive an object's properties.

Paths and bodies as HubSpot's properties reference documents them under
`/crm/v3/properties/{objectType}`: the list answers `{"results": [Property]}`; a create takes
`PropertyCreate` (name, label, type, fieldType, groupName, options, hasUniqueValue, ...) and
answers 201, or 409 when the name is taken; HubSpot's own properties cannot be changed or
archived (their `readOnlyDefinition`).
"""

import re
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from services.sandbox.hubspot import errors
from services.sandbox.hubspot.operations import definition_of
from services.sandbox.hubspot.properties import (
    FIELD_TYPES,
    FIELD_TYPES_OF_TYPE,
    TYPES,
    Option,
    PropertyDefinition,
    PropertySet,
)
from services.sandbox.hubspot.state import sandbox_of
from services.sandbox.hubspot.timestamps import iso

router = APIRouter(prefix="/crm/v3/properties")

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class OptionInput(BaseModel):
    label: str
    value: str
    displayOrder: int = -1
    hidden: bool = False
    description: str | None = None


class PropertyCreate(BaseModel):
    name: str
    label: str
    type: str
    fieldType: str
    groupName: str
    description: str = ""
    options: list[OptionInput] = Field(default_factory=list)
    displayOrder: int = -1
    hasUniqueValue: bool = False
    hidden: bool = False
    formField: bool = False
    calculationFormula: str | None = None
    externalOptions: bool = False


class PropertyUpdate(BaseModel):
    label: str | None = None
    description: str | None = None
    groupName: str | None = None
    fieldType: str | None = None
    options: list[OptionInput] | None = None
    displayOrder: int | None = None
    hidden: bool | None = None
    formField: bool | None = None


def _properties(object_type: str, request: Request) -> PropertySet:
    definition = definition_of(object_type)
    return sandbox_of(request).portal.properties[definition.name]


def _missing(object_type: str, name: str) -> errors.HubSpotError:
    noun = definition_of(object_type).noun
    return errors.not_found(f"Unable to find property {name} for object type {noun}")


def _options(options: list[OptionInput]) -> tuple[Option, ...]:
    values = [o.value for o in options]
    if len(set(values)) != len(values):
        raise errors.validation("Option values must be unique")
    return tuple(Option(o.label, o.value, o.displayOrder, o.hidden) for o in options)


def _check_shape(kind: str, field_type: str, options: tuple[Option, ...]) -> None:
    if kind not in TYPES:
        raise errors.validation(f"type must be one of {list(TYPES)}, got {kind!r}")
    if field_type not in FIELD_TYPES:
        raise errors.validation(f"fieldType must be one of {list(FIELD_TYPES)}, got {field_type!r}")
    if field_type not in FIELD_TYPES_OF_TYPE[kind]:
        raise errors.validation(f"fieldType {field_type} cannot show a property of type {kind}")
    if kind == "enumeration" and field_type != "booleancheckbox" and not options:
        raise errors.validation("An enumeration property needs at least one option")


@router.get("/{object_type}")
async def list_properties(
    object_type: str, request: Request, archived: bool = False
) -> dict[str, Any]:
    properties = _properties(object_type, request)
    chosen = [d for d in properties.by_name.values() if d.archived == archived]
    return {"results": [d.to_json() for d in chosen]}


@router.get("/{object_type}/{property_name}")
async def read_property(
    object_type: str, property_name: str, request: Request, archived: bool = False
) -> dict[str, Any]:
    definition = _properties(object_type, request).by_name.get(property_name)
    if definition is None or definition.archived != archived:
        raise _missing(object_type, property_name)
    return definition.to_json()


@router.post("/{object_type}", status_code=201)
async def create_property(
    object_type: str, body: PropertyCreate, request: Request
) -> dict[str, Any]:
    properties = _properties(object_type, request)
    if not _NAME.match(body.name):
        raise errors.validation(
            f"Property name {body.name!r} must start with a lowercase letter and hold only "
            "lowercase letters, digits and underscores"
        )
    if properties.get(body.name) is not None:
        raise errors.conflict_of(
            f"A property named '{body.name}' already exists.", "OBJECT_ALREADY_EXISTS"
        )
    options = _options(body.options)
    _check_shape(body.type, body.fieldType, options)
    if body.hasUniqueValue and body.type not in ("string", "number"):
        raise errors.validation("Only string and number properties can require unique values")
    stamp = iso(sandbox_of(request).now_ms())
    definition = PropertyDefinition(
        name=body.name,
        label=body.label,
        type=body.type,
        field_type=body.fieldType,
        group_name=body.groupName,
        description=body.description,
        options=options,
        has_unique_value=body.hasUniqueValue,
        read_only_value=body.fieldType == "calculation_equation",
        calculated=body.fieldType == "calculation_equation",
        hubspot_defined=False,
        external_options=body.externalOptions,
        display_order=body.displayOrder,
        hidden=body.hidden,
        form_field=body.formField,
        created_at=stamp,
        updated_at=stamp,
    )
    properties.add(definition)
    return definition.to_json()


@router.patch("/{object_type}/{property_name}")
async def update_property(
    object_type: str, property_name: str, body: PropertyUpdate, request: Request
) -> dict[str, Any]:
    properties = _properties(object_type, request)
    definition = properties.get(property_name)
    if definition is None:
        raise _missing(object_type, property_name)
    if definition.hubspot_defined:
        raise errors.validation(f"{property_name} is a HubSpot-defined property; it is read only")
    options = _options(body.options) if body.options is not None else definition.options
    field_type = body.fieldType or definition.field_type
    _check_shape(definition.type, field_type, options)
    changed = replace(
        definition,
        label=body.label if body.label is not None else definition.label,
        description=body.description if body.description is not None else definition.description,
        group_name=body.groupName or definition.group_name,
        field_type=field_type,
        options=options,
        display_order=body.displayOrder
        if body.displayOrder is not None
        else definition.display_order,
        hidden=body.hidden if body.hidden is not None else definition.hidden,
        form_field=body.formField if body.formField is not None else definition.form_field,
        updated_at=iso(sandbox_of(request).now_ms()),
    )
    properties.add(changed)
    return changed.to_json()


@router.delete("/{object_type}/{property_name}", status_code=204)
async def archive_property(object_type: str, property_name: str, request: Request) -> Response:
    properties = _properties(object_type, request)
    definition = properties.get(property_name)
    if definition is None:
        raise _missing(object_type, property_name)
    if definition.hubspot_defined:
        raise errors.validation(
            f"{property_name} is a HubSpot-defined property; it cannot be archived"
        )
    properties.archive(property_name, iso(sandbox_of(request).now_ms()))
    return Response(status_code=204)
