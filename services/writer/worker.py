"""The writer: turns a batch of write commands into the target's batch API calls and stores
every outcome (links, snapshots, errors, the audit trail) before the offsets behind them
are committed."""

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from schemas.commands import WriteCommand, WriteOp
from schemas.events import ChangeEvent, ChangeKind, Side
from schemas.settings import RUNNING_STATES
from services.connectors.base import Association, Connector, WriteRequest, WriteResult
from services.connectors.errors import Action, Category
from services.connectors.registry import Connectors
from services.domain.associations import ASSOCIATIONS
from services.domain.decide import LinkState
from services.store.links import StoredLink
from services.store.outcomes import AuditEntry, LinkOutcome
from services.store.repository import Store

log = logging.getLogger(__name__)


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
        if WriteOp.DELETE in (earlier.op, command.op):
            merged[key] = command  # a delete ends what came before it; a later write is a resync
            continue
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
                "associations": earlier.associations | command.associations,
                "reason": command.reason or earlier.reason,
            }
        )
    return list(merged.values())


def audit_entries(
    command: WriteCommand, op: WriteOp, target: Side, link: LinkState | None
) -> list[AuditEntry]:
    """The fields a landed write changed on the target: name, old value, new value."""
    if op in (WriteOp.LINK, WriteOp.DELETE):
        return [AuditEntry(None, None, None)]
    before = (link.snapshot(target) if link else None) or {}
    entries = []
    for key, new in command.synced.items():
        if key.startswith("@"):
            continue  # an association, not a field
        name = _field(key, target)
        if name in command.properties and (op is WriteOp.CREATE or before.get(key) != new):
            entries.append(AuditEntry(name, before.get(key), new))
    return entries


def _field(key: str, side: Side) -> str:
    """The side's field name in a snapshot key ("hubspot_property:app_field")."""
    return key.split(":", 1)[0 if side is Side.HUBSPOT else 1]


def not_yet_synced(
    command: WriteCommand, target: Side, snapshot: dict[str, Any] | None
) -> dict[str, Any]:
    """The command's properties that the target's snapshot does not hold already. A create
    repeated for a record that is linked by now (a redelivery, or a second poll while the
    first create was under way) writes only these, so that it never undoes a change someone
    made to the new record in between."""
    held = {
        _field(key, target)
        for key, value in command.synced.items()
        if not key.startswith("@") and snapshot is not None and snapshot.get(key) == value
    }
    return {name: value for name, value in command.properties.items() if name not in held}


def retry_after(result: WriteResult, attempts: int, base_seconds: float) -> timedelta:
    """Rate limits and outages clear by themselves: try again soon. Other failures wait
    `base_seconds`, doubling with each attempt, up to an hour."""
    error = result.error
    if error is not None and error.action in (Action.RATE_LIMITED, Action.RETRY):
        return timedelta(seconds=max(error.wait_seconds, min(base_seconds, 5.0)))
    return timedelta(seconds=min(base_seconds * 2 ** max(attempts - 1, 0), 3600.0))


