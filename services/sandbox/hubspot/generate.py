"""`POST /_sandbox/generate`: fill the account from the shared seed-data generator.

`{"counts": {"contacts": 1000, "companies": 200, ...}, "seed": 0}` (datasync object types) →
`{"created": {type: n}, "ids": {type: {key: id}}}`; `ids` only when the whole dataset is at
most `IDS_UP_TO` records (activities' ids are compound, "tasks/123"). Every record is checked
against the account's properties before any is written (400 names the first bad one, 409 an
email the account already holds), associations come from the records' `refs` (the primary
company with the Primary label too). Like `/_sandbox/seed`: no webhook, no request counted.
"""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from schemas.objects import compound_id
from services.sandbox import seeding
from services.sandbox.hubspot.associations import DEFAULT_TYPE, PRIMARY_TYPE
from services.sandbox.hubspot.seed_mapping import (
    HUBSPOT_OBJECT,
    hubspot_object,
    hubspot_properties,
)
from services.sandbox.hubspot.state import Sandbox, sandbox_of
from services.sandbox.hubspot.store import DuplicateValue, InvalidProperties, ObjectStore

router = APIRouter(prefix="/_sandbox")

IDS_UP_TO = 1_000


class GenerateRequest(BaseModel):
    counts: dict[str, int] = Field(default_factory=dict)
    seed: int = 0


def _refusal(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


Plan = list[tuple[str, seeding.SeedRecord, ObjectStore, dict[str, str | None]]]


@router.post("/generate", response_model=None)
async def generate(body: GenerateRequest, request: Request) -> dict[str, Any] | JSONResponse:
    try:
        dataset = seeding.generate_dataset("hubspot", body.counts, body.seed)
    except ValueError as invalid:
        return _refusal(400, "invalid_generate", str(invalid))
    sandbox = sandbox_of(request)
    try:
        plan = _checked(sandbox, dataset)
    except _Refused as refused:
        return _refusal(refused.status, refused.code, refused.message)
    ids = _write(sandbox, plan)
    created: dict[str, int] = {t: len(r) for t, r in dataset.records.items() if body.counts.get(t)}
    result: dict[str, Any] = {"created": created}
    if sum(created.values()) <= IDS_UP_TO:
        result["ids"] = {
            object_type: {key: _public_id(object_type, ref) for key, ref in keys.items()}
            for object_type, keys in ids.items()
        }
    return result


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _checked(sandbox: Sandbox, dataset: seeding.Dataset) -> Plan:
    """Every record's HubSpot values, validated; nothing is written yet."""
    portal = sandbox.portal
    plan: Plan = []
    emails: set[str] = set()
    for object_type, records in dataset.records.items():
        for record in records:
            name = hubspot_object(object_type, record.fields)
            store = portal.stores[name]
            try:
                values = store.normalize(hubspot_properties(name, record.fields))
                store.check_unique(values)
            except InvalidProperties as invalid:
                raise _Refused(
                    400, "invalid_generate", f"{record.key}: {invalid.problems}"
                ) from None
            except DuplicateValue as duplicate:
                message = f"{record.key}: already exists as {duplicate.existing_id}"
                raise _Refused(409, "duplicate", message) from None
            email = values.get("email") if name == "contacts" else None
            if email:
                if email in emails:
                    raise _Refused(409, "duplicate", f"{record.key}: {email} given twice")
                emails.add(email)
            plan.append((object_type, record, store, values))
    return plan


def _write(sandbox: Sandbox, plan: Plan) -> dict[str, dict[str, tuple[str, int]]]:
    """Create the records, then associate them; key -> (HubSpot object, id) per type."""
    now = sandbox.now_ms()
    ids: dict[str, dict[str, tuple[str, int]]] = {}
    for object_type, record, store, values in plan:
        created = store.create(values, now)
        ids.setdefault(object_type, {})[record.key] = (store.definition.name, created.id)
    associate = sandbox.portal.associations.link
    for object_type, record, _, _ in plan:
        source, source_id = ids[object_type][record.key]
        for target_type, keys in record.refs.items():
            for key in keys:
                target, target_id = ids[target_type][key]
                types = _types(source, target, record.primary_company == key)
                associate(source, source_id, target, target_id, types)
    return ids


def _types(source: str, target: str, primary: bool) -> list[int]:
    chosen = [DEFAULT_TYPE[(source, target)]]
    if primary and (source, target) in PRIMARY_TYPE:
        chosen.append(PRIMARY_TYPE[(source, target)])
    return chosen


_PUBLIC: dict[str, Callable[[str, int], str]] = {
    "activities": lambda name, record_id: compound_id(name, str(record_id)),
}


def _public_id(object_type: str, ref: tuple[str, int]) -> str:
    name, record_id = ref
    public = _PUBLIC.get(object_type)
    return public(name, record_id) if public else str(record_id)


__all__ = ["HUBSPOT_OBJECT", "router"]
