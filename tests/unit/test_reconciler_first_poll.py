"""The first poll after an initial sync starts where the sync's read began (less the clock
skew), and waits until the initial sync's writes have landed, within bounds."""

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import Side
from schemas.settings import SyncSettings, SyncState
from services.reconciler.first_poll import (
    CLOCK_SKEW,
    FirstPolls,
    expected_outcomes,
    initial_watermark,
)
from services.store.repository import Store, Sync

STARTED = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


class FakeStore:
    """The two queries `FirstPolls` makes: watermarks, and link counts by status."""

    def __init__(self, marks: dict[Side, str | None], counts: dict[str, int]) -> None:
        self.marks = marks
        self.counts = counts

    async def get_watermark(self, connection_id: str, object_type: str, side: Side) -> str | None:
        return self.marks[side]

    async def status_counts(self, connection_id: str) -> dict[str, dict[str, int]]:
        return {"contacts": dict(self.counts)}


def progress(**changes: Any) -> dict[str, Any]:
    finished = datetime.now(UTC)
    return {
        "phase": "done",
        "started_at": STARTED.isoformat(),
        "finished_at": finished.isoformat(),
        "to_publish": 150,
        "duplicates": {"hubspot": 2, "app": 1},
    } | changes


def sync(**changes: Any) -> Sync:
    return Sync("c1", "contacts", SyncSettings(), SyncState.SYNCING, progress(**changes), STARTED)


def fresh_store(**counts: int) -> FakeStore:
    mark = initial_watermark(progress())
    return FakeStore({Side.HUBSPOT: mark, Side.APP: mark}, counts)


async def due(polls: FirstPolls, store: FakeStore, sync_: Sync) -> bool:
    return await polls.due(store, sync_)  # type: ignore[arg-type]


def test_the_first_poll_starts_the_clock_skew_before_the_sync_started() -> None:
    assert initial_watermark(progress()) == (STARTED - CLOCK_SKEW).isoformat()
    assert initial_watermark({}) is None


def test_every_published_record_and_every_held_back_duplicate_leaves_a_link() -> None:
    assert expected_outcomes(progress()) == 153
    assert expected_outcomes({}) == 0


async def test_a_fresh_sync_waits_while_its_writes_are_landing() -> None:
    polls = FirstPolls(timedelta(minutes=10))
    store = fresh_store(pending=100, in_sync=40)
    assert not await due(polls, store, sync())
    store.counts = {"pending": 60, "in_sync": 80}
    assert not await due(polls, store, sync())


async def test_a_fresh_sync_is_polled_once_every_record_has_an_outcome() -> None:
    polls = FirstPolls(timedelta(minutes=10))
    store = fresh_store(pending=100, in_sync=40)
    assert not await due(polls, store, sync())
    store.counts = {"in_sync": 140, "failing": 5, "excluded": 8}
    assert await due(polls, store, sync())


async def test_a_fresh_sync_is_polled_when_no_outcome_arrived_since_the_last_look() -> None:
    polls = FirstPolls(timedelta(minutes=10))
    store = fresh_store(pending=10, in_sync=120)
    assert not await due(polls, store, sync())
    assert await due(polls, store, sync())  # stalled: a write failing, an event without a link


async def test_a_fresh_sync_is_polled_at_the_latest_the_longest_wait_after_it_finished() -> None:
    polls = FirstPolls(timedelta(minutes=10))
    store = fresh_store(pending=100, in_sync=40)
    long_ago = (datetime.now(UTC) - timedelta(minutes=11)).isoformat()
    assert await due(polls, store, sync(finished_at=long_ago))


async def test_a_sync_polled_since_its_initial_sync_is_polled_as_usual() -> None:
    polls = FirstPolls(timedelta(minutes=10))
    store = fresh_store(pending=100)
    store.marks[Side.APP] = (STARTED + timedelta(minutes=1)).isoformat()
    assert await due(polls, store, sync())


async def test_a_sync_without_a_finished_initial_sync_is_polled_as_usual() -> None:
    polls = FirstPolls(timedelta(minutes=10))
    store = fresh_store(pending=100)
    assert await due(polls, store, sync(phase="failed"))
    assert await due(
        polls, store, Sync("c1", "contacts", SyncSettings(), SyncState.SYNCING, {}, STARTED)
    )


def test_the_fake_store_answers_like_the_store() -> None:
    for name in ("get_watermark", "status_counts"):
        assert hasattr(Store, name)
