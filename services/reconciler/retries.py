"""Failing records are retried and deleted records resynced by publishing their records again
as change events: the processor then decides afresh with what the apps hold now."""

from schemas.events import ChangeEvent, Side
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
