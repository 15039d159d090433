"""The writer: turns a batch of write commands into the target's batch API calls and stores
every outcome (links, snapshots, errors) before the offsets behind them are committed."""

import logging
from collections import defaultdict
from dataclasses import dataclass

from schemas.commands import WriteCommand, WriteOp
from schemas.events import Side
from schemas.settings import SyncState
from services.connectors.base import WriteRequest
from services.connectors.registry import Connectors
from services.store.repository import LinkOutcome, Store

log = logging.getLogger(__name__)

WRITABLE = (SyncState.INITIAL_SYNC, SyncState.SYNCING)


def collapse(commands: list[WriteCommand]) -> list[WriteCommand]:
    """One command per source record: later commands' values win, a create stays a create."""
    merged: dict[tuple[str, str, str], WriteCommand] = {}
    for command in commands:
        key = (command.connection_id, command.object_type, command.source_id)
        earlier = merged.get(key)
        if earlier is None:
            merged[key] = command
            continue
        op = command.op
        if WriteOp.CREATE in (earlier.op, command.op):
            op = WriteOp.CREATE
        elif earlier.op is WriteOp.UPDATE or command.op is WriteOp.UPDATE:
            op = WriteOp.UPDATE
        merged[key] = command.model_copy(
            update={
                "op": op,
                "target_id": command.target_id or earlier.target_id,
                "properties": earlier.properties | command.properties,
                "synced": earlier.synced | command.synced,
            }
        )
    return list(merged.values())


@dataclass
class Writer:
    store: Store
    connectors: Connectors
    target: Side

    async def write(self, commands: list[WriteCommand]) -> list[LinkOutcome]:
        live = await self._writable(commands)
        groups: dict[tuple[str, str], list[WriteCommand]] = defaultdict(list)
        for command in collapse(live):
            groups[(command.connection_id, command.object_type)].append(command)
        outcomes: list[LinkOutcome] = []
        for (connection_id, object_type), group in groups.items():
            outcomes += await self._write_group(connection_id, object_type, group)
        await self.store.apply_outcomes(outcomes)
        return outcomes

    async def _writable(self, commands: list[WriteCommand]) -> list[WriteCommand]:
        """Commands of syncs turned off or deleted since they were issued are dropped."""
        states: dict[tuple[str, str], bool] = {}
        for command in commands:
            key = (command.connection_id, command.object_type)
            if key not in states:
                sync = await self.store.get_sync(*key)
                states[key] = sync is not None and sync.state in WRITABLE
        return [c for c in commands if states[(c.connection_id, c.object_type)]]

    async def _write_group(
        self, connection_id: str, object_type: str, commands: list[WriteCommand]
    ) -> list[LinkOutcome]:
        source = self.target.other
        # Idempotent creates: a create whose source record is linked already (a redelivery,
        # or a second event racing the first) becomes an update of the linked record.
        links = await self.store.links_for(
            connection_id, object_type, source, [c.source_id for c in commands]
        )
        requests: list[WriteRequest] = []
        for command in commands:
            link = links.get(command.source_id)
            target_id = command.target_id or (link.record_id(self.target) if link else None)
            op = command.op
            if op is WriteOp.CREATE and target_id is not None:
                op = WriteOp.UPDATE
            if op is WriteOp.LINK:
                continue
            requests.append(
                WriteRequest(command.command_id, op, target_id, command.properties, command.kind)
            )
        results = {}
        if requests:
            connector = (
                await self.connectors.hubspot()
                if self.target is Side.HUBSPOT
                else await self.connectors.app(connection_id)
            )
            results = {r.ref: r for r in await connector.write_batch(object_type, requests)}
        outcomes = []
        for command in commands:
            result = results.get(command.command_id)
            link = links.get(command.source_id)
            target_id = (result.record_id if result else None) or command.target_id
            if target_id is None and link is not None:
                target_id = link.record_id(self.target)
            ids = {source: command.source_id, self.target: target_id}
            if result is None or result.ok:
                outcomes.append(
                    LinkOutcome(
                        connection_id,
                        object_type,
                        ids[Side.HUBSPOT],
                        ids[Side.APP],
                        "in_sync",
                        command.synced,
                    )
                )
            else:
                assert result.error is not None
                log.warning(
                    "write failed for %s %s: %s",
                    object_type,
                    command.source_id,
                    result.error.message,
                )
                outcomes.append(
                    LinkOutcome(
                        connection_id,
                        object_type,
                        ids[Side.HUBSPOT],
                        ids[Side.APP],
                        "failing",
                        None,
                        result.error.category.value,
                        result.error.message,
                    )
                )
        return outcomes
