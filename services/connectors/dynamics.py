"""The Dynamics 365 connector: the Dataverse Web API v9.2 of one organisation.

Lists page through entity sets 5,000 records at a time; writes, and reads by id, go out as
`$batch` requests of up to 1,000 operations, each succeeding or failing on its own
(`dynamics_batch`).
"""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from schemas.commands import WriteOp
from schemas.objects import DYNAMICS_ENTITY_SETS, compound_id, split_id
from services.connectors.activities import (
    DYNAMICS_ACTIVITY_FIELDS,
    entity_fields,
    from_unified,
    to_unified,
)
from services.connectors.base import Association, Record, WriteRequest, WriteResult
from services.connectors.dynamics_batch import MAX_OPERATIONS, BatchSender, Operation
from services.connectors.dynamics_registration import register_webhook
from services.connectors.entities import EntityRouting
from services.connectors.errors import (
    Action,
    Category,
    ConnectorError,
    ErrorResolution,
    classify_status,
)
from services.connectors.http import ApiClient, RequestBudget

API_PATH = "/api/data/v9.2/"
PAGE_SIZE = 5000  # Dataverse's largest page
IDS_PER_QUERY = 50  # keeps a `$filter` of GUIDs well inside URL length limits
MODIFIED = "modifiedon"
LOOKUP_ANNOTATION = "Microsoft.Dynamics.CRM.lookuplogicalname"

# Entity set → (logical name, primary key attribute).
ENTITIES: dict[str, tuple[str, str]] = {
    "contacts": ("contact", "contactid"),
    "accounts": ("account", "accountid"),
    "opportunities": ("opportunity", "opportunityid"),
    "products": ("product", "productid"),
    "invoices": ("invoice", "invoiceid"),
    "salesorders": ("salesorder", "salesorderid"),
    "tasks": ("task", "activityid"),
    "phonecalls": ("phonecall", "activityid"),
    "appointments": ("appointment", "activityid"),
    "annotations": ("annotation", "annotationid"),
}


@dataclass(frozen=True)
class Lookup:
    """How a record of one entity points at a record of another: the lookup attribute read
    back as `_<attribute>_value`, and the navigation property written with `@odata.bind`."""

    attribute: str
    navigation: str


_REGARDING = ("tasks", "phonecalls", "appointments")
# (object type, associated object type) → entity set → the lookup that holds the association.
LOOKUPS: dict[tuple[str, str], dict[str, Lookup]] = {
    ("contacts", "companies"): {"contacts": Lookup("parentcustomerid", "parentcustomerid_account")},
    ("deals", "companies"): {"opportunities": Lookup("parentaccountid", "parentaccountid")},
    ("deals", "contacts"): {"opportunities": Lookup("parentcontactid", "parentcontactid")},
    ("invoices", "contacts"): {"invoices": Lookup("customerid", "customerid_contact")},
    ("sales_orders", "contacts"): {"salesorders": Lookup("customerid", "customerid_contact")},
    **{
        ("activities", to): {
            **{
                e: Lookup("regardingobjectid", f"regardingobjectid_{logical}_{e[:-1]}")
                for e in _REGARDING
            },
            **({"annotations": Lookup("objectid", f"objectid_{logical}")} if to != "deals" else {}),
        }
        for to, logical in (
            ("contacts", "contact"),
            ("companies", "account"),
            ("deals", "opportunity"),
        )
    },
}

# Dataverse's documented error codes for a duplicate record.
_DUPLICATE_CODES = {"0x80040333", "0x80060892", "0x80040237"}


def classify(response: httpx.Response) -> ErrorResolution:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    message = error.get("message") or response.text[:300]
    if error.get("code") in _DUPLICATE_CODES:
        return ErrorResolution(Action.FAIL, Category.DUPLICATE, message)
    retry_after = response.headers.get("Retry-After")
    return classify_status(
        response.status_code, message, float(retry_after) if retry_after else None
    )


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _key_literal(value: str) -> str:
    """A quoted key value as it may stand in a request line inside a batch: only what a URL
    cannot hold is percent-encoded (an email's `@` and `+` stay as they are)."""
    return quote(_quote(value), safe="'@+=(),;:!$*&~")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _entity_id(header: str) -> str | None:
    return header.rsplit("(", 1)[-1].rstrip(")") if "(" in header else None


