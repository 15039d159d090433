"""Which value a field keeps when the two sides differ: the field's rule, the sync's conflict
winner, and the direction that caps both.

Rules (per mapping; `default` is the sync's `conflict_winner`):

- `default`: a change made on one side flows to the other; where both sides hold different
  values that did not come from one change (first sync, or both changed), the winner's value
  is kept, and where the winner has none the other's value fills it;
- `prefer_X_unless_blank`: X's value, unless X is blank, then the other's (filling X);
- `always_X`: X's value even when blank, so a blank in X clears the other side;
- `most_recent`: a change made on one side flows; where both changed (or on the first sync)
  the side whose record changed last wins (on the first sync unless its value is blank);
  without both times it is `default`;
- `dont_sync`: never written.

The sync's direction, narrowed by the mapping's own, caps everything: a value is written into
a side only where the field may flow into it.
"""

from dataclasses import dataclass, field
from typing import Any

from schemas.events import Side
from schemas.settings import FieldMapping, SyncSettings
from services.domain.fieldtypes import is_unmapped
from services.domain.mapping import Canonical, field_name, mapping_key, writes_into
from services.domain.rules import SIDE_LABELS


def preferred_side(
    rule: str,
    winner: Side,
    values: dict[Side, Any],
    changed: frozenset[Side] = frozenset(),
    recent: Side | None = None,
) -> Side | None:
    """The side whose value both sides should hold, or None when the field never syncs.

    `changed` are the sides whose value changed since the pair last synced (empty on a first
    sync); `recent` the side whose record changed last, where known.
    """
    if rule == "dont_sync":
        return None
    if rule in ("always_hubspot", "always_app"):
        return Side.HUBSPOT if rule == "always_hubspot" else Side.APP
    if rule in ("prefer_hubspot_unless_blank", "prefer_app_unless_blank"):
        preferred = Side.HUBSPOT if rule == "prefer_hubspot_unless_blank" else Side.APP
        return preferred if values[preferred] is not None else preferred.other
    if len(changed) == 1:
        return next(iter(changed))  # one side changed it: the change flows across
    if rule == "most_recent" and recent is not None:
        # A blank wins only where it is a change (a cleared field), not on a first sync.
        return recent if values[recent] is not None or recent in changed else recent.other
    return winner if values[winner] is not None else winner.other


@dataclass
class FieldPlan:
    into: dict[Side, Canonical] = field(
        default_factory=lambda: {Side.HUBSPOT: {}, Side.APP: {}}
    )  # values to write into each side
    agreed: Canonical = field(default_factory=dict)  # values both sides already hold
    notes: list[str] = field(default_factory=list)  # why a value was not written


def unmapped_note(mapping: FieldMapping | None, key: str, source: Side, value: Any) -> str:
    source_field = field_name(mapping, source) if mapping else key
    target_field = field_name(mapping, source.other) if mapping else key
    return (
        f"{SIDE_LABELS[source]} {source_field} holds {value['unmapped']!r}, which the value "
        f"mapping has no counterpart for: {SIDE_LABELS[source.other]} {target_field} is left "
        "as it is"
    )


def plan_fields(
    settings: SyncSettings,
    mappings: list[FieldMapping],
    hubspot: Canonical,
    app: Canonical,
    changed: dict[str, frozenset[Side]] | None = None,
    recent: Side | None = None,
) -> FieldPlan:
    """What to write into each side so that both hold each field's preferred value.

    `changed` (continuous sync) limits the plan to fields that changed on either side since
    the last sync; None (first sync) considers every field.
    """
    winner = Side(settings.conflict_winner)
    plan = FieldPlan()
    keys = list(dict.fromkeys([*hubspot, *app]))
    if changed is not None:
        keys = [k for k in keys if k in changed]
    by_key: dict[str, FieldMapping] | None = None  # only once a field differs
    for key in keys:
        held = hubspot.get(key), app.get(key)
        if held[0] == held[1]:
            plan.agreed[key] = held[0]
            continue
        if by_key is None:
            by_key = {mapping_key(m): m for m in mappings}
        values = {Side.HUBSPOT: held[0], Side.APP: held[1]}
        sides = changed[key] if changed is not None else frozenset()
        mapping = by_key.get(key)
        rule = mapping.rule if mapping is not None else "default"
        source = preferred_side(rule, winner, values, sides, recent)
        if source is None or source.other not in writes_into(mapping, settings):
            continue
        value = values[source]
        if is_unmapped(value):
            plan.notes.append(unmapped_note(mapping, key, source, value))
            continue
        plan.into[source.other][key] = value
    return plan
