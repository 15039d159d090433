"""Checking a sync's settings before they are saved: every problem the API answers 422 with.

Two-way pairs need compatible types (text-text, number-number, date-date, datetime-datetime,
date-datetime, bool-boolean, enumeration-picklist with a value mapping); any other pair may
only sync one way, into a text field.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from schemas.events import Side
from schemas.settings import (
    FILTER_OPS,
    MAPPING_RULES,
    FieldMapping,
    Filter,
    SyncSettings,
)
from services.domain.defaults import default_field_types
from services.domain.fieldtypes import (
    APP_TYPES,
    HUBSPOT_TYPES,
    KINDS,
    Kind,
    kind_of,
    two_way_kinds,
)
from services.domain.mapping import default_mappings, field_name, writes_into
from services.domain.rules import SIDE_LABELS

__all__ = ["SettingsProblem", "default_field_types", "validate_settings", "with_field_types"]


@dataclass(frozen=True)
class SettingsProblem:
    path: str  # where in the settings body: `mappings[2]`, `filters.hubspot[0]`
    code: str  # what kind of problem, for programs
    message: str  # for people: names both fields, their types and why

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message}


KNOWN_TYPES = {Side.HUBSPOT: HUBSPOT_TYPES, Side.APP: APP_TYPES}
_DIRECTION_WORDS = {
    frozenset(Side): "both ways",
    frozenset({Side.HUBSPOT}): "into HubSpot only",
    frozenset({Side.APP}): "into the app only",
}


def _describe(mapping: FieldMapping, types: dict[Side, str]) -> str:
    return (
        f"HubSpot {mapping.hubspot} ({types[Side.HUBSPOT]}) and "
        f"app {mapping.app} ({types[Side.APP]})"
    )


def _mapping_types(
    path: str, mapping: FieldMapping, declared: dict[Side, Mapping[str, str]]
) -> tuple[dict[Side, str], list[SettingsProblem]]:
    types: dict[Side, str] = {}
    problems = []
    for side in Side:
        name = field_name(mapping, side)
        found = declared[side].get(name)
        if found is None:
            found = mapping.hubspot_type if side is Side.HUBSPOT else mapping.app_type
        if found is None:
            problems.append(
                SettingsProblem(
                    path, "unknown_field", f"{SIDE_LABELS[side]} has no field named {name!r}"
                )
            )
        elif found not in KNOWN_TYPES[side]:
            allowed = ", ".join(KNOWN_TYPES[side])
            problems.append(
                SettingsProblem(
                    path,
                    "unsupported_type",
                    f"{SIDE_LABELS[side]} {name} is of type {found!r}, which cannot be mapped "
                    f"(mappable types: {allowed})",
                )
            )
        else:
            types[side] = found
    return types, problems


def _check_value_map(
    path: str, mapping: FieldMapping, kinds: dict[Side, Kind], targets: frozenset[Side]
) -> list[SettingsProblem]:
    choice = Kind.CHOICE in kinds.values()
    value_map = mapping.value_map
    if value_map is None:
        if kinds[Side.HUBSPOT] is Kind.CHOICE and kinds[Side.APP] is Kind.CHOICE:
            return [
                SettingsProblem(
                    path,
                    "value_map_missing",
                    f"HubSpot {mapping.hubspot} (enumeration) and app {mapping.app} (picklist) "
                    "need a value mapping (`value_map`: HubSpot option value -> app option "
                    "value) to sync",
                )
            ]
        return []
    if not choice:
        return [
            SettingsProblem(
                path,
                "value_map_not_applicable",
                f"a value mapping applies only to enumeration or picklist fields; HubSpot "
                f"{mapping.hubspot} and app {mapping.app} are neither",
            )
        ]
    shared: dict[str, list[str]] = {}
    for hubspot_value, app_value in value_map.items():
        shared.setdefault(app_value, []).append(hubspot_value)
    several = {app: hubspot for app, hubspot in shared.items() if len(hubspot) > 1}
    if not several or targets == frozenset({Side.APP}):
        return []  # one way into the app, several HubSpot values may share an app value
    app_value, hubspot_values = next(iter(several.items()))
    why = "two-way" if len(targets) == 2 else "syncing into HubSpot"
    return [
        SettingsProblem(
            path,
            "value_map_not_one_to_one",
            f"the value mapping of HubSpot {mapping.hubspot} and app {mapping.app} sends "
            f"{', '.join(map(repr, hubspot_values))} all to app value {app_value!r}; {why} "
            "needs one HubSpot value per app value",
        )
    ]


def _check_mapping(
    path: str,
    mapping: FieldMapping,
    settings: SyncSettings,
    declared: dict[Side, Mapping[str, str]],
) -> list[SettingsProblem]:
    if mapping.rule not in MAPPING_RULES:
        return [
            SettingsProblem(
                path,
                "unknown_rule",
                f"unknown rule {mapping.rule!r} for HubSpot {mapping.hubspot} and app "
                f"{mapping.app} (rules: {', '.join(MAPPING_RULES)})",
            )
        ]
    types, problems = _mapping_types(path, mapping, declared)
    targets = writes_into(mapping, settings)
    if problems or not targets:
        return problems
    kinds = {side: KINDS[side][types[side]] for side in Side}
    compatible = two_way_kinds(kinds[Side.HUBSPOT], kinds[Side.APP])
    if len(targets) == 2 and not compatible:
        into_text = [side for side in Side if kinds[side] is Kind.TEXT]
        hint = (
            f"; it can sync one way, into the {SIDE_LABELS[into_text[0]]} text field "
            f"(direction `to_{into_text[0]}`)"
            if into_text
            else "; neither is a text field, so it cannot sync at all"
        )
        return [
            SettingsProblem(
                path,
                "incompatible_types",
                f"{_describe(mapping, types)} cannot sync both ways: their types are not "
                f"compatible{hint}",
            )
        ]
    if len(targets) == 1:
        [target] = targets
        if not compatible and kinds[target] is not Kind.TEXT:
            return [
                SettingsProblem(
                    path,
                    "one_way_into_non_text",
                    f"{_describe(mapping, types)} have different types: they can sync only "
                    f"into a text field, and {SIDE_LABELS[target]} {field_name(mapping, target)} "
                    f"is {types[target]}",
                )
            ]
    return _check_value_map(path, mapping, kinds, targets)


def _check_targets(mappings: list[FieldMapping], settings: SyncSettings) -> list[SettingsProblem]:
    problems = []
    written: dict[tuple[Side, str], int] = {}
    for index, mapping in enumerate(mappings):
        if not mapping.enabled or mapping.rule not in MAPPING_RULES:
            continue
        for side in sorted(writes_into(mapping, settings)):
            name = field_name(mapping, side)
            earlier = written.setdefault((side, name), index)
            if earlier != index:
                problems.append(
                    SettingsProblem(
                        f"mappings[{index}]",
                        "duplicate_target",
                        f"{SIDE_LABELS[side]} {name} is already written by mappings[{earlier}]; "
                        "two mappings cannot write the same field",
                    )
                )
    return problems


def _check_filter(
    path: str, side: Side, flt: Filter, types: Mapping[str, str]
) -> list[SettingsProblem]:
    label = SIDE_LABELS[side]
    if flt.property not in types:
        return [
            SettingsProblem(
                path,
                "unknown_filter_field",
                f"the {label} filter names {flt.property!r}, which {label} does not have",
            )
        ]
    if flt.op not in FILTER_OPS:
        return [SettingsProblem(path, "bad_filter", f"unknown filter operator {flt.op!r}")]
    kind = kind_of(side, types[flt.property])
    ordered = (Kind.NUMBER, Kind.DATE, Kind.DATETIME)
    if flt.op in ("gt", "lt") and kind not in ordered:
        return [
            SettingsProblem(
                path,
                "bad_filter",
                f"the {label} filter compares {flt.property} ({types[flt.property]}) with "
                f"{flt.op}, which works on numbers and dates only",
            )
        ]
    if flt.op in ("in", "not_in") and not isinstance(flt.value, list):
        return [
            SettingsProblem(
                path, "bad_filter", f"the {label} filter's {flt.op} needs a list of values"
            )
        ]
    if flt.op not in ("has_value", "not_has_value") and flt.value in (None, ""):
        return [
            SettingsProblem(
                path, "bad_filter", f"the {label} filter's {flt.op} on {flt.property} needs a value"
            )
        ]
    return []


def validate_settings(
    object_type: str,
    settings: SyncSettings,
    hubspot_types: Mapping[str, str],
    app_types: Mapping[str, str],
) -> list[SettingsProblem]:
    """Every problem of the settings; none means they may be saved.

    `hubspot_types` / `app_types` give the type of each field of the object on each side, in
    the vocabularies `HUBSPOT_TYPES` and `APP_TYPES`, as the caller looked them up; the
    built-in fields (`default_field_types`) are known without them.
    """
    declared: dict[Side, Mapping[str, str]] = {
        side: {**default_field_types(object_type, side), **given}
        for side, given in ((Side.HUBSPOT, hubspot_types), (Side.APP, app_types))
    }
    mappings = settings.mappings if settings.mappings is not None else default_mappings(object_type)
    problems = []
    for index, mapping in enumerate(mappings):
        if mapping.enabled:
            problems += _check_mapping(f"mappings[{index}]", mapping, settings, declared)
    problems += _check_targets(mappings, settings)
    for side in Side:
        filters = settings.filters.hubspot if side is Side.HUBSPOT else settings.filters.app
        for index, flt in enumerate(filters):
            problems += _check_filter(f"filters.{side}[{index}]", side, flt, declared[side])
    return problems


def with_field_types(
    settings: SyncSettings, hubspot_types: Mapping[str, str], app_types: Mapping[str, str]
) -> SyncSettings:
    """The settings with each mapping's field types filled in from the lookups, so that the
    sync compares and writes custom fields by their types. Defaults stay as they are."""
    if settings.mappings is None:
        return settings
    typed = [
        m.model_copy(
            update={
                "hubspot_type": m.hubspot_type or hubspot_types.get(m.hubspot),
                "app_type": m.app_type or app_types.get(m.app),
            }
        )
        for m in settings.mappings
    ]
    return settings.model_copy(update={"mappings": typed})
