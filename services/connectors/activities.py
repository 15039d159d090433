"""Activities span several entities on each side, each naming the same idea differently
(a task's `hs_task_subject`, a call's `hs_call_title`). The connectors present one set of
field names per side for every activity, so that a mapping names a field once.

Unified name → the field of each entity that holds it; an entity without one has no such field.
"""

from typing import Any

HUBSPOT_ACTIVITY_FIELDS: dict[str, dict[str, str]] = {
    "subject": {
        "tasks": "hs_task_subject",
        "calls": "hs_call_title",
        "meetings": "hs_meeting_title",
    },
    "body": {
        "tasks": "hs_task_body",
        "calls": "hs_call_body",
        "meetings": "hs_meeting_body",
        "notes": "hs_note_body",
    },
    "hs_timestamp": dict.fromkeys(("tasks", "calls", "meetings", "notes"), "hs_timestamp"),
    "status": {"tasks": "hs_task_status"},
    "duration_ms": {"calls": "hs_call_duration"},
}

DYNAMICS_ACTIVITY_FIELDS: dict[str, dict[str, str]] = {
    "subject": dict.fromkeys(("tasks", "phonecalls", "appointments", "annotations"), "subject"),
    "description": {
        "tasks": "description",
        "phonecalls": "description",
        "appointments": "description",
        "annotations": "notetext",
    },
    "activity_time": {
        "tasks": "scheduledend",
        "phonecalls": "actualend",
        "appointments": "scheduledstart",
    },
    "actualdurationminutes": {
        "phonecalls": "actualdurationminutes",
        "appointments": "actualdurationminutes",
    },
}


def entity_fields(table: dict[str, dict[str, str]], entity: str, unified: list[str]) -> list[str]:
    """The entity's own names for the unified fields it has."""
    return sorted({table[f][entity] for f in unified if entity in table.get(f, {})})


def to_unified(
    table: dict[str, dict[str, str]], entity: str, props: dict[str, Any]
) -> dict[str, Any]:
    """An entity's record with its activity fields under their unified names."""
    out = dict(props)
    for unified, names in table.items():
        own = names.get(entity)
        if own is not None and own in props:
            out[unified] = props[own]
    return out


def from_unified(
    table: dict[str, dict[str, str]], entity: str, props: dict[str, Any]
) -> dict[str, Any]:
    """Unified values as the entity's own fields; values the entity has no field for are left out."""
    out: dict[str, Any] = {}
    for name, value in props.items():
        names = table.get(name)
        if names is None:
            out[name] = value
        elif entity in names:
            out[names[entity]] = value
    return out
