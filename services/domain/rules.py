"""Sync rules that decide whether a record that never synced may start syncing."""

import re
from typing import Any

from schemas.events import Side
from schemas.settings import Filter, SyncSettings

# Deliberately simple: one @, a dot in the domain, no spaces. HubSpot refuses what fails this.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

EMAIL_FIELDS = {Side.HUBSPOT: "email", Side.APP: "emailaddress1"}


def is_valid_email(value: Any) -> bool:
    return isinstance(value, str) and bool(_EMAIL.match(value.strip()))


def only_with_email(object_type: str, settings: SyncSettings) -> bool:
    if settings.only_with_email is None:
        return object_type == "contacts"
    return settings.only_with_email


def _matches(flt: Filter, properties: dict[str, Any]) -> bool:
    value = properties.get(flt.property)
    has_value = value not in (None, "")
    if flt.op == "has_value":
        return has_value
    if flt.op == "not_has_value":
        return not has_value
    equal = has_value and str(value).strip().lower() == str(flt.value).strip().lower()
    return equal if flt.op == "eq" else not equal


def exclusion_reason(
    object_type: str, settings: SyncSettings, side: Side, properties: dict[str, Any]
) -> str | None:
    """Why a record that has not synced yet stays out of the sync, or None if it may sync."""
    if only_with_email(object_type, settings) and not is_valid_email(
        properties.get(EMAIL_FIELDS[side])
    ):
        return "no valid email address (the sync is set to only sync contacts with an email)"
    filters = settings.filters.hubspot if side is Side.HUBSPOT else settings.filters.app
    for flt in filters:
        if not _matches(flt, properties):
            return f"left out by the {side} filter on '{flt.property}' ({flt.op} {flt.value!r})"
    return None
