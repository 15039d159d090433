"""The reconciler's poll: what changed on either side since the watermark is published as
complete change events; the processor compares them with the last synced snapshots, so
changes that webhooks already delivered (and datasync's own writes) come to nothing."""

import logging
from datetime import UTC, datetime, timedelta

from schemas.events import ChangeEvent, Side
from services.connectors.base import Connector
from services.domain.mapping import effective_mappings, side_fields
from services.domain.rules import rule_fields
from services.reconciler.first_poll import CLOCK_SKEW
from services.reconciler.initial_sync import Publish
from services.store.metrics import labels_of
from services.store.repository import Store, Sync

log = logging.getLogger(__name__)


async def poll_side(
    store: Store, sync: Sync, side: Side, connector: Connector, publish: Publish
) -> int:
    cid, obj = sync.connection_id, sync.object_type
    mark = await store.get_watermark(cid, obj, side)
    since = datetime.fromisoformat(mark) if mark else datetime.now(UTC) - timedelta(hours=1)
    fields = sorted(
        {
            *side_fields(effective_mappings(obj, sync.settings), side),
            *rule_fields(obj, sync.settings, side),
        }
    )
    started = datetime.now(UTC)
    published = 0
    async for page in connector.list_records(obj, fields, since=since):
        events = [
            ChangeEvent(
                object_type=obj,
                side=side,
                connection_id=cid,
                record_id=r.id,
                properties=r.properties,
                complete=True,
                origin="reconciler",
            )
            for r in page
        ]
        await publish(events)
        published += len(events)
    if published:
        # Echoes included: what a poll reads is what the processor has to look at.
        labels = labels_of(source=side.value, object=obj, via="reconciler")
        await store.add_counts("datasync_changes_received", {labels: published})
    # Everything modified since `since` up to when the read began has been seen. The next poll
    # starts a little before that moment: the app's clock may lag ours, and a change stamped
    # just before the read may still have been committing.
    await store.set_watermark(cid, obj, side, max(since, started - CLOCK_SKEW).isoformat())
    return published
