"""Every table the sandbox serves, by entity set, and the lookups that point at each table."""

from services.sandbox.dynamics.columns import UNEMULATED_TARGETS
from services.sandbox.dynamics.entities import BUSINESS_ENTITIES
from services.sandbox.dynamics.reference import TRANSACTION_CURRENCY
from services.sandbox.dynamics.registration import REGISTRATION_ENTITIES
from services.sandbox.dynamics.schema import Attr, EntityDef

CATALOG: dict[str, EntityDef] = {
    e.entity_set: e for e in (*BUSINESS_ENTITIES, *REGISTRATION_ENTITIES, TRANSACTION_CURRENCY)
}
BY_LOGICAL_NAME: dict[str, EntityDef] = {e.logical_name: e for e in CATALOG.values()}


def _referrers() -> dict[str, list[tuple[EntityDef, Attr]]]:
    found: dict[str, list[tuple[EntityDef, Attr]]] = {}
    for entity in CATALOG.values():
        for attr in entity.lookups():
            for target in sorted(attr.targets):
                found.setdefault(target, []).append((entity, attr))
    return found


# Entity set -> the (table, lookup column) pairs that may point at its rows.
REFERRERS = _referrers()


def logical_name_of(entity_set: str) -> str | None:
    entity = CATALOG.get(entity_set)
    return entity.logical_name if entity else UNEMULATED_TARGETS.get(entity_set)
