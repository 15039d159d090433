"""What "save and sync" would do, counted without writing anything.

The same functions the sync runs decide here: matching, the rules, and each record's decision.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas.commands import WriteOp
from schemas.events import Side
from schemas.settings import FieldMapping, SyncSettings
from services.domain.decide import Decision, LinkState, decide
from services.domain.fieldtypes import record_modified_at
from services.domain.mapping import canonical, effective_mappings, field_name, mapping_key
from services.domain.matching import match_all

Records = Iterable[tuple[str, dict[str, Any]]]


def _per_side() -> dict[Side, int]:
    return dict.fromkeys(Side, 0)


def _counters() -> dict[Side, Counter[str]]:
    return {side: Counter() for side in Side}


@dataclass
class DryRunReport:
    object_type: str
    linked: int = 0  # pairs linked before (re-checked as pairs)
    matched: int = 0  # pairs the initial sync would match
    in_sync: int = 0  # pairs that already agree: nothing would be written
    created: dict[Side, int] = field(default_factory=_per_side)  # records created on a side
    updated: dict[Side, int] = field(default_factory=_per_side)  # records updated on a side
    # Field name on that side -> how many of its records would get a new value there.
    updated_fields: dict[Side, Counter[str]] = field(default_factory=_counters)
    excluded: dict[Side, Counter[str]] = field(default_factory=_counters)  # reason -> records
    duplicates: dict[Side, int] = field(default_factory=_per_side)  # not matched, not copied
    held: dict[Side, int] = field(default_factory=_per_side)  # would match a duplicate
    not_synced: dict[Side, int] = field(default_factory=_per_side)  # the direction keeps them
    notes: Counter[str] = field(default_factory=Counter)  # values that would not be written

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, sides by name."""

        def sides(value: dict[Side, Any]) -> dict[str, Any]:
            return {
                str(side): dict(v) if isinstance(v, Counter) else v for side, v in value.items()
            }

        return {
            "object_type": self.object_type,
            "linked": self.linked,
            "matched": self.matched,
            "in_sync": self.in_sync,
            "created": sides(self.created),
            "updated": sides(self.updated),
            "updated_fields": sides(self.updated_fields),
            "excluded": sides(self.excluded),
            "duplicates": sides(self.duplicates),
            "held": sides(self.held),
            "not_synced": sides(self.not_synced),
            "notes": dict(self.notes),
        }


def _count(
    report: DryRunReport, decision: Decision, mappings: list[FieldMapping], side: Side
) -> None:
    report.notes.update(decision.notes)
    if decision.excluded is not None:
        report.excluded[side][decision.excluded] += 1
        return
    by_key = {mapping_key(m): m for m in mappings}
    for write in decision.writes:
        if write.op is WriteOp.CREATE:
            report.created[write.target] += 1
        elif write.op is WriteOp.UPDATE:
            report.updated[write.target] += 1
            report.updated_fields[write.target].update(
                field_name(by_key[key], write.target) if key in by_key else key
                for key in write.values
            )


def dry_run(
    object_type: str,
    settings: SyncSettings,
    hubspot_records: Records,
    app_records: Records,
    links: Iterable[tuple[str, str]] = (),
) -> DryRunReport:
    """Count what an initial sync of these records would do.

    Records are (id, properties) as each side's connector reads them; `links` are the pairs
    (hubspot_id, app_id) already linked, which are merged as pairs again and not matched.
    """
    report = DryRunReport(object_type)
    mappings = effective_mappings(object_type, settings)
    records = {Side.HUBSPOT: dict(hubspot_records), Side.APP: dict(app_records)}
    pairs = [(h, a) for h, a in links if h in records[Side.HUBSPOT] and a in records[Side.APP]]
    report.linked = len(pairs)
    paired = {Side.HUBSPOT: {h for h, _ in pairs}, Side.APP: {a for _, a in pairs}}
    unlinked = {
        side: [(rid, p) for rid, p in records[side].items() if rid not in paired[side]]
        for side in Side
    }
    result = match_all(object_type, unlinked[Side.HUBSPOT], unlinked[Side.APP])
    report.matched = len(result.pairs)
    for side in Side:
        report.duplicates[side] = len(result.duplicate_ids(side))
        report.held[side] = len(result.held[side])
    for hubspot_id, app_id in [*pairs, *result.pairs]:
        hubspot, app = records[Side.HUBSPOT][hubspot_id], records[Side.APP][app_id]
        decision = decide(
            object_type,
            settings,
            Side.HUBSPOT,
            canonical(hubspot, mappings, Side.HUBSPOT),
            LinkState(hubspot_id, app_id),
            canonical(app, mappings, Side.APP),
            hubspot,
            mappings=mappings,
            modified_at=record_modified_at(Side.HUBSPOT, hubspot),
            counterpart_modified_at=record_modified_at(Side.APP, app),
        )
        if all(w.op is WriteOp.LINK for w in decision.writes):
            report.in_sync += 1
        _count(report, decision, mappings, Side.HUBSPOT)
    matched = {Side.HUBSPOT: {h for h, _ in result.pairs}, Side.APP: {a for _, a in result.pairs}}
    for side in Side:
        skip = matched[side] | result.skipped_ids(side)
        for record_id, properties in unlinked[side]:
            if record_id in skip:
                continue
            decision = decide(
                object_type,
                settings,
                side,
                canonical(properties, mappings, side),
                None,
                None,
                properties,
                mappings=mappings,
            )
            if decision.unchanged:
                report.not_synced[side] += 1
            _count(report, decision, mappings, side)
    return report
