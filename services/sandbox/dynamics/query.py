"""Query options other than `$filter`: `$select`, `$orderby`, `$top`, `Prefer`, paging cookies.

Paging (Page results using OData): without `Prefer: odata.maxpagesize=N` a page holds up to
5,000 rows; `@odata.nextLink` repeats the request's query with a `$skiptoken` that is a
Dataverse paging cookie, `<cookie pagenumber="2" pagingcookie="..." istracking="False" />`,
whose inner cookie names the sort columns' first and last values on the page. The sandbox
resumes after those values, so rows written between two pages neither shift nor repeat pages.
"""

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import quote, unquote

from services.sandbox.dynamics.errors import ODataError
from services.sandbox.dynamics.formatting import formatted_value
from services.sandbox.dynamics.schema import (
    Attr,
    AttrType,
    EntityDef,
    Row,
    format_datetime,
    from_text,
    to_json,
)

MAX_PAGE_SIZE = 5000
LOOKUP_LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
ASSOCIATED_NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"
FORMATTED_VALUE = "OData.Community.Display.V1.FormattedValue"

Order = list[tuple[str, bool]]  # (column, descending)


@dataclass(frozen=True)
class Prefer:
    representation: bool = False
    maxpagesize: int | None = None
    track_changes: bool = False
    annotations: tuple[str, ...] = ()

    def wants(self, annotation: str) -> bool:
        return any(fnmatchcase(annotation, pattern) for pattern in self.annotations)


