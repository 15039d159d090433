"""Every object beyond contacts and companies syncs both ways with its default mappings:
deals, products, invoices, sales orders and activities, and the associations between them.

Driven through the control API and the sandboxes' APIs only. Each test connects a new
organisation, so what it finds there is its own; the HubSpot account is shared, so records
are found by a value unique to the test.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import uuid4

import pytest

from tests.e2e.support import ConnectOrg, SandboxOrg, unique_email
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

T = TypeVar("T")


async def start(org: SandboxOrg, *objects: str) -> None:
    """Save and sync each object with its default settings; return once each is syncing."""
    for obj in objects:
        await org.start(obj, initial_sync=False)


async def linked(org: SandboxOrg, obj: str, app_id: str) -> str | None:
    """The HubSpot id the record view shows next to a Dynamics record, once there is one."""
    cursor: str | None = None
    while True:
        params = {"object": obj, "limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = (await org.api.get(f"/v1/connections/{org.cid}/records", params=params)).json()
        for record in page["records"]:
            if record["app_id"] == app_id and record["hubspot_id"]:
                return str(record["hubspot_id"])
        cursor = page["next_cursor"]
        if cursor is None:
            return None


async def report(org: SandboxOrg, obj: str) -> str:
    """What the connection says of the object's records, for a failed test's message: the
    failing ones and the latest changes it applied."""
    errors = await org.api.get(f"/v1/connections/{org.cid}/errors", params={"object": obj})
    audit = await org.api.get(
        f"/v1/connections/{org.cid}/audit", params={"object": obj, "limit": "20"}
    )
    return f"failing records: {errors.text}; latest changes: {audit.text}"


def label(kind: str) -> str:
    return f"e2e {kind} {uuid4().hex[:10]}"


def _agrees(actual: Any, expected: Any) -> bool:
    """Whether a value read from either side is the expected one: numbers as numbers (HubSpot
    gives them as text), date-times as instants, anything else as it is."""
    if actual is None:
        return expected is None
    if isinstance(expected, bool) or expected is None:
        return bool(actual == expected)
    if isinstance(expected, int | float):
        return float(actual) == float(expected)
    if isinstance(expected, str) and "T" in expected and expected[:4].isdigit():
        return _instant(str(actual)) == _instant(expected)
    return bool(actual == expected)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _matches(record: dict[str, Any] | None, expected: dict[str, Any]) -> dict[str, Any] | None:
    """The record once it holds every expected value."""
    if record is None or not all(_agrees(record.get(k), v) for k, v in expected.items()):
        return None
    return record


@dataclass(frozen=True)
class Shape:
    """One object's record on each side, and the values each of the three journeys carries.

    `hubspot_label` / `dynamics_label` hold the test's unique label on each side; the dicts
    are written on one side and the `..._expect` dicts are what the other side must show."""

    obj: str
    hubspot_object: str
    entity_set: str
    key: str
    hubspot_label: str
    dynamics_label: str
    from_hubspot: dict[str, str]
    from_hubspot_expect: dict[str, Any]
    change_in_dynamics: dict[str, Any]
    change_expect: dict[str, Any]
    from_dynamics: dict[str, Any]
    from_dynamics_expect: dict[str, Any]
    # Columns the app assigns itself, copied into HubSpot: Dynamics column → HubSpot property.
    assigned_by_app: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.obj if self.obj != "activities" else f"activities:{self.entity_set}"


DEALS = Shape(
    obj="deals",
    hubspot_object="deals",
    entity_set="opportunities",
    key="opportunityid",
    hubspot_label="dealname",
    dynamics_label="name",
    # Money to money, a HubSpot date-time to a Dataverse date-only column, and one of seven
    # deal stages to one of four sales stages by the value map.
    from_hubspot={
        "amount": "1250.5",
        "closedate": "2031-03-14T00:00:00Z",
        "dealstage": "presentationscheduled",
        "pipeline": "default",
    },
    from_hubspot_expect={
        "estimatedvalue": 1250.5,
        "estimatedclosedate": "2031-03-14",
        "salesstage": 2,
    },
    change_in_dynamics={"estimatedvalue": 2000.75, "description": "Scope grew"},
    change_expect={"amount": 2000.75, "description": "Scope grew"},
    from_dynamics={"estimatedvalue": 99.99, "estimatedclosedate": "2031-06-30"},
    from_dynamics_expect={"amount": 99.99, "closedate": "2031-06-30T00:00:00Z"},
)

PRODUCTS = Shape(
    obj="products",
    hubspot_object="products",
    entity_set="products",
    key="productid",
    hubspot_label="name",
    dynamics_label="name",
    from_hubspot={"hs_sku": "SKU-H-{u}", "price": "19.99", "hs_cost_of_goods_sold": "7.5"},
    from_hubspot_expect={"productnumber": "SKU-H-{u}", "price": 19.99, "standardcost": 7.5},
    change_in_dynamics={"price": 24.5, "description": "Now with a case"},
    change_expect={"price": 24.5, "description": "Now with a case"},
    from_dynamics={"productnumber": "SKU-D-{u}", "price": 310, "standardcost": 120.25},
    from_dynamics_expect={"hs_sku": "SKU-D-{u}", "price": 310, "hs_cost_of_goods_sold": 120.25},
)

INVOICES = Shape(
    obj="invoices",
    hubspot_object="invoices",
    entity_set="invoices",
    key="invoiceid",
    hubspot_label="hs_title",
    dynamics_label="name",
    # A HubSpot date to a date-only column; the status by the value map (open → 4 Billed).
    from_hubspot={"hs_due_date": "2031-05-01", "hs_invoice_status": "open", "hs_currency": "USD"},
    from_hubspot_expect={"duedate": "2031-05-01", "statuscode": 4},
    # Paid (100001 Complete) maps back to HubSpot's `paid`; the total, which Dataverse keeps
    # itself, is copied into HubSpot only.
    change_in_dynamics={"statuscode": 100001, "totalamount": 480.5, "description": "By wire"},
    change_expect={
        "hs_invoice_status": "paid",
        "hs_amount_billed": 480.5,
        "hs_comments": "By wire",
    },
    from_dynamics={"duedate": "2031-07-15"},
    from_dynamics_expect={"hs_due_date": "2031-07-15", "hs_invoice_status": "draft"},
    assigned_by_app={"invoicenumber": "hs_number"},
)

SALES_ORDERS = Shape(
    obj="sales_orders",
    hubspot_object="orders",
    entity_set="salesorders",
    key="salesorderid",
    hubspot_label="hs_order_name",
    dynamics_label="name",
    from_hubspot={"hs_pipeline_stage": "open", "hs_currency_code": "USD"},
    from_hubspot_expect={"statuscode": 1},
    # 100001 Complete maps back to HubSpot's `fulfilled`; the total is copied into HubSpot.
    change_in_dynamics={"statuscode": 100001, "totalamount": 99.9},
    change_expect={"hs_pipeline_stage": "fulfilled", "hs_total_price": 99.9},
    from_dynamics={"description": "Rush"},
    from_dynamics_expect={"hs_pipeline_stage": "open"},
    assigned_by_app={"ordernumber": "hs_external_order_id"},
)

# Activities: one set of unified fields on each side, held by each entity under its own name.
TASKS = Shape(
    obj="activities",
    hubspot_object="tasks",
    entity_set="tasks",
    key="activityid",
    hubspot_label="hs_task_subject",
    dynamics_label="subject",
    # A task's due date is its `scheduledend` in Dynamics.
    from_hubspot={"hs_task_body": "Send the quote", "hs_timestamp": "2031-02-03T10:15:00Z"},
    from_hubspot_expect={"description": "Send the quote", "scheduledend": "2031-02-03T10:15:00Z"},
    change_in_dynamics={"description": "Send the signed quote"},
    change_expect={"hs_task_body": "Send the signed quote"},
    from_dynamics={"description": "Book the venue", "scheduledend": "2031-04-05T08:00:00Z"},
    from_dynamics_expect={"hs_task_body": "Book the venue", "hs_timestamp": "2031-04-05T08:00:00Z"},
)

CALLS = Shape(
    obj="activities",
    hubspot_object="calls",
    entity_set="phonecalls",
    key="activityid",
    hubspot_label="hs_call_title",
    dynamics_label="subject",
    # Milliseconds in HubSpot, whole minutes in Dynamics; the call's time is its `actualend`.
    from_hubspot={
        "hs_call_body": "Talked pricing",
        "hs_call_duration": "1800000",
        "hs_timestamp": "2031-02-03T11:00:00Z",
    },
    from_hubspot_expect={
        "description": "Talked pricing",
        "actualdurationminutes": 30,
        "actualend": "2031-02-03T11:00:00Z",
    },
    change_in_dynamics={"actualdurationminutes": 45},
    change_expect={"hs_call_duration": 2_700_000},
    from_dynamics={"actualdurationminutes": 12, "actualend": "2031-04-05T09:30:00Z"},
    from_dynamics_expect={"hs_call_duration": 720_000, "hs_timestamp": "2031-04-05T09:30:00Z"},
)

MEETINGS = Shape(
    obj="activities",
    hubspot_object="meetings",
    entity_set="appointments",
    key="activityid",
    hubspot_label="hs_meeting_title",
    dynamics_label="subject",
    # A meeting's time is the appointment's `scheduledstart`.
    from_hubspot={"hs_meeting_body": "Kick-off", "hs_timestamp": "2031-02-04T13:00:00Z"},
    from_hubspot_expect={"description": "Kick-off", "scheduledstart": "2031-02-04T13:00:00Z"},
    change_in_dynamics={"scheduledstart": "2031-02-05T14:30:00Z"},
    change_expect={"hs_timestamp": "2031-02-05T14:30:00Z"},
    from_dynamics={
        "description": "Review",
        "scheduledstart": "2031-04-06T15:00:00Z",
        "scheduledend": "2031-04-06T16:00:00Z",
    },
    from_dynamics_expect={"hs_meeting_body": "Review", "hs_timestamp": "2031-04-06T15:00:00Z"},
)

# A note has no subject on either side: its text is its label.
NOTES = Shape(
    obj="activities",
    hubspot_object="notes",
    entity_set="annotations",
    key="annotationid",
    hubspot_label="hs_note_body",
    dynamics_label="notetext",
    from_hubspot={"hs_timestamp": "2031-02-06T09:00:00Z"},
    from_hubspot_expect={},
    change_in_dynamics={"notetext": "Rewritten in Dynamics"},
    change_expect={"hs_note_body": "Rewritten in Dynamics"},
    from_dynamics={},
    from_dynamics_expect={},
)

SHAPES = [DEALS, PRODUCTS, INVOICES, SALES_ORDERS, TASKS, CALLS, MEETINGS, NOTES]


def _filled(values: dict[str, Any], unique: str) -> dict[str, Any]:
    return {k: v.format(u=unique) if isinstance(v, str) else v for k, v in values.items()}


class Seen:
    """The last record a probe looked at, so that a failure can say what it saw instead."""

    last: object = None

    def __call__(self, record: dict[str, Any] | None) -> dict[str, Any] | None:
        self.last = record
        return record


async def arrives(
    org: SandboxOrg, obj: str, probe: Callable[[], Awaitable[T | None]], seen: Seen | None = None
) -> T:
    """`eventually(probe)`; if it never holds, the failure says what the probe saw last and
    what the connection reports of the object's records."""
    try:
        return await eventually(probe)
    except AssertionError as exc:
        last = f"; last seen: {seen.last}" if seen is not None else ""
        raise AssertionError(f"{exc}{last}; {await report(org, obj)}") from None


