"""The CRM objects the sandbox emulates, as data: adding an object is adding a row.

Default properties are those HubSpot's CRM search documentation lists per object ("the
properties that are returned by default"); object type ids are HubSpot's (`0-1` contacts and so
on). Legacy webhook subscription types (`contact.creation`, ...) exist only for contacts,
companies, deals and products; the other objects notify through the generic `object.*`
subscription types with `objectTypeId`, as HubSpot's generic webhooks do.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectDefinition:
    name: str  # path segment and seed key: "contacts"
    singular: str  # "contact": legacy webhook prefix and the noun of error messages
    type_id: str  # HubSpot objectTypeId, e.g. "0-1"
    default_properties: tuple[str, ...]
    created_property: str = "createdate"
    modified_properties: tuple[str, ...] = ("hs_lastmodifieddate",)
    unique_property: str | None = None  # the unique value its 409 messages are about
    legacy_webhooks: bool = False

    @property
    def noun(self) -> str:
        """How HubSpot names the object in messages: "CONTACT"."""
        return self.singular.upper()

    @property
    def system_properties(self) -> frozenset[str]:
        """Set by the sandbox on every write; always part of a returned record."""
        return frozenset({self.created_property, "hs_object_id", *self.modified_properties})

    @property
    def always_returned(self) -> tuple[str, ...]:
        return (self.created_property, "hs_object_id", self.modified_properties[0])


_ENGAGEMENT_DEFAULTS = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")


def _engagement(name: str, singular: str, type_id: str) -> ObjectDefinition:
    return ObjectDefinition(
        name=name,
        singular=singular,
        type_id=type_id,
        default_properties=_ENGAGEMENT_DEFAULTS,
        created_property="hs_createdate",
    )


OBJECTS: dict[str, ObjectDefinition] = {
    d.name: d
    for d in (
        ObjectDefinition(
            name="contacts",
            singular="contact",
            type_id="0-1",
            default_properties=(
                "createdate",
                "email",
                "firstname",
                "hs_object_id",
                "lastmodifieddate",
                "lastname",
            ),
            modified_properties=("lastmodifieddate", "hs_lastmodifieddate"),
            unique_property="email",
            legacy_webhooks=True,
        ),
        ObjectDefinition(
            name="companies",
            singular="company",
            type_id="0-2",
            default_properties=(
                "createdate",
                "domain",
                "hs_lastmodifieddate",
                "hs_object_id",
                "name",
            ),
            legacy_webhooks=True,
        ),
        ObjectDefinition(
            name="deals",
            singular="deal",
            type_id="0-3",
            default_properties=(
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ),
            legacy_webhooks=True,
        ),
        ObjectDefinition(
            name="products",
            singular="product",
            type_id="0-7",
            default_properties=(
                "createdate",
                "description",
                "hs_lastmodifieddate",
                "hs_object_id",
                "name",
                "price",
            ),
            legacy_webhooks=True,
        ),
        ObjectDefinition(
            name="invoices",
            singular="invoice",
            type_id="0-53",
            default_properties=("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
            created_property="hs_createdate",
        ),
        ObjectDefinition(
            name="orders",
            singular="order",
            type_id="0-123",
            default_properties=("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
            created_property="hs_createdate",
        ),
        _engagement("tasks", "task", "0-27"),
        _engagement("calls", "call", "0-48"),
        _engagement("meetings", "meeting", "0-47"),
        _engagement("notes", "note", "0-46"),
    )
}

# HubSpot also resolves an object by its singular name or its objectTypeId.
_ALIASES = {alias: d for d in OBJECTS.values() for alias in (d.name, d.singular, d.type_id)}


def resolve_object(segment: str) -> ObjectDefinition | None:
    return _ALIASES.get(segment.lower())
