"""Which associations a sync keeps, and how an association is compared with its snapshot.

An association syncs only where the associated object's sync runs too. Of several associated
records only the primary one (or the first) syncs, as a Dataverse lookup holds one record.
The association is kept in the record's snapshots under `@<object>`, as the HubSpot id of the
associated record, so that a change is recognised the same way as a field's.
"""

from schemas.events import Side

# Object → the objects its records are associated with.
ASSOCIATIONS: dict[str, tuple[str, ...]] = {
    "contacts": ("companies",),
    "deals": ("companies", "contacts"),
    "invoices": ("contacts",),
    "sales_orders": ("contacts",),
    "activities": ("contacts", "companies", "deals"),
}


def snapshot_key(to_object: str) -> str:
    return f"@{to_object}"


def changed(
    side: Side, current: str | None, snapshot: dict[str, object] | None, to_object: str
) -> bool:
    """Whether the record's associated `to_object` record (its HubSpot id) differs from what
    last synced; a record that never had one synced and has none now has not changed."""
    before = (snapshot or {}).get(snapshot_key(to_object))
    return current is not None and current != before