@pytest.mark.parametrize("shape", SHAPES, ids=str)
async def test_a_record_travels_both_ways_with_its_default_mappings(
    connect_org: ConnectOrg, shape: Shape
):
    org = await connect_org()
    await start(org, shape.obj)
    unique = uuid4().hex[:8]
    seen = Seen()

    # 1. Created in HubSpot, it arrives in Dynamics with its values converted.
    name = label(f"{shape} from HubSpot")
    hubspot_id = await org.create_in_hubspot(
        shape.hubspot_object, **{shape.hubspot_label: name, **_filled(shape.from_hubspot, unique)}
    )
    expected = _filled(shape.from_hubspot_expect, unique)
    columns = [shape.key, shape.dynamics_label, *expected]

    async def arrived_in_dynamics() -> dict[str, Any] | None:
        found = await org.find_in_dynamics(shape.entity_set, shape.dynamics_label, name, *columns)
        return _matches(seen(found), expected)

    arrived = await arrives(org, shape.obj, arrived_in_dynamics, seen)

    # 2. Created in Dynamics, it arrives in HubSpot, with what Dynamics assigned itself.
    other = label(f"{shape} from Dynamics")
    created = await org.create_in_dynamics(
        shape.entity_set, {shape.dynamics_label: other, **_filled(shape.from_dynamics, unique)}
    )
    expected = {shape.hubspot_label: other, **_filled(shape.from_dynamics_expect, unique)}
    if shape.assigned_by_app:
        assigned = await org.dynamics_record(shape.entity_set, created, *shape.assigned_by_app)
        expected |= {p: assigned[c] for c, p in shape.assigned_by_app.items()}
    app_id = f"{shape.entity_set}/{created}" if shape.obj == "activities" else created
    linked_id = await arrives(org, shape.obj, lambda: linked(org, shape.obj, app_id))

    async def arrived_in_hubspot() -> dict[str, Any] | None:
        found = await org.hubspot_record(shape.hubspot_object, linked_id.split("/")[-1], *expected)
        return _matches(seen(found), expected)

    await arrives(org, shape.obj, arrived_in_hubspot, seen)

    # 3. The first record, changed in Dynamics: the change reaches HubSpot. (Changed right
    # after it arrived, a late duplicate create used to undo the change: see the test below.)
    await org.update_in_dynamics(shape.entity_set, arrived[shape.key], shape.change_in_dynamics)

    async def change_reached_hubspot() -> dict[str, Any] | None:
        found = await org.hubspot_record(shape.hubspot_object, hubspot_id, *shape.change_expect)
        return _matches(seen(found), shape.change_expect)

    await arrives(org, shape.obj, change_reached_hubspot, seen)


