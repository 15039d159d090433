"""Failing records are retried and deleted records resynced by publishing their records again
as change events: the processor then decides afresh with what the apps hold now."""

from schemas.events import ChangeEvent, ChangeKind, Side
from services.domain.associations import ASSOCIATIONS
from services.reconciler.initial_sync import Publish
from services.store.repository import Store


def _event(row: dict[str, str | None], side: Side, origin: str) -> ChangeEvent | None:
    record_id = row["hubspot_id"] if side is Side.HUBSPOT else row["app_id"]
    if record_id is None:
        return None
    return ChangeEvent(
        object_type=row["object_type"],
        side=side,
        connection_id=row["connection_id"],
        record_id=record_id,
        origin=origin,
    )


async def publish_retries(store: Store, publish: Publish) -> int:
    """Failing records whose backoff has passed: both sides are looked at again."""
    events = [
        event
        for row in await store.due_retries()
        for side in Side
        if (event := _event(dict(row), side, "retry")) is not None
    ]
    if events:
        await publish(events)
    return len(events)


async def publish_resyncs(store: Store, publish: Publish) -> int:
    """Records deleted on one side and asked to be resynced: the surviving record is published
    so the processor recreates it on the side it was deleted from."""
    events = []
    for row in await store.take_resyncs():
        surviving = Side(row["deleted_side"]).other
        event = _event(dict(row), surviving, "resync")
        if event is not None:
            events.append(event)
    if events:
        await publish(events)
    return len(events)


async def publish_association_hints(
    store: Store, publish: Publish, connection_id: str, synced: str
) -> int:
    """The records of other objects associated with `synced` records waited for them to sync:
    now that `synced` has run its initial sync, their associations are looked at again."""
    events = []
    for object_type, targets in ASSOCIATIONS.items():
        if synced not in targets:
            continue
        for hubspot_id in await store.linked_hubspot_ids(connection_id, object_type):
            events.append(
                ChangeEvent(
                    object_type=object_type,
                    side=Side.HUBSPOT,
                    connection_id=connection_id,
                    record_id=hubspot_id,
                    kind=ChangeKind.ASSOCIATION,
                    origin="association",
                )
            )
    for start in range(0, len(events), 1000):
        await publish(events[start : start + 1000])
    return len(events)


async def publish_association_waits(store: Store, publish: Publish) -> int:
    """Records waiting for an associated record to sync are looked at again."""
    events = [
        ChangeEvent(
            object_type=row["object_type"],
            side=Side(row["side"]),
            connection_id=row["connection_id"],
            record_id=row["record_id"],
            kind=ChangeKind.ASSOCIATION,
            origin="association",
        )
        for row in await store.take_due_association_waits()
    ]
    if events:
        await publish(events)
    return len(events)
