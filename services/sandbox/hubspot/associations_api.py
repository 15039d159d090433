"""Associations API v4: associate, list, label and remove associations between records.

Paths and bodies as HubSpot's v4 associations guide and reference have them:
- `GET /crm/v4/objects/{from}/{id}/associations/{to}` (paged, up to 500 a page);
- `PUT .../associations/default/{to}/{toId}` (the unlabeled type, `BatchResponsePublic-
  DefaultAssociation` with both directions) and `PUT .../associations/{to}/{toId}` with
  `[{associationCategory, associationTypeId}]` (201 `{fromObjectTypeId, fromObjectId,
  toObjectTypeId, toObjectId, labels}`); `DELETE` of the pair removes every type;
- `POST /crm/v4/associations/{from}/{to}/batch/read|create|archive|labels/archive` and
  `batch/associate/default` (read up to 1,000 inputs, writes up to 2,000, as the guide's limits
  say); records without associations come back as NO_ASSOCIATIONS_FOUND errors in a 207;
- `GET /crm/v4/associations/{from}/{to}/labels`.
"""

from collections.abc import Iterable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, Field

from services.sandbox.hubspot import errors
from services.sandbox.hubspot.associations import (
    DEFAULT_TYPE,
    HUBSPOT_DEFINED,
    TYPES,
    AssociationStore,
    types_between,
)
from services.sandbox.hubspot.objects import ObjectDefinition
from services.sandbox.hubspot.operations import Writer, definition_of
from services.sandbox.hubspot.state import Sandbox, actor_of, sandbox_of
from services.sandbox.hubspot.store import Record
from services.sandbox.hubspot.timestamps import iso

router = APIRouter(prefix="/crm/v4")

MAX_PAGE = 500
MAX_READ = 1_000
MAX_WRITE = 2_000
Id = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
T = TypeVar("T")


class Spec(BaseModel):
    associationCategory: str = HUBSPOT_DEFINED
    associationTypeId: int


class ObjectId(BaseModel):
    id: Id


class ReadInput(BaseModel):
    id: Id
    after: str | None = None


class CreateInput(BaseModel):
    from_: ObjectId = Field(alias="from")
    to: ObjectId
    types: list[Spec] = Field(default_factory=list)


class DefaultInput(BaseModel):
    from_: ObjectId = Field(alias="from")
    to: ObjectId


class ArchiveInput(BaseModel):
    from_: ObjectId = Field(alias="from")
    to: list[ObjectId]


class Batch(BaseModel, Generic[T]):
    inputs: list[T]


class Pair:
    """The two object types of a request, checked to be associable."""

    def __init__(self, from_segment: str, to_segment: str, request: Request) -> None:
        self.source: ObjectDefinition = definition_of(from_segment)
        self.target: ObjectDefinition = definition_of(to_segment)
        if (self.source.name, self.target.name) not in DEFAULT_TYPE:
            raise errors.validation(
                f"{self.source.noun} and {self.target.noun} cannot be associated"
            )
        self.sandbox: Sandbox = sandbox_of(request)
        self.store: AssociationStore = self.sandbox.portal.associations
        self.writer = Writer(self.sandbox, self.source, actor_of(request))

    def record(self, definition: ObjectDefinition, key: str) -> Record | None:
        return self.sandbox.portal.store(definition).get(key)

    def ends(self, from_key: str, to_key: str) -> tuple[Record, Record]:
        source, target = self.record(self.source, from_key), self.record(self.target, to_key)
        if source is None or target is None:
            definition, key = (self.source, from_key) if source is None else (self.target, to_key)
            raise errors.not_found(f"{definition.noun} {key} was not found")
        return source, target

    def type_ids(self, specs: Iterable[Spec]) -> list[int]:
        chosen = []
        for spec in specs:
            kind = TYPES.get(spec.associationTypeId)
            if (
                kind is None
                or spec.associationCategory != HUBSPOT_DEFINED
                or ((kind.from_object, kind.to_object) != (self.source.name, self.target.name))
            ):
                raise errors.validation(
                    f"{spec.associationCategory} {spec.associationTypeId} is not an association "
                    f"type from {self.source.noun} to {self.target.noun}"
                )
            chosen.append(kind.type_id)
        return chosen

    def live_targets(self, record_id: int) -> list[tuple[int, set[int]]]:
        store = self.sandbox.portal.store(self.target)
        found = self.store.targets(self.source.name, record_id, self.target.name)
        return sorted(
            (target, types)
            for target, types in found.items()
            if (r := store.records.get(target)) is not None and not r.archived
        )

    def labels(self, source: Record, target: Record) -> dict[str, Any]:
        types = self.store.types(self.source.name, source.id, self.target.name, target.id)
        return {
            "fromObjectTypeId": self.source.type_id,
            "fromObjectId": source.id,
            "toObjectTypeId": self.target.type_id,
            "toObjectId": target.id,
            "labels": sorted(TYPES[t].label for t in types if TYPES[t].label),
        }


