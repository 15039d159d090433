"""The CRM tables the sandbox serves, as data (Dataverse table reference: contact, account, ...).

Each table is one `EntityDef`; `BUSINESS_ENTITIES` lists them all. Contacts and accounts are
here, the Sales tables in `entities_sales.py`, activities and notes in `entities_activities.py`.
Only columns a sync plausibly touches are emulated; their names, types, lengths, ranges and
option values are the table reference's.

Alternate keys: Dataverse tables have none until a maker defines them. The sandbox defines
the ones an integration would: contacts by `emailaddress1`, accounts by `accountnumber` (a
company's name is not unique, so it is no key), products by `productnumber` (the SKU),
invoices by `invoicenumber`, sales orders by `ordernumber`. A key keeps API writes unique;
seeded rows that repeat a key value leave it Failed, as an index build over such data does
in Dataverse (see `table.py`), and it cannot address records until the repeat is gone.
"""

from services.sandbox.dynamics.columns import (
    ACTIVE_INACTIVE,
    customer,
    lookup,
    memo,
    money,
    owned_columns,
    text,
)
from services.sandbox.dynamics.entities_activities import ACTIVITY_ENTITIES
from services.sandbox.dynamics.entities_sales import SALES_ENTITIES
from services.sandbox.dynamics.schema import Attr, AttrType, EntityDef, Row


def _compute_contact(row: Row) -> None:
    names = (row.get("firstname"), row.get("lastname"))
    row["fullname"] = " ".join(n for n in names if n) or None


CONTACT = EntityDef(
    logical_name="contact",
    entity_set="contacts",
    primary_id="contactid",
    primary_name="fullname",
    attributes=(
        Attr("contactid", AttrType.GUID, update=False),
        text("firstname", 50),
        text("lastname", 50),
        Attr("fullname", AttrType.STRING, max_length=160, create=False, update=False),
        text("emailaddress1", 100),
        text("telephone1", 50),
        text("mobilephone", 50),
        text("jobtitle", 100),
        text("address1_line1", 250),
        text("address1_city", 80),
        text("address1_stateorprovince", 50),
        text("address1_postalcode", 20),
        text("address1_country", 80),
        Attr("birthdate", AttrType.DATE),
        memo("description"),
        Attr("donotemail", AttrType.BOOL, options={1: "Do Not Allow", 0: "Allow"}),
        customer("parentcustomerid", on_delete="cascade"),  # contact_customer_accounts: Cascade
        *owned_columns(),
        *ACTIVE_INACTIVE.columns(),
    ),
    compute=_compute_contact,
    defaults={**ACTIVE_INACTIVE.defaults(), "donotemail": False},
    keys={"emailaddress1_key": ("emailaddress1",)},
    default_status=ACTIVE_INACTIVE.default_status,
    status_state=ACTIVE_INACTIVE.status_state,
)

INDUSTRIES = {
    1: "Accounting",
    2: "Agriculture and Non-petrol Natural Resource Extraction",
    3: "Broadcasting Printing and Publishing",
    4: "Brokers",
    5: "Building Supply Retail",
    6: "Business Services",
    7: "Consulting",
    8: "Consumer Services",
    9: "Design, Direction and Creative Management",
    10: "Distributors, Dispatchers and Processors",
    11: "Doctor's Offices and Clinics",
    12: "Durable Manufacturing",
    13: "Eating and Drinking Places",
    14: "Entertainment Retail",
    15: "Equipment Rental and Leasing",
    16: "Financial",
    17: "Food and Tobacco Processing",
    18: "Inbound Capital Intensive Processing",
    19: "Inbound Repair and Services",
    20: "Insurance",
    21: "Legal Services",
    22: "Non-Durable Merchandise Retail",
    23: "Outbound Consumer Service",
    24: "Petrochemical Extraction and Distribution",
    25: "Service Retail",
    26: "SIG Affiliations",
    27: "Social Services",
    28: "Special Outbound Trade Contractors",
    29: "Specialty Realty",
    30: "Transportation",
    31: "Utility Creation and Distribution",
    32: "Vehicle Retail",
    33: "Wholesale",
}

ACCOUNT = EntityDef(
    logical_name="account",
    entity_set="accounts",
    primary_id="accountid",
    primary_name="name",
    attributes=(
        Attr("accountid", AttrType.GUID, update=False),
        text("name", 160),
        text("accountnumber", 20),
        text("websiteurl", 200),
        text("telephone1", 50),
        text("emailaddress1", 100),
        text("address1_line1", 250),
        text("address1_city", 80),
        text("address1_stateorprovince", 50),
        text("address1_postalcode", 20),
        text("address1_country", 80),
        Attr("industrycode", AttrType.PICKLIST, options=INDUSTRIES),
        Attr("numberofemployees", AttrType.INT, minimum=0, maximum=1_000_000_000),
        money("revenue", minimum=0, maximum=100_000_000_000_000),
        memo("description"),
        lookup("primarycontactid", primarycontactid="contacts"),  # account_primary_contact
        lookup("parentaccountid", parentaccountid="accounts"),  # account_parent_account
        lookup("transactioncurrencyid", transactioncurrencyid="transactioncurrencies"),
        *owned_columns(),
        *ACTIVE_INACTIVE.columns(),
    ),
    defaults=ACTIVE_INACTIVE.defaults(),
    keys={"accountnumber_key": ("accountnumber",)},
    default_status=ACTIVE_INACTIVE.default_status,
    status_state=ACTIVE_INACTIVE.status_state,
)

BUSINESS_ENTITIES: tuple[EntityDef, ...] = (
    CONTACT,
    ACCOUNT,
    *SALES_ENTITIES,
    *ACTIVITY_ENTITIES,
)