@dataclass
class Writer:
    store: Store
    connectors: Connectors
    target: Side
    retry_base_seconds: float = 30.0
    publish: Callable[[list[ChangeEvent]], Awaitable[None]] | None = None
    _announcements: list[ChangeEvent] = field(default_factory=list)

    async def write(self, commands: list[WriteCommand]) -> list[LinkOutcome]:
        live = await self._writable(commands)
        groups: dict[tuple[str, str], list[WriteCommand]] = defaultdict(list)
        for command in collapse(live):
            groups[(command.connection_id, command.object_type)].append(command)
        outcomes: list[LinkOutcome] = []
        self._announcements = []
        for (connection_id, object_type), group in groups.items():
            outcomes += await self._write_group(connection_id, object_type, group)
        await self.store.apply_outcomes(outcomes)
        # Only now are the new records linked, so their associations can be looked at.
        if self._announcements and self.publish is not None:
            await self.publish(self._announcements)
        return outcomes

    async def _writable(self, commands: list[WriteCommand]) -> list[WriteCommand]:
        """Commands of syncs turned off or deleted since they were issued are dropped."""
        states: dict[tuple[str, str], bool] = {}
        for command in commands:
            key = (command.connection_id, command.object_type)
            if key not in states:
                sync = await self.store.get_sync(*key)
                states[key] = sync is not None and sync.state in RUNNING_STATES
        return [c for c in commands if states[(c.connection_id, c.object_type)]]

    async def _write_group(
        self, connection_id: str, object_type: str, commands: list[WriteCommand]
    ) -> list[LinkOutcome]:
        source = self.target.other
        links = await self.store.stored_links(
            connection_id, object_type, source, [c.source_id for c in commands]
        )
        requests: list[WriteRequest] = []
        ops: dict[str, WriteOp] = {}
        for command in commands:
            stored = links.get(command.source_id)
            gone = stored is not None and stored.deleted_side is self.target
            known = stored.state.record_id(self.target) if stored and not gone else None
            target_id = command.target_id if not gone else None
            target_id = target_id or known
            op = command.op
            properties = command.properties
            # Idempotent creates: a create whose source record is linked already (a
            # redelivery, or a second event racing the first) updates the linked record.
            if op is WriteOp.CREATE and target_id is not None:
                op = WriteOp.UPDATE
                snapshot = stored.state.snapshot(self.target) if stored else None
                properties = not_yet_synced(command, self.target, snapshot)
            if op is WriteOp.UPDATE and target_id is None:
                op = WriteOp.CREATE  # the linked record was deleted and is being resynced
            ops[command.command_id] = op
            # An update that only changes associations writes no fields; a record deleted
            # there already is not deleted again.
            if op is WriteOp.DELETE and (gone or target_id is None):
                continue
            if op is not WriteOp.LINK and (properties or op is not WriteOp.UPDATE):
                requests.append(
                    WriteRequest(command.command_id, op, target_id, properties, command.kind)
                )
        results: dict[str, WriteResult] = {}
        connector = (
            await self.connectors.hubspot()
            if self.target is Side.HUBSPOT
            else await self.connectors.app(connection_id)
        )
        if requests:
            results = {r.ref: r for r in await connector.write_batch(object_type, requests)}
        await self._write_associations(connector, object_type, commands, results, links)
        self._announcements += await self._created_announcements(
            connection_id, object_type, commands, ops, results
        )
        return [
            self._outcome(connection_id, object_type, c, ops[c.command_id], results, links)
            for c in commands
        ]

    async def _write_associations(
        self,
        connector: Connector,
        object_type: str,
        commands: list[WriteCommand],
        results: dict[str, WriteResult],
        links: dict[str, StoredLink],
    ) -> None:
        """Associate the written records; a failed association fails the record's outcome."""
        by_object: dict[str, list[tuple[WriteCommand, Association]]] = defaultdict(list)
        for command in commands:
            result = results.get(command.command_id)
            if not command.associations or (result is not None and not result.ok):
                continue
            stored = links.get(command.source_id)
            record_id = (result.record_id if result else None) or command.target_id
            if record_id is None and stored is not None:
                record_id = stored.state.record_id(self.target)
            if record_id is None:
                continue
            for to_object, to_id in command.associations.items():
                by_object[to_object].append((command, Association(record_id, to_id, True)))
        for to_object, pairs in by_object.items():
            written = await connector.write_associations(
                object_type, to_object, [a for _, a in pairs]
            )
            for (command, _), outcome in zip(pairs, written, strict=True):
                if not outcome.ok:
                    results[command.command_id] = WriteResult(
                        command.command_id, command.target_id, outcome.error
                    )

    async def _created_announcements(
        self,
        connection_id: str,
        object_type: str,
        commands: list[WriteCommand],
        ops: dict[str, WriteOp],
        results: dict[str, WriteResult],
    ) -> list[ChangeEvent]:
        """A record just created can be associated only once it is linked: events asking the
        processor to look at its associations then, where an associated object syncs."""
        if self.publish is None or not await self._associations_sync(connection_id, object_type):
            return []
        return [
            ChangeEvent(
                object_type=object_type,
                side=self.target.other,
                connection_id=connection_id,
                record_id=c.source_id,
                kind=ChangeKind.ASSOCIATION,
                origin="association",
            )
            for c in commands
            if ops[c.command_id] is WriteOp.CREATE
            and results.get(c.command_id) is not None
            and results[c.command_id].ok
        ]

    async def _associations_sync(self, connection_id: str, object_type: str) -> bool:
        """Whether an object the records associate with is synced by this connection."""
        for to_object in ASSOCIATIONS.get(object_type, ()):
            sync = await self.store.get_sync(connection_id, to_object)
            if sync is not None and sync.state in RUNNING_STATES:
                return True
        return False

    def _outcome(
        self,
        connection_id: str,
        object_type: str,
        command: WriteCommand,
        op: WriteOp,
        results: dict[str, WriteResult],
        links: dict[str, StoredLink],
    ) -> LinkOutcome:
        source = self.target.other
        result = results.get(command.command_id)
        stored = links.get(command.source_id)
        link = stored.state if stored else None
        target_id = (result.record_id if result else None) or command.target_id
        if target_id is None and link is not None:
            target_id = link.record_id(self.target)
        ids = {source: command.source_id, self.target: target_id}
        common = {
            "target": self.target,
            "op": op.value,
            "reason": command.reason or op.value,
            "command_id": command.command_id,
        }
        if op is WriteOp.DELETE and (
            result is None or result.error is None or result.error.category is Category.NOT_FOUND
        ):
            return LinkOutcome(
                connection_id,
                object_type,
                ids[Side.HUBSPOT],
                ids[Side.APP],
                "deleted",
                None,
                audit=audit_entries(command, op, self.target, link),
                **common,  # type: ignore[arg-type]
            )
        if result is None or result.ok:
            return LinkOutcome(
                connection_id,
                object_type,
                ids[Side.HUBSPOT],
                ids[Side.APP],
                "in_sync",
                command.synced,
                audit=audit_entries(command, op, self.target, link),
                **common,  # type: ignore[arg-type]
            )
        error = result.error
        assert error is not None
        log.warning("write failed for %s %s: %s", object_type, command.source_id, error.message)
        # An update whose target is gone: the record was deleted on the target side.
        status = (
            "deleted"
            if op is WriteOp.UPDATE and error.category is Category.NOT_FOUND
            else "failing"
        )
        return LinkOutcome(
            connection_id,
            object_type,
            ids[Side.HUBSPOT],
            ids[Side.APP],
            status,
            None,
            error.category.value,
            error.message,
            retry_after(result, (stored.attempts if stored else 0) + 1, self.retry_base_seconds),
            **common,  # type: ignore[arg-type]
        )
