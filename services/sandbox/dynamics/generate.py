"""Loading the shared seed dataset (`services.sandbox.seeding`) into an organisation.

The generator speaks datasync's neutral field names and HubSpot's option values; the tables
below say where each lands in Dataverse and how enumerations map to option sets. They are the
sandbox's reading of the neutral model, and the Dynamics connector's default mappings should
agree with them:

| datasync object | entity set | neutral field -> column |
| --- | --- | --- |
| companies | accounts | name, domain -> websiteurl `https://<domain>`, phone -> telephone1, city -> address1_city, industry -> industrycode, numberofemployees |
| contacts | contacts | firstname, lastname, email -> emailaddress1, phone -> telephone1, jobtitle, city -> address1_city; lifecyclestage has no Dataverse column and is dropped |
| products | products | name, sku -> productnumber, price, description; a product without SKU gets `DYN-<key>` (productnumber is system required) |
| deals | opportunities | name, amount -> estimatedvalue, closedate -> estimatedclosedate, stage -> statecode / statuscode / salesstage / stepname (`DEAL_STAGES`) |
| invoices | invoices | number -> invoicenumber, name `Invoice <number>`, amount -> totalamount, currency -> transactioncurrencyid, duedate, status -> statecode / statuscode |
| sales_orders | salesorders | number -> ordernumber, name, amount -> totalamount, currency -> transactioncurrencyid, status -> statecode / statuscode |
| activities | tasks, phonecalls, appointments, annotations by kind | subject, body -> description (notetext for notes), timestamp -> scheduledend (task), actualstart (call), scheduledstart (meeting, ending after duration_ms), createdon (note), duration_ms -> actualdurationminutes |

Associations: a contact's primary company -> parentcustomerid (account); a deal's primary
company -> customerid and parentaccountid, its first contact -> parentcontactid (and customerid
when it has no company); an invoice's or order's first contact -> customerid; an activity's
first contact (else company, else deal) -> regardingobjectid, a note's -> objectid.

Rows are inserted directly: no webhook fires and no request is counted.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.sandbox.dynamics.catalog import CATALOG
from services.sandbox.dynamics.query import ASSOCIATED_NAVIGATION, LOOKUP_LOGICAL_NAME
from services.sandbox.dynamics.reference import currency_id
from services.sandbox.dynamics.schema import Row, parse_datetime
from services.sandbox.dynamics.store import Org
from services.sandbox.seeding import SeedRecord, generate_dataset

INDUSTRY_CODES = {
    "ACCOUNTING": 1,  # Accounting
    "AIRLINES_AVIATION": 30,  # Transportation
    "BANKING": 16,  # Financial
    "BIOTECHNOLOGY": 12,  # Durable Manufacturing
    "COMPUTER_SOFTWARE": 6,  # Business Services
    "CONSTRUCTION": 28,  # Special Outbound Trade Contractors
    "EDUCATION_MANAGEMENT": 27,  # Social Services
    "FINANCIAL_SERVICES": 4,  # Brokers
    "HOSPITAL_HEALTH_CARE": 11,  # Doctor's Offices and Clinics
    "INSURANCE": 20,  # Insurance
    "LOGISTICS_AND_SUPPLY_CHAIN": 10,  # Distributors, Dispatchers and Processors
    "RETAIL": 22,  # Non-Durable Merchandise Retail
    "TELECOMMUNICATIONS": 3,  # Broadcasting Printing and Publishing
    "UTILITIES": 31,  # Utility Creation and Distribution
}
# HubSpot deal stage -> (statecode, statuscode, salesstage, stepname).
DEAL_STAGES = {
    "appointmentscheduled": (0, 1, 0, "1-Qualify"),
    "qualifiedtobuy": (0, 1, 1, "2-Develop"),
    "presentationscheduled": (0, 1, 2, "3-Propose"),
    "decisionmakerboughtin": (0, 1, 2, "3-Propose: decision maker bought in"),
    "contractsent": (0, 1, 3, "4-Close"),
    "closedwon": (1, 3, 3, "4-Close"),
    "closedlost": (2, 4, 3, "4-Close"),
}
INVOICE_STATUSES = {"draft": (0, 1), "open": (0, 4), "paid": (2, 100001)}  # New, Billed, Complete
SALES_ORDER_STATUSES = {
    "open": (0, 1),  # Active / New
    "submitted": (1, 3),  # Submitted / In Progress
    "fulfilled": (3, 100001),  # Fulfilled / Complete
    "cancelled": (2, 4),  # Canceled / No Money
}
TASK_STATUSES = {"NOT_STARTED": (0, 2), "COMPLETED": (1, 5)}
ACTIVITY_SETS = {
    "task": "tasks",
    "call": "phonecalls",
    "meeting": "appointments",
    "note": "annotations",
}
ENTITY_SETS = {
    "companies": "accounts",
    "contacts": "contacts",
    "products": "products",
    "deals": "opportunities",
    "invoices": "invoices",
    "sales_orders": "salesorders",
}
_LOGICAL = {"companies": "account", "contacts": "contact", "deals": "opportunity"}
_SETS = {"account": "accounts", "contact": "contacts", "opportunity": "opportunities"}
ID_MAP_LIMIT = 1000


@dataclass
class Loaded:
    created: dict[str, int]
    ids: dict[str, str]  # seed key -> record id


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _link(row: Row, column: str, navigation: str, logical: str, record_id: str) -> None:
    row[f"_{column}_value"] = record_id
    row[f"_{column}_value@{LOOKUP_LOGICAL_NAME}"] = logical
    row[f"_{column}_value@{ASSOCIATED_NAVIGATION}"] = navigation


class _Loader:
    def __init__(self, org: Org) -> None:
        self.org = org
        self.ids: dict[str, str] = {}

    def first(self, record: SeedRecord, *object_types: str) -> tuple[str, str] | None:
        """(logical name, id) of the first associated record of the first type that has one."""
        for object_type in object_types:
            for key in record.refs.get(object_type, []):
                if key in self.ids:
                    return _LOGICAL[object_type], self.ids[key]
        return None

    def company(self, f: Mapping[str, Any], record: SeedRecord) -> Row:
        return {
            "name": f["name"],
            "websiteurl": f"https://{f['domain']}" if f["domain"] else None,
            "telephone1": f["phone"],
            "address1_city": f["city"],
            "industrycode": INDUSTRY_CODES.get(f["industry"]) if f["industry"] else None,
            "numberofemployees": f["numberofemployees"],
        }

    def contact(self, f: Mapping[str, Any], record: SeedRecord) -> Row:
        row: Row = {
            "firstname": f["firstname"],
            "lastname": f["lastname"],
            "emailaddress1": f["email"],
            "telephone1": f["phone"],
            "jobtitle": f["jobtitle"],
            "address1_city": f["city"],
        }
        if record.primary_company in self.ids:
            account = self.ids[record.primary_company]
            _link(row, "parentcustomerid", "parentcustomerid_account", "account", account)
        return row

    def product(self, f: Mapping[str, Any], record: SeedRecord) -> Row:
        return {
            "name": f["name"],
            "productnumber": f["sku"] or f"DYN-{record.key}",
            "price": _money(f["price"]),
            "description": f["description"],
        }

    def deal(self, f: Mapping[str, Any], record: SeedRecord) -> Row:
        state, status, stage, step = DEAL_STAGES.get(
            f["stage"], DEAL_STAGES["appointmentscheduled"]
        )
        closed = state != 0
        row: Row = {
            "name": f["name"],
            "estimatedvalue": _money(f["amount"]),
            "estimatedclosedate": _day(f["closedate"]),
            "salesstage": stage,
            "stepname": step,
            "statecode": state,
            "statuscode": status,
            "actualvalue": _money(f["amount"]) if state == 1 else None,
            "actualclosedate": _day(f["closedate"]) if closed else None,
        }
        company = self.first(record, "companies")
        contact = self.first(record, "contacts")
        if company is not None:
            _link(row, "customerid", "customerid_account", "account", company[1])
            _link(row, "parentaccountid", "parentaccountid", "account", company[1])
        if contact is not None:
            _link(row, "parentcontactid", "parentcontactid", "contact", contact[1])
            if company is None:
                _link(row, "customerid", "customerid_contact", "contact", contact[1])
        return row

    def _billing(self, row: Row, f: Mapping[str, Any], record: SeedRecord) -> Row:
        row["totalamount"] = _money(f["amount"])
        if f["currency"]:
            currency = currency_id(f["currency"])
            _link(
                row,
                "transactioncurrencyid",
                "transactioncurrencyid",
                "transactioncurrency",
                currency,
            )
        customer = self.first(record, "contacts", "companies")
        if customer is not None:
            logical, record_id = customer
            _link(row, "customerid", f"customerid_{logical}", logical, record_id)
        return row

    def invoice(self, f: Mapping[str, Any], record: SeedRecord) -> Row:
        state, status = INVOICE_STATUSES.get(f["status"], (0, 1))
        row: Row = {
            "invoicenumber": f["number"],
            "name": f"Invoice {f['number']}",
            "duedate": _day(f["duedate"]),
            "statecode": state,
            "statuscode": status,
        }
        return self._billing(row, f, record)

    def sales_order(self, f: Mapping[str, Any], record: SeedRecord) -> Row:
        state, status = SALES_ORDER_STATUSES.get(f["status"], (0, 1))
        row: Row = {
            "ordernumber": f["number"],
            "name": f["name"],
            "statecode": state,
            "statuscode": status,
        }
        return self._billing(row, f, record)

    def activity(self, f: Mapping[str, Any], record: SeedRecord) -> tuple[str, Row]:
        kind = f["kind"]
        moment = parse_datetime(f["timestamp"]) if f["timestamp"] else None
        minutes = f["duration_ms"] // 60_000 if f["duration_ms"] else None
        row: Row = {"subject": f["subject"]}
        target = self.first(record, "contacts", "companies", "deals")
        if kind == "note":
            row.update(notetext=f["body"], createdon=moment, modifiedon=moment)
            if target is not None:
                logical, record_id = target
                _link(row, "objectid", f"objectid_{logical}", logical, record_id)
            return "annotations", row
        row["description"] = f["body"]
        if kind == "task":
            state, status = TASK_STATUSES.get(f["status"] or "NOT_STARTED", (0, 2))
            row.update(scheduledend=moment, statecode=state, statuscode=status)
            if state == 1:
                row["actualend"] = moment
        elif kind == "call":
            row.update(actualstart=moment, scheduledstart=moment, actualdurationminutes=minutes)
            row.update(statecode=1, statuscode=2, directioncode=True)  # a logged call was made
        else:
            end = (
                moment + timedelta(minutes=minutes or 30) if isinstance(moment, datetime) else None
            )
            row.update(scheduledstart=moment, scheduledend=end)
        activity = ACTIVITY_SETS[kind].removesuffix("s")
        if target is not None:
            logical, record_id = target
            navigation = f"regardingobjectid_{logical}_{activity}"
            _link(row, "regardingobjectid", navigation, logical, record_id)
        return ACTIVITY_SETS[kind], row


Builder = Callable[[_Loader, Mapping[str, Any], SeedRecord], Row]
_BUILDERS: dict[str, Builder] = {
    "companies": _Loader.company,
    "contacts": _Loader.contact,
    "products": _Loader.product,
    "deals": _Loader.deal,
    "invoices": _Loader.invoice,
    "sales_orders": _Loader.sales_order,
}


def load(org: Org, counts: Mapping[str, int], seed: int, user_id: str) -> Loaded:
    """Generates the app side of the dataset and inserts it, all or nothing."""
    dataset = generate_dataset("app", counts, seed=seed)
    loader = _Loader(org)
    created: dict[str, int] = {}
    with org.atomic():
        for object_type, records in dataset.records.items():
            if not records:
                continue
            grouped: dict[str, list[tuple[str, Row]]] = {}
            for record in records:
                if object_type == "activities":
                    entity_set, row = loader.activity(record.fields, record)
                else:
                    entity_set = ENTITY_SETS[object_type]
                    row = _BUILDERS[object_type](loader, record.fields, record)
                grouped.setdefault(entity_set, []).append((record.key, row))
            for entity_set, rows in grouped.items():
                values = [{k: v for k, v in row.items() if v is not None} for _, row in rows]
                inserted = org.bulk_insert(CATALOG[entity_set], values, user_id)
                loader.ids.update(zip((key for key, _ in rows), inserted, strict=True))
            created[object_type] = len(records)
    return Loaded(created, loader.ids if len(loader.ids) <= ID_MAP_LIMIT else {})
