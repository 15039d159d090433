"""`GET <entityset>`: query a table, one page at a time, or read its changes since a token.

Change tracking (Use change tracking to synchronize data with external systems): with
`Prefer: odata.track-changes` the last page carries `@odata.deltaLink` with a `$deltatoken`;
that link returns the rows created or updated since, and deleted rows as
`{"@odata.context": ".../$metadata#contacts/$deletedEntity", "id", "reason": "deleted"}`.
`$filter`, `$orderby`, `$expand` and `$top` are refused with change tracking, as Dataverse does.
"""

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from services.sandbox.dynamics.errors import ODataError
from services.sandbox.dynamics.filtering import compile_filter
from services.sandbox.dynamics.query import (
    MAX_PAGE_SIZE,
    Order,
    Prefer,
    context_url,
    lower_escapes,
    make_skiptoken,
    next_link,
    parse_orderby,
    parse_select,
    parse_top,
    read_skiptoken,
    serialize,
    sort_key,
)
from services.sandbox.dynamics.schema import EntityDef, Row
from services.sandbox.dynamics.table import Table

COUNT_LIMIT = 5000
CACHED_QUERIES = 8
_NOT_EMULATED = ("$expand", "$apply", "$search", "fetchXml", "savedQuery", "userQuery")


@dataclass
class Page:
    body: dict[str, Any]
    applied: list[str] = field(default_factory=list)  # Preference-Applied values


def _reject_options(params: Mapping[str, str]) -> None:
    if "$skip" in params:
        raise ODataError.query("The query parameter $skip is not supported")
    for option in _NOT_EMULATED:
        if option in params:
            raise ODataError.query(f"The query option '{option}' is not emulated by the sandbox.")


def count_rows(table: Table, params: Mapping[str, str]) -> int:
    """`GET <entityset>/$count`: matching rows, at most 5,000 as Dataverse counts them."""
    rows = _filtered(table, params.get("$filter"))
    return min(len(rows), COUNT_LIMIT)


def _filtered(table: Table, text: str | None) -> list[Row]:
    if not text:
        return list(table.rows.values())
    predicate = compile_filter(text, table.entity)
    return [row for row in table.rows.values() if predicate(row) is True]


def _sorted(table: Table, filter_text: str | None, orderby: str | None, key: Any) -> list[Row]:
    """Matching rows in page order. Paging through a large table asks the same query again
    and again, so the result is kept until the table changes."""
    cached = table.cache.get((filter_text, orderby))
    if cached is not None and cached[0] == table.revision:
        return cached[1]
    rows = _filtered(table, filter_text)
    rows.sort(key=key)
    if len(table.cache) >= CACHED_QUERIES:
        table.cache.pop(next(iter(table.cache)))
    table.cache[(filter_text, orderby)] = (table.revision, rows)
    return rows


def list_rows(
    table: Table,
    params: Mapping[str, str],
    prefer: Prefer,
    base: str,
    raw_query: str,
    org_version: int,
) -> Page:
    entity = table.entity
    _reject_options(params)
    select = parse_select(params.get("$select"), entity)
    if prefer.track_changes or "$deltatoken" in params:
        return _changes(table, params, prefer, base, raw_query, org_version, select)
    order = parse_orderby(params.get("$orderby"), entity)
    top = parse_top(params.get("$top"))
    if prefer.maxpagesize is not None:
        top = None  # "If you include both, $top is ignored." (Page results using OData)
    key = sort_key(order, entity.primary_id)
    rows = _sorted(table, params.get("$filter"), params.get("$orderby"), key)
    page_number, start = _resume(rows, params.get("$skiptoken"), order, entity, key)
    size = top if top is not None else prefer.maxpagesize or MAX_PAGE_SIZE
    page = rows[start : start + size]
    body: dict[str, Any] = {"@odata.context": context_url(base, entity.entity_set, select)}
    if params.get("$count") == "true":
        body["@odata.count"] = min(len(rows), COUNT_LIMIT)
    body["value"] = [serialize(row, entity, select, prefer) for row in page]
    if top is None and start + size < len(rows):
        token = make_skiptoken(page_number, page[0], page[-1], order, entity, tracking=False)
        body["@odata.nextLink"] = next_link(f"{base}{entity.entity_set}", raw_query, token)
    applied = [f"odata.maxpagesize={prefer.maxpagesize}"] if prefer.maxpagesize else []
    return Page(body, applied)


def _resume(
    rows: list[Row], skiptoken: str | None, order: Order, entity: EntityDef, key: Any
) -> tuple[int, int]:
    """The page number and the index the page starts at: right after the cookie's last row."""
    if not skiptoken:
        return 1, 0
    page_number, last = read_skiptoken(skiptoken, order, entity)
    return page_number, bisect_right(rows, key(last), key=key)


def _delta_token(version: int) -> str:
    stamp = datetime.now(UTC).strftime("%m/%d/%Y %H:%M:%S")
    return lower_escapes(quote(f"{version}!{stamp}", safe=""))


def _since(params: Mapping[str, str]) -> int:
    token = params.get("$deltatoken")
    if token is None:
        return 0
    version = unquote(token).partition("!")[0]
    if not version.isdigit():
        raise ODataError.query("The $deltatoken value is not valid.")
    return int(version)


def _changes(
    table: Table,
    params: Mapping[str, str],
    prefer: Prefer,
    base: str,
    raw_query: str,
    org_version: int,
    select: Any,
) -> Page:
    entity = table.entity
    for option in ("$filter", "$orderby", "$top"):
        if option in params:
            raise ODataError.query(
                f'The "{option}" query parameter isn\'t supported when Change Tracking is enabled.'
            )
    since = _since(params)
    changes: list[Row] = [row for row in table.rows.values() if row["versionnumber"] > since]
    if since:
        changes += [
            {"versionnumber": version, entity.primary_id: record_id, "@deleted": True}
            for record_id, version in table.tombstones.items()
            if version > since and record_id not in table.rows
        ]
    order: Order = [("versionnumber", False)]
    key = sort_key(order, entity.primary_id)
    changes.sort(key=key)
    page_number, start = _resume(changes, params.get("$skiptoken"), order, entity, key)
    size = prefer.maxpagesize or MAX_PAGE_SIZE
    page = changes[start : start + size]
    suffix = "/$delta" if since else ""
    body: dict[str, Any] = {"@odata.context": context_url(base, entity.entity_set, select, suffix)}
    body["value"] = [
        {
            "@odata.context": f"{base}$metadata#{entity.entity_set}/$deletedEntity",
            "id": row[entity.primary_id],
            "reason": "deleted",
        }
        if row.get("@deleted")
        else serialize(row, entity, select, prefer)
        for row in page
    ]
    url = f"{base}{entity.entity_set}"
    if start + size < len(changes):
        token = make_skiptoken(page_number, page[0], page[-1], order, entity, tracking=True)
        body["@odata.nextLink"] = next_link(url, raw_query, token)
    else:
        kept = [
            p
            for p in raw_query.split("&")
            if p and not unquote(p).startswith(("$skiptoken=", "$deltatoken="))
        ]
        kept.append(f"$deltatoken={_delta_token(org_version)}")
        body["@odata.deltaLink"] = f"{url}?{'&'.join(kept)}"
    applied = ["odata.track-changes"] if prefer.track_changes else []
    if prefer.maxpagesize:
        applied.append(f"odata.maxpagesize={prefer.maxpagesize}")
    return Page(body, applied)
