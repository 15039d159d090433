"""When a sync's first poll after its initial sync runs.

That poll reads every record modified since the initial sync began, less the clock skew: a
change someone made while the initial sync ran is caught there, whether the record's page was
read before or after the change, and whether or not datasync wrote the record afterwards (a
later write by datasync does not hide an earlier change from a read of the whole record). The
window cannot start later without losing such changes, and the apps cannot leave datasync's
own writes out of it: neither HubSpot's search nor Dataverse's modification filter tells a
record changed by someone and then written by datasync from one written by datasync alone.
So every record the initial sync wrote is read back once.

Once, and only once its outcome is stored. Read while the initial sync's writes are still
landing, a record written but whose outcome is not stored yet has no link or a stale snapshot:
it looks like a change, and the processor spends reads and searches on it before finding
nothing to do; and the next poll reads again whatever landed in between. So the first poll
waits until every record the initial sync published has an outcome (its link is no longer
`pending`), then reads the whole window once; each echo comes to nothing against its stored
snapshot. The wait is bounded: when no outcome arrived between two looks (a write failing, an
event that leads to no link), or `longest` after the initial sync finished, the poll runs.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import Side
from services.store.repository import Store, Sync

# Clocks of the apps and ours differ a little; polling starts this much before the read began.
CLOCK_SKEW = timedelta(seconds=5)


def initial_watermark(progress: dict[str, Any]) -> str | None:
    """Where the first poll after an initial sync starts: the sync's start less the skew."""
    started = progress.get("started_at")
    if not isinstance(started, str):
        return None
    return (datetime.fromisoformat(started) - CLOCK_SKEW).isoformat()


def expected_outcomes(progress: dict[str, Any]) -> int:
    """Links an initial sync leaves once its writes have landed: one per record (or pair) it
    published, and one per record it held back as a duplicate."""
    held = progress.get("duplicates") or {}
    return int(progress.get("to_publish") or 0) + sum(int(n) for n in held.values())


class FirstPolls:
    """Decides, at each poll, whether a sync fresh from its initial sync is polled now."""

    def __init__(self, longest: timedelta) -> None:
        self.longest = longest
        self._settled: dict[tuple[str, str], int] = {}  # outcomes seen at the last look

    async def due(self, store: Store, sync: Sync) -> bool:
        key = (sync.connection_id, sync.object_type)
        progress = sync.progress or {}
        mark = initial_watermark(progress)
        if (
            progress.get("phase") != "done"
            or mark is None
            or not await self._fresh(store, sync, mark)
        ):
            self._settled.pop(key, None)
            return True
        counts = (await store.status_counts(sync.connection_id)).get(sync.object_type, {})
        settled = sum(n for status, n in counts.items() if status != "pending")
        before = self._settled.get(key)
        self._settled[key] = settled
        finished = progress.get("finished_at")
        overdue = (
            isinstance(finished, str)
            and datetime.now(UTC) - datetime.fromisoformat(finished) >= self.longest
        )
        if settled >= expected_outcomes(progress) or settled == before or overdue:
            self._settled.pop(key, None)
            return True
        return False

    @staticmethod
    async def _fresh(store: Store, sync: Sync, mark: str) -> bool:
        """Whether neither side was polled since the initial sync set its watermarks."""
        for side in Side:
            if await store.get_watermark(sync.connection_id, sync.object_type, side) != mark:
                return False
        return True
