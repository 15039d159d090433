"""The processor's work on one batch of change events, apart from Faust: load the records,
look up their links, let the domain decide, and return the write commands.

Per-event awaits are what cost in a stream processor, so everything here is done per batch:
one read per side and account, one link query per connection and side.
"""

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from schemas.commands import WriteCommand
from schemas.events import ChangeEvent, ChangeKind, Side
from schemas.objects import kind_of
from schemas.settings import FieldMapping, SyncState
from services.connectors.base import Connector, Record
from services.connectors.registry import Connectors
from services.domain.decide import Decision, LinkState, decide
from services.domain.mapping import canonical, effective_mappings, side_fields, to_side
from services.domain.matching import MATCH_FIELDS, match_key
from services.store.repository import Store, Sync

log = logging.getLogger(__name__)

ACTIVE = (SyncState.INITIAL_SYNC, SyncState.SYNCING)


@dataclass
class BatchResult:
    commands: list[WriteCommand] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)


@dataclass
class _Item:
    """One event as it applies to one connection's sync."""

    event: ChangeEvent
    sync: Sync
    mappings: list[FieldMapping]  # the sync's enabled mappings, worked out once per batch
    properties: dict[str, Any]
    link: LinkState | None = None
    counterpart: dict[str, Any] | None = None


def _latest(events: list[ChangeEvent]) -> list[ChangeEvent]:
    """The last event of each record: earlier ones in the batch are superseded."""
    last: dict[tuple[str, str | None, str], ChangeEvent] = {}
    for event in events:
        last[(event.side, event.connection_id, event.record_id)] = event
    return list(last.values())


