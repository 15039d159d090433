"""Storing a batch of write outcomes at once (`Store.apply_outcomes`), against a real PostgreSQL.

The store writes a batch in a few statements, however many outcomes it holds. What it stores
is held against `apply_one_by_one`: the store as it was, one SELECT ... FOR UPDATE and one
INSERT or UPDATE per outcome, kept here as the reference (bench/store_outcomes.py times the
two against each other). Each comparison runs the same outcomes through both on connections of
their own, in the same database, and compares the links and audit rows they leave, with the
connection ids' prefixes taken off and the timestamps told apart only by the transaction that
wrote them.
"""

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import Side
from services.store.migrate import migrate
from services.store.outcomes import AuditEntry, LinkOutcome
from services.store.repository import Store
from tests.helpers import app_connection

pytestmark = pytest.mark.integration

Apply = Callable[[Store, list[LinkOutcome]], Awaitable[None]]


# The reference: the store as it was ---------------------------------------------------------


async def apply_one_by_one(pool: asyncpg.Pool, outcomes: list[LinkOutcome]) -> None:
    """`apply_outcomes` as it was before it went set-based (less its deadlock retry).

    One change: where two links match an outcome equally (one by each id, both paired or both
    not), the original's `ORDER BY ... LIMIT 1` left the choice to the query plan; here, as in
    the store now, the older link (lower id) is taken."""
    ordered = sorted(
        outcomes,
        key=lambda o: (o.connection_id, o.object_type, o.hubspot_id or "", o.app_id or ""),
    )
    async with pool.acquire() as conn, conn.transaction():
        for o in ordered:
            await _apply_one(conn, o)
        audit = [
            (
                o.connection_id,
                o.object_type,
                o.hubspot_id,
                o.app_id,
                str(o.target or ""),
                o.op,
                a.field,
                a.old_value,
                a.new_value,
                o.reason,
                o.command_id,
            )
            for o in ordered
            if o.status == "in_sync" or (o.status == "deleted" and o.op == "delete")
            for a in o.audit
        ]
        if audit:
            await conn.executemany(
                "INSERT INTO audit (connection_id, object_type, hubspot_id, app_id, target, op,"
                " field, old_value, new_value, reason, command_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                audit,
            )


async def _apply_one(conn: asyncpg.Connection, o: LinkOutcome) -> None:
    row = await conn.fetchrow(
        "SELECT id, attempts, status FROM links WHERE connection_id = $1 AND object_type = $2"
        " AND ((hubspot_id = $3) OR (app_id = $4)) ORDER BY (hubspot_id IS NOT NULL"
        " AND app_id IS NOT NULL) DESC, id LIMIT 1 FOR UPDATE",
        o.connection_id,
        o.object_type,
        o.hubspot_id,
        o.app_id,
    )
    if row is not None and row["status"] == "merged":
        return
    synced = o.synced or {}
    attempts = (row["attempts"] if row else 0) + 1
    retry_in = o.retry_in
    if row is None:
        await conn.execute(
            "INSERT INTO links (connection_id, object_type, hubspot_id, app_id, status,"
            " hubspot_values, app_values, error_category, error_message, last_synced_at,"
            " attempts, next_retry_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8,"
            " CASE WHEN $5 = 'in_sync' THEN now() END,"
            " CASE WHEN $5 = 'failing' THEN 1 ELSE 0 END,"
            " CASE WHEN $5 = 'failing' THEN now() + $9::interval END)",
            o.connection_id,
            o.object_type,
            o.hubspot_id,
            o.app_id,
            o.status,
            synced if o.status == "in_sync" else None,
            o.error_category,
            o.error_message,
            retry_in,
        )
        return
    if o.status == "in_sync":
        await conn.execute(
            "UPDATE links SET hubspot_id = COALESCE($2, hubspot_id),"
            " app_id = COALESCE($3, app_id), status = 'in_sync',"
            " hubspot_values = COALESCE(hubspot_values, '{}'::jsonb) || $4::jsonb,"
            " app_values = COALESCE(app_values, '{}'::jsonb) || $4::jsonb,"
            " error_category = NULL, error_message = NULL, last_synced_at = now(),"
            " attempts = 0, next_retry_at = NULL, deleted_side = NULL,"
            " updated_at = now() WHERE id = $1",
            row["id"],
            o.hubspot_id,
            o.app_id,
            synced,
        )
    elif o.status == "deleted" and o.target is not None:
        await conn.execute(
            "UPDATE links SET status = 'deleted', error_category = $3, error_message = $4,"
            " deleted_side = CASE WHEN $5 = 'delete' THEN COALESCE(deleted_side, $2)"
            " ELSE $2 END, next_retry_at = NULL, updated_at = now() WHERE id = $1",
            row["id"],
            o.target.value,
            o.error_category,
            o.error_message,
            o.op,
        )
    else:
        await conn.execute(
            "UPDATE links SET status = 'failing', error_category = $2, error_message = $3,"
            " attempts = $4, next_retry_at = now() + $5::interval, updated_at = now()"
            " WHERE id = $1",
            row["id"],
            o.error_category,
            o.error_message,
            attempts,
            retry_in,
        )


