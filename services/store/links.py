"""Queries of record links: pairs, their snapshots and status, failures and their retries,
deletions, merges and the audit trail. Mixed into `Store`."""

import asyncio
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg

from schemas.events import Side
from services.domain.decide import LinkState

_SIDE_COLUMN = {Side.HUBSPOT: "hubspot_id", Side.APP: "app_id"}


@dataclass(frozen=True)
class AuditEntry:
    field: str | None
    old_value: Any
    new_value: Any


@dataclass(frozen=True)
class LinkOutcome:
    """A write's result as the store records it, keyed by the record pair's ids."""

    connection_id: str
    object_type: str
    hubspot_id: str | None
    app_id: str | None
    status: str  # in_sync | failing | deleted
    synced: dict[str, Any] | None
    error_category: str | None = None
    error_message: str | None = None
    retry_in: timedelta = timedelta(seconds=30)  # failing: when to try again
    target: Side | None = None  # the side written to
    op: str = "update"
    reason: str = ""
    command_id: str = ""
    audit: list[AuditEntry] = field(default_factory=list)


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


# Storing a batch of write outcomes -----------------------------------------------------------
#
# A batch takes a fixed number of statements, whatever its size: one reads and locks every link
# its outcomes can touch, the outcomes are replayed in order on that picture in memory, and what
# they leave is written back with one UPDATE and one INSERT (and, rarely, an UPDATE before them
# that frees ids moving from one link to another).

_ID_COLUMNS = ("hubspot_id", "app_id")

# Every link whose HubSpot id or app id is one of the outcomes', locked in id order: the order
# the writers of both sides lock links in. The ids are gathered first (an InitPlan): a row locked
# after waiting for another writer is then rechecked by its id alone, where a join would be
# re-run for that row and can lose it.
_LOCK_LINKS = (
    "SELECT id, connection_id, object_type, hubspot_id, app_id, status, attempts, deleted_side"
    " FROM links WHERE id = ANY (ARRAY ("
    " SELECT l.id FROM unnest($1::text[], $2::text[], $3::text[]) AS k (c, t, v) JOIN links l"
    " ON l.connection_id = k.c AND l.object_type = k.t AND l.hubspot_id = k.v"
    " UNION ALL"
    " SELECT l.id FROM unnest($4::text[], $5::text[], $6::text[]) AS k (c, t, v) JOIN links l"
    " ON l.connection_id = k.c AND l.object_type = k.t AND l.app_id = k.v))"
    " ORDER BY id FOR UPDATE"
)
_CLEAR_IDS = (
    "UPDATE links AS l SET hubspot_id = CASE WHEN p.h THEN NULL ELSE l.hubspot_id END,"
    " app_id = CASE WHEN p.a THEN NULL ELSE l.app_id END"
    " FROM unnest($1::bigint[], $2::boolean[], $3::boolean[]) AS p (id, h, a) WHERE l.id = p.id"
)
_UPDATED_COLUMNS = (
    "id",
    "hubspot_id",
    "app_id",
    "status",
    "patch",
    "error_category",
    "error_message",
    "synced",
    "attempts",
    "retry_in",
    "deleted_side",
)
_UPDATE_LINKS = (
    "UPDATE links AS l SET hubspot_id = p.hubspot_id, app_id = p.app_id, status = p.status,"
    " hubspot_values = CASE WHEN p.patch IS NULL THEN l.hubspot_values"
    " ELSE COALESCE(l.hubspot_values, '{}'::jsonb) || p.patch END,"
    " app_values = CASE WHEN p.patch IS NULL THEN l.app_values"
    " ELSE COALESCE(l.app_values, '{}'::jsonb) || p.patch END,"
    " error_category = p.error_category, error_message = p.error_message,"
    " last_synced_at = CASE WHEN p.synced THEN now() ELSE l.last_synced_at END,"
    " attempts = p.attempts, next_retry_at = now() + p.retry_in,"
    " deleted_side = p.deleted_side, updated_at = now()"
    " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[],"
    " $7::text[], $8::boolean[], $9::integer[], $10::interval[], $11::text[])"
    " AS p (id, hubspot_id, app_id, status, patch, error_category, error_message, synced,"
    " attempts, retry_in, deleted_side)"
    " WHERE l.id = p.id"
)
_INSERTED_COLUMNS = (
    "connection_id",
    "object_type",
    "hubspot_id",
    "app_id",
    "status",
    "patch",
    "error_category",
    "error_message",
    "synced",
    "attempts",
    "retry_in",
    "deleted_side",
)
# In the outcomes' order, so that the new links' ids are in the order they were inserted in.
_INSERT_LINKS = (
    "INSERT INTO links (connection_id, object_type, hubspot_id, app_id, status, hubspot_values,"
    " app_values, error_category, error_message, last_synced_at, attempts, next_retry_at,"
    " deleted_side)"
    " SELECT p.connection_id, p.object_type, p.hubspot_id, p.app_id, p.status, p.patch, p.patch,"
    " p.error_category, p.error_message, CASE WHEN p.synced THEN now() END, p.attempts,"
    " now() + p.retry_in, p.deleted_side"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[],"
    " $7::text[], $8::text[], $9::boolean[], $10::integer[], $11::interval[], $12::text[])"
    " WITH ORDINALITY AS p (connection_id, object_type, hubspot_id, app_id, status, patch,"
    " error_category, error_message, synced, attempts, retry_in, deleted_side, n)"
    " ORDER BY p.n"
)