class Engine:
    def __init__(self, store: Store, connectors: Connectors) -> None:
        self.store = store
        self.connectors = connectors

    async def _connector(self, side: Side, connection_id: str) -> Connector:
        if side is Side.HUBSPOT:
            return await self.connectors.hubspot()
        return await self.connectors.app(connection_id)

    async def handle(self, events: list[ChangeEvent]) -> BatchResult:
        result = BatchResult()
        live = [e for e in events if not e.self_originated]
        result.stats["echoes_dropped"] += len(events) - len(live)
        by_object: dict[str, list[ChangeEvent]] = defaultdict(list)
        for event in _latest(live):
            by_object[event.object_type].append(event)
        for object_type, object_events in by_object.items():
            await self._handle_object(object_type, object_events, result)
        return result

    async def _handle_object(
        self, object_type: str, events: list[ChangeEvent], result: BatchResult
    ) -> None:
        syncs = {s.connection_id: s for s in await self.store.list_syncs(object_type, ACTIVE)}
        mappings = {cid: effective_mappings(object_type, s.settings) for cid, s in syncs.items()}
        items: list[_Item] = []
        for event in events:
            if event.kind is ChangeKind.DELETE:
                # Deletes are not propagated by default; the link keeps its snapshot.
                result.stats["deletes_seen"] += 1
                continue
            targets = [event.connection_id] if event.connection_id is not None else list(syncs)
            for connection_id in targets:
                if connection_id in syncs:
                    items.append(
                        _Item(
                            event,
                            syncs[connection_id],
                            mappings[connection_id],
                            event.properties or {},
                        )
                    )
        if not items:
            return
        await self._load_records(object_type, items, result)
        await self._load_links(object_type, items)
        await self._load_counterparts(object_type, items)
        exclusions: dict[tuple[str, Side], dict[str, str]] = defaultdict(dict)
        for item in items:
            decision = self._decide(object_type, item)
            if decision.excluded:
                key = (item.sync.connection_id, item.event.side)
                exclusions[key][item.event.record_id] = decision.excluded
            elif decision.unchanged:
                result.stats["unchanged"] += 1
            result.commands.extend(self._commands(object_type, item, decision))
        for (connection_id, side), reasons in exclusions.items():
            await self.store.record_exclusions(connection_id, object_type, side, reasons)
            result.stats["excluded"] += len(reasons)
        result.stats["commands"] += len(result.commands)

    async def _load_records(
        self, object_type: str, items: list[_Item], result: BatchResult
    ) -> None:
        """Replace hint events' partial properties with the full current records."""
        wanted: dict[tuple[Side, str], list[_Item]] = defaultdict(list)
        for item in items:
            if not item.event.complete:
                account = item.sync.connection_id if item.event.side is Side.APP else ""
                wanted[(item.event.side, account)].append(item)
        for (side, account), group in wanted.items():
            # A HubSpot record may feed several connections, each mapping its own fields.
            fields = sorted({f for item in group for f in side_fields(item.mappings, side)})
            connector = await self._connector(side, account or group[0].sync.connection_id)
            records = await connector.read_batch(
                object_type, sorted({i.event.record_id for i in group}), fields
            )
            for item in group:
                record = records.get(item.event.record_id)
                if record is None:
                    result.stats["gone_before_read"] += 1
                    items.remove(item)
                else:
                    item.properties = record.properties

    async def _load_links(self, object_type: str, items: list[_Item]) -> None:
        groups: dict[tuple[str, Side], list[_Item]] = defaultdict(list)
        for item in items:
            groups[(item.sync.connection_id, item.event.side)].append(item)
        for (connection_id, side), group in groups.items():
            links = await self.store.links_for(
                connection_id, object_type, side, [i.event.record_id for i in group]
            )
            for item in group:
                item.link = links.get(item.event.record_id)

    async def _load_counterparts(self, object_type: str, items: list[_Item]) -> None:
        """Find the other side's record for pairs that never synced, and match records that
        are not linked yet by their match key (contacts by email)."""
        by_id: dict[tuple[str, Side], list[_Item]] = defaultdict(list)
        by_key: dict[tuple[str, Side], list[_Item]] = defaultdict(list)
        for item in items:
            event, link = item.event, item.link
            if event.counterpart is not None:
                item.counterpart = event.counterpart
            elif link is not None and link.paired and link.snapshot(event.side) is None:
                by_id[(item.sync.connection_id, event.side.other)].append(item)
            elif (
                (link is None or not link.paired)
                and event.origin != "initial_sync"
                and object_type in MATCH_FIELDS
            ):
                by_key[(item.sync.connection_id, event.side.other)].append(item)
        for (connection_id, other), group in by_id.items():
            mappings = group[0].mappings
            connector = await self._connector(other, connection_id)
            ids = [i.link.record_id(other) for i in group if i.link is not None]
            records = await connector.read_batch(
                object_type, [i for i in ids if i], side_fields(mappings, other)
            )
            for item in group:
                assert item.link is not None
                record = records.get(item.link.record_id(other) or "")
                item.counterpart = record.properties if record is not None else None
        for (connection_id, other), group in by_key.items():
            await self._match(object_type, connection_id, other, group)

    async def _match(
        self, object_type: str, connection_id: str, other: Side, group: list[_Item]
    ) -> None:
        keyed = {
            key: item
            for item in group
            if (key := match_key(object_type, item.event.side, item.properties)) is not None
        }
        if not keyed:
            return
        mappings = group[0].mappings
        field_name = MATCH_FIELDS[object_type][other]
        connector = await self._connector(other, connection_id)
        found = await connector.find_by_match_key(
            object_type, field_name, sorted(keyed), side_fields(mappings, other)
        )
        candidates: dict[str, list[Record]] = defaultdict(list)
        for record in found:
            key = match_key(object_type, other, record.properties)
            if key is not None:
                candidates[key].append(record)
        already = await self.store.links_for(
            connection_id, object_type, other, [r.id for r in found]
        )
        pairs = []
        for key, item in keyed.items():
            records = candidates.get(key, [])
            # Two records with one key on the other side are a duplicate: no match, no copy.
            if len(records) != 1 or (records[0].id in already and already[records[0].id].paired):
                continue
            record = records[0]
            ids = {item.event.side: item.event.record_id, other: record.id}
            pairs.append((ids[Side.HUBSPOT], ids[Side.APP]))
            item.link = LinkState(hubspot_id=ids[Side.HUBSPOT], app_id=ids[Side.APP])
            item.counterpart = record.properties
        if pairs:
            await self.store.link_pairs(connection_id, object_type, pairs)

    def _decide(self, object_type: str, item: _Item) -> Decision:
        settings = item.sync.settings
        mappings = item.mappings
        side = item.event.side
        values = canonical(item.properties, mappings, side)
        counterpart = (
            canonical(item.counterpart, mappings, side.other)
            if item.counterpart is not None
            else None
        )
        link = item.link
        if link is None and item.event.counterpart_id is not None:
            ids = {side: item.event.record_id, side.other: item.event.counterpart_id}
            link = LinkState(hubspot_id=ids[Side.HUBSPOT], app_id=ids[Side.APP])
        return decide(object_type, settings, side, values, link, counterpart, item.properties)

    @staticmethod
    def _commands(object_type: str, item: _Item, decision: Decision) -> list[WriteCommand]:
        mappings = item.mappings
        side = item.event.side
        link = item.link
        commands = []
        for write in decision.writes:
            if write.target is side.other:
                source_id = item.event.record_id
            else:
                other_id = link.record_id(side.other) if link else item.event.counterpart_id
                source_id = other_id or item.event.record_id
            commands.append(
                WriteCommand(
                    connection_id=item.sync.connection_id,
                    object_type=item.sync.object_type,
                    target=write.target,
                    op=write.op,
                    source_id=source_id,
                    target_id=write.target_id,
                    properties=to_side(write.values, mappings, write.target),
                    synced=write.synced,
                    kind=kind_of(source_id),
                    caused_by=item.event.event_id,
                )
            )
        return commands