# Two stores side by side --------------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    """A link as it stands before the outcomes arrive."""

    connection: str
    object_type: str
    hubspot_id: str | None
    app_id: str | None
    status: str = "in_sync"
    values: dict[str, Any] | None = None
    attempts: int = 0
    deleted_side: str | None = None
    merged_into: str | None = None


async def one_by_one(store: Store, outcomes: list[LinkOutcome]) -> None:
    await apply_one_by_one(store.pool, outcomes)


async def batched(store: Store, outcomes: list[LinkOutcome]) -> None:
    await store.apply_outcomes(outcomes)


_runs = itertools.count()


class Universe:
    """Connections of their own ("<name><n>-<connection>"), so that several runs share a
    database; outcomes and seeds name the connection by its last part."""

    def __init__(self, store: Store, name: str, apply: Apply) -> None:
        self.store = store
        self.prefix = f"{name}{next(_runs)}-"
        self.apply = apply

    async def create(self, connections: list[str], seeds: list[Seed]) -> None:
        for connection in connections:
            await self.store.create_connection(app_connection(self.prefix + connection))
        await self.store.pool.executemany(
            "INSERT INTO links (connection_id, object_type, hubspot_id, app_id, status,"
            " hubspot_values, app_values, attempts, deleted_side, merged_into, last_synced_at,"
            " next_retry_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
            " CASE WHEN $6::jsonb IS NOT NULL THEN now() END,"
            " CASE WHEN $5 = 'failing' THEN now() + interval '1 minute' END)",
            [
                (
                    self.prefix + s.connection,
                    s.object_type,
                    s.hubspot_id,
                    s.app_id,
                    s.status,
                    s.values,
                    None if s.values is None else {**s.values, "app:only": s.app_id},
                    s.attempts,
                    s.deleted_side,
                    s.merged_into,
                )
                for s in seeds
            ],
        )

    async def run(self, outcomes: list[LinkOutcome]) -> None:
        await self.apply(
            self.store,
            [
                LinkOutcome(**{**vars(o), "connection_id": self.prefix + o.connection_id})
                for o in outcomes
            ],
        )

    async def state(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The links and the audit rows, in id order, comparable across universes: the
        connection ids without the prefix, each timestamp replaced by the rank of the
        transaction that wrote it, and `next_retry_at` kept as the wait from `updated_at`."""
        links = await self.store.pool.fetch(
            "SELECT * FROM links WHERE starts_with(connection_id, $1) ORDER BY id", self.prefix
        )
        audit = await self.store.pool.fetch(
            "SELECT * FROM audit WHERE starts_with(connection_id, $1) ORDER BY id", self.prefix
        )
        stamps = {
            *(r["updated_at"] for r in links),
            *(r["last_synced_at"] for r in links if r["last_synced_at"] is not None),
            *(r["at"] for r in audit),
        }
        rank = {t: i for i, t in enumerate(sorted(stamps))}

        def comparable(row: asyncpg.Record) -> dict[str, Any]:
            values = dict(row)
            values.pop("id")
            values["connection_id"] = values["connection_id"].removeprefix(self.prefix)
            for column in ("last_synced_at", "updated_at", "at"):
                if values.get(column) is not None:
                    values[column] = rank[values[column]]
            if values.get("next_retry_at") is not None:
                values["next_retry_at"] -= row["updated_at"]
            return values

        return [comparable(r) for r in links], [comparable(r) for r in audit]


async def run_both(
    store: Store, connections: list[str], seeds: list[Seed], batches: list[list[LinkOutcome]]
) -> tuple[Universe, Universe]:
    """The batches through the reference and through the store, compared after each batch:
    the same links and audit rows, or the same error and nothing stored."""
    reference, under_test = Universe(store, "ref", one_by_one), Universe(store, "new", batched)
    for universe in (reference, under_test):
        await universe.create(connections, seeds)
    for batch in batches:
        errors = []
        for universe in (reference, under_test):
            try:
                await universe.run(batch)
                errors.append(None)
            except asyncpg.UniqueViolationError as e:
                errors.append(e.constraint_name)
        assert errors[1] == errors[0]
        assert await under_test.state() == await reference.state()
    return reference, under_test


@pytest_asyncio.fixture(scope="module")
async def store(database_url: str) -> AsyncIterator[Store]:
    await migrate(database_url)
    store = await Store.connect(database_url)
    yield store
    await store.close()


def snapshot(o_id: str, n: int) -> dict[str, Any]:
    return {"email:emailaddress1": f"{o_id}@x.io", "firstname:firstname": f"Name{n}"}


def outcome(
    hubspot_id: str | None,
    app_id: str | None,
    status: str,
    synced: dict[str, Any] | None = None,
    **details: Any,
) -> LinkOutcome:
    """An outcome of connection "c"'s contacts."""
    return LinkOutcome("c", "contacts", hubspot_id, app_id, status, synced, **details)


# A large mixed batch -------------------------------------------------------------------------


def _large_seeds() -> list[Seed]:
    seeds = [
        Seed("c", "contacts", f"h{i}", f"a{i}", values=snapshot(f"h{i}", i)) for i in range(400)
    ]
    seeds += [Seed("c", "contacts", f"h{i}", None, "excluded") for i in range(400, 500)]
    seeds += [
        Seed("c", "contacts", f"h{i}", f"a{i}", "failing", snapshot(f"h{i}", i), attempts=2)
        for i in range(500, 550)
    ]
    seeds += [
        Seed("c", "contacts", None, f"a{i}", "merged", snapshot(f"h{i}", i), 0, "hubspot", "h0")
        for i in range(550, 600)
    ]
    seeds += [
        Seed("c", "contacts", f"h{i}", f"a{i}", "deleted", snapshot(f"h{i}", i), 0, "app")
        for i in range(600, 650)
    ]
    seeds += [Seed("c", "deals", f"h{i}", f"a{i}", values={}) for i in range(50)]
    return seeds


def _large_batch() -> list[LinkOutcome]:
    def audited(i: int) -> list[AuditEntry]:
        return [AuditEntry("firstname", f"Name{i}", f"New{i}")]

    batch = [
        outcome(
            f"h{i}",
            f"a{i}",
            "in_sync",
            synced={"firstname:firstname": f"New{i}"},
            target=Side.APP,
            command_id=f"u{i}",
            audit=audited(i),
        )
        for i in range(300)
    ]
    batch += [
        outcome(
            f"h{i}",
            f"a{i}",
            "failing",
            error_category="validation",
            error_message="bad",
            retry_in=timedelta(minutes=2),
        )
        for i in range(300, 400)
    ]
    # Lone HubSpot records that pair now, found by their HubSpot id.
    batch += [
        outcome(f"h{i}", f"a{i}", "in_sync", synced=snapshot(f"h{i}", i)) for i in range(400, 500)
    ]
    batch += [
        outcome(f"h{i}", f"a{i}", "failing", error_category="rate_limited") for i in range(500, 550)
    ]
    # Writes that land after HubSpot merged the record away: their links stay as they are.
    batch += [outcome(f"h{i}", f"a{i}", "in_sync", synced={"x:x": 1}) for i in range(550, 600)]
    batch += [
        outcome(
            f"h{i}",
            f"a{i}",
            "deleted",
            target=Side.HUBSPOT,
            op="delete",
            command_id=f"d{i}",
            audit=[AuditEntry(None, None, None)],
        )
        for i in range(600, 650)
    ]
    # New records: created in the app, failed before they had an app id, and found deleted.
    batch += [
        outcome(
            f"h{i}",
            f"a{i}",
            "in_sync",
            synced=snapshot(f"h{i}", i),
            op="create",
            target=Side.APP,
            command_id=f"c{i}",
            audit=audited(i),
        )
        for i in range(1000, 1250)
    ]
    batch += [
        outcome(f"h{i}", None, "failing", error_category="validation", error_message="no email")
        for i in range(1250, 1300)
    ]
    batch += [
        outcome(None, f"a{i}", "deleted", error_category="not_found") for i in range(1300, 1320)
    ]
    batch += [
        LinkOutcome(
            "c", "deals", f"h{i}", f"a{i}", "in_sync", {"dealname:name": i}, target=Side.APP
        )
        for i in range(30)
    ]
    random.Random(7).shuffle(batch)  # the store sorts; the order they come in does not matter
    return batch


async def test_a_large_mixed_batch_is_stored_as_one_by_one(store: Store):
    batch = _large_batch()
    assert len(batch) == 1000
    _, under_test = await run_both(store, ["c"], _large_seeds(), [batch])
    links, audit = await under_test.state()
    by_hubspot = {(r["object_type"], r["hubspot_id"]): r for r in links if r["hubspot_id"]}
    by_app = {(r["object_type"], r["app_id"]): r for r in links if r["app_id"]}
    assert len(links) == 700 + 250 + 50 + 20
    updated = by_hubspot["contacts", "h5"]
    assert updated["hubspot_values"] == {**snapshot("h5", 5), "firstname:firstname": "New5"}
    assert (updated["status"], updated["updated_at"]) == ("in_sync", 1)
    paired = by_hubspot["contacts", "h450"]
    assert (paired["app_id"], paired["status"]) == ("a450", "in_sync")
    failing_again = by_hubspot["contacts", "h520"]
    assert (failing_again["status"], failing_again["attempts"]) == ("failing", 3)
    assert by_hubspot["contacts", "h620"]["deleted_side"] == "app"  # the side deleted first
    merged = by_app["contacts", "a570"]
    assert (merged["hubspot_id"], merged["status"]) == (None, "merged")
    assert merged["hubspot_values"] == snapshot("h570", 570)
    assert merged["updated_at"] == 0  # as seeded
    assert len(audit) == 300 + 250 + 50


async def test_a_batch_takes_the_same_few_statements_whatever_its_size(database_url: str):
    store = await Store.connect(database_url, size=1)
    statements: list[str] = []
    try:
        async with store.pool.acquire() as conn:
            conn.add_query_logger(lambda record: statements.append(record.query))
        counts = []
        for n in (10, 1000):
            universe = Universe(store, "size", batched)
            await universe.create(["c"], [])
            created = [
                outcome(f"h{i}", f"a{i}", "in_sync", {}, audit=[AuditEntry("f", None, i)])
                for i in range(n)
            ]
            failed = [outcome(f"h{i}", f"a{i}", "failing") for i in range(n)]
            await asyncio.sleep(0)  # the logger is called soon after each statement
            statements.clear()
            await universe.run(created)
            await universe.run(failed)
            await asyncio.sleep(0)
            counts.append(len([q for q in statements if "links" in q or "audit" in q]))
    finally:
        await store.close()
    # The locking SELECT, one INSERT of the new links and one of their audit rows; then the
    # locking SELECT and one UPDATE.
    assert counts == [5, 5]


# Outcomes of one link in one batch ----------------------------------------------------------


def _pairs(links: list[dict[str, Any]]) -> list[tuple[str | None, str | None]]:
    return [(r["hubspot_id"], r["app_id"]) for r in links]


async def test_a_link_inserted_for_an_outcome_takes_the_later_outcomes_of_its_batch(
    store: Store,
):
    batch = [
        # Sorted, (h1, -) comes first: its failed write inserts the link, then h1's write to
        # the app lands and pairs it.
        outcome("h1", "a1", "in_sync", synced={"e:e": "1"}),
        outcome("h1", None, "failing", error_category="validation"),
        # (-, a2) is inserted, failing, fails again, then HubSpot's write pairs it.
        outcome(None, "a2", "failing"),
        outcome(None, "a2", "failing"),
        outcome("h2", "a2", "in_sync", synced={"e:e": "2"}),
    ]
    _, under_test = await run_both(store, ["c"], [], [batch])
    links, _ = await under_test.state()
    # Inserted in the sorted order, an outcome without a HubSpot id first.
    assert _pairs(links) == [("h2", "a2"), ("h1", "a1")]
    assert [(r["status"], r["attempts"], r["hubspot_values"]) for r in links] == [
        ("in_sync", 0, {"e:e": "2"}),
        ("in_sync", 0, {"e:e": "1"}),
    ]


async def test_outcomes_sharing_an_id_apply_in_order(store: Store):
    seeds = [Seed("c", "contacts", "h1", "a1", values={"a:a": 0, "b:b": 0})]
    batch = [
        outcome("h1", "a1", "in_sync", synced={"a:a": 1}),
        outcome("h1", None, "in_sync", synced={"b:b": 2}),
        outcome(None, "a1", "failing", error_category="validation", retry_in=timedelta(hours=1)),
        outcome(None, "a1", "failing", error_category="rate_limited"),
    ]
    _, under_test = await run_both(store, ["c"], seeds, [batch])
    (link,), _ = await under_test.state()
    # Sorted by (HubSpot id, app id), the two failures come first; the writes end it in sync,
    # each merging into the snapshots in turn.
    assert (link["status"], link["attempts"], link["error_category"]) == ("in_sync", 0, None)
    assert link["hubspot_values"] == {"a:a": 1, "b:b": 2}
    assert link["app_values"] == {"a:a": 1, "b:b": 2, "app:only": "a1"}


async def test_two_failures_of_a_link_in_one_batch_count_two_attempts(store: Store):
    seeds = [Seed("c", "contacts", "h1", "a1", "failing", attempts=1)]
    batch = [
        outcome("h1", None, "failing", retry_in=timedelta(minutes=1)),
        outcome(None, "a1", "failing", retry_in=timedelta(minutes=4)),
    ]
    _, under_test = await run_both(store, ["c"], seeds, [batch])
    (link,), _ = await under_test.state()
    assert (link["attempts"], link["next_retry_at"]) == (3, timedelta(minutes=1))


async def test_an_id_handed_from_one_link_to_another_in_one_batch(store: Store):
    seeds = [
        Seed("c", "contacts", "h2", None, "excluded"),  # the older link takes the id
        Seed("c", "contacts", "h1", "a1", values={}),
        Seed("c", "contacts", "h3", "a3", values={}),
    ]
    batch = [
        # h1's app record was recreated as a5, freeing a1, which h2 (a lone link) pairs with;
        # h3's app record was recreated as a6, and a3 pairs with a new HubSpot record.
        outcome("h1", "a5", "in_sync", synced={}),
        outcome("h2", "a1", "in_sync", synced={}),
        outcome("h4", "a3", "in_sync", synced={}),
        outcome("h3", "a6", "in_sync", synced={}),
    ]
    _, under_test = await run_both(store, ["c"], seeds, [batch])
    links, _ = await under_test.state()
    assert _pairs(links) == [("h2", "a1"), ("h1", "a5"), ("h3", "a6"), ("h4", "a3")]


async def test_an_outcome_whose_ids_are_on_two_links_fails_its_batch_as_before(store: Store):
    seeds = [Seed("c", "contacts", "h1", None, "excluded"), Seed("c", "contacts", None, "a1")]
    batch = [outcome("h9", "a9", "in_sync", synced={}), outcome("h1", "a1", "in_sync", synced={})]
    _, under_test = await run_both(store, ["c"], seeds, [batch])
    with pytest.raises(asyncpg.UniqueViolationError, match="app_id"):
        await under_test.run(batch)
    links, _ = await under_test.state()
    assert _pairs(links) == [("h1", None), (None, "a1")]  # nothing of the batch is stored


async def test_concurrent_batches_over_the_same_links_both_land(store: Store):
    """The writers of both sides lock a batch's links in one order: neither waits for the
    other for ever, and each batch lands whole."""
    universe = Universe(store, "concurrent", batched)
    await universe.create(["c"], [Seed("c", "contacts", f"h{i}", f"a{i}") for i in range(300)])
    to_app = [outcome(f"h{i}", f"a{i}", "in_sync", synced={"x:x": 1}) for i in range(300)]
    to_hubspot = [outcome(f"h{i}", None, "failing") for i in reversed(range(300))]
    await asyncio.gather(universe.run(to_app), universe.run(to_hubspot))
    links, _ = await universe.state()
    assert {r["status"] for r in links} in ({"in_sync"}, {"failing"})


# Any sequence of outcomes --------------------------------------------------------------------

# Few ids, mostly of one sync, so that outcomes meet each other and the seeded links often.
_CONNECTIONS = ["x", "y"]
_CONNECTION = st.sampled_from(["x", "x", "x", "y"])
_OBJECT = st.sampled_from(["contacts", "contacts", "contacts", "deals"])
_VALUES = st.none() | st.dictionaries(
    st.sampled_from(["k:k", "m:m", "n:n"]), st.none() | st.integers(0, 3) | st.sampled_from("xy")
)


@st.composite
def _ids(draw: st.DrawFn) -> tuple[str | None, str | None]:
    """A record pair's ids (h2, a2), or one of them; now and then a pair that breaks others
    (h1, a3), and rarely neither id."""
    i = draw(st.integers(1, 4))
    j = draw(st.sampled_from([i, i, 1, 2, 3, 4, 5]))
    form = draw(st.sampled_from(["pair", "hubspot", "app", "pair", "none"]))
    return (
        f"h{i}" if form in ("pair", "hubspot") else None,
        f"a{j}" if form in ("pair", "app") else None,
    )


@st.composite
def _seed(draw: st.DrawFn) -> Seed:
    hubspot_id, app_id = draw(_ids())
    return Seed(
        draw(_CONNECTION),
        draw(_OBJECT),
        hubspot_id,
        app_id,
        draw(st.sampled_from(["in_sync", "pending", "excluded", "failing", "deleted", "merged"])),
        draw(_VALUES),
        draw(st.integers(0, 3)),
        draw(st.none() | st.sampled_from(["hubspot", "app"])),
        draw(st.none() | st.just("h9")),
    )


@st.composite
def _outcome(draw: st.DrawFn) -> LinkOutcome:
    hubspot_id, app_id = draw(_ids())
    audit = st.builds(
        AuditEntry,
        st.none() | st.just("firstname"),
        st.none() | st.integers(0, 2) | st.just(["v", 1]),
        st.none() | st.sampled_from(["v", "w"]) | st.just({"w": [2]}),
    )
    return LinkOutcome(
        draw(_CONNECTION),
        draw(_OBJECT),
        hubspot_id,
        app_id,
        draw(st.sampled_from(["in_sync", "failing", "deleted", "in_sync", "excluded"])),
        draw(_VALUES),
        draw(st.none() | st.sampled_from(["validation", "not_found"])),
        draw(st.none() | st.just("bad")),
        draw(st.sampled_from([timedelta(seconds=30), timedelta(minutes=5)])),
        draw(st.none() | st.sampled_from(Side)),
        draw(st.sampled_from(["update", "delete", "create", "delete"])),
        draw(st.sampled_from(["", "why"])),
        draw(st.sampled_from(["", "c1", "c2"])),
        draw(st.lists(audit, max_size=2)),
    )


def _unique(seeds: list[Seed]) -> list[Seed]:
    """The seeds the table's unique ids allow, the first of each id kept."""
    kept, taken = [], set()
    for s in seeds:
        ids = {
            (s.connection, s.object_type, c, v) for c, v in (("h", s.hubspot_id), ("a", s.app_id))
        }
        ids = {key for key in ids if key[3] is not None}
        if not ids & taken:
            kept.append(s)
            taken |= ids
    return kept


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seeds=st.lists(_seed(), max_size=8),
    batches=st.lists(st.lists(_outcome(), min_size=1, max_size=20), min_size=1, max_size=3),
)
async def test_any_outcomes_are_stored_as_one_by_one(
    store: Store, seeds: list[Seed], batches: list[list[LinkOutcome]]
):
    await run_both(store, _CONNECTIONS, _unique(seeds), batches)