# The values as JSON text: a list among them would be taken for a dimension of the array.
_INSERT_AUDIT = (
    "INSERT INTO audit (connection_id, object_type, hubspot_id, app_id, target, op, field,"
    " old_value, new_value, reason, command_id)"
    " SELECT p.connection_id, p.object_type, p.hubspot_id, p.app_id, p.target, p.op, p.field,"
    " p.old_value::jsonb, p.new_value::jsonb, p.reason, p.command_id"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
    " $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])"
    " WITH ORDINALITY AS p (connection_id, object_type, hubspot_id, app_id, target, op, field,"
    " old_value, new_value, reason, command_id, n)"
    " ORDER BY p.n"
)


@dataclass(eq=False)
class _Link:
    """A link as the outcomes of a batch leave it, in memory. Each field stands for the column
    it is written to, except `patch`, `synced` and `retry_in`, which say how the snapshots,
    `last_synced_at` and `next_retry_at` are written."""

    rank: int  # the links' order by id: the rows read, then the links the batch inserts
    connection_id: str
    object_type: str
    hubspot_id: str | None
    app_id: str | None
    status: str
    attempts: int
    deleted_side: str | None
    id: int | None = None  # None: a link the batch inserts
    read_ids: tuple[str | None, str | None] = (None, None)  # (hubspot_id, app_id) as read
    written: bool = False
    patch: dict[str, Any] | None = None  # merged into both snapshots (a new link's snapshots)
    error_category: str | None = None
    error_message: str | None = None
    synced: bool = False  # last_synced_at = now(), else left as it was
    retry_in: timedelta | None = None  # next_retry_at = now() + retry_in, else NULL

    @property
    def paired(self) -> bool:
        return self.hubspot_id is not None and self.app_id is not None

    def moved_ids(self) -> list[tuple[str, str | None, str | None]]:
        """(column, id as read, id now) of the id columns the batch changed."""
        return [
            (column, was, getattr(self, column))
            for column, was in zip(_ID_COLUMNS, self.read_ids, strict=True)
            if getattr(self, column) != was
        ]


class _Replay:
    """A batch's outcomes applied one after the other, in memory, to the links they can touch:
    the rows read (and locked) for the batch and the links the batch inserts.

    Each outcome finds its link as the outcomes before it in the batch left it (ids a link took,
    a link inserted for an earlier outcome) and changes it by the rules the one-statement-per-
    outcome store had in SQL, so that two outcomes of one record in one batch — or a new
    record's creation and a later write to it — end as they would have one by one."""

    def __init__(self, rows: list[asyncpg.Record]) -> None:
        self.links: list[_Link] = []
        self._by_id: dict[tuple[str, str, str, str], _Link] = {}
        for row in rows:
            self._add(
                _Link(
                    len(self.links),
                    row["connection_id"],
                    row["object_type"],
                    row["hubspot_id"],
                    row["app_id"],
                    row["status"],
                    row["attempts"],
                    row["deleted_side"],
                    id=row["id"],
                    read_ids=(row["hubspot_id"], row["app_id"]),
                )
            )

    def apply(self, o: LinkOutcome) -> None:
        by_hubspot = self._find(o, "hubspot_id", o.hubspot_id)
        by_app = self._find(o, "app_id", o.app_id)
        found = [link for link in (by_hubspot, by_app) if link is not None]
        if not found:
            self._insert(o)
            return
        # Two links can match, one by each id: a pair is preferred, then the older link (where
        # the one-statement-per-outcome store's ORDER BY ... LIMIT 1 left the choice open).
        link = min(found, key=lambda link: (not link.paired, link.rank))
        if link.status == "merged":
            return  # a write that was under way when HubSpot merged the record away
        link.written = True
        if o.status == "in_sync":
            # The link takes both ids: one held by another link fails the batch, as the
            # unique constraint failed the link's own UPDATE.
            for column, holder in (("hubspot_id", by_hubspot), ("app_id", by_app)):
                if holder is not None and holder is not link:
                    raise _duplicate(o, column)
            for column in _ID_COLUMNS:
                if getattr(o, column) is not None:
                    self._move(link, column, getattr(o, column))
            link.status = "in_sync"
            link.patch = {**(link.patch or {}), **(o.synced or {})}
            link.error_category = link.error_message = None
            link.synced = True
            link.attempts = 0
            link.retry_in = None
            link.deleted_side = None
        elif o.status == "deleted" and o.target is not None:
            link.status = "deleted"
            link.error_category, link.error_message = o.error_category, o.error_message
            # A propagated delete keeps the side the record was deleted on first.
            if o.op != "delete" or link.deleted_side is None:
                link.deleted_side = o.target.value
            link.retry_in = None
        else:
            link.status = "failing"
            link.error_category, link.error_message = o.error_category, o.error_message
            link.attempts += 1
            link.retry_in = o.retry_in

    def _insert(self, o: LinkOutcome) -> None:
        in_sync, failing = o.status == "in_sync", o.status == "failing"
        self._add(
            _Link(
                len(self.links),
                o.connection_id,
                o.object_type,
                o.hubspot_id,
                o.app_id,
                o.status,
                1 if failing else 0,
                None,
                written=True,
                patch=dict(o.synced or {}) if in_sync else None,
                error_category=o.error_category,
                error_message=o.error_message,
                synced=in_sync,
                retry_in=o.retry_in if failing else None,
            )
        )

    def _find(self, o: LinkOutcome, column: str, value: str | None) -> _Link | None:
        if value is None:
            return None
        return self._by_id.get((column, o.connection_id, o.object_type, value))

    def _add(self, link: _Link) -> None:
        self.links.append(link)
        for column in _ID_COLUMNS:
            value = getattr(link, column)
            if value is not None:
                self._by_id[(column, link.connection_id, link.object_type, value)] = link

    def _move(self, link: _Link, column: str, value: str) -> None:
        old = getattr(link, column)
        if old == value:
            return
        if old is not None:
            del self._by_id[(column, link.connection_id, link.object_type, old)]
        setattr(link, column, value)
        self._by_id[(column, link.connection_id, link.object_type, value)] = link