def _split_outside_quotes(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_prefer(values: Iterable[str]) -> Prefer:
    representation, track, pagesize = False, False, None
    annotations: tuple[str, ...] = ()
    for value in values:
        for item in _split_outside_quotes(value):
            key, _, raw = item.partition("=")
            key, raw = key.strip().lower(), raw.strip().strip('"')
            if key == "return" and raw == "representation":
                representation = True
            elif key == "odata.track-changes":
                track = True
            elif key == "odata.maxpagesize" and raw.isdigit() and 0 < int(raw) <= MAX_PAGE_SIZE:
                pagesize = int(raw)  # larger requests are ignored, as Dataverse does
            elif key == "odata.include-annotations":
                annotations = tuple(p.strip() for p in raw.split(",") if p.strip())
    return Prefer(representation, pagesize, track, annotations)


def parse_select(text: str | None, entity: EntityDef) -> list[Attr] | None:
    if not text:
        return None
    selected: list[Attr] = []
    for name in (n.strip() for n in text.split(",")):
        attr = entity.attr(name)
        if attr is None or not attr.read:
            raise ODataError.property_not_found(entity.type_name, name)
        if attr not in selected:
            selected.append(attr)
    return selected


def parse_orderby(text: str | None, entity: EntityDef) -> Order:
    order: Order = []
    for clause in (c.strip() for c in (text or "").split(",") if c.strip()):
        name, _, direction = clause.partition(" ")
        direction = direction.strip().lower() or "asc"
        attr = entity.attr(name)
        if attr is None or not attr.read:
            raise ODataError.property_not_found(entity.type_name, name)
        if direction not in ("asc", "desc"):
            raise ODataError.query(f"Syntax error at position {len(clause)} in '{clause}'.")
        order.append((name, direction == "desc"))
    return order


def parse_top(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise ODataError.query(f"Invalid value '{text}' for $top query option found.")
    return int(text)


class _Desc:
    """Inverts the order of one sort-key component."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: "_Desc") -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def sort_key(order: Order, primary_id: str) -> Any:
    """Key of a row: its order columns (nulls first, as SQL sorts), then its primary key."""

    if not order:
        return lambda row: row[primary_id]

    def key(row: Row) -> tuple[Any, ...]:
        parts: list[Any] = []
        for name, descending in order:
            value = row.get(name)
            part = (
                (0,)
                if value is None
                else (1, value.casefold() if isinstance(value, str) else value)
            )
            parts.append(_Desc(part) if descending else part)
        parts.append(row[primary_id])
        return tuple(parts)

    return key


def lower_escapes(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def _cookie_text(attr: Attr | None, value: Any) -> str:
    if value is None:
        return ""
    if attr is not None and attr.type in (AttrType.GUID, AttrType.LOOKUP):
        return "{" + str(value).upper() + "}"
    if attr is not None and attr.type is AttrType.DATETIME:
        return format_datetime(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def make_skiptoken(
    page: int, first: Row, last: Row, order: Order, entity: EntityDef, tracking: bool
) -> str:
    """The `$skiptoken` value (before URL encoding) for the page after `last`."""
    root = ET.Element("cookie", page=str(page))
    for name in [n for n, _ in order] + [entity.primary_id]:
        attr = entity.attr(name)
        element = ET.SubElement(root, name)
        element.set("last", _cookie_text(attr, last.get(name)))
        element.set("first", _cookie_text(attr, first.get(name)))
        if last.get(name) is None:
            element.set("lastnull", "1")
    inner = lower_escapes(quote(ET.tostring(root, encoding="unicode"), safe=""))
    return (
        f'<cookie pagenumber="{page + 1}" pagingcookie="{inner}" '
        f'istracking="{"True" if tracking else "False"}" />'
    )


def read_skiptoken(token: str, order: Order, entity: EntityDef) -> tuple[int, Row]:
    """The page number and the last row's sort values a `$skiptoken` carries."""
    outer = re.search(r'pagenumber="(\d+)"[^>]*pagingcookie="([^"]*)"', token)
    try:
        if outer is None:
            raise ValueError(token)
        root = ET.fromstring(unquote(outer.group(2)))
        last: Row = {}
        for name in [n for n, _ in order] + [entity.primary_id]:
            element = root.find(name)
            attr = entity.attr(name)
            if element is None or attr is None:
                raise ValueError(name)
            text = element.get("last", "")
            if element.get("lastnull") == "1":
                last[name] = None
            elif attr.type in (AttrType.GUID, AttrType.LOOKUP):
                last[name] = text.strip("{}").lower()
            else:
                last[name] = from_text(entity, attr, text)
        return int(outer.group(1)), last
    except (ValueError, ET.ParseError, ODataError) as exc:
        raise ODataError.query("The $skiptoken value is not valid for this query.") from exc


def next_link(url_base: str, raw_query: str, skiptoken: str) -> str:
    """The request URL again, its own `$skiptoken` replaced by the new one."""
    kept = [p for p in raw_query.split("&") if p and not unquote(p).startswith("$skiptoken=")]
    kept.append("$skiptoken=" + quote(skiptoken, safe="=/"))
    return f"{url_base}?{'&'.join(kept)}"


def context_url(base: str, entity_set: str, select: Sequence[Attr] | None, suffix: str = "") -> str:
    columns = f"({','.join(a.name for a in select)})" if select else ""
    return f"{base}$metadata#{entity_set}{columns}{suffix}"


def serialize(
    row: Row, entity: EntityDef, select: Sequence[Attr] | None, prefer: Prefer
) -> dict[str, Any]:
    """A stored row as the Web API returns it: etag, the selected columns, then the key."""
    out: dict[str, Any] = {"@odata.etag": f'W/"{row["versionnumber"]}"'}
    for attr in select or entity.readable():
        if attr.name == entity.primary_id:
            continue
        value = row.get(attr.name)
        if prefer.annotations and value is not None:
            _annotate(out, row, attr, value, prefer)
        out[attr.name] = to_json(value)
    out[entity.primary_id] = row[entity.primary_id]
    return out


def _annotate(out: dict[str, Any], row: Row, attr: Attr, value: Any, prefer: Prefer) -> None:
    if prefer.wants(FORMATTED_VALUE):
        formatted = formatted_value(attr, value)
        if formatted is not None:
            out[f"{attr.name}@{FORMATTED_VALUE}"] = formatted
    if attr.type is AttrType.LOOKUP:
        for annotation in (ASSOCIATED_NAVIGATION, LOOKUP_LOGICAL_NAME):
            key = f"{attr.name}@{annotation}"
            if key in row and prefer.wants(annotation):
                out[key] = row[key]
