"""CRM search (`POST /crm/v3/objects/{object}/search`): filters, sorts, paging, as documented.

HubSpot's search reference: filter groups are ORed, filters inside a group ANDed; at most 5
groups, 10 filters per group and 25 in all; `limit` up to 200; an `after` offset; one sort;
no more than 10,000 results reachable by paging (asking beyond is a 400). Datetime values are
compared as epoch milliseconds whether given as milliseconds or ISO-8601; strings compare
case-insensitively.
"""

import fnmatch
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.sandbox.hubspot.objects import ObjectDefinition
from services.sandbox.hubspot.store import ObjectStore, Record, parse_datetime_ms

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
MAX_LIMIT = 200
MAX_REACHABLE = 10_000

Operator = Literal[
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
]
Scalar = str | int | float | bool
Comparable = float | str | None


class Filter(BaseModel):
    propertyName: str
    operator: Operator
    value: Scalar | None = None
    highValue: Scalar | None = None
    values: list[Scalar] | None = None


class FilterGroup(BaseModel):
    filters: list[Filter] = Field(default_factory=list)


class Sort(BaseModel):
    propertyName: str
    direction: Literal["ASCENDING", "DESCENDING"] = "ASCENDING"


class SearchRequest(BaseModel):
    filterGroups: list[FilterGroup] = Field(default_factory=list)
    sorts: list[Sort] = Field(default_factory=list)
    query: str | None = None
    properties: list[str] = Field(default_factory=list)
    limit: int = 10
    after: str | int | None = None


class InvalidSearch(Exception):
    pass


_TOKEN_SPLIT = re.compile(r"[\s,;]+")


def run(store: ObjectStore, request: SearchRequest) -> tuple[int, list[Record], int | None]:
    """(total matches, this page, the `after` of the next page or None)."""
    _check_limits(request)
    offset = _offset(request.after)
    definition = store.definition
    temporal = store.properties.temporal
    groups = [
        [_predicate(f, definition, temporal) for f in g.filters] for g in request.filterGroups
    ]
    query = request.query
    matched = [
        r
        for r in store.live()
        if (not query or _matches_query(r, query))
        and (not groups or any(all(p(r) for p in group) for group in groups))
    ]
    if request.sorts:
        matched = _sorted(matched, request.sorts[0], definition, temporal)
    reachable = min(len(matched), MAX_REACHABLE)
    end = min(offset + request.limit, reachable)
    page = matched[offset:end]
    return len(matched), page, (end if end < reachable else None)


def _check_limits(request: SearchRequest) -> None:
    groups = request.filterGroups
    if len(groups) > MAX_GROUPS:
        raise InvalidSearch(f"Too many filter groups: {len(groups)}; the maximum is {MAX_GROUPS}")
    if any(len(g.filters) > MAX_FILTERS_PER_GROUP for g in groups):
        raise InvalidSearch(f"A filter group may hold at most {MAX_FILTERS_PER_GROUP} filters")
    if sum(len(g.filters) for g in groups) > MAX_FILTERS:
        raise InvalidSearch(f"A search may hold at most {MAX_FILTERS} filters")
    if not 1 <= request.limit <= MAX_LIMIT:
        raise InvalidSearch(f"limit must be between 1 and {MAX_LIMIT}")
    if len(request.sorts) > 1:
        raise InvalidSearch("At most one sort is supported")


def _offset(after: str | int | None) -> int:
    if after in (None, ""):
        return 0
    text = str(after)
    if not text.isdigit():
        raise InvalidSearch(f"after must be a non-negative integer offset, got {text!r}")
    offset = int(text)
    if offset >= MAX_REACHABLE:
        raise InvalidSearch(f"Search results are capped at {MAX_REACHABLE}; cannot page beyond")
    return offset


def _matches_query(record: Record, query: str) -> bool:
    """Every query word prefixes some word of some text property (HubSpot's free-text search)."""
    words = [w.lower() for v in record.properties.values() for w in _TOKEN_SPLIT.split(v) if w]
    return all(any(w.startswith(term) for w in words) for term in query.lower().split())


