"""CRM objects API v3: create, read, update, archive, list and search one object type.

Paths, parameters and bodies as HubSpot's reference documents them under
`https://api.hubapi.com/crm/v3/objects/{objectType}`; every object type in `objects.OBJECTS`
is served by the same routes.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, Field

from services.sandbox.hubspot import errors, search
from services.sandbox.hubspot.operations import Writer, definition_of, property_names, render
from services.sandbox.hubspot.state import actor_of, sandbox_of

router = APIRouter(prefix="/crm/v3/objects")

MAX_PAGE = 100
PropertiesQuery = Annotated[list[str] | None, Query()]
Id = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]


class ObjectInput(BaseModel):
    properties: dict[str, Any] = Field(default_factory=dict)
    associations: list[dict[str, Any]] = Field(default_factory=list)


class MergeInput(BaseModel):
    primaryObjectId: Id
    objectIdToMerge: Id


@router.get("/{object_type}")
async def list_objects(
    object_type: str,
    request: Request,
    limit: int = 10,
    after: str | None = None,
    properties: PropertiesQuery = None,
    archived: bool = False,
) -> dict[str, Any]:
    definition = definition_of(object_type)
    if not 1 <= limit <= MAX_PAGE:
        raise errors.validation(f"limit must be between 1 and {MAX_PAGE}")
    if after is not None and not after.isdigit():
        raise errors.validation(f"Invalid after cursor: {after}")
    store = sandbox_of(request).portal.store(definition)
    records, next_after = store.page(int(after or 0), limit, archived)
    names = property_names(properties)
    body: dict[str, Any] = {"results": [render(definition, r, names) for r in records]}
    if next_after is not None:
        link = request.url.include_query_params(after=str(next_after))
        body["paging"] = {"next": {"after": str(next_after), "link": str(link)}}
    return body


@router.post("/{object_type}", status_code=201)
async def create_object(object_type: str, body: ObjectInput, request: Request) -> dict[str, Any]:
    definition = definition_of(object_type)
    writer = Writer(sandbox_of(request), definition, actor_of(request))
    values = writer.prepare(body.properties)
    record = writer.create(values, writer.plan_associations(body.associations))
    writer.finish()
    return render(definition, record, everything=True)


@router.post("/{object_type}/merge")
async def merge_objects(object_type: str, body: MergeInput, request: Request) -> dict[str, Any]:
    """Fold `objectIdToMerge` into `primaryObjectId` (see `store.ObjectStore.merge`)."""
    definition = definition_of(object_type)
    sandbox = sandbox_of(request)
    writer = Writer(sandbox, definition, actor_of(request))
    primary = writer.store.get(body.primaryObjectId)
    secondary = writer.store.get(body.objectIdToMerge)
    if primary is None or secondary is None:
        missing = body.primaryObjectId if primary is None else body.objectIdToMerge
        raise errors.not_found(f"{definition.noun} {missing} was not found")
    if primary.id == secondary.id:
        raise errors.validation("Cannot merge an object with itself")
    moved = writer.store.merge(primary, secondary, sandbox.now_ms())
    writer.associated(sandbox.portal.associations.move(definition.name, secondary.id, primary.id))
    writer.note(
        primary,
        "merge",
        (
            ("primaryObjectId", primary.id),
            ("mergedObjectIds", [secondary.id]),
            ("newObjectId", primary.id),
            ("numberOfPropertiesMoved", moved),
        ),
    )
    writer.finish()
    return render(definition, primary, everything=True)


@router.post("/{object_type}/search")
async def search_objects(
    object_type: str, body: search.SearchRequest, request: Request
) -> dict[str, Any]:
    definition = definition_of(object_type)
    store = sandbox_of(request).portal.store(definition)
    try:
        total, records, next_after = search.run(store, body)
    except search.InvalidSearch as invalid:
        raise errors.validation(str(invalid)) from None
    result: dict[str, Any] = {
        "total": total,
        "results": [render(definition, r, body.properties) for r in records],
    }
    if next_after is not None:
        result["paging"] = {"next": {"after": str(next_after)}}
    return result


@router.get("/{object_type}/{object_id}")
async def read_object(
    object_type: str,
    object_id: str,
    request: Request,
    properties: PropertiesQuery = None,
    idProperty: str | None = None,
    archived: bool = False,
) -> dict[str, Any]:
    definition = definition_of(object_type)
    store = sandbox_of(request).portal.store(definition)
    record = store.get(object_id, idProperty, archived)
    if record is None:
        raise errors.not_found()
    return render(definition, record, property_names(properties))


@router.patch("/{object_type}/{object_id}")
async def update_object(
    object_type: str,
    object_id: str,
    body: ObjectInput,
    request: Request,
    idProperty: str | None = None,
) -> dict[str, Any]:
    definition = definition_of(object_type)
    writer = Writer(sandbox_of(request), definition, actor_of(request))
    record = writer.store.get(object_id, idProperty)
    if record is None:
        raise errors.not_found()
    writer.update(record, writer.prepare(body.properties, own_id=record.id))
    writer.finish()
    return render(definition, record, everything=True)


@router.delete("/{object_type}/{object_id}", status_code=204)
async def archive_object(object_type: str, object_id: str, request: Request) -> Response:
    """Archiving what does not exist (any more) is not an error, as in HubSpot."""
    definition = definition_of(object_type)
    writer = Writer(sandbox_of(request), definition, actor_of(request))
    record = writer.store.get(object_id)
    if record is not None:
        writer.archive(record)
        writer.finish()
    return Response(status_code=204)
