"""What `/openapi.json` says beyond the routes' own types: the error answers each route may
give, and examples of the request bodies."""

from typing import Annotated, Any

from fastapi import Path

from schemas.api import ErrorBody
from schemas.objects import OBJECT_TYPES

ConnectionId = Annotated[
    str,
    Path(description="The connection's id, as `POST /v1/connections` gave it"),
]
ObjectName = Annotated[
    str, Path(description=f"The object type: {', '.join(OBJECT_TYPES)}", examples=["contacts"])
]

_ERRORS = {
    400: "The body is not JSON text in UTF-8 (`http_error`)",
    401: "No bearer token, or one that is not valid (`unauthorized`)",
    403: "A viewer's token: this change needs an admin token (`forbidden`)",
    404: "No such connection, object or sync (`unknown_connection`, `unknown_object`,"
    " `unknown_sync`)",
    409: "Not possible in the current state (see the description)",
    422: "The request is not valid; the message names the field (`invalid_request`)",
    502: "The app or HubSpot could not be read (`app_unreachable`)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route for these error statuses, all with the contract's body; the
    route's description says when they happen."""
    return {status: {"model": ErrorBody, "description": _ERRORS[status]} for status in statuses}


SYNC_SETTINGS_EXAMPLES: dict[str, dict[str, Any]] = {
    "defaults": {
        "summary": "Every default",
        "description": "Two-way, HubSpot wins conflicts, the object's default mappings; contacts"
        " sync only with a valid email.",
        "value": {},
    },
    "customers": {
        "summary": "Customers only, first names only",
        "description": "The body of the design: one mapping, and a filter that limits which"
        " HubSpot records sync at first.",
        "value": {
            "direction": "two_way",
            "conflict_winner": "hubspot",
            "mappings": [{"hubspot": "firstname", "app": "firstname", "enabled": True}],
            "only_with_email": True,
            "filters": {
                "hubspot": [{"property": "lifecyclestage", "op": "eq", "value": "customer"}],
                "app": [],
            },
        },
    },
    "into_hubspot": {
        "summary": "One way into HubSpot, the app wins",
        "description": "Records flow only into HubSpot; where both sides hold a value the app's"
        " wins. Deletes are not propagated.",
        "value": {
            "direction": "to_hubspot",
            "conflict_winner": "app",
            "only_with_email": False,
            "propagate_deletes": False,
        },
    },
}
