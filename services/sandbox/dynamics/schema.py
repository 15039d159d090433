"""The sandbox's type system: how an entity and its attributes are described as data.

An entity set is one `EntityDef`; adding a Dataverse table to the sandbox means adding one
to an `entities*.py` module. Values are kept in Python types inside the store (`str`, `int`,
`Decimal`, `bool`, `datetime`, `date`) and converted to and from the Web API's JSON here.

Column types as the Web API exposes them (Web API types and operations): text and memo are
Edm.String, whole numbers Edm.Int32, choices (picklist, state, status) Edm.Int32 option values,
money and decimals Edm.Decimal, date-time columns Edm.DateTimeOffset in UTC, date-only columns
(DateTimeBehavior DateOnly) Edm.Date `yyyy-mm-dd`, lookups Edm.Guid `_<name>_value` properties
written through single-valued navigation properties with `@odata.bind`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal
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
    DATE = "Edm.Date"  # date-only columns (DateTimeBehavior DateOnly)
    MEMO = "Memo"  # multiline text: Edm.String in the Web API
    MONEY = "Money"  # currency columns: Edm.Decimal in the Web API
    PICKLIST = "Picklist"  # choice, state and status columns: Edm.Int32 in the Web API
    LOOKUP = "Lookup"  # `_<name>_value` columns: Edm.Guid, written through @odata.bind


_EDM_OF = {
    AttrType.PICKLIST: AttrType.INT.value,
    AttrType.LOOKUP: AttrType.GUID.value,
    AttrType.MEMO: AttrType.STRING.value,
    AttrType.MONEY: AttrType.DECIMAL.value,
}
INT32 = (-2147483648, 2147483647)
# What deleting the referenced record does to the rows that point at it (CascadeConfiguration).
OnDelete = Literal["cascade", "removelink", "restrict"]


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
    options: dict[int, str] = field(default_factory=dict)  # value -> label (booleans: 1 / 0)
    # Lookups: navigation property -> target entity set, e.g. parentcustomerid_account -> accounts.
    navigation: dict[str, str] = field(default_factory=dict)
    on_delete: OnDelete = "removelink"  # lookups: what deleting the target does to this row
    minimum: int | Decimal | None = None  # numbers: MinValue / MaxValue
    maximum: int | Decimal | None = None
    precision: int | None = None  # decimals and money: digits kept after the point

    @property
    def logical_name(self) -> str:
        """The attribute's logical name, as in plug-in contexts: `_x_value` -> `x`."""
        if self.type is AttrType.LOOKUP:
            return self.name.removeprefix("_").removesuffix("_value")
        return self.name

    @property
    def edm_type(self) -> str:
        return _EDM_OF.get(self.type, self.type.value)

    @property
    def targets(self) -> set[str]:
        """Entity sets a lookup may point at."""
        return set(self.navigation.values())


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
    # Alternate keys: key name -> its columns (`contacts(emailaddress1='a@x.io')`).
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # statecode -> the statuscode a row gets when its status does not belong to its state.
    default_status: dict[int, int] = field(default_factory=dict)
    status_state: dict[int, int] = field(default_factory=dict)  # statuscode -> its statecode
    _by_name: dict[str, Attr] = field(init=False, repr=False, compare=False)
    _by_navigation: dict[str, Attr] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {a.name: a for a in self.attributes})
        navs = {nav: a for a in self.attributes for nav in a.navigation}
        object.__setattr__(self, "_by_navigation", navs)

    def key_columns(self, names: set[str]) -> tuple[str, ...] | None:
        """The alternate key (or the primary key) made of exactly these columns."""
        if names == {self.primary_id}:
            return (self.primary_id,)
        for columns in self.keys.values():
            if set(columns) == names:
                return columns
        return None

    def lookups(self) -> list[Attr]:
        """Lookup columns written through navigation properties."""
        return [a for a in self.attributes if a.type is AttrType.LOOKUP and a.navigation]

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


def _in_range(entity: EntityDef, attr: Attr, value: int | Decimal) -> None:
    low, high = attr.minimum, attr.maximum
    if attr.type is AttrType.INT:
        low = INT32[0] if low is None else low
        high = INT32[1] if high is None else high
    if (low is not None and value < low) or (high is not None and value > high):
        raise ODataError.out_of_range(entity.logical_name, attr.name, value, low, high)


def coerce(entity: EntityDef, attr: Attr, value: Any) -> Any:
    """A JSON value posted for `attr`, as the store keeps it; ODataError if it does not fit."""
    if value is None:
        return None
    try:
        match attr.type:
            case AttrType.STRING | AttrType.MEMO:
                if not isinstance(value, str):
                    raise _literal_error(entity, value, attr)
                if attr.max_length is not None and len(value) > attr.max_length:
                    raise ODataError.too_long(entity.logical_name, attr.name, attr.max_length)
                return value
            case AttrType.GUID | AttrType.LOOKUP:
                return parse_guid(str(value))
            case AttrType.DATETIME:
                return parse_datetime(str(value)).replace(microsecond=0)
            case AttrType.DATE:
                if not isinstance(value, str) or len(value) != 10:
                    raise _literal_error(entity, value, attr)
                return date.fromisoformat(value)
            case AttrType.INT | AttrType.BIGINT | AttrType.PICKLIST:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise _literal_error(entity, value, attr)
                if attr.options and value not in attr.options:
                    raise ODataError.option_out_of_range(
                        entity.logical_name, attr.name, value, attr.options
                    )
                if attr.type is not AttrType.PICKLIST:
                    _in_range(entity, attr, value)
                return value
            case AttrType.DECIMAL | AttrType.MONEY:
                # JSON numbers only: OData reads a quoted decimal only with IEEE754Compatible.
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise _literal_error(entity, value, attr)
                number = Decimal(str(value))
                if attr.precision is not None:
                    step = Decimal(1).scaleb(-attr.precision)
                    number = number.quantize(step, rounding=ROUND_HALF_EVEN)
                _in_range(entity, attr, number)
                return number
            case AttrType.BOOL:
                if not isinstance(value, bool):
                    raise _literal_error(entity, value, attr)
                return value
    except (ValueError, InvalidOperation) as exc:
        raise _literal_error(entity, value, attr) from exc
    raise AssertionError(attr.type)


def from_text(entity: EntityDef, attr: Attr, text: str) -> Any:
    """A value written as text (paging cookies, alternate key segments) as the store keeps it."""
    match attr.type:
        case AttrType.INT | AttrType.BIGINT | AttrType.PICKLIST:
            return int(text)
        case AttrType.DECIMAL | AttrType.MONEY:
            return Decimal(text)
        case AttrType.BOOL:
            return text.lower() in ("1", "true")
        case _:
            return coerce(entity, attr, text)


def to_json(value: Any) -> Any:
    """A stored value as the Web API writes it."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value
