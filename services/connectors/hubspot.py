"""The HubSpot connector: CRM v3 objects, batch and search APIs of one HubSpot account."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx

from schemas.commands import WriteOp
from schemas.objects import HUBSPOT_OBJECTS
from services.connectors.base import Record, WriteRequest, WriteResult
from services.connectors.errors import (
    Action,
    Category,
    ConnectorError,
    ErrorResolution,
    classify_status,
)
from services.connectors.http import ApiClient, RequestBudget

BATCH_LIMIT = 100  # inputs per batch request, HubSpot's limit
SEARCH_PAGE = 200  # results per search page, HubSpot's limit
SEARCH_CAP = 10_000  # results one search can page through
MODIFIED = "hs_lastmodifieddate"

# HubSpot's error `category` of one failed batch input → datasync's error category.
ITEM_CATEGORIES = {
    "OBJECT_ALREADY_EXISTS": Category.DUPLICATE,
    "CONFLICT": Category.DUPLICATE,
    "OBJECT_NOT_FOUND": Category.NOT_FOUND,
    "VALIDATION_ERROR": Category.VALIDATION,
    "INVALID_EMAIL": Category.VALIDATION,
    "READ_ONLY_VALUE": Category.VALIDATION,
    "MISSING_SCOPES": Category.PERMISSION,
}


def classify(response: httpx.Response) -> ErrorResolution:
    """HubSpot's error body has `category` and `message`; its 429 carries `policyName`."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = body.get("message") or response.text[:300]
    if response.status_code == 429:
        # The rolling 10-second window frees a slot within the interval it reports.
        interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
        wait = 1.0 if body.get("policyName") != "DAILY" else 3600.0
        if interval and interval.isdigit():
            wait = min(wait, int(interval) / 1000)
        return ErrorResolution(Action.RATE_LIMITED, Category.RATE_LIMIT, message, wait)
    if body.get("category") == "OBJECT_ALREADY_EXISTS" or response.status_code == 409:
        return ErrorResolution(Action.FAIL, Category.DUPLICATE, message)
    return classify_status(response.status_code, message)