def _comparable(value: Any, datetime_property: bool) -> Comparable:
    if value is None:
        return None
    text = str(value).strip()
    if datetime_property:
        ms = parse_datetime_ms(text)
        return float(ms) if ms is not None else None
    try:
        return float(text)
    except ValueError:
        return text.casefold()


def _getter(
    name: str, definition: ObjectDefinition, temporal: frozenset[str]
) -> Callable[[Record], Comparable]:
    """How to read a property for comparison; the record's own stamps are already numbers."""
    if name == definition.created_property:
        return lambda r: float(r.created_ms)
    if name in definition.modified_properties:
        return lambda r: float(r.updated_ms)
    is_datetime = name in temporal

    def value(record: Record) -> Comparable:
        raw = record.properties.get(name)
        return _comparable(raw, is_datetime) if raw else None

    return value


def _same_kind(a: Comparable, b: Comparable) -> bool:
    return a is not None and b is not None and isinstance(a, str) == isinstance(b, str)


def _predicate(
    f: Filter, definition: ObjectDefinition, temporal: frozenset[str]
) -> Callable[[Record], bool]:
    name, operator = f.propertyName, f.operator
    if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        wanted = operator == "HAS_PROPERTY"
        return lambda r: bool(r.properties.get(name)) is wanted
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token, wanted = str(f.value or ""), operator == "CONTAINS_TOKEN"
        return lambda r: (
            bool(r.properties.get(name) and _contains_token(r.properties[name], token)) is wanted
        )
    is_datetime = name in temporal
    actual = _getter(name, definition, temporal)
    if operator in ("IN", "NOT_IN"):
        values = {_comparable(v, is_datetime) for v in f.values or []}
        wanted = operator == "IN"
        return lambda r: (actual(r) in values) is wanted
    expected = _comparable(f.value, is_datetime)
    if operator == "NEQ":
        return lambda r: actual(r) != expected
    if operator == "BETWEEN":
        high = _comparable(f.highValue, is_datetime)

        def between(record: Record) -> bool:
            value = actual(record)
            return (
                _same_kind(value, expected)
                and _same_kind(value, high)
                and (
                    expected <= value <= high  # type: ignore[operator]
                )
            )

        return between
    return lambda r: (
        _same_kind(value := actual(r), expected) and _compare(operator, value, expected)
    )


def _compare(operator: str, actual: Any, expected: Any) -> bool:
    match operator:
        case "EQ":
            return bool(actual == expected)
        case "LT":
            return bool(actual < expected)
        case "LTE":
            return bool(actual <= expected)
        case "GT":
            return bool(actual > expected)
        case "GTE":
            return bool(actual >= expected)
    return False


def _contains_token(value: str, token: str) -> bool:
    """A word of the value equals the token; `*` is a wildcard, also across the whole value."""
    pattern = token.strip().lower()
    if not pattern:
        return False
    text = value.lower()
    words = [w for w in re.split(r"[^\w@.*+-]+", text) if w]
    if "*" in pattern:
        return fnmatch.fnmatchcase(text, pattern) or any(
            fnmatch.fnmatchcase(w, pattern) for w in words
        )
    return pattern == text or pattern in words or pattern in re.split(r"\W+", text)


def _sorted(
    records: Iterable[Record], sort: Sort, definition: ObjectDefinition, temporal: frozenset[str]
) -> list[Record]:
    """Stable within equal values (so id order breaks ties); records without a value last."""
    value = _getter(sort.propertyName, definition, temporal)
    keyed = [(value(r), r) for r in records]
    present = [(k, r) for k, r in keyed if k is not None]
    missing = [r for k, r in keyed if k is None]
    present.sort(key=lambda kr: _sort_key(kr[0]), reverse=sort.direction == "DESCENDING")
    return [r for _, r in present] + missing


def _sort_key(value: Comparable) -> tuple[int, float, str]:
    return (0, value, "") if isinstance(value, float) else (1, 0.0, str(value))