async def test_a_change_made_in_dynamics_right_after_a_slow_create_is_not_undone(
    connect_org: ConnectOrg,
):
    org = await connect_org()
    await start(org, "deals")
    # Dynamics answers batches slowly: while the create is under way, the reconciler's polls
    # find the HubSpot deal still unlinked, and more creates of it follow the first.
    fault = {"org": org.name, "path_prefix": "$batch", "delay_seconds": 4, "count": 20}
    assert (await org.dynamics_sandbox.post("/_sandbox/faults", json=fault)).status_code == 204
    try:
        name = label("deals slow")
        hubspot_id = await org.create_in_hubspot(
            "deals", dealname=name, amount="100", pipeline="default"
        )
        arrived = await arrives(
            org,
            "deals",
            lambda: org.find_in_dynamics("opportunities", "name", name, "opportunityid"),
        )
        await org.update_in_dynamics(
            "opportunities", arrived["opportunityid"], {"estimatedvalue": 150}
        )

        async def both_sides_hold_the_change() -> bool:
            deal = await org.hubspot_record("deals", hubspot_id, "amount")
            opportunity = await org.dynamics_record(
                "opportunities", arrived["opportunityid"], "estimatedvalue"
            )
            return _agrees(deal["amount"], 150) and _agrees(opportunity["estimatedvalue"], 150)

        assert await arrives(org, "deals", both_sides_hold_the_change)
    finally:
        await org.dynamics_sandbox.delete("/_sandbox/faults")


