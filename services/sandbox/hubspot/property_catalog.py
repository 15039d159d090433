"""HubSpot's default properties of each emulated object, as tables.

Names, types and option values as HubSpot's object guides and properties API list them (the
important properties of each object, not all of HubSpot's several hundred). Enumerations whose
options live in pipelines or owner lists (`hubspot_owner_id`, order pipelines) are
`externalOptions` and their values are not checked, as HubSpot checks them elsewhere.
"""

from services.sandbox.hubspot.properties import Option, PropertyDefinition


def _label(value: str) -> str:
    return value.replace("_", " ").title()


def _options(*values: str, labels: dict[str, str] | None = None) -> tuple[Option, ...]:
    names = labels or {}
    return tuple(Option(names.get(v, _label(v)), v, order) for order, v in enumerate(values))


def text(
    name: str,
    label: str,
    group: str,
    *,
    email: bool = False,
    unique: bool = False,
    read_only: bool = False,
) -> PropertyDefinition:
    return PropertyDefinition(
        name,
        label,
        "string",
        "text",
        group,
        email=email,
        has_unique_value=unique,
        read_only_value=read_only,
    )


def area(name: str, label: str, group: str) -> PropertyDefinition:
    return PropertyDefinition(name, label, "string", "textarea", group)


def phone(name: str, label: str, group: str) -> PropertyDefinition:
    return PropertyDefinition(name, label, "string", "phonenumber", group)


def number(
    name: str, label: str, group: str, *, read_only: bool = False, calculated: bool = False
) -> PropertyDefinition:
    return PropertyDefinition(
        name, label, "number", "number", group, read_only_value=read_only, calculated=calculated
    )


def when(name: str, label: str, group: str, *, read_only: bool = False) -> PropertyDefinition:
    return PropertyDefinition(name, label, "datetime", "date", group, read_only_value=read_only)


def day(name: str, label: str, group: str) -> PropertyDefinition:
    return PropertyDefinition(name, label, "date", "date", group)


def choice(
    name: str, label: str, group: str, options: tuple[Option, ...], field: str = "select"
) -> PropertyDefinition:
    return PropertyDefinition(name, label, "enumeration", field, group, options=options)


def external(name: str, label: str, group: str) -> PropertyDefinition:
    return PropertyDefinition(name, label, "enumeration", "select", group, external_options=True)


def system(created: str, modified: tuple[str, ...], group: str) -> list[PropertyDefinition]:
    """Stamps and ids HubSpot sets itself; `created` stays settable, as HubSpot allows."""
    return [
        when(created, "Create Date", group, read_only=True),
        *(when(m, "Last Modified Date", group, read_only=True) for m in modified),
        number("hs_object_id", "Record ID", group, read_only=True),
        text("hs_merged_object_ids", "Merged Record IDs", group, read_only=True),
        external("hubspot_owner_id", "Owner", group),
    ]


