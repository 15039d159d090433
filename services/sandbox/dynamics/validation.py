"""A create or update body checked and converted the way Dataverse does.

Unknown properties and values of the wrong type are payload errors; lookups are written only
through navigation properties: `"parentcustomerid_account@odata.bind": "/accounts(<id>)"` (or
an alternate key, or an absolute URL) associates, `null` (with or without `@odata.bind`)
disassociates (Associate and disassociate tables using the Web API). Binding to a record that
does not exist is the target's "Does Not Exist" error.
"""

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from services.sandbox.dynamics.catalog import CATALOG, logical_name_of
from services.sandbox.dynamics.errors import ODataError
from services.sandbox.dynamics.keys import parse_key, relative_path, split_segment
from services.sandbox.dynamics.query import ASSOCIATED_NAVIGATION, LOOKUP_LOGICAL_NAME
from services.sandbox.dynamics.registration import REGISTRATION_VALIDATORS
from services.sandbox.dynamics.schema import Attr, AttrType, EntityDef, Row, coerce, parse_guid

if TYPE_CHECKING:
    from services.sandbox.dynamics.store import Org

# Extra rules of some tables (webhook registration), keyed by entity set.
Validator = Callable[["Org", Row, str | None], None]
VALIDATORS: dict[str, Validator] = {**REGISTRATION_VALIDATORS}


def _unknown(entity: EntityDef, key: str) -> ODataError:
    return ODataError.payload(
        entity.entity_set,
        f"The property '{key}' does not exist on type '{entity.type_name}'. Make sure to only "
        "use property names that are defined by the type or mark the type as open type.",
    )


def _writable(attr: Attr, creating: bool, seeding: bool) -> bool:
    if seeding:
        return attr.create or attr.update
    return attr.create if creating else attr.update


def validate(
    org: "Org",
    entity: EntityDef,
    body: Mapping[str, Any],
    creating: bool,
    record_id: str | None = None,
    seeding: bool = False,
) -> Row:
    """The stored form of a request body; refuses what Dataverse refuses. Seeding may also set
    columns that are valid for update only (state, status, computed totals)."""
    if entity.read_only:
        raise ODataError.method_not_allowed("POST" if creating else "PATCH", entity.entity_set)
    values: Row = {}
    for key, value in body.items():
        if key.startswith("@odata."):
            continue
        if key.endswith("@odata.bind"):
            bind(org, entity, key.removesuffix("@odata.bind"), value, values)
            continue
        if entity.navigation(key) is not None:
            if value is not None:
                raise ODataError.payload(
                    entity.entity_set,
                    f"Deep insert through the navigation property '{key}' is not emulated by "
                    "the Dynamics sandbox; bind an existing record with @odata.bind.",
                )
            bind(org, entity, key, None, values)
            continue
        attr = entity.attr(key)
        if attr is None:
            raise _unknown(entity, key)
        if attr.type is AttrType.LOOKUP:
            raise ODataError.query(
                "CRM do not support direct update of Entity Reference properties, Use "
                "Navigation properties instead."
            )
        if not _writable(attr, creating, seeding):
            continue  # read-only columns (fullname, createdon...) are ignored, as Dataverse does
        values[key] = coerce(entity, attr, value)
    if creating:
        missing = [a.name for a in entity.attributes if a.required and values.get(a.name) is None]
        if missing:
            raise ODataError.invalid_argument(
                f"Attribute '{missing[0]}' cannot be NULL for entity '{entity.logical_name}'."
            )
    validator = VALIDATORS.get(entity.entity_set)
    if validator:
        validator(org, values, record_id)
    return values


def resolve(org: "Org", reference: str, payload_set: str) -> tuple[EntityDef | None, str, str]:
    """(table if emulated, entity set, record id) of a record URL such as `/accounts(<id>)`."""
    try:
        set_name, key, _rest = split_segment(relative_path(reference))
    except ODataError:
        key, set_name = None, ""
    if not key:
        raise ODataError.payload(payload_set, f"Invalid bind value '{reference}'.")
    target = CATALOG.get(set_name)
    if target is None:
        try:
            return None, set_name, parse_guid(key)
        except ValueError:
            raise ODataError.payload(payload_set, f"Invalid bind value '{reference}'.") from None
    found = parse_key(target, key)
    if isinstance(found, str):
        if org.get(target, found) is None:
            raise ODataError.not_found(target.logical_name, found)
        return target, set_name, found
    record_id = org.find(target, found)
    if record_id is None:
        raise ODataError.key_not_found(target.logical_name)
    return target, set_name, record_id


def bind(org: "Org", entity: EntityDef, navigation: str, value: Any, values: Row) -> None:
    attr = entity.navigation(navigation)
    if attr is None:
        raise ODataError.payload(
            entity.entity_set,
            f"An undeclared property '{navigation}' which only has property annotations in "
            "the payload but no property value was found in the payload.",
        )
    if value is None:
        values[attr.name] = None
        values[f"{attr.name}@{LOOKUP_LOGICAL_NAME}"] = None
        values[f"{attr.name}@{ASSOCIATED_NAVIGATION}"] = None
        return
    if not isinstance(value, str):
        raise ODataError.payload(entity.entity_set, f"Invalid bind value '{value}'.")
    target_set = attr.navigation[navigation]
    _target, set_name, target_id = resolve(org, value, entity.entity_set)
    if set_name != target_set:
        raise ODataError.payload(
            entity.entity_set,
            f"The navigation property '{navigation}' refers to '{target_set}', not '{set_name}'.",
        )
    values[attr.name] = target_id
    logical = logical_name_of(target_set) or target_set.removesuffix("s")
    values[f"{attr.name}@{LOOKUP_LOGICAL_NAME}"] = logical
    values[f"{attr.name}@{ASSOCIATED_NAVIGATION}"] = navigation
