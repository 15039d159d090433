"""Deterministic seed data for both emulated apps, in neutral field names; pure, no I/O.

`generate_dataset(side, counts, seed)` returns what one side holds. Called for "hubspot" and
for "app" with the same counts and seed, the two datasets describe one world, in which
entity index i of an object type is the same entity on both sides:

- `counts[object_type]` is the number of indices. Index i exists on both sides when i % 4 is
  0 or 1, only in HubSpot when it is 2 and only in the app when it is 3: each side holds about
  three quarters of the count (plus duplicates), and half of it is shared.
- Shared entities carry the same match keys, with the variants the matcher must see through
  (see `entities.py`): contact emails in another case or with spaces, companies with the same
  name but another domain or the reverse, products without a SKU on the app side. Other
  fields differ, or are missing on one side, for a share of them.
- Index i % 50 == 49 of a matched object type (`MATCH_FIELDS`) also has a duplicate on each
  side holding it, keyed `key + "-dup"`, with the same fields: an initial sync must report it
  rather than match or copy it. Not where the real app refuses duplicates (`NO_DUPLICATES`).
- Associations (`refs`) name only keys that exist on the same side: where the natural target
  is absent, the index below it, which then is present.
"""

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from services.sandbox.seeding.entities import BUILDERS, Draw
from services.sandbox.seeding.vocabulary import (
    ACTIVITY_KINDS,
    CURRENCIES,
    DEAL_STAGES,
    INDUSTRIES,
    INVOICE_STATUSES,
    LIFECYCLE_STAGES,
    SALES_ORDER_STATUSES,
    TASK_STATUSES,
)

__all__ = [
    "ACTIVITY_KINDS",
    "CURRENCIES",
    "DEAL_STAGES",
    "INDUSTRIES",
    "INVOICE_STATUSES",
    "LIFECYCLE_STAGES",
    "MATCH_FIELDS",
    "NEUTRAL_FIELDS",
    "NO_DUPLICATES",
    "OBJECT_TYPES",
    "SALES_ORDER_STATUSES",
    "TASK_STATUSES",
    "Dataset",
    "SeedRecord",
    "Side",
    "exists_on",
    "generate_dataset",
]

Side = Literal["hubspot", "app"]

# Dependency order: a record only refers to object types before it.
OBJECT_TYPES: tuple[str, ...] = tuple(BUILDERS)

NEUTRAL_FIELDS: dict[str, tuple[str, ...]] = {
    "companies": ("name", "domain", "phone", "city", "industry", "numberofemployees"),
    "contacts": ("firstname", "lastname", "email", "phone", "jobtitle", "lifecyclestage", "city"),
    "products": ("name", "sku", "price", "description"),
    "deals": ("name", "amount", "stage", "closedate"),
    "invoices": ("number", "amount", "currency", "duedate", "status"),
    "sales_orders": ("number", "name", "amount", "currency", "status"),
    "activities": ("kind", "subject", "body", "timestamp", "status", "duration_ms"),
}

# The fields the initial sync matches on (any one of them equal is a match).
MATCH_FIELDS: dict[str, tuple[str, ...]] = {
    "contacts": ("email",),
    "companies": ("name", "domain"),
    "products": ("sku", "name"),
}

# HubSpot refuses a second contact with an email it already holds (409, as the sandbox does),
# so its side never holds contact duplicates; Dynamics accepts any.
NO_DUPLICATES: dict[str, frozenset[str]] = {
    "hubspot": frozenset({"contacts"}),
    "app": frozenset(),
}

_ONLY_ON: dict[str, int] = {"hubspot": 2, "app": 3}  # i % 4 of the entities only that side has


@dataclass(slots=True)
class SeedRecord:
    key: str  # stable across sides: "contacts-42", a duplicate "contacts-42-dup"
    fields: dict[str, Any]  # NEUTRAL_FIELDS of its object type; None where it has no value
    refs: dict[str, list[str]] = field(default_factory=dict)  # object type -> keys, same side
    primary_company: str | None = None  # contacts and deals: the first of refs["companies"]


@dataclass(frozen=True, slots=True)
class Dataset:
    side: Side
    seed: int
    counts: dict[str, int]
    records: dict[str, list[SeedRecord]]  # every object type, in OBJECT_TYPES order


def exists_on(side: Side, index: int) -> bool:
    """Whether entity `index` of any object type exists on `side` (duplicates aside)."""
    rest = index % 4
    return rest < 2 or rest == _ONLY_ON[side]


