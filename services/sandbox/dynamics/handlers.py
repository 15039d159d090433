"""Serving one Web API operation against an organisation, whether it came alone or in a $batch.

Records are addressed by primary key or alternate key (`contacts(emailaddress1='a@x.io')`);
`PATCH` is an upsert (a missing record is created unless `If-Match: *`, an existing one kept
unless `If-None-Match: *`). Single-valued navigation properties are associated with
`PUT <record>/<navigation>/$ref {"@odata.id": ...}` and disassociated with
`DELETE <record>/<navigation>/$ref`; one column is read, set or cleared with
`GET/PUT/DELETE <record>/<column>` (Associate and disassociate tables using the Web API;
Update and delete table rows using the Web API). Every operation runs in `Org.atomic()`.
"""

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.datastructures import Headers

from services.sandbox.dynamics.catalog import CATALOG
from services.sandbox.dynamics.errors import JSON_MEDIA_TYPE, ODATA_HEADERS, ODataError
from services.sandbox.dynamics.keys import parse_key, split_segment
from services.sandbox.dynamics.listing import count_rows, list_rows
from services.sandbox.dynamics.query import (
    LOOKUP_LOGICAL_NAME,
    Prefer,
    context_url,
    parse_prefer,
    parse_select,
    serialize,
)
from services.sandbox.dynamics.schema import AttrType, EntityDef, Row, to_json
from services.sandbox.dynamics.store import Change, Org

if TYPE_CHECKING:
    from services.sandbox.dynamics.state import Sandbox

ACTOR_HEADER = "x-sandbox-actor"


@dataclass
class Invocation:
    """One operation, resolved to its organisation; `changes` collects what it wrote."""

    sandbox: "Sandbox"
    org: Org
    method: str
    resource: str  # the path after the service root, e.g. "contacts(...)"
    query: str
    headers: Headers
    body: bytes
    base: str  # the organisation's service root URL, ending in "/"
    changes: list[Change] = field(default_factory=list)
    writes: int = 0  # successful write operations on CRM tables

    def __post_init__(self) -> None:
        self.params = dict(parse_qsl(self.query, keep_blank_values=True))
        self.prefer: Prefer = parse_prefer(self.headers.getlist("prefer"))
        human = self.headers.get(ACTOR_HEADER, "").lower() == "user"
        identity = self.org.identity
        self.user_id = identity.human_user_id if human else identity.application_user_id

    def json_body(self, entity_set: str) -> dict[str, Any]:
        try:
            body = json.loads(self.body) if self.body.strip() else {}
        except ValueError:
            raise ODataError.payload(entity_set, "Invalid JSON payload.") from None
        if not isinstance(body, dict):
            raise ODataError.payload(entity_set, "The payload must be a JSON object.")
        return body

    def wrote(self, changes: list[Change]) -> None:
        self.changes.extend(changes)
        if any(change.entity.business for change in changes):
            self.writes += 1


def commit(sandbox: "Sandbox", org: Org, changes: list[Change], writes: int) -> None:
    """Counts committed writes and hands their changes to the webhook dispatcher."""
    counters = sandbox.counters_of(org.name)
    counters.writes += writes
    counters.records_written += sum(1 for change in changes if change.entity.business)
    for change in changes:
        sandbox.webhooks.notify(org, change)


def json_response(
    body: dict[str, Any], status: int = 200, applied: list[str] | None = None
) -> Response:
    headers = dict(ODATA_HEADERS)
    if applied:
        headers["Preference-Applied"] = ",".join(applied)
    return JSONResponse(body, status, headers=headers, media_type=JSON_MEDIA_TYPE)


def _no_content(inv: Invocation, entity: EntityDef | None = None, record_id: str = "") -> Response:
    headers = dict(ODATA_HEADERS)
    if entity is not None:
        headers["OData-EntityId"] = f"{inv.base}{entity.entity_set}({record_id})"
    return Response(status_code=204, headers=headers)


def _annotations_applied(prefer: Prefer) -> list[str]:
    if not prefer.annotations:
        return []
    return [f'odata.include-annotations="{",".join(prefer.annotations)}"']


def dispatch(inv: Invocation) -> Response:
    """The response to one operation; ODataError if it fails, with nothing written."""
    name, key, rest = split_segment(inv.resource)
    if name in ("WhoAmI", "Microsoft.Dynamics.CRM.WhoAmI"):
        if inv.method != "GET":
            raise ODataError.method_not_allowed(inv.method, name)
        return _who_am_i(inv)
    entity = CATALOG.get(name)
    if entity is None:
        raise ODataError.segment_not_found(name)
    mark = len(inv.changes)
    try:
        with inv.org.atomic():
            if key is None:
                return _collection(inv, entity, rest)
            return _record(inv, entity, key, rest)
    except BaseException:
        del inv.changes[mark:]
        raise


def _who_am_i(inv: Invocation) -> Response:
    identity = inv.org.identity
    return json_response(
        {
            "@odata.context": f"{inv.base}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": identity.business_unit_id,
            "UserId": inv.user_id,
            "OrganizationId": identity.organization_id,
        }
    )


def _representation(inv: Invocation, entity: EntityDef, record_id: str, status: int) -> Response:
    select = parse_select(inv.params.get("$select"), entity)
    row = inv.org.require(entity, record_id)
    body = {
        "@odata.context": context_url(inv.base, entity.entity_set, select, "/$entity"),
        **serialize(row, entity, select, inv.prefer),
    }
    applied = ["return=representation", *_annotations_applied(inv.prefer)]
    return json_response(body, status, applied)


