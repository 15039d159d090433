"""What to do about one changed record: the sync's decision as a pure function.

Given the record's mapped values, its link (if it ever synced) with both sides' snapshots, and
the settings, decide which writes go to which side. No I/O happens here.
"""

from dataclasses import dataclass, field
from typing import Any

from schemas.commands import WriteOp
from schemas.events import Side
from schemas.settings import Direction, SyncSettings
from services.domain.mapping import Canonical
from services.domain.rules import exclusion_reason


@dataclass(frozen=True)
class LinkState:
    """What the store knows of a record pair. Snapshots are None until the pair first synced."""

    hubspot_id: str | None
    app_id: str | None
    hubspot_values: Canonical | None = None
    app_values: Canonical | None = None
    status: str = "in_sync"

    def record_id(self, side: Side) -> str | None:
        return self.hubspot_id if side is Side.HUBSPOT else self.app_id

    def snapshot(self, side: Side) -> Canonical | None:
        return self.hubspot_values if side is Side.HUBSPOT else self.app_values

    @property
    def paired(self) -> bool:
        return self.hubspot_id is not None and self.app_id is not None


@dataclass(frozen=True)
class PlannedWrite:
    target: Side
    op: WriteOp
    target_id: str | None
    values: Canonical  # canonical values to write into the target
    synced: Canonical  # canonical values both sides hold once this landed


@dataclass
class Decision:
    writes: list[PlannedWrite] = field(default_factory=list)
    excluded: str | None = None  # reason the record stays out of the sync
    unchanged: bool = False  # nothing differs from what was last synced: an echo or a no-op


def may_write(settings: SyncSettings, target: Side) -> bool:
    """Direction decides where writes may go; conflict settings never override it."""
    if settings.direction is Direction.TWO_WAY:
        return True
    return (settings.direction is Direction.TO_HUBSPOT) == (target is Side.HUBSPOT)


def merge(
    settings: SyncSettings, side: Side, values: Canonical, other: Canonical
) -> tuple[Canonical, Canonical, Canonical]:
    """Merge two records that hold the same entity but never synced.

    Where both hold a value and they differ, the conflict winner's value is kept; where only
    one holds a value it fills the other (two-way merges); where the winner has none, the
    other side is left as it is. Returns (into this side, into the other side, agreed values).
    """
    winner = Side(settings.conflict_winner)
    into_self: Canonical = {}
    into_other: Canonical = {}
    agreed: Canonical = {}
    for key in values.keys() | other.keys():
        mine, theirs = values.get(key), other.get(key)
        if mine == theirs:
            agreed[key] = mine
            continue
        if mine is None:
            into_self[key] = theirs
        elif theirs is None or winner is side:
            into_other[key] = mine
        else:
            into_self[key] = theirs
    return into_self, into_other, agreed


def _paired_first_sync(
    settings: SyncSettings, side: Side, link: LinkState, values: Canonical, other: Canonical
) -> Decision:
    into_self, into_other, agreed = merge(settings, side, values, other)
    writes = []
    pending = dict(agreed)
    for target, changes in ((side.other, into_other), (side, into_self)):
        if changes and may_write(settings, target):
            writes.append(
                PlannedWrite(
                    target, WriteOp.UPDATE, link.record_id(target), changes, pending | changes
                )
            )
            pending = {}
    if not writes:
        # Nothing to write (or nothing allowed): record the pair with what both sides agree on.
        writes.append(
            PlannedWrite(side.other, WriteOp.LINK, link.record_id(side.other), {}, agreed)
        )
    return Decision(writes=writes)


def decide(
    object_type: str,
    settings: SyncSettings,
    side: Side,
    values: Canonical,
    link: LinkState | None,
    counterpart: Canonical | None = None,
    raw_properties: dict[str, Any] | None = None,
) -> Decision:
    """Decide the writes for a change of a record on `side` whose mapped values are `values`.

    `counterpart` is the other side's record when the record is paired but never synced (or was
    just matched); `raw_properties` are the record's own properties, which the rules read.
    """
    if link is not None and link.paired and link.snapshot(side) is not None:
        snapshot = link.snapshot(side) or {}
        changed = {k: v for k, v in values.items() if snapshot.get(k, None) != v}
        if not changed:
            return Decision(unchanged=True)
        if not may_write(settings, side.other):
            return Decision(unchanged=True)
        target = side.other
        return Decision(
            writes=[PlannedWrite(target, WriteOp.UPDATE, link.record_id(target), changed, changed)]
        )
    if link is not None and link.paired and counterpart is not None:
        return _paired_first_sync(settings, side, link, values, counterpart)
    reason = exclusion_reason(object_type, settings, side, raw_properties or {})
    if reason is not None:
        return Decision(excluded=reason)
    if not may_write(settings, side.other):
        return Decision(unchanged=True)
    present = {k: v for k, v in values.items() if v is not None}
    return Decision(writes=[PlannedWrite(side.other, WriteOp.CREATE, None, present, values)])