class DynamicsConnector(EntityRouting):
    """One Dataverse organisation. Activities span four entity sets; their record ids are
    compound ("phonecalls/<guid>") and their fields are presented under unified names."""

    entities_of = DYNAMICS_ENTITY_SETS
    kind_index = 1

    def __init__(
        self,
        base_url: str,
        access_token: str,
        budget: RequestBudget | None = None,
        max_attempts: int = 6,
        batch_size: int = MAX_OPERATIONS,
    ) -> None:
        """`batch_size`: writes per `$batch` request (Dataverse allows up to 1,000)."""
        self.base_url = base_url.rstrip("/")
        # Dataverse's service protection allows 6,000 requests per 5 minutes per user.
        self.api = ApiClient(
            self.base_url + API_PATH,
            access_token,
            budget or RequestBudget(6000, 300.0),
            classify,
            max_attempts=max_attempts,
        )
        self.batches = BatchSender(self.api, classify, batch_size)

    def _record(self, object_type: str, entity_set: str, item: dict[str, Any]) -> Record:
        key = ENTITIES[entity_set][1]
        props = {k: v for k, v in item.items() if not k.startswith("@") and "@" not in k}
        tag = self.entity_tag(object_type, entity_set)
        if tag is not None:
            props = to_unified(DYNAMICS_ACTIVITY_FIELDS, entity_set, props)
        plain = str(item[key])
        return Record(
            id=compound_id(tag, plain) if tag else plain,
            properties=props,
            modified_at=_parse_time(item.get(MODIFIED)),
        )

    def _select(self, object_type: str, entity_set: str, fields: list[str]) -> str:
        if self.entity_tag(object_type, entity_set) is not None:
            plain = [f for f in fields if f not in DYNAMICS_ACTIVITY_FIELDS]
            fields = [*plain, *entity_fields(DYNAMICS_ACTIVITY_FIELDS, entity_set, fields)]
        return ",".join(sorted({*fields, ENTITIES[entity_set][1], MODIFIED}))

    async def who_am_i(self) -> dict[str, Any]:
        response = await self.api.request("GET", "WhoAmI")
        return dict(response.json())

    async def register_webhook(self, name: str, url: str, key: str, entities: list[str]) -> str:
        return await register_webhook(self.api, name, url, key, entities)

    async def _query(
        self,
        entity_set: str,
        params: dict[str, str],
        annotations: bool = False,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        prefer = f"odata.maxpagesize={PAGE_SIZE}"
        if annotations:
            prefer += f',odata.include-annotations="{LOOKUP_ANNOTATION}"'
        headers = {"Prefer": prefer}
        response = await self.api.request("GET", entity_set, params=params, headers=headers)
        while True:
            data = response.json()
            yield list(data.get("value", []))
            next_link = data.get("@odata.nextLink")
            if not next_link:
                return
            response = await self.api.request("GET", next_link, headers=headers)

    async def _records(
        self, object_type: str, entity_set: str, params: dict[str, str]
    ) -> AsyncIterator[list[Record]]:
        async for items in self._query(entity_set, params):
            yield [self._record(object_type, entity_set, item) for item in items]

    async def read_batch(
        self, object_type: str, ids: list[str], fields: list[str]
    ) -> dict[str, Record]:
        """One `GET <set>(<id>)` per record, a thousand to a `$batch`: a read by key, where a
        `$filter` of ids would take a request per few dozen."""
        operations: list[Operation] = []
        entity_of: dict[str, str] = {}
        for entity_set, plain_ids in self.group(object_type, ids).items():
            select = self._select(object_type, entity_set, fields)
            for plain in dict.fromkeys(plain_ids):
                ref = f"{entity_set}({plain})"
                operations.append(Operation(ref, "GET", f"{ref}?$select={select}"))
                entity_of[ref] = entity_set
        found: dict[str, Record] = {}
        for outcome in await self.batches.send(operations):
            if outcome.error is not None:
                if outcome.status == 404:
                    continue  # this record does not exist (any more)
                raise ConnectorError(outcome.error)
            record = self._record(object_type, entity_of[outcome.ref], json.loads(outcome.body))
            found[record.id] = record
        return found

    async def find_by_match_key(
        self, object_type: str, field: str, keys: list[str], fields: list[str]
    ) -> list[Record]:
        found: list[Record] = []
        for entity_set in self.entities(object_type):
            for start in range(0, len(keys), IDS_PER_QUERY):
                chunk = keys[start : start + IDS_PER_QUERY]
                params = {
                    "$select": self._select(object_type, entity_set, [*fields, field]),
                    "$filter": " or ".join(f"{field} eq {_quote(k)}" for k in chunk),
                }
                async for page in self._records(object_type, entity_set, params):
                    found.extend(page)
        return found

    async def list_records(
        self, object_type: str, fields: list[str], since: datetime | None = None
    ) -> AsyncIterator[list[Record]]:
        for entity_set in self.entities(object_type):
            params = {
                "$select": self._select(object_type, entity_set, fields),
                "$orderby": f"{MODIFIED} asc",
            }
            if since is not None:
                params["$filter"] = f"{MODIFIED} ge {_iso(since)}"
            async for page in self._records(object_type, entity_set, params):
                yield page

    async def write_batch(self, object_type: str, writes: list[WriteRequest]) -> list[WriteResult]:
        """Every write goes out in `$batch` requests of up to `batch_size` operations; each
        operation succeeds or fails on its own (see `dynamics_batch`)."""
        results: list[WriteResult] = []
        operations: list[Operation] = []
        planned: dict[str, tuple[WriteRequest, str | None]] = {}  # ref -> (write, entity tag)
        for write in writes:
            try:
                operation, tag = self._operation(object_type, write)
            except ValueError as exc:
                error = ErrorResolution(Action.FAIL, Category.VALIDATION, str(exc))
                results.append(WriteResult(write.ref, write.record_id, error))
                continue
            operations.append(operation)
            planned[write.ref] = (write, tag)
        for outcome in await self.batches.send(operations):
            write, tag = planned[outcome.ref]
            if outcome.error is not None:
                results.append(WriteResult(write.ref, write.record_id, outcome.error))
            elif write.op in (WriteOp.CREATE, WriteOp.UPSERT):
                found = _entity_id((outcome.headers or {}).get("odata-entityid", ""))
                results.append(
                    WriteResult(write.ref, compound_id(tag, found) if tag and found else found)
                )
            else:
                results.append(WriteResult(write.ref, write.record_id))
        return results

    def _operation(self, object_type: str, write: WriteRequest) -> tuple[Operation, str | None]:
        """The batch operation of one write, and the entity tag of its record ids."""
        if write.record_id is not None:
            entity_set, plain = self.locate(object_type, write.record_id)
        else:
            entity_set, plain = self.entity_for_create(object_type, write.kind), ""
        tag = self.entity_tag(object_type, entity_set)
        body = (
            from_unified(DYNAMICS_ACTIVITY_FIELDS, entity_set, write.properties)
            if tag
            else write.properties
        )
        if write.op is WriteOp.CREATE:
            return Operation(write.ref, "POST", entity_set, body), tag
        if write.op is WriteOp.UPDATE and plain:
            # If-Match: * turns PATCH into update-only, so a deleted record is not re-created.
            return Operation(
                write.ref, "PATCH", f"{entity_set}({plain})", body, {"If-Match": "*"}
            ), tag
        if write.op is WriteOp.UPSERT and write.id_property:
            if body.get(write.id_property) is None:
                raise ValueError(f"an upsert needs a value of {write.id_property}")
            # PATCH through an alternate key creates the record when none has that key.
            key = _key_literal(str(body[write.id_property]))
            return Operation(
                write.ref, "PATCH", f"{entity_set}({write.id_property}={key})", body
            ), tag
        if write.op is WriteOp.DELETE and plain:
            return Operation(write.ref, "DELETE", f"{entity_set}({plain})"), tag
        raise ValueError(f"unsupported write {write.op} of {write.record_id}")

    async def read_associations(
        self, object_type: str, ids: list[str], to_object_type: str
    ) -> dict[str, list[Association]]:
        """Dataverse lookups hold one record each, so every association read is primary."""
        lookups = LOOKUPS.get((object_type, to_object_type), {})
        to_logical = {ENTITIES[e][0] for e in self.entities(to_object_type)}
        found: dict[str, list[Association]] = {}
        for entity_set, plain_ids in self.group(object_type, ids).items():
            lookup = lookups.get(entity_set)
            if lookup is None:
                continue
            key, value = ENTITIES[entity_set][1], f"_{lookup.attribute}_value"
            tag = self.entity_tag(object_type, entity_set)
            for start in range(0, len(plain_ids), IDS_PER_QUERY):
                params = {
                    "$select": f"{key},{value}",
                    "$filter": " or ".join(
                        f"{key} eq {i}" for i in plain_ids[start : start + IDS_PER_QUERY]
                    ),
                }
                async for items in self._query(entity_set, params, annotations=True):
                    for item in items:
                        target = item.get(value)
                        target_type = item.get(f"{value}@{LOOKUP_ANNOTATION}")
                        if target is None or (target_type and target_type not in to_logical):
                            continue
                        from_id = compound_id(tag, item[key]) if tag else str(item[key])
                        found.setdefault(from_id, []).append(
                            Association(from_id, str(target), primary=True)
                        )
        return found

    async def write_associations(
        self, object_type: str, to_object_type: str, associations: list[Association]
    ) -> list[WriteResult]:
        lookups = LOOKUPS.get((object_type, to_object_type), {})
        results = []
        for a in associations:
            entity_set, plain = self.locate(object_type, a.from_id)
            to_set, to_plain = self.locate(to_object_type, a.to_id)
            ref = f"{a.from_id}>{a.to_id}"
            lookup = lookups.get(entity_set)
            if lookup is None:
                message = f"{entity_set} records have no lookup to {to_object_type}"
                error = ErrorResolution(Action.FAIL, Category.ASSOCIATION, message)
                results.append(WriteResult(ref, None, error))
                continue
            try:
                await self.api.request(
                    "PATCH",
                    f"{entity_set}({plain})",
                    json={f"{lookup.navigation}@odata.bind": f"/{to_set}({split_id(to_plain)[1]})"},
                    headers={"If-Match": "*"},
                )
            except ConnectorError as exc:
                results.append(WriteResult(ref, None, exc.resolution))
            else:
                results.append(WriteResult(ref))
        return results

    async def aclose(self) -> None:
        await self.api.aclose()
