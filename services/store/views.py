"""Read models of the status API: failing records grouped by error, and the record view paged
by link id, with what each record waits for. Mixed into `Store`."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    ) -> list[RecordRow]:
        """Up to `limit` links after `after_id`, in id order (keyset pagination: a page stays
        right while links are added and changed). `since` (inclusive) and `until` (exclusive)
        bound `updated_at`."""
        # Only the conditions given go into the query, so that the planner sees each shape
        # with its own parameters and uses the (connection, object, [status,] id) indexes.
        args: list[Any] = [connection_id, Side.HUBSPOT.value, Side.APP.value, after_id]
        where = ["l.connection_id = $1", "l.id > $4"]
        for condition, value in (
            ("l.object_type = ${}", object_type),
            ("l.status = ${}", status),
            ("l.updated_at >= ${}", since),
            ("l.updated_at < ${}", until),
        ):
            if value is not None:
                args.append(value)
                where.append(condition.format(len(args)))
        args.append(limit)
        rows = await self.pool.fetch(
            "SELECT l.id, l.object_type, l.hubspot_id, l.app_id, l.status, l.error_category,"
            " l.error_message, l.attempts, l.next_retry_at, l.deleted_side, l.merged_into,"
            " l.last_synced_at, l.updated_at,"
            " ARRAY(SELECT DISTINCT w.to_object FROM association_waits w"
            " WHERE w.connection_id = l.connection_id AND w.object_type = l.object_type"
            " AND ((w.side = $2 AND w.record_id = l.hubspot_id)"
            " OR (w.side = $3 AND w.record_id = l.app_id)) ORDER BY w.to_object) AS waiting_for"
            f" FROM links l WHERE {' AND '.join(where)} ORDER BY l.id LIMIT ${len(args)}",
            *args,
        )
        return [RecordRow(**dict(r)) for r in rows]
