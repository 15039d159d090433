"""The initial sync ("save and sync"): read both sides page by page, match them, record the
matched pairs and the duplicates, and publish every other record as a complete change event.

Scale: the pages go to an SQLite file as they arrive (`staging`), so memory holds only what
matching needs (ids, keys, pairs), and each side is read from its app once. A matched pair
travels as one event carrying both records, so the processor merges it without reading either
side again; the API calls spent are the pages read plus the batched writes that follow.

Progress is written to the sync's `progress` as it goes, for the health endpoint and the
command line: `phase` (reading, matching, publishing, done, or failed with `error`), `read`
per side, `matched` pairs, `duplicates` per side (records held back: neither matched nor
copied, recorded as failing links of category duplicate), of which `ambiguous` are held back
because several records on the other side match them, `to_publish` and `published` events,
and the times `started_at`, `<phase>_at` (when that phase ended), `finished_at`, `updated_at`.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from schemas.events import ChangeEvent, Side
from schemas.settings import SyncState
from services.connectors.base import Connector
from services.domain.mapping import effective_mappings, side_fields
from services.domain.matching import MatchResult, match_all, match_fields
from services.domain.rules import rule_fields
from services.reconciler.duplicates import (
    HeldBack,
    other_side_message,
    record_held_back,
    same_side_message,
)
from services.reconciler.first_poll import initial_watermark
from services.reconciler.staging import Staging
from services.store.repository import Store, Sync

log = logging.getLogger(__name__)

PUBLISH_CHUNK = 1000  # events per publish: one wait for the broker's acknowledgements
PROGRESS_EVERY = 0.5  # seconds between progress writes while reading and publishing

Publish = Callable[[list[ChangeEvent]], Awaitable[None]]


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Progress:
    """The sync's `progress` document, saved at most every PROGRESS_EVERY seconds unless a
    phase changes."""

    def __init__(self, store: Store, sync: Sync, started: datetime) -> None:
        self.store = store
        self.cid, self.obj = sync.connection_id, sync.object_type
        self.data: dict[str, Any] = {
            "phase": "reading",
            "started_at": started.isoformat(),
            "read": {"hubspot": 0, "app": 0},
            "matched": 0,
            "duplicates": {"hubspot": 0, "app": 0},
            "ambiguous": {"hubspot": 0, "app": 0},
            "to_publish": None,
            "published": 0,
        }
        self._saved = 0.0

    async def save(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._saved < PROGRESS_EVERY:
            return
        self._saved = time.monotonic()
        self.data["updated_at"] = _now()
        await self.store.set_progress(self.cid, self.obj, self.data)

    async def phase(self, name: str, **figures: Any) -> None:
        """Enter phase `name`; the phase that ends gets its `<phase>_at` time."""
        self.data[f"{self.data['phase']}_at"] = _now()
        self.data.update(figures, phase=name)
        await self.save(force=True)


async def run_initial_sync(
    store: Store,
    sync: Sync,
    hubspot: Connector,
    app: Connector,
    publish: Publish,
    publish_chunk: int = PUBLISH_CHUNK,
) -> dict[str, Any]:
    cid, obj = sync.connection_id, sync.object_type
    progress = Progress(store, sync, datetime.now(UTC))
    await progress.save(force=True)
    try:
        with Staging.temporary() as staging:
            await _read(staging, sync, {Side.HUBSPOT: hubspot, Side.APP: app}, progress)
            await progress.phase("matching")
            result, held = await asyncio.to_thread(_match, staging, obj)
            await store.link_pairs(cid, obj, result.pairs)
            await record_held_back(store, cid, obj, held)
            await progress.phase(
                "publishing",
                matched=len(result.pairs),
                duplicates={s.value: sum(h.side is s for h in held) for s in Side},
                ambiguous={s.value: sum(h.side is s and h.ambiguous for h in held) for s in Side},
                to_publish=staging.to_publish(),
            )
            del result, held
            await _publish(staging, sync, publish, progress, publish_chunk)
    except Exception as exc:
        progress.data["error"] = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):  # the failure itself is what the caller needs
            await progress.phase("failed")
        raise
    # Polling starts where the read began (less the clock skew), so that a change made while
    # the sync ran is caught; `first_poll` says why, and when that first poll runs.
    watermark = initial_watermark(progress.data)
    assert watermark is not None
    for side in Side:
        await store.set_watermark(cid, obj, side, watermark)
    progress.data["finished_at"] = _now()
    await progress.phase("done")
    await store.set_sync_state(cid, obj, SyncState.SYNCING)
    log.info("initial sync of %s for %s: %s", obj, cid, progress.data)
    return progress.data


async def _read(
    staging: Staging, sync: Sync, connectors: dict[Side, Connector], progress: Progress
) -> None:
    """Both sides at once, each page to disk as it arrives."""
    mappings = effective_mappings(sync.object_type, sync.settings)

    async def read(side: Side) -> None:
        keys = match_fields(sync.object_type, side)
        fields = sorted(
            {
                *side_fields(mappings, side),
                *keys,
                *rule_fields(sync.object_type, sync.settings, side),
            }
        )
        count = 0
        async for page in connectors[side].list_records(sync.object_type, fields):
            staging.add(side, page, keys)
            count += len(page)
            progress.data["read"][side.value] = count
            await progress.save()
        # A record listed twice (it changed while pages were read) counts once.
        progress.data["read"][side.value] = staging.count(side)

    try:
        async with asyncio.TaskGroup() as group:
            for side in Side:
                group.create_task(read(side))
    except BaseExceptionGroup as failed:
        # The first failure, as callers expect it (a ConnectorError, say), not a group.
        raise failed.exceptions[0] from None


def _match(staging: Staging, object_type: str) -> tuple[MatchResult, list[HeldBack]]:
    """Match the two sides, record the pairs, and hold back the records `match_all` says are
    neither matched nor copied (run in a thread: a million records take seconds)."""
    result = match_all(
        object_type, staging.match_inputs(Side.HUBSPOT), staging.match_inputs(Side.APP)
    )
    staging.set_pairs(result.pairs)
    held: dict[tuple[Side, str], HeldBack] = {}
    for side in Side:
        for key, ids in result.duplicates[side].items():
            message = same_side_message(side, key, len(ids))
            held.update(((side, i), HeldBack(side, i, message)) for i in ids)
        for record_id in result.held[side] - result.duplicate_ids(side):
            held[(side, record_id)] = HeldBack(
                side, record_id, other_side_message(side), ambiguous=True
            )
    for side in Side:
        staging.hold(side, (h.record_id for h in held.values() if h.side is side))
    return result, list(held.values())


async def _publish(
    staging: Staging, sync: Sync, publish: Publish, progress: Progress, chunk: int
) -> None:
    cid, obj = sync.connection_id, sync.object_type
    for rows in staging.events(chunk):
        events = [
            ChangeEvent(
                object_type=obj,
                side=side,
                connection_id=cid,
                record_id=record_id,
                properties=properties,
                complete=True,
                origin="initial_sync",
                counterpart=counterpart,
                counterpart_id=counterpart_id,
            )
            for side, record_id, properties, counterpart_id, counterpart in rows
        ]
        await publish(events)
        progress.data["published"] += len(events)
        await progress.save()
