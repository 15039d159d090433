"""Queries of record links: pairs, their snapshots and status, failures and their retries,
deletions, merges and the audit trail. Mixed into `Store`."""

import asyncio
from dataclasses import dataclass

import asyncpg

from schemas.events import Side
from services.domain.decide import LinkState
from services.store.outcomes import LinkOutcome, store_outcomes

_SIDE_COLUMN = {Side.HUBSPOT: "hubspot_id", Side.APP: "app_id"}


@dataclass(frozen=True)
class StoredLink:
    """A link with what the store keeps beside the snapshots."""

    state: LinkState
    attempts: int
    deleted_side: Side | None


def _state(row: asyncpg.Record) -> LinkState:
    return LinkState(
        hubspot_id=row["hubspot_id"],
        app_id=row["app_id"],
        hubspot_values=row["hubspot_values"],
        app_values=row["app_values"],
        status=row["status"],
    )


class LinkQueries:
    pool: asyncpg.Pool

    async def links_for(
        self, connection_id: str, object_type: str, side: Side, ids: list[str]
    ) -> dict[str, LinkState]:
        return {
            k: v.state
            for k, v in (await self.stored_links(connection_id, object_type, side, ids)).items()
        }

    async def stored_links(
        self, connection_id: str, object_type: str, side: Side, ids: list[str]
    ) -> dict[str, StoredLink]:
        column = _SIDE_COLUMN[side]
        rows = await self.pool.fetch(
            f"SELECT * FROM links WHERE connection_id = $1 AND object_type = $2"
            f" AND {column} = ANY($3::text[])",
            connection_id,
            object_type,
            ids,
        )
        return {
            r[column]: StoredLink(
                _state(r), r["attempts"], Side(r["deleted_side"]) if r["deleted_side"] else None
            )
            for r in rows
        }

    async def link_pairs(
        self, connection_id: str, object_type: str, pairs: list[tuple[str, str]]
    ) -> None:
        """Record matched pairs that have not synced yet; pairs already known are kept."""
        await self.pool.executemany(
            "INSERT INTO links (connection_id, object_type, hubspot_id, app_id, status)"
            " VALUES ($1, $2, $3, $4, 'pending') ON CONFLICT DO NOTHING",
            [(connection_id, object_type, h, a) for h, a in pairs],
        )

    async def record_exclusions(
        self, connection_id: str, object_type: str, side: Side, reasons: dict[str, str]
    ) -> None:
        column = _SIDE_COLUMN[side]
        await self.pool.executemany(
            f"INSERT INTO links (connection_id, object_type, {column}, status, error_message)"
            f" VALUES ($1, $2, $3, 'excluded', $4) ON CONFLICT (connection_id, object_type,"
            f" {column}) DO UPDATE SET status = 'excluded', error_message = $4, updated_at = now()"
            f" WHERE links.status = 'excluded'",
            [(connection_id, object_type, rid, reason) for rid, reason in reasons.items()],
        )

    async def apply_outcomes(self, outcomes: list[LinkOutcome]) -> None:
        """Store write outcomes — links, both sides' snapshots, status, error, audit — at once.

        The outcomes take effect as if stored one by one in the order sorted here, but in a
        handful of statements per batch whatever its size (see `outcomes`). Writers of both
        sides update the same links; locking a batch's rows in id order keeps their
        transactions from deadlocking, and a deadlock that happens anyway (another order
        elsewhere) is retried."""
        if not outcomes:
            return
        ordered = sorted(
            outcomes,
            key=lambda o: (o.connection_id, o.object_type, o.hubspot_id or "", o.app_id or ""),
        )
        for attempt in range(5):
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await store_outcomes(conn, ordered)
                return
            except asyncpg.DeadlockDetectedError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def mark_deleted(
        self, connection_id: str, object_type: str, side: Side, ids: list[str]
    ) -> int:
        """Records deleted on `side`: their links are kept and marked, nothing else changes."""
        result = await self.pool.execute(
            f"UPDATE links SET status = 'deleted', deleted_side = $3, next_retry_at = NULL,"
            f" updated_at = now() WHERE connection_id = $1 AND object_type = $2"
            f" AND {_SIDE_COLUMN[side]} = ANY($4::text[]) AND status <> 'merged'",
            connection_id,
            object_type,
            side.value,
            ids,
        )
        return int(result.split()[-1])

    async def repoint_merged(
        self, connection_id: str, object_type: str, primary_id: str, merged_ids: list[str]
    ) -> None:
        """HubSpot merged the records `merged_ids` into `primary_id`.

        The primary's own pair stays. Where the primary never paired (it was left out of the
        sync, or its first write failed), the first merged record that has a pair hands it to
        the primary, in place of the primary's lone row: the merge creates nothing in the app.
        Every other pair of a merged-away record is closed: status `merged`, `merged_into`
        the primary, and its HubSpot side counted as gone (`deleted_side`), so that the app
        record, which is kept, is never copied back into HubSpot as a new record (HubSpot
        holds its email already, on the primary). A merged-away record's lone row goes: the
        record it stood for no longer exists."""
        by_hubspot_id = (
            "SELECT id, app_id FROM links WHERE connection_id = $1 AND object_type = $2"
            " AND hubspot_id = $3 FOR UPDATE"
        )
        async with self.pool.acquire() as conn, conn.transaction():
            own = await conn.fetchrow(by_hubspot_id, connection_id, object_type, primary_id)
            paired = own is not None and own["app_id"] is not None
            for merged in merged_ids:
                row = await conn.fetchrow(by_hubspot_id, connection_id, object_type, merged)
                if row is None:
                    continue
                if row["app_id"] is None:
                    await conn.execute("DELETE FROM links WHERE id = $1", row["id"])
                elif not paired:
                    if own is not None:
                        await conn.execute("DELETE FROM links WHERE id = $1", own["id"])
                    await conn.execute(
                        "UPDATE links SET hubspot_id = $2, merged_into = NULL, updated_at = now()"
                        " WHERE id = $1",
                        row["id"],
                        primary_id,
                    )
                    paired = True
                else:
                    await conn.execute(
                        "UPDATE links SET hubspot_id = NULL, merged_into = $2, status = 'merged',"
                        " deleted_side = $3, error_category = NULL, error_message = NULL,"
                        " next_retry_at = NULL, updated_at = now() WHERE id = $1",
                        row["id"],
                        primary_id,
                        Side.HUBSPOT.value,
                    )

    async def due_retries(self, limit: int = 1000) -> list[asyncpg.Record]:
        """Failing links whose backoff has passed, pushed back so no other poller takes them."""
        return list(
            await self.pool.fetch(
                "UPDATE links SET next_retry_at = now() + interval '5 minutes' WHERE id IN ("
                " SELECT id FROM links WHERE status = 'failing' AND next_retry_at <= now()"
                " ORDER BY next_retry_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
                " RETURNING connection_id, object_type, hubspot_id, app_id",
                limit,
            )
        )

    async def retry_now(
        self,
        connection_id: str,
        *,
        object_type: str | None = None,
        category: str | None = None,
        record_ids: list[str] | None = None,
    ) -> int:
        """Make failing links due now, so that the next pass of `due_retries` takes them;
        returns how many. Their backoff starts again: someone has just fixed the cause."""
        result = await self.pool.execute(
            "UPDATE links SET next_retry_at = now(), attempts = 0 WHERE connection_id = $1"
            " AND status = 'failing' AND ($2::text IS NULL OR object_type = $2)"
            " AND ($3::text IS NULL OR COALESCE(error_category, 'unknown') = $3)"
            " AND ($4::text[] IS NULL OR hubspot_id = ANY($4) OR app_id = ANY($4))",
            connection_id,
            object_type,
            category,
            record_ids,
        )
        return int(result.split()[-1])

    async def request_resync(self, connection_id: str, object_type: str, into: Side) -> int:
        """Ask for records deleted on `into` to be recreated there; returns how many."""
        result = await self.pool.execute(
            "UPDATE links SET status = 'resync', updated_at = now() WHERE connection_id = $1"
            " AND object_type = $2 AND deleted_side = $3 AND status = 'deleted'",
            connection_id,
            object_type,
            into.value,
        )
        return int(result.split()[-1])

    async def take_resyncs(self, limit: int = 1000) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch(
                "UPDATE links SET status = 'resyncing' WHERE id IN ("
                " SELECT id FROM links WHERE status = 'resync' LIMIT $1 FOR UPDATE SKIP LOCKED)"
                " RETURNING connection_id, object_type, hubspot_id, app_id, deleted_side",
                limit,
            )
        )

    async def add_association_waits(
        self, connection_id: str, object_type: str, side: Side, waits: list[tuple[str, str]]
    ) -> None:
        """(record id, associated object) pairs waiting for the associated record to sync:
        looked at again after 2 s, then 4, 8, ... up to 5 minutes."""
        await self.pool.executemany(
            "INSERT INTO association_waits (connection_id, object_type, side, record_id,"
            " to_object, next_try_at) VALUES ($1, $2, $3, $4, $5, now() + interval '2 seconds')"
            " ON CONFLICT (connection_id, object_type, side, record_id, to_object) DO UPDATE SET"
            " attempts = association_waits.attempts + 1, next_try_at = now()"
            " + least(300, 2 ^ (association_waits.attempts + 1)) * interval '1 second'",
            [(connection_id, object_type, side.value, r, t) for r, t in waits],
        )

    async def take_due_association_waits(self, limit: int = 1000) -> list[asyncpg.Record]:
        """Waits whose time has come; they are pushed back, and re-armed by the processor
        while the associated record is still missing."""
        return list(
            await self.pool.fetch(
                "UPDATE association_waits SET next_try_at = now() + interval '5 minutes'"
                " WHERE (connection_id, object_type, side, record_id, to_object) IN ("
                " SELECT connection_id, object_type, side, record_id, to_object"
                " FROM association_waits WHERE next_try_at <= now() LIMIT $1"
                " FOR UPDATE SKIP LOCKED) RETURNING connection_id, object_type, side, record_id",
                limit,
            )
        )

    async def clear_association_waits(
        self, connection_id: str, object_type: str, side: Side, record_ids: list[str]
    ) -> None:
        await self.pool.execute(
            "DELETE FROM association_waits WHERE connection_id = $1 AND object_type = $2"
            " AND side = $3 AND record_id = ANY($4::text[])",
            connection_id,
            object_type,
            side.value,
            record_ids,
        )

    async def waiting_counts(self, connection_id: str) -> dict[str, int]:
        rows = await self.pool.fetch(
            "SELECT object_type, count(DISTINCT (side, record_id)) AS n FROM association_waits"
            " WHERE connection_id = $1 GROUP BY object_type",
            connection_id,
        )
        return {r["object_type"]: r["n"] for r in rows}

    async def linked_hubspot_ids(self, connection_id: str, object_type: str) -> list[str]:
        """The HubSpot ids of every linked pair of a sync."""
        rows = await self.pool.fetch(
            "SELECT hubspot_id FROM links WHERE connection_id = $1 AND object_type = $2"
            " AND hubspot_id IS NOT NULL AND app_id IS NOT NULL",
            connection_id,
            object_type,
        )
        return [r["hubspot_id"] for r in rows]

    async def status_counts(self, connection_id: str) -> dict[str, dict[str, int]]:
        rows = await self.pool.fetch(
            "SELECT object_type, status, count(*) AS n FROM links WHERE connection_id = $1"
            " GROUP BY object_type, status",
            connection_id,
        )
        counts: dict[str, dict[str, int]] = {}
        for r in rows:
            counts.setdefault(r["object_type"], {})[r["status"]] = r["n"]
        return counts

    async def audit_trail(
        self, connection_id: str, object_type: str | None, record_id: str | None, limit: int
    ) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch(
                "SELECT * FROM audit WHERE connection_id = $1"
                " AND ($2::text IS NULL OR object_type = $2)"
                " AND ($3::text IS NULL OR hubspot_id = $3 OR app_id = $3)"
                " ORDER BY id DESC LIMIT $4",
                connection_id,
                object_type,
                record_id,
                limit,
            )
        )
