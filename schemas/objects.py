"""The object types datasync syncs and their names on each side."""

from typing import Literal, get_args

ObjectType = Literal[
    "contacts", "companies", "deals", "products", "invoices", "activities", "sales_orders"
]
OBJECT_TYPES: tuple[str, ...] = get_args(ObjectType)

# HubSpot CRM v3 object names behind each datasync object type.
HUBSPOT_OBJECTS: dict[str, tuple[str, ...]] = {
    "contacts": ("contacts",),
    "companies": ("companies",),
    "deals": ("deals",),
    "products": ("products",),
    "invoices": ("invoices",),
    "activities": ("tasks", "calls", "meetings", "notes"),
    "sales_orders": ("orders",),
}

# Dataverse entity sets behind each datasync object type.
DYNAMICS_ENTITY_SETS: dict[str, tuple[str, ...]] = {
    "contacts": ("contacts",),
    "companies": ("accounts",),
    "deals": ("opportunities",),
    "products": ("products",),
    "invoices": ("invoices",),
    "activities": ("tasks", "phonecalls", "appointments", "annotations"),
    "sales_orders": ("salesorders",),
}


# Activities span several entities on each side. Their records carry a compound id,
# "<entity>/<id>", and the kind names the entity pair: kind → (HubSpot object, Dynamics set).
ACTIVITY_KINDS: dict[str, tuple[str, str]] = {
    "task": ("tasks", "tasks"),
    "call": ("calls", "phonecalls"),
    "meeting": ("meetings", "appointments"),
    "note": ("notes", "annotations"),
}


def compound_id(entity: str, record_id: str) -> str:
    return f"{entity}/{record_id}"


def split_id(record_id: str) -> tuple[str | None, str]:
    """(entity, id) of a compound id; (None, id) for a plain one."""
    entity, sep, rest = record_id.partition("/")
    return (entity, rest) if sep else (None, record_id)


def kind_of(record_id: str) -> str | None:
    """The activity kind of a compound id from either side, or None."""
    entity, _ = split_id(record_id)
    for kind, names in ACTIVITY_KINDS.items():
        if entity in names:
            return kind
    return None
