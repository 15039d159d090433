"""Activities (task, phonecall, appointment) and notes (annotation), as data.

Activities share the activitypointer columns: `activityid` is their primary key, `subject`
their primary name, and `regardingobjectid` the record they are about. The task EntityType
(Web API reference) has two navigation properties per regarding table: its own
(`regardingobjectid_contact_task`, relationship Contact_Tasks) and the one inherited from
activitypointer (`regardingobjectid_contact`, Contact_ActivityPointers); both write the same
`_regardingobjectid_value`, and Dataverse reports the one used in
`@Microsoft.Dynamics.CRM.associatednavigationproperty`. Deleting the regarding record deletes
its activities and notes (Contact_Tasks, Opportunity_Annotation: Delete Cascade).

A note (annotation) is attached through `objectid` (`objectid_contact@odata.bind`, ...);
`objecttypecode` names the table of that record. Notes have no state or status.
"""

from datetime import datetime

from services.sandbox.dynamics.columns import (
    YES_NO,
    StateModel,
    lookup,
    memo,
    owned_columns,
    read_only,
    text,
)
from services.sandbox.dynamics.schema import Attr, AttrType, Computer, EntityDef, Row

REGARDING_TARGETS = {
    "account": "accounts",
    "contact": "contacts",
    "opportunity": "opportunities",
    "invoice": "invoices",
    "salesorder": "salesorders",
}
NOTE_TARGETS = {**REGARDING_TARGETS, "product": "products"}
_LOOKUP = "Microsoft.Dynamics.CRM.lookuplogicalname"
PRIORITIES = {0: "Low", 1: "Normal", 2: "High"}


def _regarding(activity: str) -> Attr:
    navigation = {}
    for logical, entity_set in REGARDING_TARGETS.items():
        navigation[f"regardingobjectid_{logical}_{activity}"] = entity_set
        navigation[f"regardingobjectid_{logical}"] = entity_set
    return lookup("regardingobjectid", "cascade", **navigation)


def _activity_columns(activity: str, states: StateModel) -> tuple[Attr, ...]:
    return (
        Attr("activityid", AttrType.GUID, update=False),
        text("subject", 200),
        memo("description"),
        Attr("scheduledstart", AttrType.DATETIME),
        Attr("scheduledend", AttrType.DATETIME),
        Attr("actualstart", AttrType.DATETIME),
        Attr("actualend", AttrType.DATETIME),
        Attr("actualdurationminutes", AttrType.INT, minimum=0),
        Attr("prioritycode", AttrType.PICKLIST, options=PRIORITIES),
        read_only("activitytypecode", AttrType.STRING),
        _regarding(activity),
        *owned_columns(),
        *states.columns(),
    )


def _activity(
    logical_name: str,
    entity_set: str,
    states: StateModel,
    extra: tuple[Attr, ...] = (),
    defaults: Row | None = None,
    compute: Computer | None = None,
) -> EntityDef:
    return EntityDef(
        logical_name=logical_name,
        entity_set=entity_set,
        primary_id="activityid",
        primary_name="subject",
        attributes=(*_activity_columns(logical_name, states), *extra),
        compute=compute,
        defaults={
            **states.defaults(),
            "prioritycode": 1,
            "activitytypecode": logical_name,
            **(defaults or {}),
        },
        default_status=states.default_status,
        status_state=states.status_state,
    )


TASK_STATES = StateModel(
    states={0: ("Open", 2), 1: ("Completed", 5), 2: ("Canceled", 6)},
    statuses={
        2: ("Not Started", 0),
        3: ("In Progress", 0),
        4: ("Waiting on someone else", 0),
        7: ("Deferred", 0),
        5: ("Completed", 1),
        6: ("Canceled", 2),
    },
)
PHONECALL_STATES = StateModel(
    states={0: ("Open", 1), 1: ("Completed", 2), 2: ("Canceled", 3)},
    statuses={1: ("Open", 0), 2: ("Made", 1), 4: ("Received", 1), 3: ("Canceled", 2)},
)
APPOINTMENT_STATES = StateModel(
    states={0: ("Open", 1), 1: ("Completed", 3), 2: ("Canceled", 4), 3: ("Scheduled", 5)},
    statuses={
        1: ("Free", 0),
        2: ("Tentative", 0),
        3: ("Completed", 1),
        4: ("Canceled", 2),
        5: ("Busy", 3),
        6: ("Out of Office", 3),
    },
)


def _compute_appointment(row: Row) -> None:
    """An appointment's scheduled duration is derived from its start and end."""
    start, end = row.get("scheduledstart"), row.get("scheduledend")
    if isinstance(start, datetime) and isinstance(end, datetime):
        row["scheduleddurationminutes"] = int((end - start).total_seconds() // 60)
    else:
        row["scheduleddurationminutes"] = None


TASK = _activity(
    "task",
    "tasks",
    TASK_STATES,
    extra=(Attr("percentcomplete", AttrType.INT, minimum=0, maximum=100), text("category", 250)),
)
PHONECALL = _activity(
    "phonecall",
    "phonecalls",
    PHONECALL_STATES,
    extra=(
        text("phonenumber", 200),
        Attr("directioncode", AttrType.BOOL, options={1: "Outgoing", 0: "Incoming"}),
    ),
    defaults={"directioncode": True},
)
APPOINTMENT = _activity(
    "appointment",
    "appointments",
    APPOINTMENT_STATES,
    extra=(
        text("location", 200),
        Attr("isalldayevent", AttrType.BOOL, options=YES_NO),
        read_only("scheduleddurationminutes", AttrType.INT),
    ),
    defaults={"isalldayevent": False},
    compute=_compute_appointment,
)


def _compute_note(row: Row) -> None:
    attached = row.get("_objectid_value") is not None
    row["objecttypecode"] = row.get(f"_objectid_value@{_LOOKUP}") if attached else None
    body = row.get("documentbody")
    row["filesize"] = len(body) * 3 // 4 if body else None


ANNOTATION = EntityDef(
    logical_name="annotation",
    entity_set="annotations",
    primary_id="annotationid",
    primary_name="subject",
    attributes=(
        Attr("annotationid", AttrType.GUID, update=False),
        text("subject", 500),
        memo("notetext", 100_000),
        Attr("isdocument", AttrType.BOOL, options=YES_NO),
        text("filename", 255),
        text("mimetype", 256),
        memo("documentbody", 1_073_741_823),
        read_only("filesize", AttrType.INT),
        read_only("objecttypecode", AttrType.STRING),
        lookup(
            "objectid",
            "cascade",
            **{f"objectid_{logical}": entity_set for logical, entity_set in NOTE_TARGETS.items()},
        ),
        *owned_columns(),
    ),
    compute=_compute_note,
    defaults={"isdocument": False},
)

ACTIVITY_ENTITIES = (TASK, PHONECALL, APPOINTMENT, ANNOTATION)
