"""The HubSpot connector: CRM v3 objects, batch and search APIs of one HubSpot account."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx

from schemas.commands import WriteOp
from schemas.objects import HUBSPOT_OBJECTS, compound_id, split_id
from services.connectors.activities import (
    HUBSPOT_ACTIVITY_FIELDS,
    entity_fields,
    from_unified,
    to_unified,
)
from services.connectors.base import Association, Record, WriteRequest, WriteResult
from services.connectors.entities import EntityRouting
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
ACTIVITY_TIME = "hs_timestamp"  # engagements: when the activity happened; required on create

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


def read_limits(response: httpx.Response) -> tuple[int | None, float | None]:
    """HubSpot's `X-HubSpot-RateLimit-Remaining` of the rolling window and its interval."""
    remaining = response.headers.get("X-HubSpot-RateLimit-Remaining")
    interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    return (
        int(remaining) if remaining and remaining.isdigit() else None,
        int(interval) / 1000 if interval and interval.isdigit() else None,
    )


def _to_millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _record(item: dict[str, Any], entity: str | None = None) -> Record:
    """A record from a HubSpot object; `entity` is set for activities, whose ids are compound
    and whose fields are presented under their unified names."""
    props = item.get("properties") or {}
    plain = str(item["id"])
    if entity is not None:
        props = to_unified(HUBSPOT_ACTIVITY_FIELDS, entity, props)
    return Record(
        id=compound_id(entity, plain) if entity else plain,
        properties=props,
        modified_at=_parse_time(props.get(MODIFIED) or item.get("updatedAt")),
    )