def _associated(target: int, types: set[int]) -> dict[str, Any]:
    return {"toObjectId": target, "associationTypes": [TYPES[t].to_json() for t in sorted(types)]}


def _default_results(pair: Pair, source: Record, target: Record) -> list[dict[str, Any]]:
    forward = DEFAULT_TYPE[(pair.source.name, pair.target.name)]
    spec = {"associationCategory": HUBSPOT_DEFINED}
    return [
        {
            "from": {"id": str(source.id)},
            "to": {"id": str(target.id)},
            "associationSpec": {**spec, "associationTypeId": forward},
        },
        {
            "from": {"id": str(target.id)},
            "to": {"id": str(source.id)},
            "associationSpec": {**spec, "associationTypeId": TYPES[forward].reverse_id},
        },
    ]


def _batch(
    started: int, results: list[Any], problems: list[dict[str, Any]], ok: int
) -> JSONResponse:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if problems:
        body["numErrors"] = len(problems)
        body["errors"] = problems
    body["startedAt"] = iso(started)
    body["completedAt"] = iso(max(started, Sandbox.now_ms()))
    return JSONResponse(body, status_code=207 if problems else ok)


def _problem(category: str, message: str, **context: list[str]) -> dict[str, Any]:
    return {"status": "error", "category": category, "message": message, "context": context}


def _limit(count: int, limit: int) -> None:
    if count > limit:
        raise errors.batch_limit(count, limit)


# -- one record ---------------------------------------------------------------------------------


@router.get("/objects/{object_type}/{object_id}/associations/{to_object_type}")
async def list_associations(
    object_type: str,
    object_id: str,
    to_object_type: str,
    request: Request,
    after: str | None = None,
    limit: int = MAX_PAGE,
) -> dict[str, Any]:
    pair = Pair(object_type, to_object_type, request)
    if not 1 <= limit <= MAX_PAGE:
        raise errors.validation(f"limit must be between 1 and {MAX_PAGE}")
    source = pair.record(pair.source, object_id)
    if source is None:
        raise errors.not_found(f"{pair.source.noun} {object_id} was not found")
    start = int(after) if after and after.isdigit() else 0
    found = [(t, types) for t, types in pair.live_targets(source.id) if t >= start]
    body: dict[str, Any] = {"results": [_associated(t, types) for t, types in found[:limit]]}
    if len(found) > limit:
        next_after = str(found[limit][0])
        link = request.url.include_query_params(after=next_after)
        body["paging"] = {"next": {"after": next_after, "link": str(link)}}
    return body


@router.put(
    "/objects/{object_type}/{object_id}/associations/default/{to_object_type}/{to_object_id}"
)
async def associate_default(
    object_type: str, object_id: str, to_object_type: str, to_object_id: str, request: Request
) -> dict[str, Any]:
    pair = Pair(object_type, to_object_type, request)
    started = pair.sandbox.now_ms()
    source, target = pair.ends(object_id, to_object_id)
    pair.writer.associated(
        pair.store.add_default(pair.source.name, source.id, pair.target.name, target.id)
    )
    pair.writer.written += 1
    pair.writer.finish()
    return {
        "status": "COMPLETE",
        "results": _default_results(pair, source, target),
        "startedAt": iso(started),
        "completedAt": iso(pair.sandbox.now_ms()),
    }


@router.put(
    "/objects/{object_type}/{object_id}/associations/{to_object_type}/{to_object_id}",
    status_code=201,
)
async def associate_with_labels(
    object_type: str,
    object_id: str,
    to_object_type: str,
    to_object_id: str,
    specs: list[Spec],
    request: Request,
) -> dict[str, Any]:
    pair = Pair(object_type, to_object_type, request)
    source, target = pair.ends(object_id, to_object_id)
    pair.writer.associated(
        pair.store.add(
            pair.source.name, source.id, pair.target.name, target.id, pair.type_ids(specs)
        )
    )
    pair.writer.written += 1
    pair.writer.finish()
    return pair.labels(source, target)


@router.delete(
    "/objects/{object_type}/{object_id}/associations/{to_object_type}/{to_object_id}",
    status_code=204,
)
async def remove_association(
    object_type: str, object_id: str, to_object_type: str, to_object_id: str, request: Request
) -> Response:
    pair = Pair(object_type, to_object_type, request)
    source, target = pair.ends(object_id, to_object_id)
    changes = pair.store.remove(pair.source.name, source.id, pair.target.name, target.id)
    pair.writer.associated(changes)
    pair.writer.written += bool(changes)
    pair.writer.finish()
    return Response(status_code=204)


# -- batches and labels -------------------------------------------------------------------------


