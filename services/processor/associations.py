"""Associations of changed records: read on the side that changed, translated through the
associated object's links, and written on the other side when they differ from what synced.

Runs only for record pairs that are linked, and only for associated objects whose sync runs
for the same connection; a record whose associated record has not synced yet waits for it.
"""

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from schemas.commands import WriteCommand, WriteOp
from schemas.events import Side
from schemas.settings import RUNNING_STATES
from services.connectors.base import Association, Connector
from services.domain.associations import ASSOCIATIONS, changed, snapshot_key
from services.store.repository import Store

if TYPE_CHECKING:
    from services.processor.engine import _Item

log = logging.getLogger(__name__)

ConnectorOf = Callable[[Side, str], Awaitable[Connector]]


def _chosen(associations: list[Association]) -> str | None:
    """The primary associated record, else the first: the one that syncs."""
    if not associations:
        return None
    primary = [a for a in associations if a.primary]
    return (primary or associations)[0].to_id


async def association_commands(
    store: Store, connector_of: ConnectorOf, object_type: str, items: "list[_Item]"
) -> tuple[list[WriteCommand], int]:
    """Write commands for associations that changed; returns (commands, records waiting)."""
    commands: list[WriteCommand] = []
    waiting = 0
    groups: dict[tuple[str, Side], list[_Item]] = defaultdict(list)
    for item in items:
        if item.link is not None and item.link.paired and item.deleted_side is None:
            groups[(item.sync.connection_id, item.event.side)].append(item)
    for (connection_id, side), group in groups.items():
        for to_object in ASSOCIATIONS.get(object_type, ()):
            to_sync = await store.get_sync(connection_id, to_object)
            if to_sync is None or to_sync.state not in RUNNING_STATES:
                continue
            made, held = await _for_object(
                store, connector_of, object_type, to_object, connection_id, side, group
            )
            commands += made
            waiting += held
    return commands, waiting


async def _for_object(
    store: Store,
    connector_of: ConnectorOf,
    object_type: str,
    to_object: str,
    connection_id: str,
    side: Side,
    group: "list[_Item]",
) -> tuple[list[WriteCommand], int]:
    other = side.other
    connector = await connector_of(side, connection_id)
    found = await connector.read_associations(
        object_type, [i.event.record_id for i in group], to_object
    )
    chosen = {i.event.record_id: _chosen(found.get(i.event.record_id, [])) for i in group}
    # The associated records' links, on both sides, give the HubSpot id (what is compared) and
    # the other side's id (what is written).
    ids = [v for v in chosen.values() if v is not None]
    linked_here = await store.links_for(connection_id, to_object, side, ids)
    commands: list[WriteCommand] = []
    waits: list[tuple[str, str]] = []
    settled: list[str] = []
    for item in group:
        assert item.link is not None
        associated = chosen[item.event.record_id]
        if associated is None:
            settled.append(item.event.record_id)
            continue
        link = linked_here.get(associated)
        if link is None or not link.paired:
            # The associated record has not synced yet: look again once it may have.
            waits.append((item.event.record_id, to_object))
            continue
        settled.append(item.event.record_id)
        hubspot_id = link.hubspot_id
        if not changed(side, hubspot_id, item.link.snapshot(side), to_object):
            continue
        target_id = link.record_id(other)
        assert target_id is not None
        commands.append(
            WriteCommand(
                connection_id=connection_id,
                object_type=item.sync.object_type,
                target=other,
                op=WriteOp.UPDATE,
                source_id=item.event.record_id,
                target_id=item.link.record_id(other),
                associations={to_object: target_id},
                synced={snapshot_key(to_object): hubspot_id},
                caused_by=item.event.event_id,
                reason=f"association to {to_object} changed in {side}",
            )
        )
    if waits:
        await store.add_association_waits(connection_id, object_type, side, waits)
    if settled:
        await store.clear_association_waits(connection_id, object_type, side, settled)
    return commands, len(waits)
