"""The processor's work on one batch of change events, apart from Faust: load the records,
look up their links, let the domain decide, and return the write commands.

Per-event awaits are what cost in a stream processor, so everything here is done per batch:
one read per side and account, one link query per connection and side.
"""

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from schemas.commands import WriteCommand, WriteOp
from schemas.events import ChangeEvent, ChangeKind, Side
from schemas.objects import kind_of
from schemas.settings import RUNNING_STATES, FieldMapping, SideFilters
from services.connectors.base import Connector, Record
from services.connectors.registry import Connectors
from services.domain.decide import Decision, LinkState, decide, may_write
from services.domain.fieldtypes import record_modified_at
from services.domain.mapping import (
    Canonical,
    canonical,
    effective_mappings,
    side_fields,
    to_side,
)
from services.domain.matching import MATCH_KEYS, match_fields
from services.domain.rules import rule_fields
from services.processor.associations import association_commands
from services.processor.inflight import RecentWrites
from services.store.repository import Store, Sync

log = logging.getLogger(__name__)


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
    deleted_side: Side | None = None
    counterpart: dict[str, Any] | None = None  # the other side's record, as read
    counterpart_values: Canonical | None = None  # ... its mapped values, as decided upon
    _values: tuple[dict[str, Any], Canonical] | None = None

    def values(self) -> Canonical:
        """The record's mapped values, worked out once for the properties it holds now (a
        record read again gets new properties, and so new values)."""
        if self._values is None or self._values[0] is not self.properties:
            self._values = (
                self.properties,
                canonical(self.properties, self.mappings, self.event.side),
            )
        return self._values[1]


BULK_ORIGINS = frozenset({"initial_sync", "reconciler"})  # events that arrive by the thousand


def _echo(event: ChangeEvent, syncs: int) -> bool:
    """datasync's own write, dropped unseen. Where several accounts sync the object, a write
    into HubSpot is a change for the others (HubSpot is the hub): it goes on, and the
    snapshot recognises it as an echo for the account that wrote it."""
    return event.self_originated and not (event.side is Side.HUBSPOT and syncs > 1)


def _latest(events: list[ChangeEvent]) -> list[ChangeEvent]:
    """The last event of each record: earlier ones in the batch are superseded, except that a
    request to resync the record, and a merge, are kept whatever arrives with them."""
    last: dict[tuple[str, str | None, str], ChangeEvent] = {}
    for event in events:
        key = (event.side, event.connection_id, event.record_id)
        earlier = last.get(key)
        if earlier is not None:
            update: dict[str, Any] = {}
            if earlier.origin == "resync" and event.origin != "resync":
                update["origin"] = "resync"
            if earlier.kind is ChangeKind.MERGE and event.kind is not ChangeKind.DELETE:
                # A change right after a merge must not hide it: the links follow first.
                update["kind"] = ChangeKind.MERGE
                update["merged_ids"] = list(dict.fromkeys([*earlier.merged_ids, *event.merged_ids]))
            if event.self_originated and not earlier.self_originated:
                update["self_originated"] = False  # an echo does not hide a person's change
            if update:
                event = event.model_copy(update=update)
        last[key] = event
    return list(last.values())


def _differs(values: Canonical, snapshot: Canonical | None) -> bool:
    return snapshot is not None and any(snapshot.get(k) != v for k, v in values.items())


def _changed_since_synced(item: _Item) -> bool:
    """Whether a record of a pair that synced before holds values other than its snapshot:
    a change of its own, not an echo of datasync's write."""
    link, side = item.link, item.event.side
    if link is None or not link.paired or item.event.origin == "initial_sync":
        return False
    if link.snapshot(side.other) is None:
        return False
    return _differs(item.values(), link.snapshot(side))


def _both_ways(sync: Sync) -> bool:
    return may_write(sync.settings, Side.HUBSPOT) and may_write(sync.settings, Side.APP)