def _lookup_keys(outcomes: list[LinkOutcome]) -> list[list[str]]:
    """The parameters of `_LOCK_LINKS`: (connections, objects, ids) by HubSpot id, then by
    app id."""
    keys: list[list[str]] = []
    for column in _ID_COLUMNS:
        found = {
            (o.connection_id, o.object_type, value)
            for o in outcomes
            if (value := getattr(o, column)) is not None
        }
        keys += [[key[i] for key in found] for i in range(3)]
    return keys


def _handed_over(links: list[_Link]) -> list[tuple[int, bool, bool]]:
    """(link id, clear hubspot_id, clear app_id) of the links read whose ids the batch moves
    to other links. Written all at once, a taker could meet the id still on its giver, where
    the one-by-one statements had moved it away first: so these are cleared before."""
    taken = {
        (column, link.connection_id, link.object_type, now)
        for link in links
        for column, _, now in link.moved_ids()
        if now is not None
    }
    handed = []
    for link in links:
        given = {
            column
            for column, was, _ in link.moved_ids()
            if was is not None and (column, link.connection_id, link.object_type, was) in taken
        }
        if link.id is not None and given:
            handed.append((link.id, "hubspot_id" in given, "app_id" in given))
    return handed


def _json(value: Any) -> str | None:
    """A jsonb parameter's text, as the connections' codec writes it; None stays NULL."""
    return None if value is None else json.dumps(value)


def _columns(links: list[_Link], names: tuple[str, ...]) -> list[list[Any]]:
    return [[getattr(link, name) for link in links] for name in names]


def _duplicate(o: LinkOutcome, column: str) -> asyncpg.PostgresError:
    """The error the outcome's own UPDATE raised when another link held one of its ids."""
    constraint = f"links_connection_id_object_type_{column}_key"
    return asyncpg.PostgresError.new(
        {
            "S": "ERROR",
            "C": "23505",  # unique_violation: an asyncpg.UniqueViolationError
            "M": f'duplicate key value violates unique constraint "{constraint}"',
            "D": f"Key (connection_id, object_type, {column})=({o.connection_id},"
            f" {o.object_type}, {getattr(o, column)}) already exists.",
            "s": "public",
            "t": "links",
            "n": constraint,
        }
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
        handful of statements per batch whatever its size (see `_Replay`). Writers of both
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
                await self._apply_outcomes(ordered)
                return
            except asyncpg.DeadlockDetectedError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def _apply_outcomes(self, outcomes: list[LinkOutcome]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            replay = _Replay(await conn.fetch(_LOCK_LINKS, *_lookup_keys(outcomes)))
            for o in outcomes:
                replay.apply(o)
            written = [link for link in replay.links if link.written]
            handed_over = _handed_over(written)
            if handed_over:
                await conn.execute(_CLEAR_IDS, *map(list, zip(*handed_over, strict=True)))
            updated = [link for link in written if link.id is not None]
            if updated:
                await conn.execute(_UPDATE_LINKS, *_columns(updated, _UPDATED_COLUMNS))
            inserted = [link for link in written if link.id is None]
            if inserted:
                await conn.execute(_INSERT_LINKS, *_columns(inserted, _INSERTED_COLUMNS))
            audit = [
                (
                    o.connection_id,
                    o.object_type,
                    o.hubspot_id,
                    o.app_id,
                    str(o.target or ""),
                    o.op,
                    a.field,
                    _json(a.old_value),
                    _json(a.new_value),
                    o.reason,
                    o.command_id,
                )
                for o in outcomes
                if o.status == "in_sync" or (o.status == "deleted" and o.op == "delete")
                for a in o.audit
            ]
            if audit:
                await conn.execute(_INSERT_AUDIT, *map(list, zip(*audit, strict=True)))

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
