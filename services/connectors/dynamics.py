"""The Dynamics 365 connector: the Dataverse Web API v9.2 of one organisation."""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx

from schemas.commands import WriteOp
from schemas.objects import DYNAMICS_ENTITY_SETS
from services.connectors.base import Record, WriteRequest, WriteResult
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
WRITE_CONCURRENCY = 8
MODIFIED = "modifiedon"

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

# Dataverse's documented error code for a duplicate record (duplicate detection rule).
_DUPLICATE_CODES = {"0x80040333", "0x80060892"}


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


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class DynamicsConnector:
    def __init__(
        self,
        base_url: str,
        access_token: str,
        budget: RequestBudget | None = None,
        max_attempts: int = 6,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Dataverse's service protection allows 6,000 requests per 5 minutes per user.
        self.api = ApiClient(
            self.base_url + API_PATH,
            access_token,
            budget or RequestBudget(6000, 300.0),
            classify,
            max_attempts=max_attempts,
        )

    @staticmethod
    def entity_set(object_type: str) -> str:
        return DYNAMICS_ENTITY_SETS[object_type][0]

    def _record(self, entity_set: str, item: dict[str, Any]) -> Record:
        key = ENTITIES[entity_set][1]
        props = {k: v for k, v in item.items() if not k.startswith("@")}
        return Record(
            id=str(item[key]), properties=props, modified_at=_parse_time(item.get(MODIFIED))
        )

    def _select(self, entity_set: str, fields: list[str]) -> str:
        return ",".join(sorted({*fields, ENTITIES[entity_set][1], MODIFIED}))

    async def who_am_i(self) -> dict[str, Any]:
        response = await self.api.request("GET", "WhoAmI")
        return dict(response.json())

    async def _query(self, entity_set: str, params: dict[str, str]) -> AsyncIterator[list[Record]]:
        headers = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
        response = await self.api.request("GET", entity_set, params=params, headers=headers)
        while True:
            data = response.json()
            yield [self._record(entity_set, item) for item in data.get("value", [])]
            next_link = data.get("@odata.nextLink")
            if not next_link:
                return
            response = await self.api.request("GET", next_link, headers=headers)

    async def read_batch(
        self, object_type: str, ids: list[str], fields: list[str]
    ) -> dict[str, Record]:
        entity_set = self.entity_set(object_type)
        key = ENTITIES[entity_set][1]
        found: dict[str, Record] = {}
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start : start + IDS_PER_QUERY]
            params = {
                "$select": self._select(entity_set, fields),
                "$filter": " or ".join(f"{key} eq {i}" for i in chunk),
            }
            async for page in self._query(entity_set, params):
                found.update((r.id, r) for r in page)
        return found

    async def find_by_match_key(
        self, object_type: str, field: str, keys: list[str], fields: list[str]
    ) -> list[Record]:
        entity_set = self.entity_set(object_type)
        found: list[Record] = []
        for start in range(0, len(keys), IDS_PER_QUERY):
            chunk = keys[start : start + IDS_PER_QUERY]
            params = {
                "$select": self._select(entity_set, [*fields, field]),
                "$filter": " or ".join(f"{field} eq {_quote(k)}" for k in chunk),
            }
            async for page in self._query(entity_set, params):
                found.extend(page)
        return found

    async def list_records(
        self, object_type: str, fields: list[str], since: datetime | None = None
    ) -> AsyncIterator[list[Record]]:
        entity_set = self.entity_set(object_type)
        params = {"$select": self._select(entity_set, fields), "$orderby": f"{MODIFIED} asc"}
        if since is not None:
            params["$filter"] = f"{MODIFIED} ge {_iso(since)}"
        async for page in self._query(entity_set, params):
            yield page

    async def write_batch(self, object_type: str, writes: list[WriteRequest]) -> list[WriteResult]:
        entity_set = self.entity_set(object_type)
        gate = asyncio.Semaphore(WRITE_CONCURRENCY)

        async def one(write: WriteRequest) -> WriteResult:
            async with gate:
                try:
                    return await self._write(entity_set, write)
                except ConnectorError as exc:
                    return WriteResult(write.ref, write.record_id, exc.resolution)

        return list(await asyncio.gather(*(one(w) for w in writes)))

    async def _write(self, entity_set: str, write: WriteRequest) -> WriteResult:
        if write.op is WriteOp.CREATE:
            response = await self.api.request("POST", entity_set, json=write.properties)
            location = response.headers.get("OData-EntityId", "")
            record_id = location.rsplit("(", 1)[-1].rstrip(")") if "(" in location else None
            return WriteResult(write.ref, record_id)
        if write.op is WriteOp.UPDATE:
            # If-Match: * turns PATCH into update-only, so a deleted record is not re-created.
            await self.api.request(
                "PATCH",
                f"{entity_set}({write.record_id})",
                json=write.properties,
                headers={"If-Match": "*"},
            )
            return WriteResult(write.ref, write.record_id)
        if write.op is WriteOp.DELETE:
            await self.api.request("DELETE", f"{entity_set}({write.record_id})")
            return WriteResult(write.ref, write.record_id)
        raise ValueError(f"unsupported write {write.op}")

    async def register_webhook(self, name: str, url: str, key: str, entities: list[str]) -> str:
        """Register datasync's webhook for create, update and delete of the given entities
        (logical names), the way Dataverse registers one: a service endpoint and one
        processing step per message and entity. Returns the service endpoint id."""
        response = await self.api.request(
            "POST",
            "serviceendpoints",
            json={"name": name, "url": url, "contract": 8, "authtype": 4, "authvalue": key},
        )
        endpoint_id = response.headers["OData-EntityId"].rsplit("(", 1)[-1].rstrip(")")
        for message in ("Create", "Update", "Delete"):
            found = await self.api.request(
                "GET", "sdkmessages", params={"$filter": f"name eq '{message}'"}
            )
            message_id = found.json()["value"][0]["sdkmessageid"]
            for entity in entities:
                filters = await self.api.request(
                    "GET",
                    "sdkmessagefilters",
                    params={
                        "$filter": f"primaryobjecttypecode eq '{entity}' and "
                        f"_sdkmessageid_value eq {message_id}"
                    },
                )
                found_filters = filters.json()["value"]
                if not found_filters:
                    continue  # this organisation has no such entity
                filter_id = found_filters[0]["sdkmessagefilterid"]
                await self.api.request(
                    "POST",
                    "sdkmessageprocessingsteps",
                    json={
                        "name": f"{name}: {message} of {entity}",
                        "mode": 1,
                        "stage": 40,
                        "rank": 1,
                        "supporteddeployment": 0,
                        "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint_id})",
                        "sdkmessageid@odata.bind": f"/sdkmessages({message_id})",
                        "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({filter_id})",
                    },
                )
        return endpoint_id

    async def aclose(self) -> None:
        await self.api.aclose()