LIFECYCLE_STAGES = _options(
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
    labels={
        "marketingqualifiedlead": "Marketing Qualified Lead",
        "salesqualifiedlead": "Sales Qualified Lead",
    },
)
_INDUSTRY_CODES = """ACCOUNTING AIRLINES_AVIATION ALTERNATIVE_DISPUTE_RESOLUTION ALTERNATIVE_MEDICINE ANIMATION
    APPAREL_FASHION ARCHITECTURE_PLANNING ARTS_AND_CRAFTS AUTOMOTIVE AVIATION_AEROSPACE BANKING
    BIOTECHNOLOGY BROADCAST_MEDIA BUILDING_MATERIALS BUSINESS_SUPPLIES_AND_EQUIPMENT
    CAPITAL_MARKETS CHEMICALS CIVIC_SOCIAL_ORGANIZATION CIVIL_ENGINEERING COMMERCIAL_REAL_ESTATE
    COMPUTER_NETWORK_SECURITY COMPUTER_GAMES COMPUTER_HARDWARE COMPUTER_NETWORKING
    COMPUTER_SOFTWARE INTERNET CONSTRUCTION CONSUMER_ELECTRONICS CONSUMER_GOODS CONSUMER_SERVICES
    COSMETICS DAIRY DEFENSE_SPACE DESIGN EDUCATION_MANAGEMENT E_LEARNING
    ELECTRICAL_ELECTRONIC_MANUFACTURING ENTERTAINMENT ENVIRONMENTAL_SERVICES EVENTS_SERVICES
    EXECUTIVE_OFFICE FACILITIES_SERVICES FARMING FINANCIAL_SERVICES FINE_ART FISHERY
    FOOD_BEVERAGES FOOD_PRODUCTION FUND_RAISING FURNITURE GAMBLING_CASINOS
    GLASS_CERAMICS_CONCRETE GOVERNMENT_ADMINISTRATION GOVERNMENT_RELATIONS GRAPHIC_DESIGN
    HEALTH_WELLNESS_AND_FITNESS HIGHER_EDUCATION HOSPITAL_HEALTH_CARE HOSPITALITY HUMAN_RESOURCES
    IMPORT_AND_EXPORT INDIVIDUAL_FAMILY_SERVICES INDUSTRIAL_AUTOMATION INFORMATION_SERVICES
    INFORMATION_TECHNOLOGY_AND_SERVICES INSURANCE INTERNATIONAL_AFFAIRS
    INTERNATIONAL_TRADE_AND_DEVELOPMENT INVESTMENT_BANKING INVESTMENT_MANAGEMENT JUDICIARY
    LAW_ENFORCEMENT LAW_PRACTICE LEGAL_SERVICES LEGISLATIVE_OFFICE LEISURE_TRAVEL_TOURISM
    LIBRARIES LOGISTICS_AND_SUPPLY_CHAIN LUXURY_GOODS_JEWELRY MACHINERY MANAGEMENT_CONSULTING
    MARITIME MARKET_RESEARCH MARKETING_AND_ADVERTISING MECHANICAL_OR_INDUSTRIAL_ENGINEERING
    MEDIA_PRODUCTION MEDICAL_DEVICES MEDICAL_PRACTICE MENTAL_HEALTH_CARE MILITARY MINING_METALS
    MOTION_PICTURES_AND_FILM MUSEUMS_AND_INSTITUTIONS MUSIC NANOTECHNOLOGY NEWSPAPERS
    NON_PROFIT_ORGANIZATION_MANAGEMENT OIL_ENERGY ONLINE_MEDIA OUTSOURCING_OFFSHORING
    PACKAGE_FREIGHT_DELIVERY PACKAGING_AND_CONTAINERS PAPER_FOREST_PRODUCTS PERFORMING_ARTS
    PHARMACEUTICALS PHILANTHROPY PHOTOGRAPHY PLASTICS POLITICAL_ORGANIZATION
    PRIMARY_SECONDARY_EDUCATION PRINTING PROFESSIONAL_TRAINING_COACHING PROGRAM_DEVELOPMENT
    PUBLIC_POLICY PUBLIC_RELATIONS_AND_COMMUNICATIONS PUBLIC_SAFETY PUBLISHING
    RAILROAD_MANUFACTURE RANCHING REAL_ESTATE RECREATIONAL_FACILITIES_AND_SERVICES
    RELIGIOUS_INSTITUTIONS RENEWABLES_ENVIRONMENT RESEARCH RESTAURANTS RETAIL
    SECURITY_AND_INVESTIGATIONS SEMICONDUCTORS SHIPBUILDING SPORTING_GOODS SPORTS
    STAFFING_AND_RECRUITING SUPERMARKETS TELECOMMUNICATIONS TEXTILES THINK_TANKS TOBACCO
    TRANSLATION_AND_LOCALIZATION TRANSPORTATION_TRUCKING_RAILROAD UTILITIES
    VENTURE_CAPITAL_PRIVATE_EQUITY VETERINARY WAREHOUSING WHOLESALE WINE_AND_SPIRITS WIRELESS
    WRITING_AND_EDITING"""