@dataclass(frozen=True)
class Association:
    """A record of `holder` pointing at one of `associated`, as each side holds it: a HubSpot
    association between two objects, a Dataverse lookup column of the holder's entity."""

    holder: str
    associated: str
    hubspot_holder: str
    hubspot_associated: str
    entity_set: str
    key: str  # the holder entity's primary key column
    lookup: str  # the Dataverse lookup attribute, read back as `_<lookup>_value`
    navigation: str  # the navigation property a Dataverse create binds it with
    associated_set: str
    # Each side's label property/column, which the test fills with a unique value.
    holder_label: tuple[str, str]
    associated_label: tuple[str, str]
    holder_extra: dict[str, str] = field(default_factory=dict)  # more HubSpot properties

    def __str__(self) -> str:
        return f"{self.hubspot_holder}->{self.hubspot_associated}"


DEAL_COMPANY = Association(
    holder="deals",
    associated="companies",
    hubspot_holder="deals",
    hubspot_associated="companies",
    entity_set="opportunities",
    key="opportunityid",
    lookup="parentaccountid",
    navigation="parentaccountid",
    associated_set="accounts",
    holder_label=("dealname", "name"),
    associated_label=("name", "name"),
)
INVOICE_CONTACT = Association(
    holder="invoices",
    associated="contacts",
    hubspot_holder="invoices",
    hubspot_associated="contacts",
    entity_set="invoices",
    key="invoiceid",
    lookup="customerid",
    navigation="customerid_contact",
    associated_set="contacts",
    holder_label=("hs_title", "name"),
    associated_label=("email", "emailaddress1"),
    holder_extra={"hs_currency": "USD"},
)
ORDER_CONTACT = Association(
    holder="sales_orders",
    associated="contacts",
    hubspot_holder="orders",
    hubspot_associated="contacts",
    entity_set="salesorders",
    key="salesorderid",
    lookup="customerid",
    navigation="customerid_contact",
    associated_set="contacts",
    holder_label=("hs_order_name", "name"),
    associated_label=("email", "emailaddress1"),
)
# An activity is "regarding" one record in Dynamics.
TASK_CONTACT = Association(
    holder="activities",
    associated="contacts",
    hubspot_holder="tasks",
    hubspot_associated="contacts",
    entity_set="tasks",
    key="activityid",
    lookup="regardingobjectid",
    navigation="regardingobjectid_contact_task",
    associated_set="contacts",
    holder_label=("hs_task_subject", "subject"),
    associated_label=("email", "emailaddress1"),
)
CALL_DEAL = Association(
    holder="activities",
    associated="deals",
    hubspot_holder="calls",
    hubspot_associated="deals",
    entity_set="phonecalls",
    key="activityid",
    lookup="regardingobjectid",
    navigation="regardingobjectid_opportunity_phonecall",
    associated_set="opportunities",
    holder_label=("hs_call_title", "subject"),
    associated_label=("dealname", "name"),
)


