"""Webhook registration tables, registered the Dataverse way through the Web API.

A webhook is a `serviceendpoint` (contract 8 = Webhook; authtype 4 = WebhookKey,
5 = HttpHeader, 6 = HttpQueryString; see the ServiceEndpoint table reference) and one
`sdkmessageprocessingstep` per message, bound to the endpoint
(`eventhandler_serviceendpoint@odata.bind`), to the message (`sdkmessageid@odata.bind`) and
to the table through a message filter (`sdkmessagefilterid@odata.bind`). Clients find the
message and filter ids with `GET sdkmessages?$filter=name eq 'Create'` and
`GET sdkmessagefilters?$filter=primaryobjecttypecode eq 'contact' and _sdkmessageid_value eq
<id>`; the sandbox has fixed ids for them, the same in every organisation.
"""

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from services.sandbox.dynamics.columns import audit_columns, read_only
from services.sandbox.dynamics.entities import BUSINESS_ENTITIES
from services.sandbox.dynamics.errors import ODataError
from services.sandbox.dynamics.schema import Attr, AttrType, EntityDef, Row

if TYPE_CHECKING:
    from services.sandbox.dynamics.store import Org

MESSAGES = ("Create", "Update", "Delete")
_IDS = uuid.UUID("0b3c5d7e-9f10-4a2b-8c4d-5e6f708192a3")
WEBHOOK_CONTRACT = 8
WEBHOOK_KEY, HTTP_HEADER, HTTP_QUERY_STRING = 4, 5, 6
PRE_IMAGE, POST_IMAGE, BOTH_IMAGES = 0, 1, 2
ASYNCHRONOUS, POST_OPERATION = 1, 40


def message_id(name: str) -> str:
    return str(uuid.uuid5(_IDS, f"sdkmessage/{name}"))


def filter_id(message: str, logical_name: str) -> str:
    return str(uuid.uuid5(_IDS, f"sdkmessagefilter/{message}/{logical_name}"))


SERVICE_ENDPOINT = EntityDef(
    logical_name="serviceendpoint",
    entity_set="serviceendpoints",
    primary_id="serviceendpointid",
    primary_name="name",
    business=False,
    attributes=(
        Attr("serviceendpointid", AttrType.GUID, update=False),
        Attr("name", AttrType.STRING, max_length=256, required=True),
        Attr("description", AttrType.STRING, max_length=2000),
        Attr("url", AttrType.STRING, max_length=2000),
        Attr(
            "contract",
            AttrType.PICKLIST,
            required=True,
            options={
                1: "OneWay",
                2: "Queue",
                3: "Rest",
                4: "TwoWay",
                5: "Topic",
                6: "Queue (Persistent)",
                7: "Event Hub",
                8: "Webhook",
                9: "Event Grid",
                10: "Managed Data Lake",
            },
        ),
        Attr(
            "authtype",
            AttrType.PICKLIST,
            options={
                1: "ACS",
                2: "SAS Key",
                3: "SAS Token",
                4: "Webhook Key",
                5: "Http Header",
                6: "Http Query String",
                7: "Connection String",
                8: "Access Key",
            },
        ),
        Attr("authvalue", AttrType.STRING, max_length=2048, read=False),
        read_only("isauthvalueset", AttrType.BOOL),
        Attr(
            "messageformat", AttrType.PICKLIST, options={1: "Binary XML", 2: "Json", 3: "Text XML"}
        ),
        Attr("connectionmode", AttrType.PICKLIST, options={1: "Normal", 2: "Federated"}),
        Attr("userclaim", AttrType.PICKLIST, options={1: "None", 2: "UserId", 3: "UserInfo"}),
        *audit_columns(),
    ),
    compute=lambda row: row.update(isauthvalueset=row.get("authvalue") is not None),
    defaults={"messageformat": 2, "connectionmode": 1, "userclaim": 1},
)

SDK_MESSAGE = EntityDef(
    logical_name="sdkmessage",
    entity_set="sdkmessages",
    primary_id="sdkmessageid",
    primary_name="name",
    business=False,
    read_only=True,
    attributes=(
        Attr("sdkmessageid", AttrType.GUID),
        Attr("name", AttrType.STRING, max_length=256),
        *audit_columns(),
    ),
)

SDK_MESSAGE_FILTER = EntityDef(
    logical_name="sdkmessagefilter",
    entity_set="sdkmessagefilters",
    primary_id="sdkmessagefilterid",
    primary_name="name",
    business=False,
    read_only=True,
    attributes=(
        Attr("sdkmessagefilterid", AttrType.GUID),
        Attr("name", AttrType.STRING, max_length=256),
        Attr("primaryobjecttypecode", AttrType.STRING, max_length=100),
        Attr("secondaryobjecttypecode", AttrType.STRING, max_length=100),
        Attr("iscustomprocessingstepallowed", AttrType.BOOL),
        Attr("_sdkmessageid_value", AttrType.LOOKUP, navigation={"sdkmessageid": "sdkmessages"}),
        *audit_columns(),
    ),
)

