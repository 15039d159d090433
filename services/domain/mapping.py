"""Field mappings: which HubSpot property pairs with which app field, and the canonical form
in which both sides' values are compared.

Values are compared keyed by mapping (`"hubspot_name:app_name"`), so that a snapshot taken on
one side can be compared with the other side's record without knowing either side's names.
"""

from typing import Any

from schemas.events import Side
from schemas.settings import FieldMapping, SyncSettings

# Default mappings per object: (HubSpot property, Dynamics 365 attribute).
DEFAULT_MAPPINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "contacts": (
        ("email", "emailaddress1"),
        ("firstname", "firstname"),
        ("lastname", "lastname"),
        ("phone", "telephone1"),
        ("jobtitle", "jobtitle"),
    ),
}

Canonical = dict[str, Any]


def mapping_key(mapping: FieldMapping) -> str:
    return f"{mapping.hubspot}:{mapping.app}"


def default_mappings(object_type: str) -> list[FieldMapping]:
    return [FieldMapping(hubspot=h, app=a) for h, a in DEFAULT_MAPPINGS.get(object_type, ())]


def effective_mappings(object_type: str, settings: SyncSettings) -> list[FieldMapping]:
    """The enabled mappings of a sync: its own list, or the object's defaults."""
    chosen = settings.mappings if settings.mappings is not None else default_mappings(object_type)
    return [m for m in chosen if m.enabled]


def field_name(mapping: FieldMapping, side: Side) -> str:
    return mapping.hubspot if side is Side.HUBSPOT else mapping.app


def normalise(value: Any) -> Any:
    """One form for values that mean the same: blank strings are no value."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def canonical(properties: dict[str, Any], mappings: list[FieldMapping], side: Side) -> Canonical:
    """A record's mapped values keyed by mapping; absent fields are None."""
    return {mapping_key(m): normalise(properties.get(field_name(m, side))) for m in mappings}


def to_side(values: Canonical, mappings: list[FieldMapping], side: Side) -> dict[str, Any]:
    """Canonical values as the given side's property names (only the keys present)."""
    return {
        field_name(m, side): values[mapping_key(m)] for m in mappings if mapping_key(m) in values
    }


def side_fields(mappings: list[FieldMapping], side: Side) -> list[str]:
    return sorted({field_name(m, side) for m in mappings})