@router.post("/associations/{from_object_type}/{to_object_type}/batch/read")
async def batch_read(
    from_object_type: str, to_object_type: str, body: Batch[ReadInput], request: Request
) -> JSONResponse:
    pair = Pair(from_object_type, to_object_type, request)
    _limit(len(body.inputs), MAX_READ)
    started = pair.sandbox.now_ms()
    results, problems = [], []
    for item in body.inputs:
        source = pair.record(pair.source, item.id)
        found = pair.live_targets(source.id) if source is not None else []
        if not found:
            message = (
                f"No {pair.target.singular} is associated with {pair.source.singular} {item.id}."
            )
            problem = _problem("OBJECT_NOT_FOUND", message, fromObjectId=[item.id])
            problem["subCategory"] = "crm.associations.NO_ASSOCIATIONS_FOUND"
            problems.append(problem)
            continue
        start = int(item.after) if item.after and item.after.isdigit() else 0
        page = [(t, types) for t, types in found if t >= start]
        result: dict[str, Any] = {
            "from": {"id": item.id},
            "to": [_associated(t, types) for t, types in page[:MAX_PAGE]],
        }
        if len(page) > MAX_PAGE:
            result["paging"] = {"next": {"after": str(page[MAX_PAGE][0])}}
        results.append(result)
    return _batch(started, results, problems, 200)


@router.post("/associations/{from_object_type}/{to_object_type}/batch/create")
async def batch_create(
    from_object_type: str, to_object_type: str, body: Batch[CreateInput], request: Request
) -> JSONResponse:
    pair = Pair(from_object_type, to_object_type, request)
    _limit(len(body.inputs), MAX_WRITE)
    started = pair.sandbox.now_ms()
    results, problems = [], []
    for item in body.inputs:
        try:
            source, target = pair.ends(item.from_.id, item.to.id)
            type_ids = pair.type_ids(item.types)
        except errors.HubSpotError as error:
            problems.append(
                _problem(
                    str(error.body.get("category")),
                    error.body["message"],
                    fromObjectId=[item.from_.id],
                    toObjectId=[item.to.id],
                )
            )
            continue
        pair.writer.associated(
            pair.store.add(pair.source.name, source.id, pair.target.name, target.id, type_ids)
        )
        pair.writer.written += 1
        results.append(pair.labels(source, target))
    pair.writer.finish()
    return _batch(started, results, problems, 201)


@router.post("/associations/{from_object_type}/{to_object_type}/batch/associate/default")
async def batch_associate_default(
    from_object_type: str, to_object_type: str, body: Batch[DefaultInput], request: Request
) -> JSONResponse:
    pair = Pair(from_object_type, to_object_type, request)
    _limit(len(body.inputs), MAX_WRITE)
    started = pair.sandbox.now_ms()
    results, problems = [], []
    for item in body.inputs:
        try:
            source, target = pair.ends(item.from_.id, item.to.id)
        except errors.HubSpotError as error:
            problems.append(
                _problem(
                    "OBJECT_NOT_FOUND",
                    error.body["message"],
                    fromObjectId=[item.from_.id],
                    toObjectId=[item.to.id],
                )
            )
            continue
        pair.writer.associated(
            pair.store.add_default(pair.source.name, source.id, pair.target.name, target.id)
        )
        pair.writer.written += 1
        results += _default_results(pair, source, target)
    pair.writer.finish()
    return _batch(started, results, problems, 200)


@router.post("/associations/{from_object_type}/{to_object_type}/batch/archive", status_code=204)
async def batch_archive(
    from_object_type: str, to_object_type: str, body: Batch[ArchiveInput], request: Request
) -> Response:
    pair = Pair(from_object_type, to_object_type, request)
    _limit(len(body.inputs), MAX_WRITE)
    for item in body.inputs:
        source = pair.record(pair.source, item.from_.id)
        for to in item.to:
            target = pair.record(pair.target, to.id)
            if source is not None and target is not None:
                changes = pair.store.remove(
                    pair.source.name, source.id, pair.target.name, target.id
                )
                pair.writer.associated(changes)
                pair.writer.written += bool(changes)
    pair.writer.finish()
    return Response(status_code=204)


@router.post(
    "/associations/{from_object_type}/{to_object_type}/batch/labels/archive", status_code=204
)
async def batch_archive_labels(
    from_object_type: str, to_object_type: str, body: Batch[CreateInput], request: Request
) -> Response:
    pair = Pair(from_object_type, to_object_type, request)
    _limit(len(body.inputs), MAX_WRITE)
    for item in body.inputs:
        source, target = pair.ends(item.from_.id, item.to.id)
        changes = pair.store.remove(
            pair.source.name, source.id, pair.target.name, target.id, pair.type_ids(item.types)
        )
        pair.writer.associated(changes)
        pair.writer.written += bool(changes)
    pair.writer.finish()
    return Response(status_code=204)


@router.get("/associations/{from_object_type}/{to_object_type}/labels")
async def labels(from_object_type: str, to_object_type: str, request: Request) -> dict[str, Any]:
    pair = Pair(from_object_type, to_object_type, request)
    return {"results": [t.to_json() for t in types_between(pair.source.name, pair.target.name)]}