def _unique_label(prop: str) -> str:
    return unique_email() if prop in ("email", "emailaddress1") else label(prop)


async def _associated_in_hubspot(org: SandboxOrg, link: Association) -> tuple[str, str]:
    """Both records made in HubSpot and associated there, once the holder's lookup in
    Dynamics points at the associated record: (the holder's HubSpot id, its Dynamics id)."""
    holder_prop, holder_column = link.holder_label
    associated_prop, associated_column = link.associated_label
    holder_name, associated_name = _unique_label(holder_prop), _unique_label(associated_prop)
    associated_id = await org.create_in_hubspot(
        link.hubspot_associated, **{associated_prop: associated_name}
    )
    holder_id = await org.create_in_hubspot(
        link.hubspot_holder, **{holder_prop: holder_name, **link.holder_extra}
    )
    await org.associate_in_hubspot(
        link.hubspot_holder, holder_id, link.hubspot_associated, associated_id
    )
    value = f"_{link.lookup}_value"

    async def lookup_set() -> dict[str, Any] | None:
        found = await org.find_in_dynamics(
            link.entity_set, holder_column, holder_name, link.key, value
        )
        return found if found and found.get(value) else None

    holder = await arrives(org, link.holder, lookup_set)
    associated = await org.dynamics_record(link.associated_set, holder[value], associated_column)
    assert associated[associated_column] == associated_name
    return holder_id, str(holder[link.key])


