"""Field types of both sides, the kind of value each holds, and the parsing that turns the
values either API returns into one comparable form.

HubSpot returns every property as text ("1000.50", "2024-05-01T00:00:00Z", "true"); Dataverse
returns JSON numbers, booleans and ISO strings, and refuses a number given as text. The kinds
below say which values mean the same thing on both sides.
"""

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from schemas.events import Side

HUBSPOT_TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
APP_TYPES = (
    "string",
    "memo",
    "integer",
    "money",
    "decimal",
    "datetime",
    "dateonly",
    "picklist",
    "boolean",
)


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"
    CHOICE = "choice"  # enumeration / picklist: one of a list of option values


KINDS: dict[Side, dict[str, Kind]] = {
    Side.HUBSPOT: {
        "string": Kind.TEXT,
        "number": Kind.NUMBER,
        "date": Kind.DATE,
        "datetime": Kind.DATETIME,
        "enumeration": Kind.CHOICE,
        "bool": Kind.BOOL,
    },
    Side.APP: {
        "string": Kind.TEXT,
        "memo": Kind.TEXT,
        "integer": Kind.NUMBER,
        "money": Kind.NUMBER,
        "decimal": Kind.NUMBER,
        "datetime": Kind.DATETIME,
        "dateonly": Kind.DATE,
        "picklist": Kind.CHOICE,
        "boolean": Kind.BOOL,
    },
}

# Decimal places an app column keeps: a value is compared as the column would store it.
APP_PLACES = {"integer": 0, "money": 2}


def kind_of(side: Side, type_name: str | None) -> Kind | None:
    return None if type_name is None else KINDS[side].get(type_name)


def two_way_kinds(hubspot: Kind, app: Kind) -> bool:
    """Kinds a field may sync both ways between (choices only with a value mapping)."""
    return hubspot == app or {hubspot, app} == {Kind.DATE, Kind.DATETIME}


def pair_kind(hubspot: Kind | None, app: Kind | None, value_map: bool) -> Kind | None:
    """The kind both sides' values are compared as; None for an untyped pair."""
    if hubspot is None or app is None:
        return hubspot or app
    if value_map and Kind.CHOICE in (hubspot, app):
        return Kind.CHOICE
    if hubspot == app:
        return hubspot
    if {hubspot, app} == {Kind.DATE, Kind.DATETIME}:
        return Kind.DATE
    return Kind.TEXT  # a one-way pair into a text field: compared as the text written


# --- parsing -------------------------------------------------------------------------------

_EPOCH_MS = re.compile(r"^-?\d{10,}$")


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def to_number(raw: Any) -> Decimal | None:
    if isinstance(raw, bool) or blank(raw):
        return None
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def number_text(number: Decimal) -> str:
    """1000, 1000.5, -3: no exponent, no trailing zeros."""
    if number == 0:
        return "0"
    return f"{number.normalize():f}"


def quantize(number: Decimal, places: int | None) -> Decimal:
    if places is None:
        return number
    return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def to_datetime(raw: Any) -> datetime | None:
    """ISO 8601 (a date is midnight UTC, no offset is UTC) or epoch milliseconds; whole
    seconds in UTC, as Dataverse keeps them."""
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, date):
        moment = datetime(raw.year, raw.month, raw.day)
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        moment = datetime.fromtimestamp(raw / 1000, UTC)
    elif isinstance(raw, str) and raw.strip():
        text = raw.strip()
        try:
            if _EPOCH_MS.match(text):
                moment = datetime.fromtimestamp(int(text) / 1000, UTC)
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except (ValueError, OverflowError):
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def to_date(raw: Any) -> date | None:
    moment = to_datetime(raw)
    return None if moment is None else moment.date()


def datetime_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def to_bool(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower() if raw is not None else ""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def as_text(raw: Any, kind: Kind | None) -> str | None:
    """A value of the given kind written as text: how it reads in a text field."""
    if blank(raw):
        return None
    if kind is Kind.NUMBER and (number := to_number(raw)) is not None:
        return number_text(number)
    if kind is Kind.DATE and (day := to_date(raw)) is not None:
        return day.isoformat()
    if kind is Kind.DATETIME and (moment := to_datetime(raw)) is not None:
        return datetime_text(moment)
    if kind is Kind.BOOL and (flag := to_bool(raw)) is not None:
        return "true" if flag else "false"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw).strip()


# --- values without a counterpart in a value mapping ---------------------------------------

UNMAPPED = "unmapped"


def unmapped(raw: str, side: Side) -> dict[str, str]:
    """A choice the value mapping has no counterpart for. It stays comparable (and storable
    in a snapshot as JSON) but is never written across; it names its side, as a HubSpot value
    and an app value that read the same are still different options."""
    return {UNMAPPED: raw, "side": str(side)}


def is_unmapped(value: Any) -> bool:
    return isinstance(value, dict) and UNMAPPED in value


# --- when a record changed -----------------------------------------------------------------

MODIFIED_FIELDS = {
    Side.HUBSPOT: ("hs_lastmodifieddate", "lastmodifieddate"),
    Side.APP: ("modifiedon",),
}


def record_modified_at(side: Side, properties: dict[str, Any]) -> datetime | None:
    """When a record last changed, from the stamp each app keeps on it (if it was read)."""
    for name in MODIFIED_FIELDS[side]:
        moment = to_datetime(properties.get(name))
        if moment is not None:
            return moment
    return None