def _collection(inv: Invocation, entity: EntityDef, rest: str | None) -> Response:
    method, table = inv.method, inv.org.table(entity.entity_set)
    if rest == "/$count" and method == "GET":
        return PlainTextResponse(str(count_rows(table, inv.params)), headers=ODATA_HEADERS)
    if rest:
        raise ODataError.query(f"The path '{rest}' is not emulated by the Dynamics sandbox.")
    if method == "GET":
        page = list_rows(table, inv.params, inv.prefer, inv.base, inv.query, inv.org.version)
        return json_response(page.body, 200, page.applied + _annotations_applied(inv.prefer))
    if method == "POST":
        change = inv.org.create(entity, inv.json_body(entity.entity_set), inv.user_id)
        inv.wrote([change])
        if inv.prefer.representation:
            return _representation(inv, entity, change.record_id, 201)
        return _no_content(inv, entity, change.record_id)
    raise ODataError.method_not_allowed(method, entity.entity_set)


def _missing(entity: EntityDef, record_id: str | None, key_values: Row | None) -> ODataError:
    if key_values is not None:
        return ODataError.key_not_found(entity.logical_name)
    return ODataError.not_found(entity.logical_name, record_id or "")


def _record(inv: Invocation, entity: EntityDef, key: str, rest: str | None) -> Response:
    found = parse_key(entity, key)
    key_values = None if isinstance(found, str) else found
    org, method, headers = inv.org, inv.method, inv.headers
    record_id = found if isinstance(found, str) else org.find(entity, found)
    if entity.read_only and method != "GET":
        raise ODataError.method_not_allowed(method, f"{entity.entity_set}({key})")
    existing = org.get(entity, record_id) if record_id else None
    if rest:
        if existing is None or record_id is None:
            raise _missing(entity, record_id, key_values)
        return _member(inv, entity, record_id, existing, rest)
    etag = f'W/"{existing["versionnumber"]}"' if existing else None
    if_match, if_none_match = headers.get("if-match"), headers.get("if-none-match")
    if method == "GET":
        if existing is None or record_id is None:
            raise _missing(entity, record_id, key_values)
        if if_none_match == etag and not inv.prefer.annotations:
            return Response(status_code=304, headers=ODATA_HEADERS)
        return _representation(inv, entity, record_id, 200)
    if method == "PATCH":
        body = inv.json_body(entity.entity_set)
        if existing is None or record_id is None:
            if if_match:  # If-Match: * (or an etag) prevents the create an upsert would do
                raise _missing(entity, record_id, key_values)
            given = {k: to_json(v) for k, v in (key_values or {}).items()}
            body = {**body, **given}
            if record_id is not None:
                body[entity.primary_id] = record_id
            change = org.create(entity, body, inv.user_id)
            record_id = change.record_id
        else:
            if if_none_match == "*":  # prevents the update an upsert would do
                raise ODataError.duplicate()
            if if_match not in (None, "*", etag):
                raise ODataError.version_mismatch()
            change = org.update(entity, record_id, body, inv.user_id)
        inv.wrote([change])
        if inv.prefer.representation:
            return _representation(inv, entity, record_id, 200)
        return _no_content(inv, entity, record_id)
    if method == "DELETE":
        if existing is None or record_id is None:
            raise _missing(entity, record_id, key_values)
        if if_match not in (None, "*", etag):
            raise ODataError.version_mismatch()
        inv.wrote(org.delete(entity, record_id, inv.user_id))
        return Response(status_code=204, headers=ODATA_HEADERS)
    raise ODataError.method_not_allowed(method, f"{entity.entity_set}({key})")


def _member(inv: Invocation, entity: EntityDef, record_id: str, row: Row, rest: str) -> Response:
    """`<record>/<navigation>/$ref` and `<record>/<column>`."""
    parts = rest.strip("/").split("/")
    method, name = inv.method, parts[0]
    if len(parts) == 2 and parts[1] == "$ref" and entity.navigation(name) is not None:
        attr = entity.navigation(name)
        assert attr is not None
        if method == "PUT":
            reference = inv.json_body(entity.entity_set).get("@odata.id")
            if not isinstance(reference, str):
                raise ODataError.payload(entity.entity_set, "The payload needs an @odata.id.")
            body: dict[str, Any] = {f"{name}@odata.bind": reference}
        elif method == "DELETE":
            target = CATALOG.get(attr.navigation[name])
            pointed = row.get(f"{attr.name}@{LOOKUP_LOGICAL_NAME}")
            if row.get(attr.name) is None or (target and pointed != target.logical_name):
                return _no_content(inv)
            body = {f"{name}@odata.bind": None}
        else:
            raise ODataError.method_not_allowed(method, rest)
        inv.wrote([inv.org.update(entity, record_id, body, inv.user_id)])
        return _no_content(inv)
    attr = entity.attr(name)
    if len(parts) != 1 or attr is None or not attr.read:
        raise ODataError.query(f"The path '{rest}' is not emulated by the Dynamics sandbox.")
    if method == "GET":
        value = row.get(name)
        if value is None:
            return _no_content(inv)
        context = f"{inv.base}$metadata#{entity.entity_set}({record_id})/{name}"
        return json_response({"@odata.context": context, "value": to_json(value)})
    if attr.type is AttrType.LOOKUP:
        raise ODataError.query(
            "CRM do not support direct update of Entity Reference properties, Use "
            "Navigation properties instead."
        )
    if method in ("PUT", "DELETE"):
        value = inv.json_body(entity.entity_set).get("value") if method == "PUT" else None
        inv.wrote([inv.org.update(entity, record_id, {name: value}, inv.user_id)])
        return _no_content(inv)
    raise ODataError.method_not_allowed(method, rest)
