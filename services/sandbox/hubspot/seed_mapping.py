"""How the shared seed generator's neutral records become HubSpot records, as tables.

The generator (`services.sandbox.seeding`) names fields neutrally and objects by datasync's
types; here each (object type, neutral field) has its HubSpot property, activities go to the
engagement object of their `kind`, sales orders to `orders`, and `refs` become associations of
HubSpot's default types (the primary company with the Primary label as well).
"""

from collections.abc import Callable
from typing import Any

from services.sandbox.hubspot.timestamps import iso, parse_datetime_ms

# datasync object type -> HubSpot object, for every type but activities.
HUBSPOT_OBJECT = {
    "companies": "companies",
    "contacts": "contacts",
    "products": "products",
    "deals": "deals",
    "invoices": "invoices",
    "sales_orders": "orders",
}
# activity kind -> HubSpot engagement object
ACTIVITY_OBJECT = {"task": "tasks", "call": "calls", "meeting": "meetings", "note": "notes"}

# (HubSpot object, neutral field) -> HubSpot property; a field absent here is not stored.
PROPERTY = {
    **{("companies", f): f for f in ("name", "domain", "phone", "city", "industry")},
    ("companies", "numberofemployees"): "numberofemployees",
    **{
        ("contacts", f): f
        for f in ("firstname", "lastname", "email", "phone", "jobtitle", "lifecyclestage", "city")
    },
    ("products", "name"): "name",
    ("products", "sku"): "hs_sku",
    ("products", "price"): "price",
    ("products", "description"): "description",
    ("deals", "name"): "dealname",
    ("deals", "amount"): "amount",
    ("deals", "stage"): "dealstage",
    ("deals", "closedate"): "closedate",
    ("invoices", "number"): "hs_number",
    ("invoices", "amount"): "hs_amount_billed",
    ("invoices", "currency"): "hs_currency",
    ("invoices", "duedate"): "hs_due_date",
    ("invoices", "status"): "hs_invoice_status",
    ("orders", "number"): "hs_external_order_id",
    ("orders", "name"): "hs_order_name",
    ("orders", "amount"): "hs_total_price",
    ("orders", "currency"): "hs_currency_code",
    ("orders", "status"): "hs_pipeline_stage",
    ("tasks", "subject"): "hs_task_subject",
    ("tasks", "body"): "hs_task_body",
    ("tasks", "status"): "hs_task_status",
    ("tasks", "timestamp"): "hs_timestamp",
    ("calls", "subject"): "hs_call_title",
    ("calls", "body"): "hs_call_body",
    ("calls", "timestamp"): "hs_timestamp",
    ("calls", "duration_ms"): "hs_call_duration",
    ("meetings", "subject"): "hs_meeting_title",
    ("meetings", "body"): "hs_meeting_body",
    ("meetings", "timestamp"): "hs_timestamp",
    ("notes", "body"): "hs_note_body",
    ("notes", "timestamp"): "hs_timestamp",
}

# Values HubSpot derives from others on the same record: (object, property) -> from fields.
Derived = Callable[[dict[str, Any]], Any]


def _meeting_end(fields: dict[str, Any]) -> Any:
    start = parse_datetime_ms(str(fields.get("timestamp") or ""))
    duration = fields.get("duration_ms")
    return iso(start + int(duration)) if start is not None and duration else None


DERIVED: dict[tuple[str, str], Derived] = {
    ("deals", "pipeline"): lambda fields: "default",
    ("meetings", "hs_meeting_start_time"): lambda fields: fields.get("timestamp"),
    ("meetings", "hs_meeting_end_time"): _meeting_end,
    ("orders", "hs_pipeline"): lambda fields: "default",
}


def hubspot_object(object_type: str, fields: dict[str, Any]) -> str:
    if object_type == "activities":
        return ACTIVITY_OBJECT[str(fields["kind"])]
    return HUBSPOT_OBJECT[object_type]


def hubspot_properties(hubspot_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The HubSpot properties of one neutral record (fields without a value left out)."""
    properties = {
        PROPERTY[(hubspot_name, name)]: value
        for name, value in fields.items()
        if value is not None and (hubspot_name, name) in PROPERTY
    }
    for (name, prop), derive in DERIVED.items():
        if name == hubspot_name:
            value = derive(fields)
            if value is not None:
                properties[prop] = value
    return properties
