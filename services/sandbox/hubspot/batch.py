"""CRM objects batch API v3: read, create, update, upsert and archive up to 100 records.

As HubSpot documents and answers them: more than 100 inputs is a 400 VALIDATION_ERROR; a batch
whose records were only partly found or written answers 207 with `numErrors` and `errors`
(missing ids grouped under one OBJECT_NOT_FOUND error with `context.ids`). Batch create and
update are all-or-nothing unless every input carries an `objectWriteTraceId`, which turns on
multi-status: the valid inputs are written and each failed one is reported with its trace id.
"""

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, Field

from services.sandbox.hubspot import errors
from services.sandbox.hubspot.errors import HubSpotError
from services.sandbox.hubspot.objects import ObjectDefinition
from services.sandbox.hubspot.operations import (
    AssociationPlan,
    Values,
    Writer,
    definition_of,
    render,
    repeated_unique_values,
    repeated_value_error,
)
from services.sandbox.hubspot.state import Sandbox, actor_of, sandbox_of
from services.sandbox.hubspot.store import Record, iso

router = APIRouter(prefix="/crm/v3/objects/{object_type}/batch")

MAX_INPUTS = 100
Id = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]


class IdInput(BaseModel):
    id: Id


class ReadBody(BaseModel):
    inputs: list[IdInput]
    properties: list[str] = Field(default_factory=list)
    propertiesWithHistory: list[str] = Field(default_factory=list)
    idProperty: str | None = None


class CreateInput(BaseModel):
    properties: dict[str, Any] = Field(default_factory=dict)
    associations: list[dict[str, Any]] = Field(default_factory=list)
    objectWriteTraceId: str | None = None


class UpdateInput(BaseModel):
    id: Id
    idProperty: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    objectWriteTraceId: str | None = None


class CreateBody(BaseModel):
    inputs: list[CreateInput]


class UpdateBody(BaseModel):
    inputs: list[UpdateInput]


class ArchiveBody(BaseModel):
    inputs: list[IdInput]


@router.post("/read")
async def batch_read(
    object_type: str, body: ReadBody, request: Request, archived: bool = False
) -> JSONResponse:
    definition = definition_of(object_type)
    started = _check_size(request, len(body.inputs))
    store = sandbox_of(request).portal.store(definition)
    results: dict[int, dict[str, Any]] = {}
    missing: list[str] = []
    for item in body.inputs:
        record = store.get(item.id, body.idProperty, archived)
        if record is None:
            missing.append(item.id)
        else:
            results[record.id] = render(definition, record, body.properties)
    problems = [_not_found(definition, missing)] if missing else []
    return _answer(started, list(results.values()), problems, 200)


@router.post("/create")
async def batch_create(object_type: str, body: CreateBody, request: Request) -> JSONResponse:
    definition = definition_of(object_type)
    started = _check_size(request, len(body.inputs))
    writer = Writer(sandbox_of(request), definition, actor_of(request))
    multi = _multi_status(body.inputs)
    problems: list[dict[str, Any]] = []
    accepted: list[tuple[CreateInput, Values]] = []
    plans: dict[int, AssociationPlan] = {}
    for item in body.inputs:
        try:
            accepted.append((item, writer.prepare(item.properties)))
            plans[id(item)] = writer.plan_associations(item.associations)
        except HubSpotError as error:
            if accepted and accepted[-1][0] is item:
                accepted.pop()
            problems.append(_item_problem(error, item.objectWriteTraceId, multi))
    accepted = _drop_repeated(definition, accepted, problems, multi)
    records = [writer.create(values, plans[id(item)]) for item, values in accepted]
    writer.finish()
    # Each result names the input it answers by trace id, as the API's results schema has it.
    results = [
        render(definition, r, everything=True)
        | ({"objectWriteTraceId": item.objectWriteTraceId} if item.objectWriteTraceId else {})
        for (item, _), r in zip(accepted, records, strict=True)
    ]
    return _answer(started, results, problems, 201)


