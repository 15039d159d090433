"""What to do about one changed record: the sync's decision as a pure function.

Given the record's mapped values, its link (if it ever synced) with both sides' snapshots, and
the settings, decide which writes go to which side. No I/O happens here.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.commands import WriteOp
from schemas.events import Side
from schemas.settings import Direction, FieldMapping, SyncSettings
from services.domain.conflicts import FieldPlan, plan_fields, unmapped_note
from services.domain.fieldtypes import is_unmapped
from services.domain.mapping import Canonical, effective_mappings, mapping_key, writes_into
from services.domain.rules import exclusion_reason

_ONLY = {side: frozenset({side}) for side in Side}
_BOTH = frozenset(Side)


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
    notes: list[str] = field(default_factory=list)  # values not written, and why


def may_write(settings: SyncSettings, target: Side) -> bool:
    """Direction decides where writes may go; conflict settings never override it."""
    if settings.direction is Direction.TWO_WAY:
        return True
    return (settings.direction is Direction.TO_HUBSPOT) == (target is Side.HUBSPOT)


def _recent(
    side: Side, modified_at: datetime | None, other_modified_at: datetime | None
) -> Side | None:
    if modified_at is None or other_modified_at is None or modified_at == other_modified_at:
        return None
    return side if modified_at > other_modified_at else side.other


def _oriented(side: Side, values: Canonical, other: Canonical) -> tuple[Canonical, Canonical]:
    return (values, other) if side is Side.HUBSPOT else (other, values)


def _merge_plan(
    settings: SyncSettings,
    side: Side,
    values: Canonical,
    other: Canonical,
    mappings: list[FieldMapping] | None,
    recent: Side | None,
) -> FieldPlan:
    if mappings is None:
        mappings = [m for m in settings.mappings or [] if m.enabled]
    return plan_fields(settings, mappings, *_oriented(side, values, other), recent=recent)


def merge(
    settings: SyncSettings,
    side: Side,
    values: Canonical,
    other: Canonical,
    mappings: list[FieldMapping] | None = None,
    modified_at: datetime | None = None,
    other_modified_at: datetime | None = None,
) -> tuple[Canonical, Canonical, Canonical]:
    """Merge two records that hold the same entity but never synced.

    Each field keeps its preferred value (see `services.domain.conflicts`): by default, where
    both hold a value and they differ, the conflict winner's value is kept; where only one
    holds a value it fills the other; where the winner has none, the other side is left as it
    is. Only writes the direction allows are returned. `mappings` give the per-field rules
    (default: the settings' own mappings); the modification times serve `most_recent`.
    Returns (into this side, into the other side, agreed values).
    """
    recent = _recent(side, modified_at, other_modified_at)
    plan = _merge_plan(settings, side, values, other, mappings, recent)
    return plan.into[side], plan.into[side.other], plan.agreed


def _updates(
    link: LinkState, plan: FieldPlan, first: Side, pending: Canonical
) -> list[PlannedWrite]:
    writes = []
    for target in (first, first.other):
        changes = plan.into[target]
        if changes:
            writes.append(
                PlannedWrite(
                    target, WriteOp.UPDATE, link.record_id(target), changes, pending | changes
                )
            )
            pending = {}
    return writes


def _paired_first_sync(
    settings: SyncSettings,
    mappings: list[FieldMapping],
    side: Side,
    link: LinkState,
    values: Canonical,
    other: Canonical,
    recent: Side | None,
) -> Decision:
    plan = _merge_plan(settings, side, values, other, mappings, recent)
    writes = _updates(link, plan, side.other, dict(plan.agreed))
    if not writes:
        # Nothing to write (or nothing allowed): record the pair with what both sides agree on.
        writes.append(
            PlannedWrite(side.other, WriteOp.LINK, link.record_id(side.other), {}, plan.agreed)
        )
    return Decision(writes=writes, notes=plan.notes)


def _continuous(
    settings: SyncSettings,
    mappings: list[FieldMapping],
    side: Side,
    values: Canonical,
    link: LinkState,
    counterpart: Canonical | None,
    recent: Side | None,
) -> Decision:
    """A pair that synced before: fields that changed on either side since the snapshots flow
    across; a field changed on both sides is a conflict its rule resolves."""
    own_snapshot = link.snapshot(side) or {}
    other_snapshot = link.snapshot(side.other) or own_snapshot
    # Without the other side's current record, it is taken to hold what last synced.
    other_now = counterpart if counterpart is not None else other_snapshot
    other = {key: other_now.get(key) for key in values}
    changed: dict[str, frozenset[Side]] = {}
    for key, value in values.items():
        mine = value != own_snapshot.get(key)
        theirs = other[key] != other_snapshot.get(key)
        if mine or theirs:
            changed[key] = _BOTH if mine and theirs else _ONLY[side if mine else side.other]
    if not changed:
        return Decision(unchanged=True)
    plan = plan_fields(settings, mappings, *_oriented(side, values, other), changed, recent)
    writes = _updates(link, plan, side.other, dict(plan.agreed))
    if not writes and plan.agreed:
        # Both sides changed a field to the same value: only the snapshots need to follow.
        writes.append(
            PlannedWrite(side.other, WriteOp.LINK, link.record_id(side.other), {}, plan.agreed)
        )
    return Decision(writes=writes, unchanged=not writes, notes=plan.notes)


def _create(
    settings: SyncSettings, mappings: list[FieldMapping], side: Side, values: Canonical
) -> Decision:
    """A record new to the sync is copied across: every field that may flow into the other
    side. Rules choose between two values, and the new record has none yet."""
    target = side.other
    by_key = {mapping_key(m): m for m in mappings}
    present: Canonical = {}
    synced: Canonical = {}
    notes = []
    for key, value in values.items():
        if target not in writes_into(by_key.get(key), settings):
            continue
        if is_unmapped(value):
            notes.append(unmapped_note(by_key.get(key), key, side, value))
            continue
        synced[key] = value
        if value is not None:
            present[key] = value
    return Decision(
        writes=[PlannedWrite(target, WriteOp.CREATE, None, present, synced)], notes=notes
    )


def decide(
    object_type: str,
    settings: SyncSettings,
    side: Side,
    values: Canonical,
    link: LinkState | None,
    counterpart: Canonical | None = None,
    raw_properties: dict[str, Any] | None = None,
    *,
    mappings: list[FieldMapping] | None = None,
    modified_at: datetime | None = None,
    counterpart_modified_at: datetime | None = None,
) -> Decision:
    """Decide the writes for a change of a record on `side` whose mapped values are `values`.

    `counterpart` is the other side's current record (canonical) when the caller has it: for a
    pair that never synced (or was just matched) it is what the record merges with; for a
    pair that synced before it reveals changes made on both sides at once (conflicts).
    `raw_properties` are the record's own properties, which the rules read. `mappings` are the
    sync's effective mappings (worked out from the settings when not given); the two
    modification times serve the `most_recent` rule.
    """
    if mappings is None:
        mappings = effective_mappings(object_type, settings)
    recent = _recent(side, modified_at, counterpart_modified_at)
    if link is not None and link.paired and link.snapshot(side) is not None:
        return _continuous(settings, mappings, side, values, link, counterpart, recent)
    if link is not None and link.paired and counterpart is not None:
        return _paired_first_sync(settings, mappings, side, link, values, counterpart, recent)
    reason = exclusion_reason(object_type, settings, side, raw_properties or {})
    if reason is not None:
        return Decision(excluded=reason)
    if not may_write(settings, side.other):
        return Decision(unchanged=True)
    return _create(settings, mappings, side, values)
