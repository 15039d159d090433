"""Sync rules that decide whether a record that never synced may start syncing.

Once a record has synced it keeps syncing whatever the rules say (HubSpot's behaviour): the
caller asks only about records without a link.
"""

import re
from typing import Any

from schemas.events import Side
from schemas.settings import Filter, SyncSettings
from services.domain.fieldtypes import blank, to_datetime, to_number

# Deliberately simple: one @, a dot in the domain, no spaces. HubSpot refuses what fails this.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

EMAIL_FIELDS = {Side.HUBSPOT: "email", Side.APP: "emailaddress1"}
SIDE_LABELS = {Side.HUBSPOT: "HubSpot", Side.APP: "app"}
EMAIL_REASON = "no valid email address (the sync is set to only sync contacts with an email)"


def is_valid_email(value: Any) -> bool:
    return isinstance(value, str) and bool(_EMAIL.match(value.strip()))


def only_with_email(object_type: str, settings: SyncSettings) -> bool:
    if settings.only_with_email is None:
        return object_type == "contacts"
    return settings.only_with_email


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().casefold()


def _equal(value: Any, wanted: Any) -> bool:
    """Equal as numbers when both are numbers (`100` = `100.0`), else as text ignoring case."""
    number, wanted_number = to_number(value), to_number(wanted)
    if number is not None and wanted_number is not None:
        return number == wanted_number
    return _text(value) == _text(wanted)


def _ordered(value: Any, wanted: Any) -> tuple[Any, Any] | None:
    """Both values as numbers, else both as moments (ISO text or epoch milliseconds, as
    HubSpot gives dates); None if they do not compare."""
    number, wanted_number = to_number(value), to_number(wanted)
    if number is not None and wanted_number is not None:
        return number, wanted_number
    moment, wanted_moment = to_datetime(value), to_datetime(wanted)
    if moment is not None and wanted_moment is not None:
        return moment, wanted_moment
    return None


def _choices(wanted: Any) -> list[Any]:
    return list(wanted) if isinstance(wanted, list | tuple | set) else [wanted]


def filter_matches(flt: Filter, properties: dict[str, Any]) -> bool:
    value = properties.get(flt.property)
    has_value = not blank(value)
    match flt.op:
        case "has_value":
            return has_value
        case "not_has_value":
            return not has_value
        case "eq":
            return has_value and _equal(value, flt.value)
        case "neq":
            return not (has_value and _equal(value, flt.value))
        case "in":
            return has_value and any(_equal(value, w) for w in _choices(flt.value))
        case "not_in":
            return not (has_value and any(_equal(value, w) for w in _choices(flt.value)))
        case "contains":
            return has_value and _text(flt.value) in _text(value)
        case "gt" | "lt":
            pair = _ordered(value, flt.value) if has_value else None
            if pair is None:
                return False
            return pair[0] > pair[1] if flt.op == "gt" else pair[0] < pair[1]
    return False


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple | set):
        return ", ".join(_shown(v) for v in value)
    return repr(value) if isinstance(value, str) else str(value)


_NEEDS = {
    "eq": "must be {}",
    "neq": "must not be {}",
    "has_value": "must have a value",
    "not_has_value": "must be empty",
    "in": "must be one of {}",
    "not_in": "must not be any of {}",
    "contains": "must contain {}",
    "gt": "must be greater than {}",
    "lt": "must be less than {}",
}


def describe_filter(side: Side, flt: Filter) -> str:
    """`left out by the HubSpot filter: lifecyclestage must be 'customer'`. The record's own
    value is not part of it, so that records left out for one reason group together."""
    needs = _NEEDS.get(flt.op, f"must satisfy {flt.op} {{}}").format(_shown(flt.value))
    return f"left out by the {SIDE_LABELS[side]} filter: {flt.property} {needs}"


def exclusion_reason(
    object_type: str, settings: SyncSettings, side: Side, properties: dict[str, Any]
) -> str | None:
    """Why a record that has not synced yet stays out of the sync, or None if it may sync."""
    if only_with_email(object_type, settings) and not is_valid_email(
        properties.get(EMAIL_FIELDS[side])
    ):
        return EMAIL_REASON
    filters = settings.filters.hubspot if side is Side.HUBSPOT else settings.filters.app
    for flt in filters:
        if not filter_matches(flt, properties):
            return describe_filter(side, flt)
    return None


def rule_fields(object_type: str, settings: SyncSettings, side: Side) -> list[str]:
    """The fields the rules read on a side (the email, the filters' properties): a record must
    be read with them, mapped or not, for the rules to judge it."""
    fields = {
        flt.property
        for flt in (settings.filters.hubspot if side is Side.HUBSPOT else settings.filters.app)
    }
    if only_with_email(object_type, settings):
        fields.add(EMAIL_FIELDS[side])
    return sorted(fields)
