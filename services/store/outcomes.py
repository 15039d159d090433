"""Storing a batch of write outcomes — links, both sides' snapshots, status, error, audit.

A batch takes a fixed number of statements, whatever its size: one reads and locks every link
its outcomes can touch, the outcomes are replayed in order on that picture in memory, and what
they leave is written back with one UPDATE and one INSERT (and, rarely, an UPDATE before them
that frees ids moving from one link to another).
"""

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg

from schemas.events import Side


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


async def store_outcomes(conn: asyncpg.Connection, outcomes: list[LinkOutcome]) -> None:
    """Store `outcomes`, in the order given, in the caller's transaction."""
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