SDK_MESSAGE_PROCESSING_STEP = EntityDef(
    logical_name="sdkmessageprocessingstep",
    entity_set="sdkmessageprocessingsteps",
    primary_id="sdkmessageprocessingstepid",
    primary_name="name",
    business=False,
    attributes=(
        Attr("sdkmessageprocessingstepid", AttrType.GUID, update=False),
        Attr("name", AttrType.STRING, max_length=256, required=True),
        Attr("description", AttrType.STRING, max_length=256),
        Attr(
            "mode", AttrType.PICKLIST, required=True, options={0: "Synchronous", 1: "Asynchronous"}
        ),
        Attr(
            "stage",
            AttrType.PICKLIST,
            required=True,
            options={
                10: "Initial Pre-operation (For internal use only)",
                20: "Pre-operation",
                30: "Main Operation (For internal use only)",
                40: "Post-operation",
            },
        ),
        Attr("rank", AttrType.INT),
        Attr(
            "supporteddeployment",
            AttrType.PICKLIST,
            options={
                0: "Server Only",
                1: "Microsoft Dynamics 365 Client for Outlook Only",
                2: "Both",
            },
        ),
        Attr("asyncautodelete", AttrType.BOOL),
        Attr("filteringattributes", AttrType.STRING, max_length=100000),
        Attr("configuration", AttrType.STRING, max_length=1073741823),
        Attr("statecode", AttrType.PICKLIST, options={0: "Enabled", 1: "Disabled"}),
        Attr("statuscode", AttrType.PICKLIST, options={1: "Enabled", 2: "Disabled"}),
        Attr("_sdkmessageid_value", AttrType.LOOKUP, navigation={"sdkmessageid": "sdkmessages"}),
        Attr(
            "_sdkmessagefilterid_value",
            AttrType.LOOKUP,
            navigation={"sdkmessagefilterid": "sdkmessagefilters"},
        ),
        Attr(
            "_eventhandler_value",
            AttrType.LOOKUP,
            navigation={
                "eventhandler_serviceendpoint": "serviceendpoints",
                "eventhandler_plugintype": "plugintypes",
            },
            on_delete="cascade",  # deleting the endpoint deletes its steps
        ),
        *audit_columns(),
    ),
    defaults={
        "rank": 1,
        "supporteddeployment": 0,
        "asyncautodelete": False,
        "statecode": 0,
        "statuscode": 1,
    },
)

SDK_MESSAGE_PROCESSING_STEP_IMAGE = EntityDef(
    logical_name="sdkmessageprocessingstepimage",
    entity_set="sdkmessageprocessingstepimages",
    primary_id="sdkmessageprocessingstepimageid",
    primary_name="name",
    business=False,
    attributes=(
        Attr("sdkmessageprocessingstepimageid", AttrType.GUID, update=False),
        Attr("name", AttrType.STRING, max_length=256, required=True),
        Attr("entityalias", AttrType.STRING, max_length=256, required=True),
        Attr(
            "imagetype",
            AttrType.PICKLIST,
            required=True,
            options={0: "PreImage", 1: "PostImage", 2: "Both"},
        ),
        Attr("messagepropertyname", AttrType.STRING, max_length=256, required=True),
        Attr("attributes", AttrType.STRING, max_length=100000),
        Attr(
            "_sdkmessageprocessingstepid_value",
            AttrType.LOOKUP,
            navigation={"sdkmessageprocessingstepid": "sdkmessageprocessingsteps"},
            on_delete="cascade",  # deleting the step deletes its images
        ),
        *audit_columns(),
    ),
)

REGISTRATION_ENTITIES = (
    SERVICE_ENDPOINT,
    SDK_MESSAGE,
    SDK_MESSAGE_FILTER,
    SDK_MESSAGE_PROCESSING_STEP,
    SDK_MESSAGE_PROCESSING_STEP_IMAGE,
)


def seed_registration() -> dict[str, list[Row]]:
    """The messages and message filters every organisation has."""
    lookup = "_sdkmessageid_value@Microsoft.Dynamics.CRM.lookuplogicalname"
    messages = [{"sdkmessageid": message_id(name), "name": name} for name in MESSAGES]
    filters = [
        {
            "sdkmessagefilterid": filter_id(name, entity.logical_name),
            "name": f"{name} of {entity.logical_name}",
            "primaryobjecttypecode": entity.logical_name,
            "secondaryobjecttypecode": "none",
            "iscustomprocessingstepallowed": True,
            "_sdkmessageid_value": message_id(name),
            lookup: "sdkmessage",
        }
        for entity in BUSINESS_ENTITIES
        for name in MESSAGES
    ]
    return {"sdkmessages": messages, "sdkmessagefilters": filters}


def parse_settings(authvalue: str) -> list[tuple[str, str]]:
    """The key/value pairs of an HttpHeader or HttpQueryString authvalue,
    `<settings><setting name="k" value="v" /></settings>`; ValueError if it is not one."""
    try:
        root = ET.fromstring(authvalue)
    except ET.ParseError as exc:
        raise ValueError(authvalue) from exc
    pairs = [(s.get("name", ""), s.get("value", "")) for s in root.iter("setting")]
    if root.tag != "settings" or not pairs or not all(name for name, _ in pairs):
        raise ValueError(authvalue)
    return pairs