INDUSTRIES = _options(*_INDUSTRY_CODES.split())
# The stages of the default sales pipeline ("default"), as every new account has them.
DEAL_STAGES = _options(
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
    labels={
        "appointmentscheduled": "Appointment Scheduled",
        "qualifiedtobuy": "Qualified To Buy",
        "presentationscheduled": "Presentation Scheduled",
        "decisionmakerboughtin": "Decision Maker Bought-In",
        "contractsent": "Contract Sent",
        "closedwon": "Closed Won",
        "closedlost": "Closed Lost",
    },
)
INVOICE_STATUSES = _options("draft", "open", "paid", "voided")
TASK_STATUSES = _options("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")
PRIORITIES = _options("LOW", "MEDIUM", "HIGH", "NONE")
CALL_STATUSES = _options(
    "BUSY",
    "CALLING_CRM_USER",
    "CANCELED",
    "COMPLETED",
    "CONNECTING",
    "FAILED",
    "IN_PROGRESS",
    "MISSED",
    "NO_ANSWER",
    "QUEUED",
    "RINGING",
)
MEETING_OUTCOMES = _options("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")

_C, _CO, _D = "contactinformation", "companyinformation", "dealinformation"
_P, _I, _O = "productinformation", "invoiceinformation", "orderinformation"
_T, _CA, _M, _N = "task", "call", "meeting", "note"