def _to_millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _record(item: dict[str, Any]) -> Record:
    props = item.get("properties") or {}
    return Record(
        id=str(item["id"]),
        properties=props,
        modified_at=_parse_time(props.get(MODIFIED) or item.get("updatedAt")),
    )


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class HubSpotConnector:
    def __init__(
        self,
        base_url: str,
        access_token: str,
        budget: RequestBudget | None = None,
        max_attempts: int = 6,
    ) -> None:
        self.api = ApiClient(
            base_url.rstrip("/"),
            access_token,
            budget or RequestBudget(100, 10.0),
            classify,
            max_attempts=max_attempts,
        )

    @staticmethod
    def _object(object_type: str) -> str:
        return HUBSPOT_OBJECTS[object_type][0]

    async def account_info(self) -> dict[str, Any]:
        response = await self.api.request("GET", "/account-info/v3/details")
        return dict(response.json())

    async def token_info(self) -> dict[str, Any]:
        """Which app and portal the private-app token belongs to (HubSpot's access-token info);
        the app id tells datasync's own writes apart in webhook events."""
        token = self.api.http.headers["Authorization"].removeprefix("Bearer ")
        response = await self.api.request(
            "POST", "/oauth/v2/private-apps/get/access-token-info", json={"tokenKey": token}
        )
        return dict(response.json())

    async def read_batch(
        self, object_type: str, ids: list[str], fields: list[str]
    ) -> dict[str, Record]:
        found: dict[str, Record] = {}
        path = f"/crm/v3/objects/{self._object(object_type)}/batch/read"
        for chunk in _chunks(ids, BATCH_LIMIT):
            body = {"inputs": [{"id": i} for i in chunk], "properties": [*fields, MODIFIED]}
            response = await self.api.request("POST", path, json=body)
            for item in response.json().get("results", []):
                record = _record(item)
                found[record.id] = record
        return found

    async def find_by_match_key(
        self, object_type: str, field: str, keys: list[str], fields: list[str]
    ) -> list[Record]:
        found: list[Record] = []
        for chunk in _chunks(keys, BATCH_LIMIT):
            search = {
                "filterGroups": [
                    {"filters": [{"propertyName": field, "operator": "IN", "values": chunk}]}
                ],
                "properties": [*fields, MODIFIED],
                "limit": SEARCH_PAGE,
            }
            async for page in self._search(object_type, search):
                found.extend(page)
        return found

    async def _search(self, object_type: str, body: dict[str, Any]) -> AsyncIterator[list[Record]]:
        path = f"/crm/v3/objects/{self._object(object_type)}/search"
        after: str | None = None
        while True:
            response = await self.api.request(
                "POST", path, json=body | ({"after": after} if after else {})
            )
            data = response.json()
            yield [_record(item) for item in data.get("results", [])]
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after or int(after) >= SEARCH_CAP:
                return

    async def list_records(
        self, object_type: str, fields: list[str], since: datetime | None = None
    ) -> AsyncIterator[list[Record]]:
        if since is None:
            async for page in self._list_all(object_type, fields):
                yield page
            return
        # Search pages stop at 10,000 results: restart from the last modification time seen.
        while True:
            body = {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": MODIFIED,
                                "operator": "GTE",
                                "value": _to_millis(since),
                            }
                        ]
                    }
                ],
                "sorts": [{"propertyName": MODIFIED, "direction": "ASCENDING"}],
                "properties": [*fields, MODIFIED],
                "limit": SEARCH_PAGE,
            }
            seen = 0
            last: datetime | None = None
            async for page in self._search(object_type, body):
                seen += len(page)
                if page:
                    last = page[-1].modified_at
                yield page
            if seen < SEARCH_CAP or last is None or last <= since:
                return
            since = last

    async def _list_all(self, object_type: str, fields: list[str]) -> AsyncIterator[list[Record]]:
        path = f"/crm/v3/objects/{self._object(object_type)}"
        params: dict[str, Any] = {"limit": BATCH_LIMIT, "properties": ",".join([*fields, MODIFIED])}
        while True:
            response = await self.api.request("GET", path, params=params)
            data = response.json()
            yield [_record(item) for item in data.get("results", [])]
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            params["after"] = after

    async def write_batch(self, object_type: str, writes: list[WriteRequest]) -> list[WriteResult]:
        results: list[WriteResult] = []
        creates = [w for w in writes if w.op is WriteOp.CREATE]
        updates = [w for w in writes if w.op is WriteOp.UPDATE]
        for chunk in _chunks(creates, BATCH_LIMIT):
            results.extend(await self._batch(object_type, "create", chunk))
        for chunk in _chunks(updates, BATCH_LIMIT):
            results.extend(await self._batch(object_type, "update", chunk))
        return results

    @staticmethod
    def _value(value: Any) -> Any:
        # HubSpot clears a property when it is set to the empty string.
        return "" if value is None else value

    async def _batch(
        self, object_type: str, action: str, chunk: list[WriteRequest]
    ) -> list[WriteResult]:
        inputs = []
        for w in chunk:
            item: dict[str, Any] = {
                "properties": {k: self._value(v) for k, v in w.properties.items()},
                "objectWriteTraceId": w.ref,
            }
            if w.record_id is not None:
                item["id"] = w.record_id
            inputs.append(item)
        path = f"/crm/v3/objects/{self._object(object_type)}/batch/{action}"
        try:
            response = await self.api.request("POST", path, json={"inputs": inputs})
        except ConnectorError as exc:
            if len(chunk) == 1 or exc.resolution.action is not Action.FAIL:
                return [WriteResult(w.ref, w.record_id, exc.resolution) for w in chunk]
            # One bad record fails the whole batch: split so its neighbours still land.
            middle = len(chunk) // 2
            return [
                *await self._batch(object_type, action, chunk[:middle]),
                *await self._batch(object_type, action, chunk[middle:]),
            ]
        return self._results(chunk, response.json())

    @staticmethod
    def _results(chunk: list[WriteRequest], data: dict[str, Any]) -> list[WriteResult]:
        by_ref = {w.ref: w for w in chunk}
        results: dict[str, WriteResult] = {}
        items = data.get("results", [])
        for index, item in enumerate(items):
            ref = item.get("objectWriteTraceId")
            if ref not in by_ref:
                # Without a trace id, an update is known by its id and a create by its place.
                ref = next(
                    (w.ref for w in chunk if w.record_id == str(item.get("id"))),
                    chunk[index].ref if index < len(chunk) else None,
                )
            if ref is not None:
                results[ref] = WriteResult(ref, str(item["id"]))
        for error in data.get("errors", []):
            resolution = ErrorResolution(
                Action.FAIL,
                ITEM_CATEGORIES.get(str(error.get("category")), Category.VALIDATION),
                str(error.get("message", "batch item failed")),
            )
            context = error.get("context") or {}
            for ref in context.get("objectWriteTraceId", []) or []:
                if ref in by_ref and ref not in results:
                    results[ref] = WriteResult(ref, by_ref[ref].record_id, resolution)
            for record_id in context.get("ids", []) or []:
                for w in chunk:
                    if w.record_id == record_id and w.ref not in results:
                        results[w.ref] = WriteResult(w.ref, w.record_id, resolution)
        missing = ErrorResolution(Action.RETRY, Category.UNKNOWN, "no result returned for record")
        return [results.get(w.ref) or WriteResult(w.ref, w.record_id, missing) for w in chunk]

    async def aclose(self) -> None:
        await self.api.aclose()
