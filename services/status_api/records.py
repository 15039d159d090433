"""The status API's views of a connection's records: failing records grouped by error (and
retrying them), the record view and one record with its audit trail, the writes synced over
time, and the association mappings of a sync."""

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from schemas.api import (
    ActivityBucket,
    ActivityOut,
    AssociationOut,
    AssociationsOut,
    AuditOut,
    DynamicsLookup,
    ErrorGroupOut,
    ErrorsOut,
    FailingExample,
    HubSpotAssociationType,
    RecordDetailOut,
    RecordError,
    RecordOut,
    RecordsOut,
    RetryIn,
    RetryOut,
)
from schemas.events import Side
from schemas.objects import DYNAMICS_ENTITY_SETS, HUBSPOT_OBJECTS, OBJECT_TYPES
from schemas.settings import RUNNING_STATES, SyncState
from services.connectors.dynamics import LOOKUPS
from services.connectors.errors import FIX_STEPS, Category
from services.connectors.hubspot import PRIMARY_TYPE_IDS
from services.domain.associations import ASSOCIATIONS
from services.status_api.lookups import Lookups
from services.status_api.openapi import ConnectionId, ObjectName, error_responses
from services.store.repository import Store, Sync
from services.store.views import LINK_STATUSES, RecordRow
from services.web import ApiError

EXAMPLES_PER_GROUP = 5
BUCKETS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1)}
DEFAULT_BUCKETS = 60  # the activity's window when `since` is not given
MAX_BUCKETS = 1440
_MAX_LINK_ID = 2**63 - 1
_ONE = {"companies": "company", "contacts": "contact", "deals": "deal"}


def fix_for(category: str | None) -> str:
    """The fix steps of a stored category; one this version does not know gets the generic ones."""
    try:
        return FIX_STEPS[Category(category or Category.UNKNOWN)]
    except ValueError:
        return FIX_STEPS[Category.UNKNOWN]