@pytest.mark.parametrize(
    "link", [DEAL_COMPANY, INVOICE_CONTACT, ORDER_CONTACT, TASK_CONTACT, CALL_DEAL], ids=str
)
async def test_an_association_made_in_hubspot_arrives_as_the_dynamics_lookup(
    connect_org: ConnectOrg, link: Association
):
    org = await connect_org()
    await start(org, link.associated, link.holder)
    await _associated_in_hubspot(org, link)


async def test_a_record_keeps_syncing_once_its_association_has_synced(connect_org: ConnectOrg):
    org = await connect_org()
    await start(org, "companies", "deals")
    hubspot_id, dynamics_id = await _associated_in_hubspot(org, DEAL_COMPANY)

    renamed = label("deals renamed")
    await org.update_in_hubspot("deals", hubspot_id, dealname=renamed)

    async def renamed_in_dynamics() -> bool:
        opportunity = await org.dynamics_record("opportunities", dynamics_id, "name")
        return bool(opportunity["name"] == renamed)

    assert await arrives(org, "deals", renamed_in_dynamics)

    # The write's outcome is stored too (it is what the audit trail shows): the writer has
    # moved past the association instead of writing the batch again and again.
    async def rename_audited() -> bool:
        trail = await org.audit(object="deals", record=hubspot_id)
        return any(e["field"] == "name" and e["new_value"] == renamed for e in trail)

    assert await arrives(org, "deals", rename_audited)


@pytest.mark.parametrize("link", [DEAL_COMPANY, TASK_CONTACT], ids=str)
async def test_a_lookup_set_in_dynamics_arrives_as_the_hubspot_association(
    connect_org: ConnectOrg, link: Association
):
    org = await connect_org()
    await start(org, link.associated, link.holder)
    holder_column, associated_column = link.holder_label[1], link.associated_label[1]
    associated = await org.create_in_dynamics(
        link.associated_set,
        {associated_column: _unique_label(associated_column)},
    )
    holder = await org.create_in_dynamics(
        link.entity_set,
        {
            holder_column: _unique_label(holder_column),
            f"{link.navigation}@odata.bind": f"/{link.associated_set}({associated})",
        },
    )
    tagged = link.holder == "activities"
    holder_id = await arrives(
        org,
        link.holder,
        lambda: linked(org, link.holder, f"{link.entity_set}/{holder}" if tagged else holder),
    )
    associated_id = await arrives(
        org, link.associated, lambda: linked(org, link.associated, associated)
    )

    async def associated_in_hubspot() -> bool:
        response = await org.hubspot.get(
            f"/crm/v4/objects/{link.hubspot_holder}/{holder_id.split('/')[-1]}"
            f"/associations/{link.hubspot_associated}"
        )
        assert response.status_code == 200, response.text
        return any(str(r["toObjectId"]) == associated_id for r in response.json()["results"])

    assert await arrives(org, link.holder, associated_in_hubspot)
