"""Sales tables: opportunity, product, invoice, salesorder (Dynamics 365 Sales table reference).

Facts the reference states and the sandbox keeps: the state of an opportunity, invoice or
order is not valid for create (IsValidForCreate False: a record starts Open / Active and is
moved by an update); `totalamount` of invoices and orders is not valid for create (Dataverse
computes it from the lines; an update sets it); `invoicenumber` and `ordernumber` are system
required and not valid for update, and Dataverse numbers a record itself when none is given;
`productnumber` (the product ID, a SKU) is system required.

Lenient where Dataverse needs set-up the sandbox does not model: a product needs a unit group
and a default unit (`defaultuomscheduleid`, `defaultuomid`); the sandbox fills both with the
fixed ids of a "Default Unit" group when a create gives none, and a product starts Active (a
real organisation may start it as Draft, depending on its product settings). Price lists
(`pricelevelid`), units and unit groups are lookups to tables the sandbox does not hold, so
their binds are not checked.
"""

import secrets
import uuid

from services.sandbox.dynamics.columns import (
    StateModel,
    audit_columns,
    customer,
    lookup,
    memo,
    money,
    owned_columns,
    text,
)
from services.sandbox.dynamics.schema import Attr, AttrType, Computer, EntityDef, Row

_IDS = uuid.UUID("5d1c9e0a-7b2f-4e63-9a41-0c8d2f6b7e15")
DEFAULT_UNIT_GROUP = str(uuid.uuid5(_IDS, "uomschedule/Default Unit"))
PRIMARY_UNIT = str(uuid.uuid5(_IDS, "uom/Primary Unit"))
_LOOKUP = "Microsoft.Dynamics.CRM.lookuplogicalname"

OPPORTUNITY_STATES = StateModel(
    states={0: ("Open", 1), 1: ("Won", 3), 2: ("Lost", 4)},
    statuses={
        1: ("In Progress", 0),
        2: ("On Hold", 0),
        3: ("Won", 1),
        4: ("Canceled", 2),
        5: ("Out-Sold", 2),
    },
    state_valid_for_create=False,
)
SALES_STAGES = {0: "Qualify", 1: "Develop", 2: "Propose", 3: "Close"}

OPPORTUNITY = EntityDef(
    logical_name="opportunity",
    entity_set="opportunities",
    primary_id="opportunityid",
    primary_name="name",
    attributes=(
        Attr("opportunityid", AttrType.GUID, update=False),
        text("name", 300),
        money("estimatedvalue", minimum=-1_000_000_000_000, maximum=1_000_000_000_000),
        Attr("estimatedclosedate", AttrType.DATE),
        money("actualvalue", minimum=-1_000_000_000_000, maximum=1_000_000_000_000),
        Attr("actualclosedate", AttrType.DATE),
        Attr("closeprobability", AttrType.INT, minimum=0, maximum=100),
        Attr("salesstage", AttrType.PICKLIST, options=SALES_STAGES),
        text("stepname", 200),
        memo("description"),
        customer("customerid", on_delete="cascade"),  # opportunity_customer_accounts: Cascade
        lookup("parentaccountid", parentaccountid="accounts"),  # opportunity_parent_account
        lookup("parentcontactid", parentcontactid="contacts"),
        lookup("transactioncurrencyid", transactioncurrencyid="transactioncurrencies"),
        lookup("pricelevelid", pricelevelid="pricelevels"),
        *owned_columns(),
        *OPPORTUNITY_STATES.columns(),
    ),
    defaults=OPPORTUNITY_STATES.defaults(),
    default_status=OPPORTUNITY_STATES.default_status,
    status_state=OPPORTUNITY_STATES.status_state,
)

PRODUCT_STATES = StateModel(
    states={0: ("Active", 1), 1: ("Retired", 2), 2: ("Draft", 0), 3: ("Under Revision", 3)},
    statuses={0: ("Draft", 2), 1: ("Active", 0), 2: ("Retired", 1), 3: ("Under Revision", 3)},
)


def _compute_product(row: Row) -> None:
    if row.get("_defaultuomscheduleid_value") is None:
        row["_defaultuomscheduleid_value"] = DEFAULT_UNIT_GROUP
        row[f"_defaultuomscheduleid_value@{_LOOKUP}"] = "uomschedule"
    if row.get("_defaultuomid_value") is None:
        row["_defaultuomid_value"] = PRIMARY_UNIT
        row[f"_defaultuomid_value@{_LOOKUP}"] = "uom"


