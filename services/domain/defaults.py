"""Each object's default mappings and the types of the apps' built-in fields, as data.

Names, types and option values follow the HubSpot property catalogue and the Dataverse table
definitions the sandboxes emulate (`services/sandbox/hubspot/property_catalog.py`,
`services/sandbox/dynamics/entities*.py`), and the enumeration mappings agree with the seed
data (`services/sandbox/dynamics/generate.py`). `docs/mappings.md` is rendered from here.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from schemas.events import Side
from schemas.settings import Direction


@dataclass(frozen=True)
class DefaultMapping:
    hubspot: str
    hubspot_type: str
    app: str
    app_type: str
    value_map: Mapping[str, str] | None = None
    direction: Direction | None = None  # None: the sync's direction
    note: str = ""


# HubSpot industry option -> Dataverse industrycode (the nearest of Dataverse's 33 codes). One
# to one, so the field syncs both ways; other HubSpot industries are not written across.
INDUSTRY_CODES = {
    "ACCOUNTING": "1",  # Accounting
    "AIRLINES_AVIATION": "30",  # Transportation
    "BANKING": "16",  # Financial
    "BIOTECHNOLOGY": "12",  # Durable Manufacturing
    "COMPUTER_SOFTWARE": "6",  # Business Services
    "CONSTRUCTION": "28",  # Special Outbound Trade Contractors
    "EDUCATION_MANAGEMENT": "27",  # Social Services
    "FINANCIAL_SERVICES": "4",  # Brokers
    "HOSPITAL_HEALTH_CARE": "11",  # Doctor's Offices and Clinics
    "INSURANCE": "20",  # Insurance
    "LOGISTICS_AND_SUPPLY_CHAIN": "10",  # Distributors, Dispatchers and Processors
    "RETAIL": "22",  # Non-Durable Merchandise Retail
    "TELECOMMUNICATIONS": "3",  # Broadcasting Printing and Publishing
    "UTILITIES": "31",  # Utility Creation and Distribution
}
# HubSpot deal stage (default pipeline) -> opportunity salesstage (0 Qualify, 1 Develop,
# 2 Propose, 3 Close). Seven stages to four: many to one, so it syncs into the app only.
DEAL_SALES_STAGES = {
    "appointmentscheduled": "0",
    "qualifiedtobuy": "1",
    "presentationscheduled": "2",
    "decisionmakerboughtin": "2",
    "contractsent": "3",
    "closedwon": "3",
    "closedlost": "3",
}
# HubSpot invoice status -> invoice statuscode (1 New, 4 Billed, 100001 Complete, 100003
# Canceled); Dataverse moves the statecode with the status.
INVOICE_STATUS_CODES = {"draft": "1", "open": "4", "paid": "100001", "voided": "100003"}
# HubSpot order stage -> salesorder statuscode (1 New, 3 In Progress, 100001 Complete, 4 No
# Money: the status of a canceled order).
ORDER_STATUS_CODES = {"open": "1", "submitted": "3", "fulfilled": "100001", "cancelled": "4"}

_M = DefaultMapping
_ADDRESS = (
    _M("address", "string", "address1_line1", "string"),
    _M("city", "string", "address1_city", "string"),
    _M("state", "string", "address1_stateorprovince", "string"),
    _M("zip", "string", "address1_postalcode", "string"),
    _M("country", "string", "address1_country", "string"),
)
_APP_NUMBERS = "Dataverse assigns the number and does not let it change; it is copied into HubSpot"
_APP_TOTALS = "Dataverse computes the total from the lines; it is copied into HubSpot"

DEFAULT_MAPPINGS: dict[str, tuple[DefaultMapping, ...]] = {
    "contacts": (
        _M("email", "string", "emailaddress1", "string"),
        _M("firstname", "string", "firstname", "string"),
        _M("lastname", "string", "lastname", "string"),
        _M("phone", "string", "telephone1", "string"),
        _M("mobilephone", "string", "mobilephone", "string"),
        _M("jobtitle", "string", "jobtitle", "string"),
        *_ADDRESS,
    ),
    "companies": (
        _M("name", "string", "name", "string"),
        _M(
            "domain",
            "string",
            "websiteurl",
            "string",
            note="compared as a domain: `https://www.acme.com/` and `acme.com` agree; "
            "written into Dynamics as `https://<domain>`",
        ),
        _M("phone", "string", "telephone1", "string"),
        *_ADDRESS,
        _M("industry", "enumeration", "industrycode", "picklist", INDUSTRY_CODES),
        _M("numberofemployees", "number", "numberofemployees", "integer"),
        _M("annualrevenue", "number", "revenue", "money"),
        _M("description", "string", "description", "memo"),
    ),
    "deals": (
        _M("dealname", "string", "name", "string"),
        _M("amount", "number", "estimatedvalue", "money"),
        _M("closedate", "datetime", "estimatedclosedate", "dateonly"),
        _M(
            "dealstage",
            "enumeration",
            "salesstage",
            "picklist",
            DEAL_SALES_STAGES,
            Direction.TO_APP,
            "seven stages to four sales stages: into Dynamics only",
        ),
        _M("description", "string", "description", "memo"),
    ),
    "products": (
        _M("name", "string", "name", "string"),
        _M("hs_sku", "string", "productnumber", "string"),
        _M("price", "number", "price", "money"),
        _M("hs_cost_of_goods_sold", "number", "standardcost", "money"),
        _M("description", "string", "description", "memo"),
    ),
    "invoices": (
        _M(
            "hs_number",
            "string",
            "invoicenumber",
            "string",
            None,
            Direction.TO_HUBSPOT,
            _APP_NUMBERS,
        ),
        _M("hs_title", "string", "name", "string"),
        _M(
            "hs_amount_billed",
            "number",
            "totalamount",
            "money",
            None,
            Direction.TO_HUBSPOT,
            _APP_TOTALS,
        ),
        _M("hs_due_date", "date", "duedate", "dateonly"),
        _M("hs_invoice_status", "enumeration", "statuscode", "picklist", INVOICE_STATUS_CODES),
        _M("hs_comments", "string", "description", "memo"),
    ),
    "sales_orders": (
        _M("hs_order_name", "string", "name", "string"),
        _M(
            "hs_external_order_id",
            "string",
            "ordernumber",
            "string",
            None,
            Direction.TO_HUBSPOT,
            _APP_NUMBERS,
        ),
        _M(
            "hs_total_price",
            "number",
            "totalamount",
            "money",
            None,
            Direction.TO_HUBSPOT,
            _APP_TOTALS,
        ),
        _M("hs_pipeline_stage", "enumeration", "statuscode", "picklist", ORDER_STATUS_CODES),
    ),
    "activities": (
        _M("subject", "string", "subject", "string"),
        _M("body", "string", "description", "memo"),
        _M("hs_timestamp", "datetime", "activity_time", "datetime"),
        _M(
            "duration_ms",
            "number",
            "actualdurationminutes",
            "integer",
            note="milliseconds in HubSpot, whole minutes in Dynamics",
        ),
    ),
}

# Fields left out of the defaults on purpose, and why (shown in docs/mappings.md).
NOT_MAPPED: dict[str, tuple[str, ...]] = {
    "contacts": ("`lifecyclestage`, `hs_lead_status`: Dynamics contacts have no such column",),
    "companies": (
        "`website`: `domain` already maps to `websiteurl`",
        "`lifecyclestage`, `type`: Dynamics accounts have no such column",
    ),
    "deals": (
        "`pipeline`: Dynamics has no pipelines",
        "opportunity `statecode`/`statuscode`: Dataverse closes an opportunity as won or lost "
        "only through its close actions, not by an update",
    ),
    "products": (),
    "invoices": (
        "`hs_currency`: Dynamics holds the currency as a lookup (`transactioncurrencyid`)",
    ),
    "sales_orders": (
        "`hs_currency_code`: Dynamics holds the currency as a lookup (`transactioncurrencyid`)",
    ),
    "activities": (
        "`status`: only HubSpot tasks have one and the Dynamics connector presents no unified "
        "status field",
    ),
}

# Unit conversions and value forms of particular field pairs, whichever object they are on.
UNIT_FACTORS: dict[tuple[str, str], int] = {("duration_ms", "actualdurationminutes"): 60_000}
DOMAIN_PAIRS: frozenset[tuple[str, str]] = frozenset({("domain", "websiteurl")})


def _typed(types: str, *names: str) -> dict[str, str]:
    return dict.fromkeys(names, types)


# Built-in fields that are not in the default mappings but may be mapped or filtered on.
_EXTRA_TYPES: dict[str, dict[Side, dict[str, str]]] = {
    "contacts": {
        Side.HUBSPOT: {
            **_typed("string", "company", "website"),
            **_typed("enumeration", "lifecyclestage", "hs_lead_status", "hubspot_owner_id"),
            **_typed("datetime", "createdate", "lastmodifieddate", "hs_lastmodifieddate"),
        },
        Side.APP: {
            "birthdate": "dateonly",
            "description": "memo",
            "donotemail": "boolean",
            **_typed("picklist", "statecode", "statuscode"),
            **_typed("datetime", "createdon", "modifiedon"),
        },
    },
    "companies": {
        Side.HUBSPOT: {
            "website": "string",
            **_typed("enumeration", "lifecyclestage", "type", "hubspot_owner_id"),
            **_typed("datetime", "createdate", "hs_lastmodifieddate"),
        },
        Side.APP: {
            **_typed("string", "accountnumber", "emailaddress1"),
            **_typed("picklist", "statecode", "statuscode"),
            **_typed("datetime", "createdon", "modifiedon"),
        },
    },
    "deals": {
        Side.HUBSPOT: {
            **_typed("enumeration", "pipeline", "dealtype", "hs_priority", "hubspot_owner_id"),
            **_typed("datetime", "createdate", "hs_lastmodifieddate"),
        },
        Side.APP: {
            "actualvalue": "money",
            "actualclosedate": "dateonly",
            "closeprobability": "integer",
            "stepname": "string",
            **_typed("picklist", "statecode", "statuscode"),
            **_typed("datetime", "createdon", "modifiedon"),
        },
    },
    "products": {
        Side.HUBSPOT: {
            "hs_recurring_billing_period": "string",
            **_typed("datetime", "createdate", "hs_lastmodifieddate"),
        },
        Side.APP: {
            "producturl": "string",
            "quantitydecimal": "integer",
            **_typed("picklist", "producttypecode", "statecode", "statuscode"),
            **_typed("datetime", "createdon", "modifiedon"),
        },
    },
    "invoices": {
        Side.HUBSPOT: {
            "hs_currency": "string",
            "hs_invoice_date": "date",
            "hs_balance_due": "number",
            **_typed("datetime", "hs_createdate", "hs_lastmodifieddate"),
        },
        Side.APP: {
            "datedelivered": "dateonly",
            "statecode": "picklist",
            **_typed("datetime", "createdon", "modifiedon"),
        },
    },
    "sales_orders": {
        Side.HUBSPOT: {
            "hs_currency_code": "string",
            "hs_subtotal_price": "number",
            "hs_pipeline": "enumeration",
            **_typed("datetime", "hs_createdate", "hs_lastmodifieddate"),
        },
        Side.APP: {
            "description": "memo",
            **_typed("dateonly", "requestdeliveryby", "datefulfilled"),
            "statecode": "picklist",
            **_typed("datetime", "createdon", "modifiedon"),
        },
    },
    "activities": {
        Side.HUBSPOT: {"status": "enumeration", "hs_lastmodifieddate": "datetime"},
        Side.APP: {"modifiedon": "datetime"},
    },
}


def default_field_types(object_type: str, side: Side) -> dict[str, str]:
    """The type of each built-in field of the object on that side: the default mappings'
    fields and the others a mapping or a filter commonly names."""
    return dict(builtin_types(object_type, side))


@cache
def builtin_types(object_type: str, side: Side) -> Mapping[str, str]:
    """`default_field_types`, worked out once (read only)."""
    types = dict(_EXTRA_TYPES.get(object_type, {}).get(side, {}))
    for m in DEFAULT_MAPPINGS.get(object_type, ()):
        if side is Side.HUBSPOT:
            types[m.hubspot] = m.hubspot_type
        else:
            types[m.app] = m.app_type
    return MappingProxyType(types)


def default_pair(object_type: str, hubspot: str, app: str) -> DefaultMapping | None:
    return next(
        (m for m in DEFAULT_MAPPINGS.get(object_type, ()) if (m.hubspot, m.app) == (hubspot, app)),
        None,
    )
