"""The sandbox's type system: how an entity and its attributes are described as data.

An entity set is one `EntityDef`; adding a Dataverse table to the sandbox means adding one
to `entities.py`. Values are kept in Python types inside the store (`str`, `int`, `Decimal`,
`bool`, `datetime`) and converted to and from the Web API's JSON here.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from uuid import UUID

from services.sandbox.dynamics.errors import ODataError

Row = dict[str, Any]


class AttrType(StrEnum):
    STRING = "Edm.String"
    GUID = "Edm.Guid"
    DATETIME = "Edm.DateTimeOffset"
    INT = "Edm.Int32"
    BIGINT = "Edm.Int64"
    DECIMAL = "Edm.Decimal"
    BOOL = "Edm.Boolean"
    PICKLIST = "Picklist"  # choice, state and status columns: Edm.Int32 in the Web API
    LOOKUP = "Lookup"  # `_<name>_value` columns: Edm.Guid, written through @odata.bind


@dataclass(frozen=True)
class Attr:
    """One column. `name` is the Web API property name (`_parentcustomerid_value` for lookups)."""

    name: str
    type: AttrType
    max_length: int | None = None
    create: bool = True  # IsValidForCreate
    update: bool = True  # IsValidForUpdate
    read: bool = True  # IsValidForRead
    required: bool = False  # SystemRequired on create
    options: dict[int, str] = field(default_factory=dict)  # value -> label, for picklists
    # Lookups: navigation property -> target entity set, e.g. parentcustomerid_account -> accounts.
    navigation: dict[str, str] = field(default_factory=dict)

    @property
    def logical_name(self) -> str:
        """The attribute's logical name, as in plug-in contexts: `_x_value` -> `x`."""
        if self.type is AttrType.LOOKUP:
            return self.name.removeprefix("_").removesuffix("_value")
        return self.name

    @property
    def edm_type(self) -> str:
        if self.type is AttrType.PICKLIST:
            return AttrType.INT.value
        if self.type is AttrType.LOOKUP:
            return AttrType.GUID.value
        return self.type.value


# Derives computed columns (fullname, statuscode defaults) from a row about to be stored.
Computer = Callable[[Row], None]


@dataclass(frozen=True)
class EntityDef:
    logical_name: str
    entity_set: str
    primary_id: str
    primary_name: str
    attributes: tuple[Attr, ...]
    business: bool = True  # a synced CRM table: counts as a write, change tracking enabled
    read_only: bool = False  # system tables the sandbox fills itself (sdkmessages)
    compute: Computer | None = None
    defaults: Row = field(default_factory=dict)  # values a create starts from
    _by_name: dict[str, Attr] = field(init=False, repr=False, compare=False)
    _by_navigation: dict[str, Attr] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {a.name: a for a in self.attributes})
        navs = {nav: a for a in self.attributes for nav in a.navigation}
        object.__setattr__(self, "_by_navigation", navs)

    def attr(self, name: str) -> Attr | None:
        return self._by_name.get(name)

    def navigation(self, nav: str) -> Attr | None:
        """The lookup column a navigation property (`parentcustomerid_account`) writes."""
        return self._by_navigation.get(nav)

    @property
    def type_name(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"

    def readable(self) -> list[Attr]:
        return [a for a in self.attributes if a.read]


def now() -> datetime:
    """Dataverse date-time columns hold whole seconds in UTC."""
    return datetime.now(UTC).replace(microsecond=0)


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str) -> datetime:
    """ISO 8601 date or date-time; a value without an offset is UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_guid(text: str) -> str:
    """Canonical lower-case GUID text, or ValueError."""
    return str(UUID(text.strip("{}")))


def _literal_error(entity: EntityDef, value: Any, attr: Attr) -> ODataError:
    return ODataError.payload(
        entity.entity_set,
        f"Cannot convert the literal '{value}' to the expected type '{attr.edm_type}'.",
    )


def coerce(entity: EntityDef, attr: Attr, value: Any) -> Any:
    """A JSON value posted for `attr`, as the store keeps it; ODataError if it does not fit."""
    if value is None:
        return None
    try:
        match attr.type:
            case AttrType.STRING:
                if not isinstance(value, str):
                    raise _literal_error(entity, value, attr)
                if attr.max_length is not None and len(value) > attr.max_length:
                    raise ODataError.too_long(entity.logical_name, attr.name, attr.max_length)
                return value
            case AttrType.GUID | AttrType.LOOKUP:
                return parse_guid(str(value))
            case AttrType.DATETIME:
                return parse_datetime(str(value)).replace(microsecond=0)
            case AttrType.INT | AttrType.BIGINT | AttrType.PICKLIST:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise _literal_error(entity, value, attr)
                if attr.options and value not in attr.options:
                    raise ODataError.option_out_of_range(
                        entity.logical_name, attr.name, value, attr.options
                    )
                return value
            case AttrType.DECIMAL:
                if isinstance(value, bool):
                    raise _literal_error(entity, value, attr)
                return Decimal(str(value))
            case AttrType.BOOL:
                if not isinstance(value, bool):
                    raise _literal_error(entity, value, attr)
                return value
    except (ValueError, InvalidOperation) as exc:
        raise _literal_error(entity, value, attr) from exc
    raise AssertionError(attr.type)


def to_json(value: Any) -> Any:
    """A stored value as the Web API writes it."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, Decimal):
        return float(value)
    return value
