"""Matching records of the two sides on the initial sync and for records not linked yet."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas.events import Side

MATCH_FIELDS: dict[str, dict[Side, str]] = {
    "contacts": {Side.HUBSPOT: "email", Side.APP: "emailaddress1"},
}


def normalise_email(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value or None


def match_key(object_type: str, side: Side, properties: dict[str, Any]) -> str | None:
    fields = MATCH_FIELDS.get(object_type)
    if fields is None:
        return None
    return normalise_email(properties.get(fields[side]))


@dataclass
class MatchResult:
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (hubspot_id, app_id)
    # Keys held by more than one record on a side: those records are not matched or copied.
    duplicates: dict[Side, dict[str, list[str]]] = field(
        default_factory=lambda: {Side.HUBSPOT: {}, Side.APP: {}}
    )

    def duplicate_ids(self, side: Side) -> set[str]:
        return {rid for ids in self.duplicates[side].values() for rid in ids}


def _index(
    object_type: str, side: Side, records: Iterable[tuple[str, dict[str, Any]]]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    by_key: dict[str, list[str]] = defaultdict(list)
    for record_id, props in records:
        key = match_key(object_type, side, props)
        if key is not None:
            by_key[key].append(record_id)
    unique = {k: ids[0] for k, ids in by_key.items() if len(ids) == 1}
    dupes = {k: ids for k, ids in by_key.items() if len(ids) > 1}
    return unique, dupes


def match_all(
    object_type: str,
    hubspot: Iterable[tuple[str, dict[str, Any]]],
    app: Iterable[tuple[str, dict[str, Any]]],
) -> MatchResult:
    """Pair records of the two sides that share a match key; keys held twice on one side are
    reported as duplicates instead of being matched."""
    hs_unique, hs_dupes = _index(object_type, Side.HUBSPOT, hubspot)
    app_unique, app_dupes = _index(object_type, Side.APP, app)
    result = MatchResult()
    result.duplicates[Side.HUBSPOT] = hs_dupes
    result.duplicates[Side.APP] = app_dupes
    for key, hs_id in hs_unique.items():
        app_id = app_unique.get(key)
        if app_id is not None and key not in app_dupes:
            result.pairs.append((hs_id, app_id))
    return result