def _merged(org: "Org", entity: EntityDef, values: Row, record_id: str | None) -> Row:
    existing = org.get(entity, record_id) if record_id else None
    return {**entity.defaults, **(existing or {}), **values}


def _validate_endpoint(org: "Org", values: Row, record_id: str | None) -> None:
    row = _merged(org, SERVICE_ENDPOINT, values, record_id)
    if row.get("contract") != WEBHOOK_CONTRACT:
        raise ODataError.invalid_argument(
            "Only webhook service endpoints (contract 8) are emulated by the Dynamics sandbox."
        )
    url = urlsplit(row.get("url") or "")
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ODataError.invalid_argument(
            "A webhook service endpoint needs an absolute http(s) url."
        )
    if row.get("authtype") not in (WEBHOOK_KEY, HTTP_HEADER, HTTP_QUERY_STRING):
        raise ODataError.invalid_argument(
            "A webhook needs authtype 4 (WebhookKey), 5 (HttpHeader) or 6 (HttpQueryString)."
        )
    if not row.get("authvalue"):
        raise ODataError.invalid_argument("A webhook service endpoint needs an authvalue.")
    if row["authtype"] in (HTTP_HEADER, HTTP_QUERY_STRING):
        try:
            parse_settings(row["authvalue"])
        except ValueError:
            raise ODataError.invalid_argument(
                f"authtype {row['authtype']} (HttpHeader = 5, HttpQueryString = 6) takes an "
                'authvalue like <settings><setting name="key" value="value" /></settings>; '
                "a single key sent as ?code=<key> is authtype 4 (WebhookKey)."
            ) from None


def _validate_step(org: "Org", values: Row, record_id: str | None) -> None:
    row = _merged(org, SDK_MESSAGE_PROCESSING_STEP, values, record_id)
    if not row.get("_sdkmessageid_value"):
        raise ODataError.invalid_argument("A step needs sdkmessageid@odata.bind.")
    if row.get("_eventhandler_value@Microsoft.Dynamics.CRM.lookuplogicalname") != "serviceendpoint":
        raise ODataError.invalid_argument(
            "A step needs eventhandler_serviceendpoint@odata.bind; plug-in types are not "
            "emulated by the Dynamics sandbox."
        )
    step_filter = row.get("_sdkmessagefilterid_value")
    if step_filter:
        filter_row = org.require(SDK_MESSAGE_FILTER, step_filter)
        if filter_row["_sdkmessageid_value"] != row["_sdkmessageid_value"]:
            raise ODataError.invalid_argument(
                "The message filter does not belong to the step's message."
            )
    if row.get("mode") == ASYNCHRONOUS and row.get("stage") != POST_OPERATION:
        raise ODataError.invalid_argument(
            "Asynchronous steps can only be registered in the post-operation stage (40)."
        )


def _validate_image(org: "Org", values: Row, record_id: str | None) -> None:
    row = _merged(org, SDK_MESSAGE_PROCESSING_STEP_IMAGE, values, record_id)
    if not row.get("_sdkmessageprocessingstepid_value"):
        raise ODataError.invalid_argument("An image needs sdkmessageprocessingstepid@odata.bind.")


REGISTRATION_VALIDATORS = {
    "serviceendpoints": _validate_endpoint,
    "sdkmessageprocessingsteps": _validate_step,
    "sdkmessageprocessingstepimages": _validate_image,
}


@dataclass(frozen=True)
class Subscription:
    """A registered step that a change should be posted for."""

    step: Row
    endpoint: Row
    images: list[Row]


def subscriptions(
    org: "Org", message: str, logical_name: str, changed: set[str]
) -> list[Subscription]:
    """Enabled steps of `message` on `logical_name` whose filtering attributes were touched."""
    wanted_message = message_id(message)
    wanted_filter = filter_id(message, logical_name)
    found = []
    steps = org.table("sdkmessageprocessingsteps").rows.values()
    for step in sorted(steps, key=lambda s: (s.get("rank") or 0, s["versionnumber"])):
        if step.get("statecode") != 0 or step.get("_sdkmessageid_value") != wanted_message:
            continue
        if step.get("_sdkmessagefilterid_value") not in (None, wanted_filter):
            continue
        filtering = {
            a.strip() for a in (step.get("filteringattributes") or "").split(",") if a.strip()
        }
        if message == "Update" and filtering and not filtering & changed:
            continue
        endpoint = org.get(SERVICE_ENDPOINT, step["_eventhandler_value"])
        if endpoint is None:
            continue
        images = [
            image
            for image in org.table("sdkmessageprocessingstepimages").rows.values()
            if image.get("_sdkmessageprocessingstepid_value") == step["sdkmessageprocessingstepid"]
        ]
        found.append(Subscription(step, endpoint, images))
    return found