def encode_cursor(link_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{link_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The link id a cursor of `encode_cursor` continues after; 422 for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        text = ""
    prefix, _, value = text.partition(":")
    if prefix == "after" and value.isascii() and value.isdigit() and int(value) <= _MAX_LINK_ID:
        return int(value)
    raise ApiError(
        422, "invalid_cursor", "the cursor is not one this API returned; start again without it"
    )


def _utc(moment: datetime | None, name: str) -> datetime | None:
    """The time in UTC; one without an offset is taken as UTC. 422 for a time that leaves the
    calendar once converted (0001-01-01T00:00+14:00), which the store could not compare."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ApiError(
            422, "invalid_range", f"{name} is out of range once converted to UTC"
        ) from None


def _record_out(row: RecordRow) -> RecordOut:
    failing = row.status == "failing"
    return RecordOut(
        object=row.object_type,
        hubspot_id=row.hubspot_id,
        app_id=row.app_id,
        status=row.status,
        error=RecordError(
            category=row.error_category or Category.UNKNOWN.value,
            message=row.error_message,
            fix=fix_for(row.error_category),
            attempts=row.attempts,
            next_retry_at=row.next_retry_at,
        )
        if failing
        else None,
        # An exclusion's reason is kept where a failure keeps its message.
        reason=row.error_message if row.status == "excluded" else None,
        deleted_side=Side(row.deleted_side)
        if row.deleted_side and row.status in ("deleted", "resync", "resyncing")
        else None,
        merged_into=row.merged_into,
        waiting_for=row.waiting_for,
        last_synced_at=row.last_synced_at,
        updated_at=row.updated_at,
    )


def audit_out(row: Mapping[str, Any]) -> AuditOut:
    return AuditOut(
        at=row["at"],
        object=row["object_type"],
        hubspot_id=row["hubspot_id"],
        app_id=row["app_id"],
        target=row["target"],
        op=row["op"],
        field=row["field"],
        old_value=row["old_value"],
        new_value=row["new_value"],
        reason=row["reason"],
    )


def _floor(moment: datetime, step: timedelta) -> datetime:
    """The start of the bucket of length `step` (a minute or an hour) that holds `moment`."""
    moment = moment.replace(second=0, microsecond=0)
    return moment.replace(minute=0) if step >= timedelta(hours=1) else moment


def activity_window(
    bucket: str, since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The whole buckets from `since` to `until`: by default the `DEFAULT_BUCKETS` up to now.
    422 for a window that is upside down, too long or at the edge of the calendar."""
    step = BUCKETS[bucket]
    try:
        end = until or now
        start_of_last = _floor(end, step)
        end = start_of_last if start_of_last == end else start_of_last + step
        start = _floor(since, step) if since is not None else end - DEFAULT_BUCKETS * step
    except OverflowError:
        raise ApiError(422, "invalid_range", "since or until is out of range") from None
    if start > end:
        raise ApiError(422, "invalid_range", "since must not be after until")
    if (end - start) / step > MAX_BUCKETS:
        raise ApiError(
            422,
            "invalid_range",
            f"at most {MAX_BUCKETS} buckets at a time: narrow since and until, or count by hour",
        )
    return start, end


def _not_running(object_type: str, sync: Sync | None) -> str | None:
    """Why the sync of `object_type` does not carry associations now, or None if it does."""
    if sync is None:
        return f"the connection has no {object_type} sync"
    if sync.state in RUNNING_STATES:
        return None
    if sync.state is SyncState.DRAFT:
        return f"the {object_type} sync has not started (draft)"
    return f"the {object_type} sync is {sync.state.value}"


def describe_association(
    holder: str, associated: str, syncs: dict[str, Sync | None], seen_from: str
) -> AssociationOut:
    """One association: `holder`'s records point at records of `associated`; it syncs when
    both objects' syncs run. `seen_from` is the sync asked about, one of the two."""
    both = dict.fromkeys((seen_from, holder, associated))  # the sync asked about first
    reasons = [r for o in both if (r := _not_running(o, syncs[o]))]
    hubspot_types = [
        HubSpotAssociationType(
            from_object=entity,
            to_object=to_entity,
            type_id=PRIMARY_TYPE_IDS.get((entity, to_entity)),
            label="Primary" if (entity, to_entity) in PRIMARY_TYPE_IDS else "default",
        )
        for entity in HUBSPOT_OBJECTS[holder]
        for to_entity in HUBSPOT_OBJECTS[associated]
    ]
    lookups = LOOKUPS.get((holder, associated), {})
    one = _ONE.get(associated, associated)
    if any(t.type_id is not None for t in hubspot_types):
        notes = [f"only the primary {one} syncs: a Dynamics 365 lookup holds one record"]
    else:
        notes = [
            f"of several {associated}, only the first syncs: a Dynamics 365 lookup holds one record"
        ]
    without = [s for s in DYNAMICS_ENTITY_SETS[holder] if s not in lookups]
    if without:
        notes.append(
            f"Dynamics 365 {', '.join(without)} have no lookup to {associated}:"
            " their association does not sync"
        )
    return AssociationOut(
        object=associated if holder == seen_from else holder,
        held_by=holder,
        syncs=not reasons,
        reason="; ".join(reasons) or None,
        hubspot_types=hubspot_types,
        dynamics_lookups=[
            DynamicsLookup(entity_set=s, lookup=lookup.attribute, navigation=lookup.navigation)
            for s, lookup in lookups.items()
        ],
        notes=notes,
    )


def record_views(
    store: Store,
    lookups: Lookups,
    *,
    read: Callable[..., Awaitable[object]],
    write: Callable[..., Awaitable[object]],
) -> APIRouter:
    """The routes, for `create_app` to include; `read` and `write` are the dependencies that
    check the token: every view is open to viewers, retrying needs an admin."""
    router = APIRouter(
        prefix="/v1/connections/{cid}",
        dependencies=[Depends(read)],
        tags=["records"],
        responses=error_responses(401, 404, 422),
    )
    actions = APIRouter(
        prefix="/v1/connections/{cid}",
        dependencies=[Depends(write)],
        tags=["records"],
        responses=error_responses(400, 401, 403, 404, 422),
    )

    @router.get("/errors", response_model=ErrorsOut, summary="Failing records by error")
    async def errors(cid: ConnectionId, object: str | None = None) -> ErrorsOut:
        """Failing records grouped by object and error category, the largest group first:
        each group's count, the steps to fix it, when its soonest retry is due and a few
        example records, the most recently failed first."""
        await lookups.connection(cid)
        if object is not None:
            lookups.object(object)
        groups = await store.failing_groups(cid, object, EXAMPLES_PER_GROUP)
        return ErrorsOut(
            connection_id=cid,
            failing=sum(g.count for g in groups),
            groups=[
                ErrorGroupOut(
                    object=g.object_type,
                    category=g.category,
                    count=g.count,
                    fix=fix_for(g.category),
                    next_retry_at=g.next_retry_at,
                    examples=[
                        FailingExample(
                            hubspot_id=e.hubspot_id,
                            app_id=e.app_id,
                            message=e.message,
                            attempts=e.attempts,
                            next_retry_at=e.next_retry_at,
                        )
                        for e in g.examples
                    ],
                )
                for g in groups
            ],
        )

    @actions.post(
        "/errors/retry", status_code=202, response_model=RetryOut, summary="Retry failing records"
    )
    async def retry(cid: ConnectionId, body: RetryIn) -> RetryOut:
        """Try failing records again now instead of at their next retry: the reconciler takes
        them on its next pass, and their backoff starts again. Which ones: those of `object`,
        of the error `category` (as `/errors` names it) and with these `record_ids` (HubSpot or
        app ids), as far as given; every failing record of the connection when none is."""
        await lookups.connection(cid)
        if body.object is not None and body.object not in OBJECT_TYPES:
            raise ApiError(
                422,
                "unknown_object",
                f"unknown object {body.object!r}; one of {', '.join(OBJECT_TYPES)}",
            )
        retried = await store.retry_now(
            cid, object_type=body.object, category=body.category, record_ids=body.record_ids
        )
        return RetryOut(retried=retried)

    @router.get("/records", response_model=RecordsOut, summary="The record view")
    async def records(
        cid: ConnectionId,
        object: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = Query(100, ge=1, le=1000),
        category: str | None = Query(
            None, max_length=100, description="Failing records of this error category"
        ),
    ) -> RecordsOut:
        """The record view: each record's ids on both sides, its status, why it fails (with
        the fix) or was excluded, the side it was deleted on, the associated objects it waits
        for, and when it last synced; in a stable order, `limit` at a time.

        `since` (inclusive) and `until` (exclusive) are ISO-8601 times (UTC when they carry no
        offset) that bound `updated_at`, when the record's status last changed: it covers
        records that failed or were excluded without ever syncing, which `last_synced_at`
        would leave out. Pass `next_cursor` back as `cursor` for the next page; it is null on
        the last page. `category` (as `/errors` names it) keeps failing records of that error
        category: the records behind one of its groups."""
        await lookups.connection(cid)
        if object is not None:
            lookups.object(object)
        if category is not None and status not in (None, "failing"):
            raise ApiError(
                422, "invalid_filter", "category filters failing records: leave status out"
            )
        if status is not None and status not in LINK_STATUSES:
            raise ApiError(
                422,
                "unknown_status",
                f"unknown status {status!r}; one of {', '.join(LINK_STATUSES)}",
                allowed=list(LINK_STATUSES),
            )
        since, until = _utc(since, "since"), _utc(until, "until")
        if since is not None and until is not None and since > until:
            raise ApiError(422, "invalid_range", "since must not be after until")
        rows = await store.record_page(
            cid,
            object_type=object,
            status=status,
            since=since,
            until=until,
            after_id=decode_cursor(cursor) if cursor is not None else 0,
            limit=limit + 1,  # one more than asked tells whether another page follows
            category=category,
        )
        page = rows[:limit]
        return RecordsOut(
            records=[_record_out(r) for r in page],
            next_cursor=encode_cursor(page[-1].id) if len(rows) > limit else None,
        )

    @router.get(
        "/records/{obj}/{record_id:path}", response_model=RecordDetailOut, summary="One record"
    )
    async def record(
        cid: ConnectionId,
        obj: ObjectName,
        record_id: str,
        audit_limit: int = Query(100, ge=1, le=1000, description="At most this many changes"),
    ) -> RecordDetailOut:
        """One record, by its HubSpot id or its app id (`matched` says which): what the record
        view shows of it, and its audit trail, newest first. 404 `unknown_record` for an id
        the sync holds no record of."""
        await lookups.connection(cid)
        lookups.object(obj)
        found = await store.find_record(cid, obj, record_id)
        if found is None:
            raise ApiError(
                404, "unknown_record", f"the {obj} sync holds no record with the id {record_id!r}"
            )
        row, matched = found
        trail = await store.record_audit(cid, obj, row.hubspot_id, row.app_id, audit_limit)
        return RecordDetailOut(
            **_record_out(row).model_dump(), matched=matched, audit=[audit_out(r) for r in trail]
        )

    @router.get("/activity", response_model=ActivityOut, summary="Writes synced over time")
    async def activity(
        cid: ConnectionId,
        object: str | None = None,
        bucket: Literal["minute", "hour"] = "minute",
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> ActivityOut:
        """The records datasync wrote into each side, and the fields those writes changed,
        counted per minute or hour (UTC) from the audit trail; every bucket from `since` to
        `until`, empty ones too. By default the last 60 buckets up to now; at most 1440."""
        await lookups.connection(cid)
        if object is not None:
            lookups.object(object)
        start, end = activity_window(
            bucket, _utc(since, "since"), _utc(until, "until"), datetime.now(UTC)
        )
        counts = await store.activity(cid, object, bucket, start, end)
        step = BUCKETS[bucket]
        buckets = [
            ActivityBucket(start=start + i * step, into_hubspot=0, into_app=0, fields=0)
            for i in range(round((end - start) / step))
        ]
        by_start = {b.start: b for b in buckets}
        for count in counts:
            into = by_start[count.start]
            if count.target == Side.HUBSPOT.value:
                into.into_hubspot += count.records
            elif count.target == Side.APP.value:
                into.into_app += count.records
            into.fields += count.fields
        return ActivityOut(
            connection_id=cid,
            object=object,
            bucket=bucket,
            since=start,
            until=end,
            buckets=buckets,
        )

    @router.get(
        "/syncs/{obj}/associations",
        response_model=AssociationsOut,
        summary="A sync's association mappings",
    )
    async def associations(cid: ConnectionId, obj: ObjectName) -> AssociationsOut:
        """The associations the object takes part in, held by its records or by the other
        object's: whether each syncs now (both objects' syncs run) and if not why, HubSpot's
        association type and the Dynamics 365 lookup that carry it."""
        sync = await lookups.sync(cid, obj)
        pairs = [(h, a) for h, targets in ASSOCIATIONS.items() for a in targets if obj in (h, a)]
        syncs: dict[str, Sync | None] = {obj: sync}
        for other in {o for pair in pairs for o in pair} - {obj}:
            syncs[other] = await store.get_sync(cid, other)
        return AssociationsOut(
            connection_id=cid,
            object=obj,
            state=sync.state,
            associations=[describe_association(h, a, syncs, obj) for h, a in pairs],
        )

    views = APIRouter()
    views.include_router(router)
    views.include_router(actions)
    return views