@router.post("/update")
async def batch_update(object_type: str, body: UpdateBody, request: Request) -> JSONResponse:
    definition = definition_of(object_type)
    started = _check_size(request, len(body.inputs))
    _refuse_repeated_ids(item.id for item in body.inputs)
    writer = Writer(sandbox_of(request), definition, actor_of(request))
    multi = _multi_status(body.inputs)
    problems: list[dict[str, Any]] = []
    missing: list[str] = []
    accepted: list[tuple[Record, Values]] = []
    for item in body.inputs:
        record = writer.store.get(item.id, item.idProperty)
        if record is None:
            missing.append(item.id)
            continue
        try:
            accepted.append((record, writer.prepare(item.properties, own_id=record.id)))
        except HubSpotError as error:
            problems.append(_item_problem(error, item.objectWriteTraceId, multi))
    accepted = _drop_repeated(definition, accepted, problems, multi)
    for record, values in accepted:
        writer.update(record, values)
    writer.finish()
    if missing:
        problems.insert(0, _not_found(definition, missing))
    results = [render(definition, r, everything=True) for r, _ in accepted]
    return _answer(started, results, problems, 200)


@router.post("/upsert")
async def batch_upsert(object_type: str, body: UpdateBody, request: Request) -> JSONResponse:
    """Update the record the unique property names, or create it with that value."""
    definition = definition_of(object_type)
    started = _check_size(request, len(body.inputs))
    writer = Writer(sandbox_of(request), definition, actor_of(request))
    unique = writer.store.properties.unique
    if not unique or any(item.idProperty not in unique for item in body.inputs):
        raise errors.validation(f"idProperty must be a unique value property ({unique})")
    _refuse_repeated_ids(item.id.strip().lower() for item in body.inputs)
    multi = _multi_status(body.inputs)
    problems: list[dict[str, Any]] = []
    accepted: list[tuple[Record | None, Values]] = []
    for item in body.inputs:
        record = writer.store.get(item.id, item.idProperty)
        properties = {item.idProperty or "": item.id, **item.properties}
        try:
            own_id = record.id if record else None
            accepted.append((record, writer.prepare(properties, own_id=own_id)))
        except HubSpotError as error:
            problems.append(_item_problem(error, item.objectWriteTraceId, multi))
    results = []
    for existing, values in accepted:
        record = writer.update(existing, values) if existing else writer.create(values)
        results.append({**render(definition, record, everything=True), "new": existing is None})
    writer.finish()
    return _answer(started, results, problems, 200)


@router.post("/archive", status_code=204)
async def batch_archive(object_type: str, body: ArchiveBody, request: Request) -> Response:
    definition = definition_of(object_type)
    _check_size(request, len(body.inputs))
    writer = Writer(sandbox_of(request), definition, actor_of(request))
    for item in body.inputs:
        record = writer.store.get(item.id)
        if record is not None:
            writer.archive(record)
    writer.finish()
    return Response(status_code=204)


def _check_size(request: Request, count: int) -> int:
    if count > MAX_INPUTS:
        raise errors.batch_limit(count, MAX_INPUTS)
    return sandbox_of(request).now_ms()


def _multi_status(inputs: list[CreateInput] | list[UpdateInput]) -> bool:
    return bool(inputs) and all(item.objectWriteTraceId for item in inputs)


def _refuse_repeated_ids(ids: Any) -> None:
    repeated = sorted(value for value, n in Counter(ids).items() if n > 1)
    if repeated:
        raise errors.validation(
            f"Duplicate IDs found in batch input: {repeated}. IDs must be unique"
        )


def _item_problem(error: HubSpotError, trace_id: str | None, multi: bool) -> dict[str, Any]:
    """Per-input error under multi-status; without it the first error fails the whole batch."""
    if not multi:
        raise error
    return {
        "status": "error",
        "category": error.body.get("category"),
        "message": error.body["message"],
        "context": {"objectWriteTraceId": [trace_id]},
    }


def _drop_repeated(
    definition: ObjectDefinition,
    accepted: list[Any],
    problems: list[dict[str, Any]],
    multi: bool,
) -> list[Any]:
    repeated = set(repeated_unique_values(definition, [values for _, values in accepted]))
    for position in sorted(repeated):
        item, values = accepted[position]
        trace = getattr(item, "objectWriteTraceId", None)
        problems.append(_item_problem(repeated_value_error(definition, values), trace, multi))
    return [pair for position, pair in enumerate(accepted) if position not in repeated]


def _not_found(definition: ObjectDefinition, ids: list[str]) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": f"Could not get some {definition.noun} objects, they may be deleted or not "
        "exist. Check that ids are valid.",
        "context": {"ids": ids},
    }


def _answer(
    started: int, results: list[dict[str, Any]], problems: list[dict[str, Any]], ok: int
) -> JSONResponse:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if problems:
        body["numErrors"] = len(problems)
        body["errors"] = problems
    body["startedAt"] = iso(started)
    body["completedAt"] = iso(max(started, Sandbox.now_ms()))
    return JSONResponse(body, status_code=207 if problems else ok)