PRODUCT = EntityDef(
    logical_name="product",
    entity_set="products",
    primary_id="productid",
    primary_name="name",
    attributes=(
        Attr("productid", AttrType.GUID, update=False),
        text("name", 100),
        text("productnumber", 100, required=True),
        money("price", minimum=0, maximum=1_000_000_000_000),
        money("standardcost", minimum=0, maximum=1_000_000_000_000),
        memo("description"),
        text("producturl", 255),
        Attr("quantitydecimal", AttrType.INT, minimum=0, maximum=5),
        Attr(
            "productstructure",
            AttrType.PICKLIST,
            update=False,
            options={1: "Product", 2: "Product Family", 3: "Product Bundle"},
        ),
        Attr(
            "producttypecode",
            AttrType.PICKLIST,
            options={
                1: "Sales Inventory",
                2: "Miscellaneous Charges",
                3: "Services",
                4: "Flat Fees",
            },
        ),
        lookup("defaultuomscheduleid", defaultuomscheduleid="uomschedules"),
        lookup("defaultuomid", defaultuomid="uoms"),
        lookup("transactioncurrencyid", transactioncurrencyid="transactioncurrencies"),
        *audit_columns(),  # products are organisation-owned: no owner
        *PRODUCT_STATES.columns(),
    ),
    compute=_compute_product,
    defaults={**PRODUCT_STATES.defaults(), "productstructure": 1, "quantitydecimal": 0},
    keys={"productnumber_key": ("productnumber",)},
    default_status=PRODUCT_STATES.default_status,
    status_state=PRODUCT_STATES.status_state,
)

INVOICE_STATES = StateModel(
    # The reference gives Closed (deprecated) the default status 100003, which belongs to
    # Canceled; the sandbox keeps states and statuses consistent with 3 instead.
    states={
        0: ("Active", 1),
        1: ("Closed (deprecated)", 3),
        2: ("Paid", 100001),
        3: ("Canceled", 100003),
    },
    statuses={
        1: ("New", 0),
        2: ("Partially Shipped", 0),
        3: ("Canceled (deprecated)", 1),
        4: ("Billed", 0),
        5: ("Booked (applies to services)", 0),
        6: ("Installed (applies to services)", 0),
        7: ("Paid in Full (deprecated)", 1),
        100001: ("Complete", 2),
        100002: ("Partial", 2),
        100003: ("Canceled", 3),
    },
    state_valid_for_create=False,
)


def _numbered(column: str, prefix: str) -> Computer:
    """Dataverse numbers invoices and orders itself (INV-01001-B3L6V8) when none is given."""

    def compute(row: Row) -> None:
        if not row.get(column):
            number = 1000 + secrets.randbelow(99000)
            row[column] = f"{prefix}-{number:05d}-{secrets.token_hex(3).upper()}"

    return compute


INVOICE = EntityDef(
    logical_name="invoice",
    entity_set="invoices",
    primary_id="invoiceid",
    primary_name="name",
    attributes=(
        Attr("invoiceid", AttrType.GUID, update=False),
        text("invoicenumber", 100, update=False),
        text("name", 300),
        memo("description"),
        money("totalamount", create=False),
        Attr("duedate", AttrType.DATE),
        Attr("datedelivered", AttrType.DATE),
        customer("customerid", on_delete="restrict"),  # invoice_customer_accounts: Restrict
        lookup("opportunityid", opportunityid="opportunities"),
        lookup("salesorderid", salesorderid="salesorders"),
        lookup("transactioncurrencyid", transactioncurrencyid="transactioncurrencies"),
        lookup("pricelevelid", pricelevelid="pricelevels"),
        *owned_columns(),
        *INVOICE_STATES.columns(),
    ),
    compute=_numbered("invoicenumber", "INV"),
    defaults=INVOICE_STATES.defaults(),
    keys={"invoicenumber_key": ("invoicenumber",)},
    default_status=INVOICE_STATES.default_status,
    status_state=INVOICE_STATES.status_state,
)

ORDER_STATES = StateModel(
    states={
        0: ("Active", 1),
        1: ("Submitted", 3),
        2: ("Canceled", 4),
        3: ("Fulfilled", 100001),
        4: ("Invoiced", 100003),
    },
    statuses={
        1: ("New", 0),
        2: ("Pending", 0),
        3: ("In Progress", 1),
        4: ("No Money", 2),
        100001: ("Complete", 3),
        100002: ("Partial", 3),
        100003: ("Invoiced", 4),
    },
    state_valid_for_create=False,
)

SALES_ORDER = EntityDef(
    logical_name="salesorder",
    entity_set="salesorders",
    primary_id="salesorderid",
    primary_name="name",
    attributes=(
        Attr("salesorderid", AttrType.GUID, update=False),
        text("ordernumber", 100, update=False),
        text("name", 300),
        memo("description"),
        money("totalamount", create=False),
        Attr("requestdeliveryby", AttrType.DATE),
        Attr("datefulfilled", AttrType.DATE),
        customer("customerid", on_delete="restrict"),  # order_customer_accounts: Restrict
        lookup("opportunityid", opportunityid="opportunities"),
        lookup("transactioncurrencyid", transactioncurrencyid="transactioncurrencies"),
        lookup("pricelevelid", pricelevelid="pricelevels"),
        *owned_columns(),
        *ORDER_STATES.columns(),
    ),
    compute=_numbered("ordernumber", "ORD"),
    defaults=ORDER_STATES.defaults(),
    keys={"ordernumber_key": ("ordernumber",)},
    default_status=ORDER_STATES.default_status,
    status_state=ORDER_STATES.status_state,
)

SALES_ENTITIES = (OPPORTUNITY, PRODUCT, INVOICE, SALES_ORDER)