CATALOG: dict[str, list[PropertyDefinition]] = {
    "contacts": [
        text("email", "Email", _C, email=True, unique=True),
        text("firstname", "First Name", _C),
        text("lastname", "Last Name", _C),
        phone("phone", "Phone Number", _C),
        phone("mobilephone", "Mobile Phone Number", _C),
        text("jobtitle", "Job Title", _C),
        text("company", "Company Name", _C),
        text("website", "Website URL", _C),
        text("address", "Street Address", _C),
        text("city", "City", _C),
        text("state", "State/Region", _C),
        text("zip", "Postal Code", _C),
        text("country", "Country/Region", _C),
        choice("lifecyclestage", "Lifecycle Stage", _C, LIFECYCLE_STAGES, "radio"),
        choice(
            "hs_lead_status",
            "Lead Status",
            _C,
            _options("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "CONNECTED"),
            "radio",
        ),
        text("hs_additional_emails", "Additional email addresses", _C, read_only=True),
        number("associatedcompanyid", "Primary Associated Company ID", _C, read_only=True),
        *system("createdate", ("lastmodifieddate", "hs_lastmodifieddate"), _C),
    ],
    "companies": [
        text("name", "Company name", _CO),
        text("domain", "Company Domain Name", _CO),
        text("website", "Website URL", _CO),
        phone("phone", "Phone Number", _CO),
        text("address", "Street Address", _CO),
        text("city", "City", _CO),
        text("state", "State/Region", _CO),
        text("zip", "Postal Code", _CO),
        text("country", "Country/Region", _CO),
        choice("industry", "Industry", _CO, INDUSTRIES),
        number("numberofemployees", "Number of Employees", _CO),
        number("annualrevenue", "Annual Revenue", _CO),
        area("description", "Description", _CO),
        choice("lifecyclestage", "Lifecycle Stage", _CO, LIFECYCLE_STAGES, "radio"),
        choice(
            "type",
            "Type",
            _CO,
            _options("PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER"),
        ),
        *system("createdate", ("hs_lastmodifieddate",), _CO),
    ],
    "deals": [
        text("dealname", "Deal Name", _D),
        number("amount", "Amount", _D),
        choice("dealstage", "Deal Stage", _D, DEAL_STAGES, "radio"),
        choice(
            "pipeline", "Pipeline", _D, _options("default", labels={"default": "Sales Pipeline"})
        ),
        when("closedate", "Close Date", _D),
        choice("dealtype", "Deal Type", _D, _options("newbusiness", "existingbusiness"), "radio"),
        choice("hs_priority", "Priority", _D, _options("low", "medium", "high"), "radio"),
        area("description", "Deal Description", _D),
        *system("createdate", ("hs_lastmodifieddate",), _D),
    ],
    "products": [
        text("name", "Name", _P),
        text("hs_sku", "SKU", _P),
        number("price", "Unit price", _P),
        area("description", "Description", _P),
        number("hs_cost_of_goods_sold", "Unit cost", _P),
        text("hs_recurring_billing_period", "Term", _P),
        *system("createdate", ("hs_lastmodifieddate",), _P),
    ],
    "invoices": [
        text("hs_number", "Number", _I),
        text("hs_title", "Title", _I),
        number("hs_amount_billed", "Amount billed", _I),
        number("hs_balance_due", "Balance due", _I, read_only=True, calculated=True),
        text("hs_currency", "Currency", _I),
        day("hs_invoice_date", "Invoice date", _I),
        day("hs_due_date", "Due date", _I),
        choice("hs_invoice_status", "Invoice status", _I, INVOICE_STATUSES),
        area("hs_comments", "Comments", _I),
        *system("hs_createdate", ("hs_lastmodifieddate",), _I),
    ],
    "orders": [
        text("hs_order_name", "Name", _O),
        number("hs_total_price", "Total", _O),
        number("hs_subtotal_price", "Subtotal", _O),
        text("hs_currency_code", "Currency", _O),
        external("hs_pipeline", "Pipeline", _O),
        external("hs_pipeline_stage", "Stage", _O),
        text("hs_external_order_id", "External order ID", _O),
        *system("hs_createdate", ("hs_lastmodifieddate",), _O),
    ],
    "tasks": [
        text("hs_task_subject", "Task Title", _T),
        area("hs_task_body", "Notes", _T),
        choice("hs_task_status", "Task Status", _T, TASK_STATUSES),
        choice("hs_task_priority", "Priority", _T, PRIORITIES),
        choice("hs_task_type", "Task Type", _T, _options("EMAIL", "CALL", "TODO", "LINKED_IN")),
        when("hs_timestamp", "Due date", _T),
        *system("hs_createdate", ("hs_lastmodifieddate",), _T),
    ],
    "calls": [
        text("hs_call_title", "Call Title", _CA),
        area("hs_call_body", "Call notes", _CA),
        number("hs_call_duration", "Call duration", _CA),
        choice("hs_call_direction", "Call direction", _CA, _options("INBOUND", "OUTBOUND")),
        choice("hs_call_status", "Call status", _CA, CALL_STATUSES),
        text("hs_call_disposition", "Call outcome", _CA),
        when("hs_timestamp", "Activity date", _CA),
        *system("hs_createdate", ("hs_lastmodifieddate",), _CA),
    ],
    "meetings": [
        text("hs_meeting_title", "Meeting name", _M),
        area("hs_meeting_body", "Meeting description", _M),
        area("hs_internal_meeting_notes", "Internal meeting notes", _M),
        text("hs_meeting_location", "Location", _M),
        when("hs_meeting_start_time", "Start Time", _M),
        when("hs_meeting_end_time", "End Time", _M),
        choice("hs_meeting_outcome", "Meeting outcome", _M, MEETING_OUTCOMES),
        when("hs_timestamp", "Activity date", _M),
        *system("hs_createdate", ("hs_lastmodifieddate",), _M),
    ],
    "notes": [
        area("hs_note_body", "Note body", _N),
        when("hs_timestamp", "Activity date", _N),
        *system("hs_createdate", ("hs_lastmodifieddate",), _N),
    ],
}
