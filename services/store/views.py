"""Read models of the status API: failing records grouped by error, and the record view paged
by link id, with what each record waits for. Mixed into `Store`."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from schemas.events import Side

# Every status a link takes (written in links.py): synced; failing, with a retry due; left out
# by the sync's rules; deleted on one side; matched but not synced yet; merged away in HubSpot;
# deleted and asked to be recreated, then being recreated.
LINK_STATUSES = (
    "in_sync",
    "failing",
    "excluded",
    "deleted",
    "pending",
    "merged",
    "resync",
    "resyncing",
)


@dataclass(frozen=True)
class FailingRecord:
    hubspot_id: str | None
    app_id: str | None
    message: str | None
    attempts: int
    next_retry_at: datetime | None


@dataclass(frozen=True)
class FailingGroup:
    """The failing records of one object that share an error category."""

    object_type: str
    category: str
    count: int
    next_retry_at: datetime | None  # the soonest retry of the group
    examples: list[FailingRecord]


@dataclass(frozen=True)
class RecordRow:
    """A link as the record view shows it."""

    id: int
    object_type: str
    hubspot_id: str | None
    app_id: str | None
    status: str
    error_category: str | None
    error_message: str | None
    attempts: int
    next_retry_at: datetime | None
    deleted_side: str | None
    merged_into: str | None
    last_synced_at: datetime | None
    updated_at: datetime
    waiting_for: list[str]  # associated objects whose record has not synced yet


@dataclass(frozen=True)
class ActivityCount:
    """Writes into one side in one time bucket: records written and fields changed."""

    start: datetime
    target: str
    records: int
    fields: int


# A link as `RecordRow` holds it; $2 and $3 are the HubSpot and app side names.
_RECORD_ROWS = (
    "SELECT l.id, l.object_type, l.hubspot_id, l.app_id, l.status, l.error_category,"
    " l.error_message, l.attempts, l.next_retry_at, l.deleted_side, l.merged_into,"
    " l.last_synced_at, l.updated_at,"
    " ARRAY(SELECT DISTINCT w.to_object FROM association_waits w"
    " WHERE w.connection_id = l.connection_id AND w.object_type = l.object_type"
    " AND ((w.side = $2 AND w.record_id = l.hubspot_id)"
    " OR (w.side = $3 AND w.record_id = l.app_id)) ORDER BY w.to_object) AS waiting_for"
    " FROM links l"
)


class ViewQueries:
    pool: asyncpg.Pool

    async def failing_groups(
        self, connection_id: str, object_type: str | None, examples: int
    ) -> list[FailingGroup]:
        """Failing links grouped by object and error category, the largest group first, each
        with up to `examples` records, the most recently failed first. A failure without a
        category counts as `unknown`."""
        rows = await self.pool.fetch(
            "SELECT * FROM (SELECT object_type, COALESCE(error_category, 'unknown') AS category,"
            " hubspot_id, app_id, error_message, attempts, next_retry_at,"
            " count(*) OVER same AS n, min(next_retry_at) OVER same AS soonest,"
            " row_number() OVER (PARTITION BY object_type, COALESCE(error_category, 'unknown')"
            " ORDER BY updated_at DESC, id DESC) AS rank"
            " FROM links WHERE connection_id = $1 AND ($2::text IS NULL OR object_type = $2)"
            " AND status = 'failing'"
            " WINDOW same AS (PARTITION BY object_type, COALESCE(error_category, 'unknown')))"
            " ranked WHERE rank <= $3 ORDER BY n DESC, object_type, category, rank",
            connection_id,
            object_type,
            examples,
        )
        groups: dict[tuple[str, str], FailingGroup] = {}
        for r in rows:
            key = (r["object_type"], r["category"])
            if key not in groups:
                groups[key] = FailingGroup(
                    r["object_type"], r["category"], r["n"], r["soonest"], []
                )
            groups[key].examples.append(
                FailingRecord(
                    r["hubspot_id"],
                    r["app_id"],
                    r["error_message"],
                    r["attempts"],
                    r["next_retry_at"],
                )
            )
        return list(groups.values())

    async def record_page(
        self,
        connection_id: str,
        *,
        object_type: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_id: int = 0,
        limit: int = 100,
        category: str | None = None,
    ) -> list[RecordRow]:
        """Up to `limit` links after `after_id`, in id order (keyset pagination: a page stays
        right while links are added and changed). `since` (inclusive) and `until` (exclusive)
        bound `updated_at`; `category` keeps failing links of that error category, as
        `failing_groups` names it."""
        # Only the conditions given go into the query, so that the planner sees each shape
        # with its own parameters and uses the (connection, object, [status,] id) indexes.
        args: list[Any] = [connection_id, Side.HUBSPOT.value, Side.APP.value, after_id]
        where = ["l.connection_id = $1", "l.id > $4"]
        for condition, value in (
            ("l.object_type = ${}", object_type),
            ("l.status = ${}", status),
            ("l.updated_at >= ${}", since),
            ("l.updated_at < ${}", until),
            ("l.status = 'failing' AND COALESCE(l.error_category, 'unknown') = ${}", category),
        ):
            if value is not None:
                args.append(value)
                where.append(condition.format(len(args)))
        args.append(limit)
        rows = await self.pool.fetch(
            f"{_RECORD_ROWS} WHERE {' AND '.join(where)} ORDER BY l.id LIMIT ${len(args)}",
            *args,
        )
        return [RecordRow(**dict(r)) for r in rows]

    async def find_record(
        self, connection_id: str, object_type: str, record_id: str
    ) -> tuple[RecordRow, Literal["hubspot_id", "app_id"]] | None:
        """The link of the record with this HubSpot id or app id, and which of the two matched
        (`hubspot_id` or `app_id`); the HubSpot id is looked at first."""
        row = await self.pool.fetchrow(
            f"{_RECORD_ROWS} WHERE l.connection_id = $1 AND l.object_type = $4"
            " AND (l.hubspot_id = $5 OR l.app_id = $5)"
            " ORDER BY l.hubspot_id IS NOT DISTINCT FROM $5 DESC, l.id LIMIT 1",
            connection_id,
            Side.HUBSPOT.value,
            Side.APP.value,
            object_type,
            record_id,
        )
        if row is None:
            return None
        found = RecordRow(**dict(row))
        return found, "hubspot_id" if found.hubspot_id == record_id else "app_id"

    async def record_audit(
        self,
        connection_id: str,
        object_type: str,
        hubspot_id: str | None,
        app_id: str | None,
        limit: int,
    ) -> list[asyncpg.Record]:
        """The audit trail of one record pair, newest first: the rows of either of its ids
        (a write that created one side carries only the other side's id)."""
        return list(
            await self.pool.fetch(
                "SELECT * FROM audit WHERE connection_id = $1 AND object_type = $2"
                " AND (hubspot_id = $3 OR app_id = $4) ORDER BY id DESC LIMIT $5",
                connection_id,
                object_type,
                hubspot_id,
                app_id,
                limit,
            )
        )

    async def activity(
        self,
        connection_id: str,
        object_type: str | None,
        bucket: str,
        since: datetime,
        until: datetime,
    ) -> list[ActivityCount]:
        """Writes datasync applied from `since` (inclusive) to `until` (exclusive), counted per
        `bucket` ("minute" or "hour", in UTC) and target side; only buckets that had some."""
        rows = await self.pool.fetch(
            "SELECT date_trunc($2, at, 'UTC') AS start, target,"
            " count(DISTINCT (command_id, hubspot_id, app_id)) AS records, count(*) AS fields"
            " FROM audit WHERE connection_id = $1 AND ($3::text IS NULL OR object_type = $3)"
            " AND at >= $4 AND at < $5 GROUP BY 1, 2 ORDER BY 1, 2",
            connection_id,
            bucket,
            object_type,
            since,
            until,
        )
        return [ActivityCount(**dict(r)) for r in rows]
