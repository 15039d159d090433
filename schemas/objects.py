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
