"""The CRM tables the sandbox serves, as data (Dataverse table reference: contact, ...).

Only `contact` is here today; accounts, opportunities, products, invoices, salesorders, tasks,
phonecalls, appointments and annotations are each one more `EntityDef` in `BUSINESS_ENTITIES`.
"""

from services.sandbox.dynamics.schema import Attr, AttrType, EntityDef, Row

# Logical names of entity sets that lookups may point to, including ones not emulated yet,
# so a bind such as `parentcustomerid_account@odata.bind` is typed before accounts exist.
LOGICAL_NAMES: dict[str, str] = {
    "accounts": "account",
    "contacts": "contact",
    "opportunities": "opportunity",
    "products": "product",
    "invoices": "invoice",
    "salesorders": "salesorder",
    "tasks": "task",
    "phonecalls": "phonecall",
    "appointments": "appointment",
    "annotations": "annotation",
    "systemusers": "systemuser",
}

STATE_ACTIVE_INACTIVE = {0: "Active", 1: "Inactive"}


def read_only(name: str, type_: AttrType) -> Attr:
    return Attr(name, type_, create=False, update=False)


def audit_columns() -> tuple[Attr, ...]:
    """Columns every table has: when and by whom it was created and modified, row version."""
    return (
        read_only("createdon", AttrType.DATETIME),
        read_only("modifiedon", AttrType.DATETIME),
        read_only("_createdby_value", AttrType.LOOKUP),
        read_only("_modifiedby_value", AttrType.LOOKUP),
        read_only("versionnumber", AttrType.BIGINT),
    )


def system_columns(statuses: dict[int, str]) -> tuple[Attr, ...]:
    """Columns every user-owned table has: audit columns, owner, state and status."""
    return (
        *audit_columns(),
        read_only("_ownerid_value", AttrType.LOOKUP),
        Attr("statecode", AttrType.PICKLIST, options=STATE_ACTIVE_INACTIVE),
        Attr("statuscode", AttrType.PICKLIST, options=statuses),
    )


def status_follows_state(row: Row, defaults: dict[int, int], allowed: dict[int, set[int]]) -> None:
    """Dataverse sets the default status of a state when the status given does not belong to it."""
    state = row.get("statecode")
    if state in defaults and row.get("statuscode") not in allowed[state]:
        row["statuscode"] = defaults[state]


def _compute_contact(row: Row) -> None:
    names = (row.get("firstname"), row.get("lastname"))
    row["fullname"] = " ".join(n for n in names if n) or None
    status_follows_state(row, {0: 1, 1: 2}, {0: {1}, 1: {2}})


CONTACT = EntityDef(
    logical_name="contact",
    entity_set="contacts",
    primary_id="contactid",
    primary_name="fullname",
    attributes=(
        Attr("contactid", AttrType.GUID, update=False),
        Attr("firstname", AttrType.STRING, max_length=50),
        Attr("lastname", AttrType.STRING, max_length=50),
        Attr("fullname", AttrType.STRING, max_length=160, create=False, update=False),
        Attr("emailaddress1", AttrType.STRING, max_length=100),
        Attr("telephone1", AttrType.STRING, max_length=50),
        Attr("mobilephone", AttrType.STRING, max_length=50),
        Attr("jobtitle", AttrType.STRING, max_length=100),
        Attr("address1_line1", AttrType.STRING, max_length=250),
        Attr("address1_city", AttrType.STRING, max_length=80),
        Attr("address1_stateorprovince", AttrType.STRING, max_length=50),
        Attr("address1_postalcode", AttrType.STRING, max_length=20),
        Attr("address1_country", AttrType.STRING, max_length=80),
        Attr(
            "_parentcustomerid_value",
            AttrType.LOOKUP,
            navigation={
                "parentcustomerid_account": "accounts",
                "parentcustomerid_contact": "contacts",
            },
        ),
        *system_columns({1: "Active", 2: "Inactive"}),
    ),
    compute=_compute_contact,
    defaults={"statecode": 0, "statuscode": 1},
)

BUSINESS_ENTITIES: tuple[EntityDef, ...] = (CONTACT,)
