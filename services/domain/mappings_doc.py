"""`docs/mappings.md`, rendered from the default mappings table.

    .venv/bin/python -m services.domain.mappings_doc > docs/mappings.md

A unit test checks that the document and the table agree.
"""

from schemas.objects import OBJECT_TYPES
from schemas.settings import Direction
from services.domain.defaults import DEFAULT_MAPPINGS, NOT_MAPPED, DefaultMapping
from services.domain.matching import MATCH_KEYS

TITLES = {
    "contacts": "Contacts (HubSpot contacts ↔ Dynamics contacts)",
    "companies": "Companies (HubSpot companies ↔ Dynamics accounts)",
    "deals": "Deals (HubSpot deals ↔ Dynamics opportunities)",
    "products": "Products (HubSpot products ↔ Dynamics products)",
    "invoices": "Invoices (HubSpot invoices ↔ Dynamics invoices)",
    "activities": "Activities (HubSpot tasks, calls, meetings, notes ↔ Dynamics tasks, "
    "phone calls, appointments, notes)",
    "sales_orders": "Sales orders (HubSpot orders ↔ Dynamics sales orders)",
}
_DIRECTIONS = {None: "as the sync", Direction.TO_APP: "→ app", Direction.TO_HUBSPOT: "→ HubSpot"}

INTRO = """\
# Default field mappings

Every object sync starts with these mappings (HubSpot property ↔ Dynamics 365 attribute).
Each can be switched off (`"enabled": false`), given its own direction (`two_way`,
`to_hubspot`, `to_app`; never wider than the sync's) and rule, and custom mappings can be
added. This page is rendered from `services/domain/defaults.py`
(`python -m services.domain.mappings_doc`).

Types: HubSpot `string`, `number`, `date`, `datetime`, `enumeration`, `bool`; Dynamics
`string`, `memo`, `integer`, `money`, `decimal`, `datetime`, `dateonly`, `picklist`,
`boolean`. Two-way pairs need compatible types: text-text, number-number, date-date,
datetime-datetime, date-datetime, bool-boolean, enumeration-picklist with a value mapping
(one to one). Any other pair syncs one way only, into a text field; a one-way
enumeration-picklist mapping may send several HubSpot values to one app value.

Rules per mapping (`rule`):

| rule | the field keeps |
| --- | --- |
| `default` | a change on one side flows to the other; where both sides differ otherwise, the sync's `conflict_winner` value, or the other's where the winner's is blank |
| `prefer_hubspot_unless_blank`, `prefer_app_unless_blank` | that side's value unless it is blank, then the other's |
| `always_hubspot`, `always_app` | that side's value even when blank (a blank clears the other side) |
| `most_recent` | the value of the record that changed last (when both changed) |
| `dont_sync` | nothing is written |

Values are compared in one form for both sides: numbers as numbers rounded as the Dynamics
column keeps them (money to cents, integers whole), dates as days, date-times to the second in
UTC, so `1000.50` and `1000.5` agree. A value the value mapping has no counterpart for is not
written across; the record's decision notes it.
"""


def _value_map(mapping: DefaultMapping) -> str:
    if not mapping.value_map:
        return ""
    return ", ".join(f"`{h}`→`{a}`" for h, a in mapping.value_map.items())


def _section(object_type: str) -> list[str]:
    lines = [
        f"## {TITLES[object_type]}",
        "",
        "| HubSpot | type | Dynamics | type | direction | value mapping | notes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in DEFAULT_MAPPINGS[object_type]:
        lines.append(
            f"| `{m.hubspot}` | {m.hubspot_type} | `{m.app}` | {m.app_type} | "
            f"{_DIRECTIONS[m.direction]} | {_value_map(m)} | {m.note} |"
        )
    keys = MATCH_KEYS.get(object_type)
    lines.append("")
    if keys:
        tried = ", then ".join(
            " ↔ ".join(f"`{f}`" for f in key.fields.values()) + f" ({key.name})" for key in keys
        )
        lines.append(f"Matched on the initial sync by {tried}.")
    else:
        lines.append("Not matched by key: records sync through their links.")
    if NOT_MAPPED.get(object_type):
        lines += ["", "Not mapped by default:", ""]
        lines += [f"- {reason}" for reason in NOT_MAPPED[object_type]]
    return [*lines, ""]


def render() -> str:
    lines = [INTRO]
    for object_type in OBJECT_TYPES:
        lines += _section(object_type)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
