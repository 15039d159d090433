"""The initial sync ("save and sync"): read both sides page by page, match them, record the
matched pairs, and publish every record as a complete change event for the processor."""

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import ChangeEvent, Side
from schemas.settings import SyncState
from services.connectors.base import Connector, Record
from services.domain.mapping import effective_mappings, side_fields
from services.domain.matching import MATCH_FIELDS, match_all
from services.store.repository import Store, Sync

log = logging.getLogger(__name__)

# Clocks of the apps and ours differ a little; polling starts this much before the read began.
CLOCK_SKEW = timedelta(seconds=5)

Publish = Callable[[list[ChangeEvent]], Awaitable[None]]


async def read_all(
    connector: Connector,
    object_type: str,
    fields: list[str],
    on_page: Callable[[int], Awaitable[None]],
) -> list[Record]:
    records: list[Record] = []
    async for page in connector.list_records(object_type, fields):
        records.extend(page)
        await on_page(len(records))
    return records


async def run_initial_sync(
    store: Store, sync: Sync, hubspot: Connector, app: Connector, publish: Publish
) -> dict[str, Any]:
    cid, obj = sync.connection_id, sync.object_type
    started = datetime.now(UTC)
    mappings = effective_mappings(obj, sync.settings)
    match_fields = MATCH_FIELDS.get(obj, {})
    progress: dict[str, Any] = {
        "phase": "reading",
        "started_at": started.isoformat(),
        "read": {"hubspot": 0, "app": 0},
        "matched": 0,
        "published": 0,
    }

    def reporter(side: str) -> Callable[[int], Awaitable[None]]:
        async def report(count: int) -> None:
            progress["read"][side] = count
            await store.set_progress(cid, obj, progress)

        return report

    hs_fields, app_fields = (
        sorted({*side_fields(mappings, side), *([match_fields[side]] if match_fields else [])})
        for side in (Side.HUBSPOT, Side.APP)
    )
    hs_records = await read_all(hubspot, obj, hs_fields, reporter("hubspot"))
    app_records = await read_all(app, obj, app_fields, reporter("app"))

    result = match_all(
        obj,
        ((r.id, r.properties) for r in hs_records),
        ((r.id, r.properties) for r in app_records),
    )
    await store.link_pairs(cid, obj, result.pairs)
    progress.update(
        phase="syncing",
        matched=len(result.pairs),
        duplicates={s.value: sum(len(v) for v in d.values()) for s, d in result.duplicates.items()},
    )
    await store.set_progress(cid, obj, progress)

    # A matched pair travels as one event carrying both records, so the processor merges it
    # without reading either side again; duplicates are left out and reported.
    app_by_id = {r.id: r for r in app_records}
    paired_app = {a for _, a in result.pairs}
    partner = dict(result.pairs)
    skip = {
        Side.HUBSPOT: result.duplicate_ids(Side.HUBSPOT),
        Side.APP: result.duplicate_ids(Side.APP),
    }
    events: list[ChangeEvent] = []
    for record in hs_records:
        if record.id in skip[Side.HUBSPOT]:
            continue
        app_id = partner.get(record.id)
        events.append(
            ChangeEvent(
                object_type=obj,
                side=Side.HUBSPOT,
                connection_id=cid,
                record_id=record.id,
                properties=record.properties,
                complete=True,
                origin="initial_sync",
                counterpart=app_by_id[app_id].properties if app_id else None,
                counterpart_id=app_id,
            )
        )
    for record in app_records:
        if record.id in paired_app or record.id in skip[Side.APP]:
            continue
        events.append(
            ChangeEvent(
                object_type=obj,
                side=Side.APP,
                connection_id=cid,
                record_id=record.id,
                properties=record.properties,
                complete=True,
                origin="initial_sync",
            )
        )
    for start in range(0, len(events), 1000):
        chunk = events[start : start + 1000]
        await publish(chunk)
        progress["published"] += len(chunk)
        await store.set_progress(cid, obj, progress)

    watermark = (started - CLOCK_SKEW).isoformat()
    for side in Side:
        await store.set_watermark(cid, obj, side, watermark)
    progress.update(phase="done", finished_at=datetime.now(UTC).isoformat())
    await store.set_progress(cid, obj, progress)
    await store.set_sync_state(cid, obj, SyncState.SYNCING)
    log.info("initial sync of %s for %s: %s", obj, cid, progress)
    return progress
