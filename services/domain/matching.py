"""Matching records of the two sides on the initial sync and for records not linked yet.

Each object has its match keys, tried in order: contacts by email; companies by domain, then
by name (so the same name with another domain matches, and the reverse); products by SKU, then
by name. Deals, invoices, orders and activities have none: they sync by their links.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas.events import Side
from services.domain.normalisers import (
    normalise_code,
    normalise_domain,
    normalise_email,
    normalise_name,
)

__all__ = [
    "MATCH_FIELDS",
    "MATCH_KEYS",
    "MatchKey",
    "MatchResult",
    "match_all",
    "match_fields",
    "match_key",
    "match_keys",
    "normalise_email",
]


def _exact(value: str) -> list[str]:
    return [value]


def _web_addresses(domain: str) -> list[str]:
    """The ways an app may have stored a domain's web address."""
    hosts = (domain, f"www.{domain}")
    return [
        f"{scheme}{host}{slash}"
        for scheme in ("", "https://", "http://")
        for host in hosts
        for slash in ("", "/")
    ]


def _names(name: str) -> list[str]:
    return [name, f"{name}."]


@dataclass(frozen=True)
class MatchKey:
    """One way two records are recognised as the same entity."""

    name: str
    fields: dict[Side, str]
    normalise: Callable[[Any], str | None]
    # True where one record per value is expected on a side (email, domain, SKU): two records
    # with one value are duplicates. A name is not unique: two records sharing a name only
    # count as duplicates where that name would match a record on the other side.
    unique: bool = True
    # Raw values to look a normalised value up by in an app that compares exactly.
    lookup: Callable[[str], list[str]] = _exact

    def value(self, side: Side, properties: dict[str, Any]) -> str | None:
        return self.normalise(properties.get(self.fields[side]))

    def lookup_values(self, value: str) -> list[str]:
        """Raw values to search an app for, to find records whose normalised key is `value`
        when the app compares exactly (Dataverse `eq` ignores case, not a URL's scheme)."""
        return self.lookup(value)


MATCH_KEYS: dict[str, tuple[MatchKey, ...]] = {
    "contacts": (
        MatchKey("email", {Side.HUBSPOT: "email", Side.APP: "emailaddress1"}, normalise_email),
    ),
    "companies": (
        MatchKey(
            "domain",
            {Side.HUBSPOT: "domain", Side.APP: "websiteurl"},
            normalise_domain,
            lookup=_web_addresses,
        ),
        MatchKey("name", {Side.HUBSPOT: "name", Side.APP: "name"}, normalise_name, False, _names),
    ),
    "products": (
        MatchKey("sku", {Side.HUBSPOT: "hs_sku", Side.APP: "productnumber"}, normalise_code),
        MatchKey("name", {Side.HUBSPOT: "name", Side.APP: "name"}, normalise_name, False, _names),
    ),
}

# The first match key's field on each side (kept for callers that look up by one field).
MATCH_FIELDS: dict[str, dict[Side, str]] = {
    object_type: dict(keys[0].fields) for object_type, keys in MATCH_KEYS.items()
}


def match_fields(object_type: str, side: Side) -> list[str]:
    """Every field the object's match keys read on that side."""
    return sorted({key.fields[side] for key in MATCH_KEYS.get(object_type, ())})


def match_keys(object_type: str, side: Side, properties: dict[str, Any]) -> dict[str, str]:
    """The record's value of each match key it has one for, by key name, in key order."""
    values = {}
    for key in MATCH_KEYS.get(object_type, ()):
        value = key.value(side, properties)
        if value is not None:
            values[key.name] = value
    return values


def match_key(object_type: str, side: Side, properties: dict[str, Any]) -> str | None:
    """The record's value of the object's first match key (contacts: the email)."""
    keys = MATCH_KEYS.get(object_type)
    return keys[0].value(side, properties) if keys else None


@dataclass
class MatchResult:
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (hubspot_id, app_id)
    # Key values held by more than one record on a side ("email:ann@x.io" -> ids): those
    # records are neither matched nor copied.
    duplicates: dict[Side, dict[str, list[str]]] = field(
        default_factory=lambda: {Side.HUBSPOT: {}, Side.APP: {}}
    )
    # Records whose key value is held by several records on the other side: they are not
    # matched, and not copied either (the copy would be one more duplicate there).
    held: dict[Side, set[str]] = field(
        default_factory=lambda: {Side.HUBSPOT: set(), Side.APP: set()}
    )
    matched_by: dict[tuple[str, str], str] = field(default_factory=dict)  # pair -> key name

    def duplicate_ids(self, side: Side) -> set[str]:
        return {rid for ids in self.duplicates[side].values() for rid in ids}

    def skipped_ids(self, side: Side) -> set[str]:
        """Records of a side that the initial sync neither matches nor copies."""
        return self.duplicate_ids(side) | self.held[side]


def _group(key: MatchKey, side: Side, records: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for record_id, properties in records.items():
        value = key.value(side, properties)
        if value is not None:
            groups[value].append(record_id)
    return groups


def _match_by(
    key: MatchKey, remaining: dict[Side, dict[str, dict[str, Any]]], result: MatchResult
) -> None:
    groups = {side: _group(key, side, remaining[side]) for side in Side}
    for side in Side:
        other = groups[side.other]
        for value, ids in groups[side].items():
            if len(ids) < 2 or not (key.unique or value in other):
                continue
            result.duplicates[side][f"{key.name}:{value}"] = ids
            for record_id in ids:
                remaining[side].pop(record_id, None)
            for record_id in other.get(value, []):
                if len(other[value]) == 1:
                    result.held[side.other].add(record_id)
                    remaining[side.other].pop(record_id, None)
    for value, hubspot_ids in groups[Side.HUBSPOT].items():
        app_ids = groups[Side.APP].get(value, [])
        if len(hubspot_ids) != 1 or len(app_ids) != 1:
            continue
        hubspot_id, app_id = hubspot_ids[0], app_ids[0]
        if hubspot_id in remaining[Side.HUBSPOT] and app_id in remaining[Side.APP]:
            result.pairs.append((hubspot_id, app_id))
            result.matched_by[(hubspot_id, app_id)] = key.name
            del remaining[Side.HUBSPOT][hubspot_id], remaining[Side.APP][app_id]


def match_all(
    object_type: str,
    hubspot: Iterable[tuple[str, dict[str, Any]]],
    app: Iterable[tuple[str, dict[str, Any]]],
) -> MatchResult:
    """Pair records of the two sides that share a match key, trying the object's keys in
    order; a record is matched at most once, and records that share a key value on one side
    are reported as duplicates instead of being matched."""
    result = MatchResult()
    keys = MATCH_KEYS.get(object_type, ())
    if not keys:
        return result
    remaining = {Side.HUBSPOT: dict(hubspot), Side.APP: dict(app)}
    for key in keys:
        _match_by(key, remaining, result)
    return result