def _changed_on_both_sides(item: _Item) -> bool:
    link, side = item.link, item.event.side
    if link is None or item.counterpart_values is None or not _changed_since_synced(item):
        return False
    return _differs(item.counterpart_values, link.snapshot(side.other))


def _reason(item: _Item, op: WriteOp, target: Side) -> str:
    """Why a write happens, in words for the audit trail."""
    side, origin = item.event.side, item.event.origin
    if op is WriteOp.CREATE:
        if origin == "resync":
            return f"resync: recreated in {target} the record deleted there"
        return f"new {side} record: created in {target}"
    synced_before = item.link is not None and item.link.snapshot(side) is not None
    if op is WriteOp.LINK:
        return "matched records already agree: linked"
    winner = item.sync.settings.conflict_winner
    if item.counterpart is not None and not synced_before:
        return f"first sync of a matched pair: {winner} wins conflicts, blanks are filled"
    if _changed_on_both_sides(item):
        return (
            "changed in both hubspot and app since the last sync: each field's rule decided"
            f" ({winner} wins by default)"
        )
    via = {"reconciler": " (found by the reconciler)", "retry": " (retried)"}.get(origin, "")
    return f"changed in {side}{via}"


class Engine:
    def __init__(self, store: Store, connectors: Connectors) -> None:
        self.store = store
        self.connectors = connectors
        self.recent_writes = RecentWrites()

    async def _connector(self, side: Side, connection_id: str) -> Connector:
        if side is Side.HUBSPOT:
            return await self.connectors.hubspot()
        return await self.connectors.app(connection_id)

    async def handle(self, events: list[ChangeEvent]) -> BatchResult:
        result = BatchResult()
        by_object: dict[str, list[ChangeEvent]] = defaultdict(list)
        for event in _latest(events):
            by_object[event.object_type].append(event)
        for object_type, object_events in by_object.items():
            await self._handle_object(object_type, object_events, result)
        return result

    async def _handle_object(
        self, object_type: str, events: list[ChangeEvent], result: BatchResult
    ) -> None:
        syncs = {
            s.connection_id: s for s in await self.store.list_syncs(object_type, RUNNING_STATES)
        }
        live = [e for e in events if not _echo(e, len(syncs))]
        result.stats["echoes_dropped"] += len(events) - len(live)
        mappings = {cid: effective_mappings(object_type, s.settings) for cid, s in syncs.items()}
        items: list[_Item] = []
        deletes: dict[tuple[str, Side], list[ChangeEvent]] = defaultdict(list)
        for event in live:
            targets = [event.connection_id] if event.connection_id is not None else list(syncs)
            targets = [t for t in targets if t in syncs]
            if event.kind is ChangeKind.DELETE:
                for connection_id in targets:
                    deletes[(connection_id, event.side)].append(event)
                continue
            if event.kind is ChangeKind.MERGE and event.merged_ids:
                for connection_id in targets:
                    await self.store.repoint_merged(
                        connection_id, object_type, event.record_id, event.merged_ids
                    )
                result.stats["merges"] += 1
            for connection_id in targets:
                items.append(
                    _Item(
                        event,
                        syncs[connection_id],
                        mappings[connection_id],
                        event.properties or {},
                    )
                )
        for (connection_id, side), deleted in deletes.items():
            await self._delete(syncs[connection_id], side, deleted, result)
        if not items:
            return
        await self._load_records(
            object_type, [i for i in items if not i.event.complete], items, result
        )
        await self._load_links(object_type, items)
        # A record the reconciler read may predate a write that landed since (its snapshot
        # says so): where it differs from what synced, read it again before deciding.
        await self._load_records(object_type, self._stale_suspects(items), items, result)
        await self._load_counterparts(object_type, items)
        exclusions: dict[tuple[str, Side], dict[str, str]] = defaultdict(dict)
        for item in items:
            decision = self._decide(object_type, item)
            if item.deleted_side is not None and item.event.origin != "resync":
                # The linked record was deleted there: nothing is written into that side until
                # its deleted records are resynced.
                decision.writes = [w for w in decision.writes if w.target is not item.deleted_side]
            if decision.excluded:
                key = (item.sync.connection_id, item.event.side)
                exclusions[key][item.event.record_id] = decision.excluded
            elif decision.unchanged:
                result.stats["unchanged"] += 1
            for write in decision.writes:
                if write.target_id is not None and write.values:
                    self.recent_writes.remember(
                        item.sync.connection_id,
                        object_type,
                        write.target,
                        write.target_id,
                        write.values,
                    )
            result.commands.extend(self._commands(object_type, item, decision))
        associations, waiting = await association_commands(
            self.store, self._connector, object_type, items
        )
        result.commands.extend(associations)
        result.stats["waiting_for_association"] += waiting
        for (connection_id, side), reasons in exclusions.items():
            await self.store.record_exclusions(connection_id, object_type, side, reasons)
            result.stats["excluded"] += len(reasons)
        result.stats["commands"] += len(result.commands)

    async def _delete(
        self, sync: Sync, side: Side, events: list[ChangeEvent], result: BatchResult
    ) -> None:
        """Records deleted on `side`: their links are marked, and "resync deleted records"
        can recreate them there later. Only where the sync propagates deletes (and may write
        into the other side) is the linked record deleted there too."""
        connection_id, object_type = sync.connection_id, sync.object_type
        ids = [e.record_id for e in events]
        links = await self.store.stored_links(connection_id, object_type, side, ids)
        await self.store.mark_deleted(connection_id, object_type, side, ids)
        result.stats["deletes_marked"] += len(ids)
        if not sync.settings.propagate_deletes or not may_write(sync.settings, side.other):
            return
        for event in events:
            record_id = event.record_id
            stored = links.get(record_id)
            if stored is None or stored.deleted_side is not None:
                continue  # never synced, or deleted on one side already
            target_id = stored.state.record_id(side.other)
            if target_id is None:
                continue
            result.commands.append(
                WriteCommand(
                    connection_id=connection_id,
                    object_type=object_type,
                    target=side.other,
                    op=WriteOp.DELETE,
                    source_id=record_id,
                    target_id=target_id,
                    kind=kind_of(record_id),
                    caused_by=event.event_id,
                    reason=f"deleted in {side}: deleted in {side.other} (deletes propagate)",
                )
            )
            result.stats["deletes_propagated"] += 1

    @staticmethod
    def _stale_suspects(items: list[_Item]) -> list[_Item]:
        return [
            item
            for item in items
            if item.event.origin == "reconciler"
            and item.link is not None
            and _differs(
                item.values(),
                item.link.snapshot(item.event.side),
            )
        ]

    async def _load_records(
        self, object_type: str, reload: list[_Item], items: list[_Item], result: BatchResult
    ) -> None:
        """Replace the properties of `reload` (hints, or records read a while ago) with the
        full current records; records gone meanwhile leave `items`."""
        wanted: dict[tuple[Side, str], list[_Item]] = defaultdict(list)
        for item in reload:
            account = item.sync.connection_id if item.event.side is Side.APP else ""
            wanted[(item.event.side, account)].append(item)
        for (side, account), group in wanted.items():
            # A HubSpot record may feed several connections, each mapping its own fields and
            # filtering on its own.
            fields = sorted(
                {
                    f
                    for item in group
                    for f in [
                        *side_fields(item.mappings, side),
                        *rule_fields(object_type, item.sync.settings, side),
                    ]
                }
                | set(match_fields(object_type, side))
            )
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
            links = await self.store.stored_links(
                connection_id, object_type, side, [i.event.record_id for i in group]
            )
            for item in group:
                stored = links.get(item.event.record_id)
                if stored is not None:
                    item.link = stored.state
                    item.deleted_side = stored.deleted_side

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
            elif _changed_since_synced(item) and _both_ways(item.sync):
                # The other side may have changed the same field since: read it, so that the
                # field's rule resolves the conflict instead of the order the changes arrive in.
                # One way, the source side's value goes across whatever the other side holds.
                by_id[(item.sync.connection_id, event.side.other)].append(item)
            elif (
                (link is None or not link.paired)
                and event.origin != "initial_sync"
                and object_type in MATCH_KEYS
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
        """Look the records up on the other side by each match key in turn (contacts by
        email; companies by domain, then name; products by SKU, then name)."""
        connector = await self._connector(other, connection_id)
        fields = side_fields(group[0].mappings, other)
        pending = list(group)
        pairs = []
        for key in MATCH_KEYS.get(object_type, ()):
            keyed: dict[str, list[_Item]] = defaultdict(list)
            for item in pending:
                value = key.value(item.event.side, item.properties)
                if value is not None:
                    keyed[value].append(item)
            if not keyed:
                continue
            lookups = sorted({raw for value in keyed for raw in key.lookup_values(value)})
            found = await connector.find_by_match_key(
                object_type, key.fields[other], lookups, [*fields, key.fields[other]]
            )
            candidates: dict[str, list[Record]] = defaultdict(list)
            for record in found:
                value = key.value(other, record.properties)
                if value is not None and record not in candidates[value]:
                    candidates[value].append(record)
            already = await self.store.links_for(
                connection_id, object_type, other, [r.id for r in found]
            )
            for value, items in keyed.items():
                records = candidates.get(value, [])
                # Two records with one key (on either side) are a duplicate: no match, no copy.
                if len(items) != 1 or len(records) != 1:
                    continue
                record, item = records[0], items[0]
                if record.id in already and already[record.id].paired:
                    continue
                ids = {item.event.side: item.event.record_id, other: record.id}
                pairs.append((ids[Side.HUBSPOT], ids[Side.APP]))
                item.link = LinkState(hubspot_id=ids[Side.HUBSPOT], app_id=ids[Side.APP])
                item.counterpart = record.properties
                pending.remove(item)
        if pairs:
            await self.store.link_pairs(connection_id, object_type, pairs)

    def _decide(self, object_type: str, item: _Item) -> Decision:
        settings = item.sync.settings
        mappings = item.mappings
        side = item.event.side
        values = item.values()
        counterpart = (
            canonical(item.counterpart, mappings, side.other)
            if item.counterpart is not None
            else None
        )
        other_snapshot = item.link.snapshot(side.other) if item.link else None
        other_id = item.link.record_id(side.other) if item.link else None
        if counterpart is not None and other_snapshot is not None and other_id is not None:
            counterpart = self.recent_writes.mask(
                item.sync.connection_id,
                object_type,
                side.other,
                other_id,
                counterpart,
                other_snapshot,
            )
        item.counterpart_values = counterpart
        if item.event.origin == "resync" and item.deleted_side is side.other:
            # Recreate a record deleted on the other side: it synced before, so the rules that
            # limit which records start syncing do not apply.
            settings = settings.model_copy(
                update={"only_with_email": False, "filters": SideFilters()}
            )
            return decide(
                object_type, settings, side, values, None, None, item.properties, mappings=mappings
            )
        link = item.link
        if link is None and item.event.counterpart_id is not None:
            ids = {side: item.event.record_id, side.other: item.event.counterpart_id}
            link = LinkState(hubspot_id=ids[Side.HUBSPOT], app_id=ids[Side.APP])
        return decide(
            object_type,
            settings,
            side,
            values,
            link,
            counterpart,
            item.properties,
            mappings=mappings,
            modified_at=record_modified_at(side, item.properties),
            counterpart_modified_at=(
                record_modified_at(side.other, item.counterpart) if item.counterpart else None
            ),
        )

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
                    reason=_reason(item, write.op, write.target),
                    bulk=item.event.origin in BULK_ORIGINS,
                )
            )
        return commands