# The Primary label of an association, by (from, to) HubSpot object: HubSpot-defined type ids.
PRIMARY_TYPE_IDS = {("contacts", "companies"): 1, ("deals", "companies"): 5}


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class HubSpotConnector(EntityRouting):
    """One HubSpot account. Activities span four HubSpot objects; their record ids are
    compound ("calls/123") so that one id names one record across them."""

    entities_of = HUBSPOT_OBJECTS
    kind_index = 0

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
            limits=read_limits,
        )

    def _own_fields(self, object_type: str, entity: str, fields: list[str]) -> list[str]:
        """The HubSpot property names to ask an object for, with its last-modified date."""
        if self.entity_tag(object_type, entity) is None:
            return [*fields, MODIFIED]
        plain = [f for f in fields if f not in HUBSPOT_ACTIVITY_FIELDS]
        return [*plain, *entity_fields(HUBSPOT_ACTIVITY_FIELDS, entity, fields), MODIFIED]

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

    async def property_types(self, object_type: str) -> dict[str, str]:
        """Each property's type (string, number, date, ...) from HubSpot's properties API."""
        types: dict[str, str] = {}
        for entity in self.entities(object_type):
            response = await self.api.request("GET", f"/crm/v3/properties/{entity}")
            for prop in response.json().get("results", []):
                types.setdefault(str(prop["name"]), str(prop.get("type", "string")))
        return types

    async def read_batch(
        self, object_type: str, ids: list[str], fields: list[str]
    ) -> dict[str, Record]:
        found: dict[str, Record] = {}
        for entity, plain_ids in self.group(object_type, ids).items():
            tag = self.entity_tag(object_type, entity)
            for chunk in _chunks(plain_ids, BATCH_LIMIT):
                body = {
                    "inputs": [{"id": i} for i in chunk],
                    "properties": self._own_fields(object_type, entity, fields),
                }
                response = await self.api.request(
                    "POST", f"/crm/v3/objects/{entity}/batch/read", json=body
                )
                for item in response.json().get("results", []):
                    record = _record(item, tag)
                    found[record.id] = record
        return found

    async def find_by_match_key(
        self, object_type: str, field: str, keys: list[str], fields: list[str]
    ) -> list[Record]:
        found: list[Record] = []
        for entity in self.entities(object_type):
            for chunk in _chunks(keys, BATCH_LIMIT):
                search = {
                    "filterGroups": [
                        {"filters": [{"propertyName": field, "operator": "IN", "values": chunk}]}
                    ],
                    "properties": self._own_fields(object_type, entity, fields),
                    "limit": SEARCH_PAGE,
                }
                async for page in self._search(object_type, entity, search):
                    found.extend(page)
        return found

    async def _search(
        self, object_type: str, entity: str, body: dict[str, Any]
    ) -> AsyncIterator[list[Record]]:
        tag = self.entity_tag(object_type, entity)
        after: str | None = None
        while True:
            response = await self.api.request(
                "POST",
                f"/crm/v3/objects/{entity}/search",
                json=body | ({"after": after} if after else {}),
            )
            data = response.json()
            yield [_record(item, tag) for item in data.get("results", [])]
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after or int(after) >= SEARCH_CAP:
                return

    async def list_records(
        self, object_type: str, fields: list[str], since: datetime | None = None
    ) -> AsyncIterator[list[Record]]:
        for entity in self.entities(object_type):
            pages = (
                self._list_all(object_type, entity, fields)
                if since is None
                else self._list_changed(object_type, entity, fields, since)
            )
            async for page in pages:
                yield page

    async def _list_changed(
        self, object_type: str, entity: str, fields: list[str], since: datetime
    ) -> AsyncIterator[list[Record]]:
        # Search pages stop at 10,000 results: restart from the last modification time seen.
        while True:
            modified_since = {
                "propertyName": MODIFIED,
                "operator": "GTE",
                "value": _to_millis(since),
            }
            body = {
                "filterGroups": [{"filters": [modified_since]}],
                "sorts": [{"propertyName": MODIFIED, "direction": "ASCENDING"}],
                "properties": self._own_fields(object_type, entity, fields),
                "limit": SEARCH_PAGE,
            }
            seen = 0
            last: datetime | None = None
            async for page in self._search(object_type, entity, body):
                seen += len(page)
                if page:
                    last = page[-1].modified_at
                yield page
            if seen < SEARCH_CAP or last is None or last <= since:
                return
            since = last

    async def _list_all(
        self, object_type: str, entity: str, fields: list[str]
    ) -> AsyncIterator[list[Record]]:
        tag = self.entity_tag(object_type, entity)
        params: dict[str, Any] = {
            "limit": BATCH_LIMIT,
            "properties": ",".join(self._own_fields(object_type, entity, fields)),
        }
        while True:
            response = await self.api.request("GET", f"/crm/v3/objects/{entity}", params=params)
            data = response.json()
            yield [_record(item, tag) for item in data.get("results", [])]
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            params["after"] = after

    def _entity_of_write(self, object_type: str, write: WriteRequest) -> str:
        if write.record_id is not None:
            return self.locate(object_type, write.record_id)[0]
        return self.entity_for_create(object_type, write.kind)

    async def write_batch(self, object_type: str, writes: list[WriteRequest]) -> list[WriteResult]:
        results: list[WriteResult] = []
        groups: dict[tuple[str, WriteOp], list[WriteRequest]] = {}
        for write in writes:
            key = (self._entity_of_write(object_type, write), write.op)
            groups.setdefault(key, []).append(write)
        for (entity, op), group in groups.items():
            action = {
                WriteOp.CREATE: "create",
                WriteOp.UPDATE: "update",
                WriteOp.UPSERT: "upsert",
                WriteOp.DELETE: "archive",
            }[op]
            tag = self.entity_tag(object_type, entity)
            for chunk in _chunks(group, BATCH_LIMIT):
                results.extend(await self._batch(entity, tag, action, chunk))
        return results

    @staticmethod
    def _value(value: Any) -> Any:
        # HubSpot clears a property when it is set to the empty string.
        return "" if value is None else value

    def _input(
        self, entity: str, tag: str | None, action: str, write: WriteRequest
    ) -> dict[str, Any]:
        if action == "archive":
            return {"id": split_id(write.record_id or "")[1]}
        properties = (
            from_unified(HUBSPOT_ACTIVITY_FIELDS, entity, write.properties)
            if tag is not None
            else write.properties
        )
        item: dict[str, Any] = {
            "properties": {k: self._value(v) for k, v in properties.items()},
            "objectWriteTraceId": write.ref,
        }
        if tag is not None and action == "create" and not properties.get(ACTIVITY_TIME):
            # HubSpot requires an engagement's time on create; an app record without one (a
            # note, a task with no due date) takes the time it was copied.
            item["properties"][ACTIVITY_TIME] = datetime.now(UTC).isoformat(timespec="milliseconds")
        if action == "upsert" and write.id_property:
            item["idProperty"] = write.id_property
            item["id"] = write.properties[write.id_property]
        elif write.record_id is not None:
            item["id"] = split_id(write.record_id)[1]
        return item

    async def _batch(
        self, entity: str, tag: str | None, action: str, chunk: list[WriteRequest]
    ) -> list[WriteResult]:
        inputs = [self._input(entity, tag, action, w) for w in chunk]
        try:
            response = await self.api.request(
                "POST", f"/crm/v3/objects/{entity}/batch/{action}", json={"inputs": inputs}
            )
        except ConnectorError as exc:
            if len(chunk) == 1 or exc.resolution.action is not Action.FAIL:
                return [WriteResult(w.ref, w.record_id, exc.resolution) for w in chunk]
            # One bad record fails the whole batch: split so its neighbours still land.
            middle = len(chunk) // 2
            return [
                *await self._batch(entity, tag, action, chunk[:middle]),
                *await self._batch(entity, tag, action, chunk[middle:]),
            ]
        if action == "archive":
            return [WriteResult(w.ref, w.record_id) for w in chunk]
        return self._results(chunk, response.json(), tag)

    @staticmethod
    def _results(
        chunk: list[WriteRequest], data: dict[str, Any], tag: str | None
    ) -> list[WriteResult]:
        by_ref = {w.ref: w for w in chunk}
        plain_ids = {split_id(w.record_id)[1]: w.ref for w in chunk if w.record_id}
        results: dict[str, WriteResult] = {}
        for index, item in enumerate(data.get("results", [])):
            plain = str(item["id"])
            ref = item.get("objectWriteTraceId")
            if ref not in by_ref:
                # Without a trace id, an update is known by its id and a create by its place.
                ref = plain_ids.get(plain) or (chunk[index].ref if index < len(chunk) else None)
            if ref is not None:
                results[ref] = WriteResult(ref, compound_id(tag, plain) if tag else plain)
        for error in data.get("errors", []):
            resolution = ErrorResolution(
                Action.FAIL,
                ITEM_CATEGORIES.get(str(error.get("category")), Category.VALIDATION),
                str(error.get("message", "batch item failed")),
            )
            context = error.get("context") or {}
            refs = [r for r in context.get("objectWriteTraceId", []) or [] if r in by_ref]
            refs += [plain_ids[i] for i in context.get("ids", []) or [] if i in plain_ids]
            for ref in refs:
                results.setdefault(ref, WriteResult(ref, by_ref[ref].record_id, resolution))
        missing = ErrorResolution(Action.RETRY, Category.UNKNOWN, "no result returned for record")
        return [results.get(w.ref) or WriteResult(w.ref, w.record_id, missing) for w in chunk]

    async def read_associations(
        self, object_type: str, ids: list[str], to_object_type: str
    ) -> dict[str, list[Association]]:
        found: dict[str, list[Association]] = {}
        for entity, plain_ids in self.group(object_type, ids).items():
            tag = self.entity_tag(object_type, entity)
            for to_entity in self.entities(to_object_type):
                to_tag = self.entity_tag(to_object_type, to_entity)
                primary_id = PRIMARY_TYPE_IDS.get((entity, to_entity))
                for chunk in _chunks(plain_ids, BATCH_LIMIT):
                    response = await self.api.request(
                        "POST",
                        f"/crm/v4/associations/{entity}/{to_entity}/batch/read",
                        json={"inputs": [{"id": i} for i in chunk]},
                    )
                    for result in response.json().get("results", []):
                        plain = str(result["from"]["id"])
                        from_id = compound_id(tag, plain) if tag else plain
                        for target in result.get("to", []):
                            to_plain = str(target["toObjectId"])
                            types = target.get("associationTypes") or []
                            found.setdefault(from_id, []).append(
                                Association(
                                    from_id,
                                    compound_id(to_tag, to_plain) if to_tag else to_plain,
                                    any(t.get("typeId") == primary_id for t in types),
                                )
                            )
        return found

    async def write_associations(
        self, object_type: str, to_object_type: str, associations: list[Association]
    ) -> list[WriteResult]:
        results: list[WriteResult] = []
        groups: dict[tuple[str, str, bool], list[Association]] = {}
        for a in associations:
            entity = self.locate(object_type, a.from_id)[0]
            to_entity = self.locate(to_object_type, a.to_id)[0]
            groups.setdefault((entity, to_entity, a.primary), []).append(a)
        for (entity, to_entity, primary), group in groups.items():
            primary_id = PRIMARY_TYPE_IDS.get((entity, to_entity)) if primary else None
            for chunk in _chunks(group, BATCH_LIMIT):
                inputs: list[dict[str, Any]] = [
                    {"from": {"id": split_id(a.from_id)[1]}, "to": {"id": split_id(a.to_id)[1]}}
                    for a in chunk
                ]
                if primary_id is None:
                    path = f"/crm/v4/associations/{entity}/{to_entity}/batch/associate/default"
                else:
                    path = f"/crm/v4/associations/{entity}/{to_entity}/batch/create"
                    for item in inputs:
                        item["types"] = [
                            {
                                "associationCategory": "HUBSPOT_DEFINED",
                                "associationTypeId": primary_id,
                            }
                        ]
                refs = [f"{a.from_id}>{a.to_id}" for a in chunk]
                try:
                    await self.api.request("POST", path, json={"inputs": inputs})
                except ConnectorError as exc:
                    results += [WriteResult(ref, None, exc.resolution) for ref in refs]
                else:
                    results += [WriteResult(ref) for ref in refs]
        return results

    async def aclose(self) -> None:
        await self.api.aclose()