def generate_dataset(side: Side, counts: Mapping[str, int], seed: int = 0) -> Dataset:
    """What `side` holds; object types missing from `counts` have no records and no refs."""
    if side not in _ONLY_ON:
        raise ValueError(f"side must be 'hubspot' or 'app', not {side!r}")
    unknown = sorted(set(counts) - set(OBJECT_TYPES))
    if unknown:
        raise ValueError(f"unknown object types {unknown}; known: {list(OBJECT_TYPES)}")
    if any(not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in counts.values()):
        raise ValueError(f"counts must be non-negative integers: {dict(counts)}")
    side = "hubspot" if side == "hubspot" else "app"  # a str enum member becomes a plain str
    sizes = {t: counts.get(t, 0) for t in OBJECT_TYPES}
    records = {t: _records(t, side, sizes, seed) for t in OBJECT_TYPES}
    return Dataset(side=side, seed=seed, counts=sizes, records=records)


def _records(object_type: str, side: Side, counts: dict[str, int], seed: int) -> list[SeedRecord]:
    # One stream per object type, one draw per index whether the side has the entity or not:
    # entity i then depends only on the seed, its type and i, never on the side.
    rng = random.Random(f"datasync-seed:{seed}:{object_type}")
    build, link = BUILDERS[object_type], _LINKS[object_type]
    app, only = side == "app", _ONLY_ON[side]
    has_primary = object_type in ("contacts", "deals")
    duplicated = object_type in MATCH_FIELDS and object_type not in NO_DUPLICATES[side]
    records: list[SeedRecord] = []
    for i in range(counts[object_type]):
        draw = Draw(rng)
        rest = i % 4
        if rest > 1 and rest != only:
            continue
        refs = link(i, side, counts)
        companies = refs.get("companies") if has_primary else None
        primary = companies[0] if companies else None
        record = SeedRecord(f"{object_type}-{i}", build(draw, i, app), refs, primary)
        records.append(record)
        if duplicated and i % 50 == 49:
            copied_refs = {t: list(keys) for t, keys in refs.items()}
            records.append(
                SeedRecord(f"{record.key}-dup", dict(record.fields), copied_refs, primary)
            )
    return records


def _target(object_type: str, index: int, side: Side, counts: dict[str, int]) -> str | None:
    """The key of entity `index` (modulo the count) on `side`, or of the one below it."""
    n = counts.get(object_type, 0)
    if n == 0:
        return None
    index %= n
    if not exists_on(side, index):
        index -= 1  # absent means i % 4 is this side's other-only rest, 2 or 3: i - 1 is present
    return f"{object_type}-{index}"


def _contact_links(i: int, side: Side, counts: dict[str, int]) -> dict[str, list[str]]:
    first = _target("companies", i, side, counts)
    if first is None:
        return {}
    if i % 7 == 0:
        second = _target("companies", i + 1 + counts["companies"] // 2, side, counts)
        if second is not None and second != first:  # with few companies they may coincide
            return {"companies": [first, second]}
    return {"companies": [first]}


def _deal_links(i: int, side: Side, counts: dict[str, int]) -> dict[str, list[str]]:
    refs = {}
    company = _target("companies", i, side, counts)
    if company is not None:
        refs["companies"] = [company]
    contact = _target("contacts", i * 5, side, counts)
    if contact is not None:
        refs["contacts"] = [contact]
        # Two above: where i * 5 + 2 is absent, the one below it still differs from the first.
        other = _target("contacts", i * 5 + 2, side, counts) if i % 3 == 0 else None
        if other is not None and other != contact:
            refs["contacts"].append(other)
    return refs


def _order_links(i: int, side: Side, counts: dict[str, int]) -> dict[str, list[str]]:
    contact = _target("contacts", i * 3, side, counts)
    return {"contacts": [contact]} if contact is not None else {}


def _activity_links(i: int, side: Side, counts: dict[str, int]) -> dict[str, list[str]]:
    targets = (
        ("contacts", True),
        ("companies", i % 3 == 0),  # a share also names a company, a deal, or both
        ("deals", i % 5 == 0),
    )
    refs = {}
    for object_type, wanted in targets:
        key = _target(object_type, i, side, counts) if wanted else None
        if key is not None:
            refs[object_type] = [key]
    return refs


def _no_links(i: int, side: Side, counts: dict[str, int]) -> dict[str, list[str]]:
    return {}


_LINKS: dict[str, Callable[[int, Side, dict[str, int]], dict[str, list[str]]]] = {
    "companies": _no_links,
    "contacts": _contact_links,
    "products": _no_links,
    "deals": _deal_links,
    "invoices": _order_links,
    "sales_orders": _order_links,
    "activities": _activity_links,
}
